"""TensorBoard over every run: the log dir built from ML Metadata, and the real server read back over HTTP."""
import json
import os
import subprocess
import sys
import urllib.parse
import urllib.request

import pytest

from inference import run_summary
from reports import tensorboard_logs


def test_eval_scalars_share_keras_accuracy_tag_and_drop_counts_and_nan():
  scalars = tensorboard_logs.eval_scalars({"sparse_categorical_accuracy": 0.9, "example_count": 42.0,
                                           "macro_precision": float("nan"), "f1_score/class_3": 0.5})
  assert scalars == {"epoch_accuracy": 0.9, "eval_f1_score/class_3": 0.5}


def test_run_dir_name_is_pipeline_and_run_without_colons():
  summary = run_summary.RunSummary("2026-11-23T10:12:33.5", {}, {}, None, None, pipeline_name="digits-cnn")
  assert tensorboard_logs.run_dir_name(summary) == "digits-cnn/2026-11-23T10-12-33.5"


def test_prepare_logdir_links_trainer_logs_and_writes_eval_scalars(two_runs):
  output, run_ids = two_runs
  run_dirs = tensorboard_logs.prepare_logdir(str(output))
  assert len(run_dirs) == 2  # both runs trained a model
  assert tensorboard_logs.prepare_logdir(str(output)) == run_dirs  # idempotent
  for run_dir in run_dirs:
    assert os.path.islink(os.path.join(run_dir, "train")) and os.path.islink(os.path.join(run_dir, "validation"))
    assert os.listdir(os.path.join(run_dir, "evaluation"))


def _get(port, path, **query):
  url = f"http://127.0.0.1:{port}{path}" + (("?" + urllib.parse.urlencode(query)) if query else "")
  with urllib.request.urlopen(url, timeout=10) as response:
    return json.loads(response.read())


@pytest.fixture
def tensorboard_server(two_runs, free_port, wait_for):
  output, _ = two_runs
  port = free_port()
  process = subprocess.Popen([sys.executable, "-m", "cli.main", "tensorboard", "--output", str(output),
                              "--port", str(port), "--reload-interval", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    # train, validation, evaluation for each of the two runs
    wait_for(lambda: len(_get(port, "/data/runs")) >= 6, 180, "TensorBoard listing the runs", process, interval=1)
    yield port
  finally:
    process.terminate()
    process.wait(timeout=30)


def test_tensorboard_serves_training_curves_and_eval_metrics_of_each_run(two_runs, tensorboard_server):
  output, run_ids = two_runs
  port = tensorboard_server
  runs = _get(port, "/data/runs")
  summaries = run_summary.list_runs(str(output / "metadata.sqlite"))
  for summary in summaries:
    name = tensorboard_logs.run_dir_name(summary)
    assert {f"{name}/train", f"{name}/validation", f"{name}/evaluation"} <= set(runs)
    tags = _get(port, "/data/plugin/scalars/tags")
    assert {"epoch_loss", "epoch_accuracy", "epoch_learning_rate"} <= set(tags[f"{name}/train"])
    epoch_loss = _get(port, "/data/plugin/scalars/scalars", run=f"{name}/train", tag="epoch_loss")
    val_loss = _get(port, "/data/plugin/scalars/scalars", run=f"{name}/validation", tag="epoch_loss")
    assert len(epoch_loss) == len(val_loss) >= 2 and [step for _, step, _ in epoch_loss][:2] == [0, 1]
    eval_accuracy = _get(port, "/data/plugin/scalars/scalars", run=f"{name}/evaluation", tag="epoch_accuracy")
    assert len(eval_accuracy) == 1
    _, step, value = eval_accuracy[0]
    assert step == epoch_loss[-1][1]  # drawn at the last epoch, on the training accuracy chart
    assert value == pytest.approx(summary.metrics["sparse_categorical_accuracy"], abs=1e-6)
  assert summaries[0].metrics["sparse_categorical_accuracy"] > summaries[1].metrics["sparse_categorical_accuracy"]
  # Compression: the float model and its int8 .tflite on the same charts.
  first_name = tensorboard_logs.run_dir_name(summaries[0])
  assert {f"{first_name}/model-float", f"{first_name}/model-tflite"} <= set(runs)
  sizes = {side: _get(port, "/data/plugin/scalars/scalars", run=f"{first_name}/model-{side}", tag="model/size_kib")
           for side in ("float", "tflite")}
  assert sizes["tflite"][0][2] < sizes["float"][0][2]
  assert sizes["tflite"][0][2] == pytest.approx(summaries[0].compression["compressed"]["bytes"] / 1024, rel=1e-6)
  # Every LOG_EVERY_STEPS (10) steps: the first run trained 15 epochs x 4 steps (the second only 8 steps).
  first = tensorboard_logs.run_dir_name(summaries[0])
  assert {"batch_loss", "batch_accuracy", "batch_learning_rate"} <= set(tags[f"{first}/train"])
  learning_rates = _get(port, "/data/plugin/scalars/scalars", run=f"{first}/train", tag="batch_learning_rate")
  assert [step % 10 for _, step, _ in learning_rates] == [0] * len(learning_rates) and len(learning_rates) >= 2
  assert learning_rates[0][2] > learning_rates[-1][2] > 0  # cosine decay


def test_tensorboard_has_the_model_graph(two_runs, tensorboard_server):
  output, _ = two_runs
  info = _get(tensorboard_server, "/data/plugin/graphs/info")
  graph_runs = [run for run, data in info.items() if data.get("run_graph")]
  assert any(run.endswith("/train") for run in graph_runs), info
