"""Hyperparameter search: the search budget (unit), then `modelfab run --tune` end to end on real
TFX (Tuner, Trainer, Evaluator): a search started from a learning rate of 3.0 ends blessed and pushed."""
import pathlib

import pytest

from conftest import copy_digits_subset
from models import tuner
from cli import main as cli
from reports import report, tensorboard_logs
from inference import run_summary



def test_budget_stops_the_oracle_after_the_trials_or_the_minutes():
  class Recorder:
    def __init__(self, **kwargs):
      self.oracle = type("Oracle", (), {"trials": {}, "max_trials": None})()

    def on_trial_end(self, trial):
      self.oracle.trials[trial] = trial

  by_trials = tuner._budgeted(Recorder, max_trials=2, max_minutes=60)()  # pylint: disable=protected-access
  by_trials.on_trial_end("t0")
  assert by_trials.oracle.max_trials is None
  by_trials.on_trial_end("t1")
  assert by_trials.oracle.max_trials == 2
  by_minutes = tuner._budgeted(Recorder, max_trials=50, max_minutes=0)()  # pylint: disable=protected-access
  by_minutes.on_trial_end("t0")
  assert by_minutes.oracle.max_trials == 1


@pytest.fixture(scope="module")
def tuned(tmp_path_factory):
  """A deliberately bad learning rate (3.0), tuned with 3 random trials on 50 digits per class."""
  root = tmp_path_factory.mktemp("tune")
  data = copy_digits_subset(root / "digits", per_class=50)
  output = root / "out"
  common = ["run", "--data", str(data), "--output", str(output), "--learning-rate", "3.0", "--epochs", "10",
            "--min-accuracy", "0.95", "--quantize", "none"]
  assert cli.main(common + ["--tune", "--tune-trials", "3"]) == 0
  first = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  return output, common, first


def test_search_from_a_bad_learning_rate_is_blessed_and_pushed(tuned):
  _, _, run = tuned
  assert run.components["Tuner"] == "ran"
  assert run.metrics["sparse_categorical_accuracy"] >= 0.95 and run.blessed and run.pushed_to
  tuning = run.tuning
  assert tuning["source"] == "Tuner" and len(tuning["trials"]) == 3
  assert tuning["best"]["learning_rate"] < 0.05  # not the configured 3.0
  assert tuning["best"] == {k: v for k, v in tuning["trials"][0].items() if k not in ("trial_id", "score")}
  assert run.to_json()["tuning"]["best"] == tuning["best"]


def test_without_the_search_the_same_settings_fail_the_bar(tuned):
  output, common, _ = tuned
  assert cli.main(common) == 0
  untuned = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert untuned.tuning is None and not untuned.blessed


def test_unchanged_rerun_takes_the_tuner_from_cache(tuned):
  output, common, first = tuned
  assert cli.main(common + ["--tune", "--tune-trials", "3"]) == 0
  again = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert again.components["Tuner"] == "cached" and again.components["Trainer"] == "cached"
  assert again.tuning["best"] == first.tuning["best"]


def test_hparams_from_an_earlier_run_trains_with_its_best_without_tuning(tuned, capsys):
  output, common, first = tuned
  assert cli.main(common + ["--hparams-from", first.run_id[:19]]) == 0
  assert "hyperparameters imported from" in capsys.readouterr().out
  run = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert "Tuner" not in run.components and run.components["hparams_importer"] in ("ran", "cached")
  assert run.tuning["source"] == "imported" and run.tuning["best"] == first.tuning["best"]
  assert run.output_uri("Trainer", "model") == first.output_uri("Trainer", "model")  # same inputs: same model


def test_trials_show_in_the_report_and_tensorboards_hparams(tuned, tmp_path):
  output, _, first = tuned
  page = pathlib.Path(report.build_report(str(output), first.run_id, str(tmp_path))).read_text()
  assert "id='tuner-trials'" in page and page.count("<td>&#9733; ") == 1
  assert f"{first.tuning['trials'][0]['score']:.4f}" in page
  run_dirs = tensorboard_logs.prepare_logdir(str(output))
  trial_logs = pathlib.Path(run_dirs[0]) / tensorboard_logs.TUNER_RUN
  sessions = sorted(trial_logs.glob("*/execution0/events.out.tfevents.*"))
  assert len(sessions) == 3  # one HParams session per trial
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  for session in sessions:  # each trial's hparams are on disk when the Tuner is done
    tags = {v.tag for e in tf.compat.v1.train.summary_iterator(str(session)) for v in e.summary.value}
    assert {"_hparams_/session_start_info", "_hparams_/session_end_info"} <= tags, session
