"""The Evaluator's baseline: the newest blessed model older than the candidate."""
from tfx.types import standard_artifacts

from components.baseline_resolver import BLESSING_KEY, MODEL_KEY, PreviousBlessedModelStrategy, pick_baseline


def _model(artifact_id):
  model = standard_artifacts.Model()
  model.id = artifact_id
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


def test_new_candidate_gets_newest_older_blessed_model():
  models = [_model(3), _model(5), _model(7), _model(9)]
  blessings = [_blessing(3, True), _blessing(5, True), _blessing(7, False)]
  result = pick_baseline(models, blessings, [_model(9)])
  assert [m.id for m in result[MODEL_KEY]] == [5]
  assert result[BLESSING_KEY][0].get_int_custom_property("current_model_id") == 5


def test_strategy_reads_its_channels():
  result = PreviousBlessedModelStrategy().resolve_artifacts(
      None, {"model": [_model(2), _model(4)], "model_blessing": [_blessing(2, True)], "candidate": [_model(4)]})
  assert [m.id for m in result[MODEL_KEY]] == [2]
