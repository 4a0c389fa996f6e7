"""Quantizer: the Trainer's model as a .tflite file, judged on the whole eval split against the float model.

After the Trainer, `--quantize dynamic|float16|int8` runs `inference.compression.compress` (the conversion, the
TFMA comparison on the eval split, the verdict). Output: a `TFLiteModel` artifact holding model.tflite, its metadata,
labels (and vocab), `compression.json` and TFMA's output in `evaluation/`, with custom properties `blessed`,
`reason` and `mode`. The Pusher ships the .tflite beside the SavedModel only when it is blessed.
"""
from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples, Model

from core import names
from inference import compression


class TFLiteModel(artifact.Artifact):
  """A .tflite model with its labels (and vocab), and how it compares with the float model it came from."""
  TYPE_NAME = "modelfab.TFLiteModel"


@component
def Quantizer(  # pylint: disable=invalid-name
    model: InputArtifact[Model], examples: InputArtifact[Examples], tflite_model: OutputArtifact[TFLiteModel],
    quantize: Parameter[str] = "int8", max_accuracy_drop: Parameter[float] = 0.01):
  """Converts `model` to a `quantize`d .tflite and blesses it when its eval accuracy is within `max_accuracy_drop`
  of the float model's (see the module docstring)."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  report = compression.compress(path_utils.serving_model_path(model.uri), examples.uri, tflite_model.uri,
                                  quantize, max_accuracy_drop)
  tflite_model.set_int_custom_property("blessed", 1 if report["blessed"] else 0)
  tflite_model.set_string_custom_property("reason", report["reason"])
  tflite_model.set_string_custom_property("mode", quantize)
  accuracy = names.ACCURACY
  print(f"[modelfab] {quantize} .tflite: {report['compressed']['bytes'] / 1024:.0f} KiB "
        f"({report['compressed']['bytes'] / report['float']['bytes']:.0%} of the SavedModel), accuracy "
        f"{report['compressed']['metrics'][accuracy]:.4f} vs {report['float']['metrics'][accuracy]:.4f} float: "
        + ("blessed" if report["blessed"] else f"NOT blessed ({report['reason']}); the float model is pushed "
                                               "without it"), flush=True)
