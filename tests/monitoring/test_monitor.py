"""`modelfab monitor` on traffic logged the way `modelfab serve` logs it: held-out digits pass, inverted or noise
images raise an alert (exit 4), true labels give the live accuracy."""
import datetime
import io
import json
import time

import numpy as np
import pytest
from PIL import Image

from conftest import DIGITS
from cli import main as cli
from inference import model_loader, predict
from serving import request_log

MODEL = "digits-cnn"


def _log_traffic(output, images):
  """Predicts `images` (encoded bytes) with the served model and logs them as the server does; returns
  (start time as ISO text, request ids, predicted labels)."""
  start = time.time() - 0.5
  model = model_loader.load_model(str(output / "serving" / MODEL))
  examples = predict.serialized_examples([{"image": image} for image in images])
  outputs = predict.predict_serialized(model, examples)
  logger = request_log.RequestLogger(str(output), 1.0)
  ids = []
  for i, example in enumerate(examples):
    ids.append(f"req-{start:.0f}-{i}")
    logger.log(MODEL, int(model.path.rsplit("/", 1)[-1]), ids[-1], [example],
               {k: v[i:i + 1] for k, v in outputs.items()})
  logger.close()
  return datetime.datetime.fromtimestamp(start).isoformat(), ids, [l.decode() for l in outputs["label"]]


def _held_out(per_class=6):
  return [(p, d.name) for d in sorted(DIGITS.iterdir()) for p in sorted(d.iterdir())[60:60 + per_class]]


def _png(pixels):
  buffer = io.BytesIO()
  Image.fromarray(pixels.astype(np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def test_held_out_traffic_raises_no_drift_alert(two_runs, capsys):
  output, _ = two_runs
  images = _held_out()
  since, _, _ = _log_traffic(output, [p.read_bytes() for p, _ in images])
  status = cli.main(["monitor", "--output", str(output), "--since", since, "--json"])
  captured = capsys.readouterr()
  result = json.loads(captured.out)
  assert status == 0 and not result["alert"], captured
  assert result["requests"] == len(images)
  assert {c["feature"] for c in result["checks"] if c["kind"] == "input drift"} >= {"brightness", "contrast"}
  assert {c["feature"] for c in result["checks"] if c["kind"] == "prediction drift"} == {"predicted_label", "score"}


def test_true_labels_give_the_live_accuracy(two_runs, tmp_path, capsys):
  output, _ = two_runs
  images = _held_out(per_class=3)
  since, ids, labels = _log_traffic(output, [p.read_bytes() for p, _ in images])
  truth = tmp_path / "labels.csv"
  truth.write_text("request_id,label\n" + "".join(f"{i},{t}\n" for i, (_, t) in zip(ids, images)) + "nope,3\n")
  status = cli.main(["monitor", "--output", str(output), "--since", since, "--labels", str(truth), "--json"])
  captured = capsys.readouterr()
  result = json.loads(captured.out)
  expected = sum(l == t for l, (_, t) in zip(labels, images)) / len(images)
  assert result["live_accuracy"] == {"labelled": len(images), "accuracy": pytest.approx(expected),
                                     "unknown_request_ids": 1}
  [check] = [c for c in result["checks"] if c["kind"] == "live accuracy"]
  assert status == (4 if result["alert"] else 0) and check["alert"] == (check["value"] > 0.05)


@pytest.mark.parametrize("shift", ["inverted", "noise"])
def test_shifted_traffic_raises_an_alert(two_runs, capsys, shift):
  output, _ = two_runs
  rng = np.random.default_rng(0)
  images = []
  for path, _ in _held_out():
    pixels = np.asarray(Image.open(path).convert("L"), dtype=np.float32)
    images.append(_png(255 - pixels if shift == "inverted" else rng.integers(0, 256, pixels.shape)))
  since, _, _ = _log_traffic(output, images)
  status = cli.main(["monitor", "--output", str(output), "--since", since])
  captured = capsys.readouterr()
  out = captured.out
  assert status == 4, captured
  alerts = [line for line in out.splitlines() if line.endswith("ALERT")]
  assert any(line.startswith("input drift") and "brightness" in line for line in alerts), out
  assert "ALERT: a threshold was crossed" in out and "result: " in out
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top
  from monitoring import monitor  # pylint: disable=g-import-not-at-top

  scalars = tensorboard_logs.read_scalars(monitor.tensorboard_dir(str(output), MODEL))
  assert scalars["input_drift/brightness"][-1][1] > 0.2  # the alert, as TensorBoard shows it


def test_too_little_traffic_is_a_clear_error(two_runs, capsys):
  output, _ = two_runs
  assert cli.main(["monitor", "--output", str(output), "--since", "0m"]) == cli.EXIT_USAGE
  assert "need at least 20" in capsys.readouterr().err
