"""End to end: spans arrive one by one, `modelfab watch --once` trains on the rolling window after each and pushes;
a shifted span is stopped by the drift gate before Transform with nothing pushed; `--allow-drift` trains on it, and
`--bulk-infer` predicts a folder with the version it pushed.

Real TFX components on real Beam, `watch` starting `modelfab run` in a child process as it does in production.
The images are two easy classes (bright top or bright bottom half), so every window's model is blessed against
the one before and each run pushes.
"""
import base64
import http.client
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from cli import main as cli
from conftest import REPO, png_bytes
from inference import run_summary

pytestmark = pytest.mark.e2e

PER_CLASS = 24
SETTINGS = ["--epochs", "6", "--min-accuracy", "0.8", "--quantize", "none", "--no-export-onnx", "--spans", "2"]


def _images(seed, inverted=False):
  """(label, PNG bytes) of 2 x PER_CLASS 8x8 images: bright top or bright bottom half (inverted: dark)."""
  rng = np.random.default_rng(seed)
  images = []
  for i in range(2 * PER_CLASS):
    label = ("top", "bottom")[i % 2]
    pixels = rng.integers(0, 60, (8, 8)).astype(np.uint8)
    pixels[slice(0, 4) if label == "top" else slice(4, 8)] += 180
    images.append((label, png_bytes(255 - pixels if inverted else pixels)))
  return images


def _write_span(root, number, inverted=False):
  folder = root / f"span-{number}"
  for i, (label, png) in enumerate(_images(number, inverted)):
    (folder / label).mkdir(parents=True, exist_ok=True)
    (folder / label / f"{i}.png").write_bytes(png)
  (folder / "_SUCCESS").write_text("")  # written last: the span is complete


def _ready(port):
  connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
  connection.request("GET", "/readyz")
  return connection.getresponse().status == 200


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


def _classify(port, png):
  """POSTs one image to the real server's :classify; returns the request id it answered with."""
  connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
  body = {"examples": [{"image": {"b64": base64.b64encode(png).decode()}}]}
  connection.request("POST", "/v1/models/digits-cnn:classify", body=json.dumps(body))
  response = connection.getresponse()
  response.read()
  assert response.status == 200
  return response.getheader("X-Modelfab-Request-Id")


def test_watch_retrains_on_labelled_traffic_when_the_monitor_alerts(tmp_path, capfd, free_port, wait_for):
  incoming, output, labels = tmp_path / "incoming", tmp_path / "out", tmp_path / "labels.csv"
  pattern = str(incoming / "span-{SPAN}")
  settings = [*SETTINGS, "--epochs", "20", "--min-accuracy", "0.6"]
  watch = lambda: cli.main(["watch", "--data", pattern, "--output", str(output), "--once", "--labels", str(labels),
                            *settings])
  labels.write_text("request_id,label\n")
  _write_span(incoming, 1)
  assert watch() == 0 and len(_versions(output)) == 1
  capfd.readouterr()

  # The served model meets inverted images (a camera changed); a person labels what it answered.
  port = free_port()
  server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", str(output), "--port", str(port),
                             "--log-requests", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
  try:
    wait_for(lambda: _ready(port), 120, "modelfab serve", server)
    traffic = [(_classify(port, png), label) for label, png in _images(10, inverted=True)]
  finally:
    server.terminate()
    server.wait(timeout=30)
  assert watch() == 0  # the alert, but no labels yet: nothing to learn from
  out = capfd.readouterr().out
  assert "skip: no new span" in out and "the monitor alerts on traffic" in out and "input drift brightness" in out
  assert f"but only 0 of its {len(traffic)} requests have a label" in out
  assert not (incoming / "span-2").exists()

  labels.write_text("request_id,label\n" + "".join(f"{rid},{label}\n" for rid, label in traffic))
  assert watch() == 0
  out = capfd.readouterr().out
  assert f"{len(traffic)} labelled requests become a span" in out and "wrote span 2" in out, out[-3000:]
  assert "run on span 2 finished (exit 0)" in out
  assert sorted(os.listdir(incoming / "span-2")) == [".modelfab-span.json", "_SUCCESS", "bottom", "top"]
  assert len(os.listdir(incoming / "span-2" / "top")) == PER_CLASS
  retrained = run_summary.list_runs(str(output / "metadata.sqlite"), "digits-cnn")[-1]
  assert retrained.spans == [1, 2] and retrained.drift["allowed"] and retrained.drift["drifted"]
  assert retrained.blessed and len(_versions(output)) == 2  # it learned the inverted images too

  assert watch() == 0  # the traffic the new run trained on is not used twice
  out = capfd.readouterr().out
  assert "skip: no new span: the newest complete span is 2" in out and "need at least 20" in out
