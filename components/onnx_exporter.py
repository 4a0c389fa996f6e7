"""OnnxExporter: the Trainer's model as model.onnx, checked with onnxruntime against the SavedModel on the whole eval
split (inference/onnx_export.py). Output: an `OnnxModel` artifact holding model.onnx, its metadata, labels (and
vocab) and `onnx_export.json`, with custom properties `blessed` and `reason`. The Pusher ships the .onnx beside the
SavedModel only when it is blessed; a conversion that fails or disagrees is reported and the SavedModel is still
pushed.
"""
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples, Model

from inference import onnx_export


class OnnxModel(artifact.Artifact):
  """A model.onnx with its labels (and vocab), and how it compares with the SavedModel it came from."""
  TYPE_NAME = "modelfab.OnnxModel"


@component
def OnnxExporter(  # pylint: disable=invalid-name
    model: InputArtifact[Model], examples: InputArtifact[Examples], onnx_model: OutputArtifact[OnnxModel],
    tolerance: Parameter[float] = onnx_export.DEFAULT_TOLERANCE):
  """Converts `model`'s serving_tensors signature to ONNX and blesses it when it agrees with the SavedModel."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  report = onnx_export.export(path_utils.serving_model_path(model.uri), examples.uri, onnx_model.uri, tolerance)
  onnx_model.set_int_custom_property("blessed", 1 if report["blessed"] else 0)
  onnx_model.set_string_custom_property("reason", report["reason"])
  if report["blessed"]:
    print(f"[modelfab] model.onnx: the SavedModel's label on all {report['eval_examples']} eval examples, "
          f"probabilities within {report['max_probability_difference']:.1e}: blessed", flush=True)
  else:
    print(f"[modelfab] model.onnx NOT blessed ({report['reason']}); the SavedModel is pushed without it", flush=True)
