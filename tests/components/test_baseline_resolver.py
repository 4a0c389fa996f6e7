"""The Evaluator's baseline: the newest blessed model older than the candidate, if the Evaluator can call it."""
import os

from tensorflow.core.protobuf import saved_model_pb2
from tfx.types import standard_artifacts

from components.baseline_resolver import (BLESSING_KEY, MODEL_KEY, PreviousBlessedModelStrategy,
                                          has_evaluation_signature, pick_baseline)
from core import features


def _model(artifact_id, root=None, signatures=("serving_default", features.EVALUATION_SIGNATURE)):
  """A Model artifact; with `root`, its uri holds a saved_model.pb with `signatures` (as the Trainer writes it)."""
  model = standard_artifacts.Model()
  model.id = artifact_id
  if root is not None:
    model.uri = os.path.join(str(root), str(artifact_id))
    export_dir = os.path.join(model.uri, "Format-Serving")
    os.makedirs(export_dir)
    saved_model = saved_model_pb2.SavedModel()
    graph = saved_model.meta_graphs.add()
    for name in signatures:
      graph.signature_def[name].method_name = "tensorflow/serving/predict"
    with open(os.path.join(export_dir, "saved_model.pb"), "wb") as f:
      f.write(saved_model.SerializeToString())
  return model


def _blessing(model_id, blessed):
  blessing = standard_artifacts.ModelBlessing()
  blessing.set_int_custom_property("current_model_id", model_id)
  blessing.set_int_custom_property("blessed", int(blessed))
  return blessing


def test_first_run_has_no_baseline():
  assert pick_baseline([_model(1)], [], [_model(1)])[MODEL_KEY] == []


def test_unchanged_rerun_does_not_compare_the_candidate_with_itself():
  model = _model(5)
  result = pick_baseline([model], [_blessing(5, True)], [model])
  assert result[MODEL_KEY] == [] and result[BLESSING_KEY] == []


def test_new_candidate_gets_newest_older_blessed_model(tmp_path):
  models = [_model(3, tmp_path), _model(5, tmp_path), _model(7, tmp_path), _model(9, tmp_path)]
  blessings = [_blessing(3, True), _blessing(5, True), _blessing(7, False)]
  result = pick_baseline(models, blessings, [models[-1]])
  assert [m.id for m in result[MODEL_KEY]] == [5]
  assert result[BLESSING_KEY][0].get_int_custom_property("current_model_id") == 5


def test_model_without_the_evaluation_signature_is_no_baseline(tmp_path, capsys):
  old = _model(3, tmp_path, signatures=("serving_default", features.TRANSFORM_FEATURES_SIGNATURE))
  assert has_evaluation_signature(_model(4, tmp_path)) and not has_evaluation_signature(old)
  assert not has_evaluation_signature(_model(6))  # no files at all
  result = pick_baseline([old, _model(5, tmp_path)], [_blessing(3, True)], [_model(5)])
  assert result[MODEL_KEY] == [] and result[BLESSING_KEY] == []
  assert old.uri in capsys.readouterr().out


def test_strategy_reads_its_channels(tmp_path):
  result = PreviousBlessedModelStrategy().resolve_artifacts(
      None, {"model": [_model(2, tmp_path), _model(4, tmp_path)], "model_blessing": [_blessing(2, True)],
             "candidate": [_model(4)]})
  assert [m.id for m in result[MODEL_KEY]] == [2]
