"""Runs read back from ML Metadata: `list_runs`, `find_run`, and the `modelfab runs` command (text and JSON)."""
import json
import pathlib

import pytest

from cli import main as cli
from inference import eval_metrics, run_summary


def test_two_runs_one_blessed_one_not(two_runs):
  output, run_ids = two_runs
  runs = run_summary.list_runs(str(output / "metadata.sqlite"))
  assert [r.run_id for r in runs] == run_ids and len(runs) == 2
  first, second = runs
  assert first.pipeline_name == second.pipeline_name == "digits-cnn"
  assert first.started <= second.started
  assert first.blessed is True and second.blessed is False
  assert pathlib.Path(first.pushed_to).parent == output / "serving" / "digits-cnn"
  assert first.pushed_version == pathlib.Path(first.pushed_to).name
  assert second.pushed_to is None and second.pushed_version is None
  assert "Transform" in first.executed() and "Transform" not in second.executed()
  assert {"Trainer", "Evaluator", "Pusher"} <= set(second.executed())
  assert first.metrics["sparse_categorical_accuracy"] > second.metrics["sparse_categorical_accuracy"]
  assert second.baseline_model == first.output_uri("Trainer", "model")
  matrix = eval_metrics.read_confusion_matrix(first.output_uri("Evaluator", "evaluation"))
  assert matrix.sum() == first.metrics["example_count"]  # TFMA's count: the matrix holds every eval example
  recall = [matrix[c, c] / matrix[c].sum() for c in range(len(matrix))]
  assert first.metrics["macro_recall"] == pytest.approx(sum(recall) / len(recall))
  assert {f"f1_score/class_{c}" for c in range(len(matrix))} <= set(first.metrics)


def test_find_run_by_prefix_and_newest(two_runs):
  output, run_ids = two_runs
  path = str(output / "metadata.sqlite")
  assert run_summary.find_run(path).run_id == run_ids[-1]
  assert run_summary.find_run(path, run_ids[0]).run_id == run_ids[0]
  assert run_summary.find_run(path, run_ids[0][:-3]).run_id == run_ids[0]
  with pytest.raises(LookupError, match="not found"):
    run_summary.find_run(path, "1999-")


def test_runs_command_shows_both_runs(two_runs, capsys):
  output, run_ids = two_runs
  assert cli.main(["runs", "--output", str(output)]) == 0
  lines = capsys.readouterr().out.strip().splitlines()
  assert lines[0].split() == ["RUN", "STARTED", "PIPELINE", "SPANS", "EXECUTED", "PRECISION", "ACCURACY", "MACRO_F1",
                              "BLESSED", "PUSHED"]
  first, second = (line.split() for line in lines[1:])
  assert first[0] == run_ids[0] and first[4] == "-" and first[5] == "all"  # no spans: one data folder
  assert first[-2] == "yes" and first[-1].isdigit()
  assert second[0] == run_ids[1] and "Trainer" in second[5] and second[-2:] == ["no", "-"]


def test_runs_command_json(two_runs, capsys):
  output, run_ids = two_runs
  assert cli.main(["runs", "--output", str(output), "--json"]) == 0
  runs = json.loads(capsys.readouterr().out)
  assert [r["run_id"] for r in runs] == run_ids
  assert [r["blessed"] for r in runs] == [True, False]
  assert runs[0]["pushed_version"] and runs[1]["pushed_version"] is None
  assert runs[1]["components"]["Transform"] == "cached" and runs[1]["components"]["Trainer"] == "ran"
  precision = runs[0]["precision"]  # auto on this machine, read back from the trained model's metadata
  assert precision["precision"] in ("float32", "bfloat16") and precision["reason"].startswith("auto: ")
  assert 0 <= runs[1]["metrics"]["sparse_categorical_accuracy"] < runs[0]["metrics"]["sparse_categorical_accuracy"]


def test_runs_command_without_a_store_names_the_path(tmp_path, capsys):
  assert cli.main(["runs", "--output", str(tmp_path)]) == cli.EXIT_USAGE
  assert str(tmp_path / "metadata.sqlite") in capsys.readouterr().err
