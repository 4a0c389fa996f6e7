"""BatchInference: after the Pusher, the pushed version predicts everything in a folder on Beam (`modelfab run
--bulk-infer INPUT`; inference/batch_predict.py, the same as `modelfab predict --batch`).

Output: TFX's InferenceResult artifact (the type BulkInferrer writes) holding `predictions.jsonl` (id, label, score;
a failed example as id and error), with custom properties `predicted`, `failed` and `model` (the version folder).
When the run pushed nothing (not blessed, or the serving check failed) it predicts nothing and says so.
"""
import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import InferenceResult, PushedModel

from core.names import PREDICTIONS_FILE


@component
def BatchInference(  # pylint: disable=invalid-name
    pushed_model: InputArtifact[PushedModel], inference_result: OutputArtifact[InferenceResult],
    input_path: Parameter[str], input_format: Parameter[str] = "", text_column: Parameter[str] = "text",
    beam_args: Parameter[str] = "[]"):
  """Runs the version the Pusher pushed over `input_path` (`beam_args`: a JSON list of Beam arguments)."""
  from inference import batch_predict  # pylint: disable=g-import-not-at-top

  if pushed_model.get_int_custom_property("pushed") != 1:
    inference_result.set_int_custom_property("predicted", 0)
    inference_result.set_int_custom_property("failed", 0)
    inference_result.set_string_custom_property("reason", "nothing was pushed: no batch inference")
    print("[modelfab] batch inference skipped: nothing was pushed", flush=True)
    return
  version_dir = pushed_model.get_string_custom_property("pushed_destination")
  from monitoring import outliers  # pylint: disable=g-import-not-at-top

  result = batch_predict.predict_batch(version_dir, input_path, os.path.join(inference_result.uri, PREDICTIONS_FILE),
                                       input_format or None, text_column, json.loads(beam_args),
                                       outliers.scorer(version_dir))
  inference_result.set_int_custom_property("predicted", result.predicted)
  inference_result.set_int_custom_property("failed", result.failed)
  inference_result.set_string_custom_property("model", version_dir)
  inference_result.set_string_custom_property("first_errors", json.dumps(result.first_errors))
  print(f"[modelfab] batch inference: {result.predicted:,} predicted, {result.failed:,} failed, "
        f"{result.examples_per_second:,.0f}/s", flush=True)
