"""End to end: spans arrive one by one, `modelfab watch --once` trains on the rolling window after each and pushes;
a shifted span is stopped by the drift gate before Transform with nothing pushed; `--allow-drift` trains on it, and
`--bulk-infer` predicts a folder with the version it pushed.

Real TFX components on real Beam, `watch` starting `modelfab run` in a child process as it does in production.
The images are two easy classes (bright top or bright bottom half), so every window's model is blessed against
the one before and each run pushes.
"""
import os

import numpy as np
import pytest

from cli import main as cli
from conftest import png_bytes
from inference import run_summary

pytestmark = pytest.mark.e2e

PER_CLASS = 24
SETTINGS = ["--epochs", "6", "--min-accuracy", "0.8", "--quantize", "none", "--no-export-onnx", "--spans", "2"]


def _write_span(root, number, inverted=False):
  rng = np.random.default_rng(number)
  folder = root / f"span-{number}"
  for i in range(2 * PER_CLASS):
    label = ("top", "bottom")[i % 2]
    pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
    pixels[slice(0, 4) if label == "top" else slice(4, 8)] += 180
    (folder / label).mkdir(parents=True, exist_ok=True)
    (folder / label / f"{i}.png").write_bytes(png_bytes(255 - pixels if inverted else pixels))
  (folder / "_SUCCESS").write_text("")  # written last: the span is complete


def _versions(output):
  serving = output / "serving" / "digits-cnn"
  return sorted(int(v) for v in os.listdir(serving) if v.isdigit()) if serving.is_dir() else []


def test_watch_trains_each_new_span_and_the_drift_gate_stops_a_shifted_one(tmp_path, capfd):
  incoming, output = tmp_path / "incoming", tmp_path / "out"
  pattern = str(incoming / "span-{SPAN}")
  watch = lambda *extra: cli.main(["watch", "--data", pattern, "--output", str(output), "--once", *SETTINGS, *extra])
  store = str(output / "metadata.sqlite")

  for number in (1, 2, 3):
    _write_span(incoming, number)
    assert watch() == 0
    assert f"run: new span {number}" in capfd.readouterr().out
    assert len(_versions(output)) == number  # each window's model pushed a new version
  runs = run_summary.list_runs(store, "digits-cnn")
  assert [r.spans for r in runs] == [[1], [1, 2], [2, 3]]  # the rolling window of 2
  assert all(r.blessed and r.pushed_to for r in runs)
  assert runs[1].drift["checks"] and "within the limits" in runs[1].drift["verdict"]

  assert watch() == 0  # nothing new: no run
  assert "skip: no new span: the newest complete span is 3" in capfd.readouterr().out
  assert len(run_summary.list_runs(store, "digits-cnn")) == 3

  _write_span(incoming, 4, inverted=True)
  before = _versions(output)
  assert watch() == 1
  err = capfd.readouterr().err
  assert "span 4" in err and "brightness jensen_shannon" in err and "the run stops before Transform" in err
  assert _versions(output) == before  # nothing pushed
  stopped = run_summary.list_runs(store, "digits-cnn")[-1]
  assert stopped.spans == [3, 4] and stopped.components["DriftGate"] == "failed"
  assert "Transform" not in stopped.components and "Trainer" not in stopped.components
  assert watch() == 0  # the stopped span is not retried on every check
  assert "skip: no new span" in capfd.readouterr().out

  # Half the window is inverted: more epochs to learn both; the previous model gets the inverted half wrong.
  assert cli.main(["run", "--data", pattern, "--output", str(output), *SETTINGS, "--allow-drift", "--epochs", "20",
                   "--min-accuracy", "0.6", "--bulk-infer", str(incoming / "span-1")]) == 0
  out = capfd.readouterr().out
  assert "drift gate, span 4: drifted from the data version" in out and "trained anyway (--allow-drift)" in out
  assert f"batch inference: {2 * PER_CLASS} predicted, 0 failed" in out, out[-1500:]
  allowed = run_summary.list_runs(store, "digits-cnn")[-1]
  assert allowed.spans == [3, 4] and allowed.drift["allowed"] and allowed.drift["drifted"]
  assert allowed.components["Transform"] == "ran" and allowed.components["Trainer"] == "ran"
  assert cli.main(["report", "--output", str(output), "--report-dir", str(tmp_path / "report")]) == 0
  page = (tmp_path / "report" / "report.html").read_text()
  assert "<td>spans</td><td>3, 4</td>" in page and "Drift gate" in page and "trained anyway" in page
  watch_log = (output / "logs" / "watch.log").read_text().splitlines()
  assert len(watch_log) == 10 and "run on span 4 failed (exit 1)" in watch_log[-2]
