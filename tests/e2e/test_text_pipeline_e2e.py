"""End to end, text: `modelfab run --preset text-bert` on the embedded reviews with a tiny BERT checkpoint the test
writes itself (random weights, the reviews' words as vocab.txt), ending pushed; predictions on raw text."""
import pathlib
import time

import pytest
import tensorflow as tf

from conftest import REPO, review_vocab, write_tiny_checkpoint
from cli import formatting
from cli import main as cli
from inference import run_summary
from inference import predict

pytestmark = pytest.mark.e2e  # whole pipeline runs or processes working together


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("text")
  checkpoint = root / "tiny-bert"
  write_tiny_checkpoint(checkpoint, vocab=review_vocab())
  output = root / "out"
  assert cli.main(["run", "--preset", "text-bert", "--bert-checkpoint", str(checkpoint), "--output", str(output),
                   "--epochs", "2", "--max-seq-length", "32", "--min-accuracy", "0", "--explain-examples", "8"]) == 0
  return output, run_summary.latest_run_summary(str(output / "metadata.sqlite"), "text-bert")


def test_text_pipeline_ends_pushed(text_run):
  output, summary = text_run
  assert summary.components["TextCsvExampleGen"] == "ran" and summary.components["Trainer"] == "ran"
  assert summary.metrics["example_count"] > 0 and summary.blessed
  assert pathlib.Path(summary.pushed_to).parent == output / "serving" / "text-bert"


def test_pushed_model_takes_raw_text(text_run, capsys):
  output, _ = text_run
  model_dir = predict.resolve_model_dir(str(output / "serving" / "text-bert"))
  texts = ["The movie was wonderful", "The plot was a mess, \"awful\"\nI hated it", "中文 😀 unknownword"]
  predictions = predict.predict_texts(model_dir, texts)
  assert len(predictions) == 3 and {label for label, _ in predictions} <= {"positive", "negative"}
  serving = tf.saved_model.load(model_dir).signatures["serving_default"]
  assert list(serving.structured_input_signature[1]) == ["examples"]
  assert cli.main(["predict", "--model", str(output / "serving" / "text-bert"), "--text", texts[0]]) == 0
  text, label, probability = capsys.readouterr().out.strip().split("\t")
  assert text == texts[0] and label in {"positive", "negative"} and 0.5 <= float(probability) <= 1.0


def test_dynamic_range_tflite_takes_token_ids_and_agrees_with_the_savedmodel(text_run):
  """The text preset quantizes dynamic-range by default; the .tflite, tokenizing with the vocab.txt shipped beside
  it, labels the reviews as the SavedModel (which tokenizes inside its graph) does."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  output, summary = text_run
  assert summary.compression["mode"] == "dynamic" and summary.compression["label_agreement"] >= 0.95
  pushed = pathlib.Path(summary.pushed_to)
  assert (pushed / "model.tflite").is_file() and (pushed / "vocab.txt").is_file()
  tflite = predict.load_model(str(pushed / "model.tflite"))
  assert set(tflite.serving_fn.input_specs) == {"input_word_ids", "input_mask", "segment_ids"}
  texts = _heldout_reviews()
  from_tflite = predict.predict_texts(tflite, texts)
  from_saved_model = predict.predict_texts(str(pushed), texts)
  assert np.mean([a[0] == b[0] for a, b in zip(from_tflite, from_saved_model)]) >= 0.95
  assert max(abs(a[1] - b[1]) for a, b in zip(from_tflite, from_saved_model)) < 0.05


def test_onnx_model_takes_token_ids_and_gives_the_savedmodels_labels(text_run):
  """The BERT model's tensor signature converted with tf2onnx: the same labels as the SavedModel on every eval
  example (the exporter's gate) and on the held-out reviews through `predict`."""
  output, summary = text_run
  assert summary.onnx["blessed"], summary.onnx["reason"]
  assert summary.onnx["label_agreement"] == 1.0 and summary.onnx["max_probability_difference"] <= 1e-4
  pushed = pathlib.Path(summary.pushed_to)
  onnx = predict.load_model(str(pushed / "model.onnx"))
  assert set(onnx.serving_fn.input_specs) == {"input_word_ids", "input_mask", "segment_ids"}
  texts = _heldout_reviews()
  assert [label for label, _ in predict.predict_texts(onnx, texts)] == \
      [label for label, _ in predict.predict_texts(str(pushed), texts)]


def _heldout_reviews():
  import csv  # pylint: disable=g-import-not-at-top

  with open(REPO / "data" / "reviews-heldout" / "heldout.csv",
            encoding="utf-8") as f:
    return [row["text"] for row in csv.DictReader(f)]


def test_text_model_served_over_tf_serving_rest_api(text_run, free_port, wait_for):
  """`modelfab serve` on the pushed text model: classify on raw text gives `modelfab predict`'s labels."""
  import json  # pylint: disable=g-import-not-at-top
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  import urllib.error  # pylint: disable=g-import-not-at-top
  import urllib.request  # pylint: disable=g-import-not-at-top

  output, _ = text_run
  texts = _heldout_reviews()[:6]
  expected = [label for label, _ in predict.predict_texts(str(output / "serving" / "text-bert"), texts)]
  port = free_port()
  server = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", str(output), "--port",
                             str(port)], cwd=REPO)

  def post(body):
    request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/models/text-bert:classify",
                                     data=json.dumps(body).encode(), method="POST")
    try:
      with urllib.request.urlopen(request, timeout=60) as response:
        return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
      return e.code, json.loads(e.read())

  try:
    wait_for(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10).status == 200, 120,
             "modelfab serve ready")
    status, body = post({"examples": [{"text": t} for t in texts]})
    assert status == 200
    assert [max(result, key=lambda pair: pair[1])[0] for result in body["results"]] == expected
    status, body = post({"examples": [{"image": {"b64": "iVBORw0KGgo="}}]})
    assert status == 400 and "the model reads feature(s) ['text']" in body["error"]
  finally:
    server.terminate()
    server.wait(timeout=30)


OTHER_DOMAIN = [f"kubelet evicted pod {i} after the node's ephemeral storage quota hit {90 + i % 9} percent"
                for i in range(30)]


def test_monitor_flags_text_from_another_domain_and_not_new_text_from_the_training_distribution(text_run):

  from inference import model_loader  # pylint: disable=g-import-not-at-top
  from monitoring import monitor  # pylint: disable=g-import-not-at-top
  from serving import request_log  # pylint: disable=g-import-not-at-top

  output, _ = text_run
  model = model_loader.load_model(str(output / "serving" / "text-bert"))
  version = int(pathlib.Path(model.path).name)

  def log(texts):
    start = time.time() - 0.5
    examples = predict.serialized_examples([{"text": t.encode()} for t in texts])
    outputs = predict.predict_serialized(model, examples)
    logger = request_log.RequestLogger(str(output), 1.0)
    for i, example in enumerate(examples):
      logger.log("text-bert", version, f"t{start}-{i}", [example], {k: v[i:i + 1] for k, v in outputs.items()})
    logger.close()
    return start

  import importlib.util  # pylint: disable=g-import-not-at-top

  spec = importlib.util.spec_from_file_location("make_reviews", REPO / "data"
                                                / "make_reviews.py")
  make_reviews = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(make_reviews)
  same_distribution = [text for text, _ in make_reviews.make_rows(40, seed=2026)]  # new rows, training's generator
  held_out = monitor.monitor(str(output), "text-bert", log(same_distribution))
  shifted = monitor.monitor(str(output), "text-bert", log(OTHER_DOMAIN))
  inputs = lambda result: {c["feature"]: c for c in result["checks"] if c["kind"] == "input drift"}
  assert set(inputs(held_out)) == {"words", "unknown_share"}
  assert not any(c["alert"] for c in inputs(held_out).values()), formatting.format_monitor_result(held_out)
  assert inputs(shifted)["unknown_share"]["alert"] and shifted["alert"], shifted
