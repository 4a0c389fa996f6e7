"""End to end, text: `modelfab run --preset text-bert` on the embedded reviews with a tiny BERT checkpoint the test
writes itself (random weights, the reviews' words as vocab.txt), ending pushed; predictions on raw text."""
import pathlib

import pytest
import tensorflow as tf

from conftest import review_vocab, write_tiny_checkpoint
from pipelines import cli
from reports import run_summary
from serving import predict


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("text")
  checkpoint = root / "tiny-bert"
  write_tiny_checkpoint(checkpoint, vocab=review_vocab())
  output = root / "out"
  assert cli.main(["run", "--preset", "text-bert", "--bert-checkpoint", str(checkpoint), "--output", str(output),
                   "--epochs", "2", "--max-seq-length", "32", "--min-accuracy", "0"]) == 0
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
