"""Explanations of text models from the pushed SavedModel alone: integrated gradients on BERT's word embeddings,
merged back to whitespace-separated words, that find the word carrying the label; `modelfab explain --text`."""
import json
import re

import numpy as np
import pytest

from cli import main as cli
from conftest import KEYWORDS, write_keyword_reviews
from inference import explain, explain_text, model_loader, predict

KEYWORD_SET = {w for words in KEYWORDS.values() for w in words}


def test_pieces_are_given_to_their_words_and_specials_to_none():
  # [CLS] a a b c c c [SEP] [PAD] [PAD]: words of 2, 1 and 3 pieces
  assert explain_text.token_words([2, 1, 3], tokens=8, length=10).tolist() == [-1, 0, 0, 1, 2, 2, 2, -1, -1, -1]
  # truncated to 6 tokens: [CLS] a a b c [SEP]; the rest of c and a fourth word are not read
  assert explain_text.token_words([2, 1, 3, 1], tokens=6, length=6).tolist() == [-1, 0, 0, 1, 2, -1]
  assert explain_text.token_words([], tokens=2, length=4).tolist() == [-1, -1, -1, -1]


def test_top_words_and_highlights_escape_the_words():
  attributions = {"words": ["<b>good</b>", "plot", "bad"], "scores": [0.5, 0.1, -0.4]}
  assert explain_text.top_words(attributions, 2) == ["<b>good</b>", "plot"]
  shown = explain_text.highlighted_words(attributions)
  assert "&lt;b&gt;good&lt;/b&gt;" in shown and "<b>" not in shown
  assert re.findall(r"rgba\(([\d,]+),([\d.]+)\)", shown) == [("0,150,60", "1.00"), ("0,150,60", "0.20"),
                                                               ("210,40,40", "0.80")]


@pytest.fixture(scope="module")
def held_out(keyword_run, tmp_path_factory):
  """40 new keyword sentences (another seed than the training data), explained by the pushed model."""
  import csv  # pylint: disable=g-import-not-at-top

  path = write_keyword_reviews(tmp_path_factory.mktemp("held-out") / "reviews.csv", count=60, seed=7)
  with open(path, encoding="utf-8") as f:
    texts = [row["text"] for row in csv.DictReader(f) if set(row["text"].split()) & KEYWORD_SET][:40]
  _, model_dir, _ = keyword_run
  return texts, explain_text.explain_texts(str(model_dir), texts, steps=32)


def test_the_keyword_gets_the_highest_attribution(held_out):
  texts, found = held_out
  tops = [explain_text.top_words(e["attributions"], 1)[0] for e in found]
  assert np.mean([top in KEYWORD_SET for top in tops]) >= 0.8, list(zip(texts, tops))


def test_word_attributions_are_complete_and_beat_random_deletion(held_out):
  texts, found = held_out
  for text, e in zip(texts, found):
    assert e["attributions"]["words"] == text.split() and len(e["attributions"]["scores"]) == len(text.split())
  assert np.median([e["approximation_error"] for e in found]) < 0.05
  assert np.mean([e["deletion"]["attributed_area"] < e["deletion"]["random_area"] for e in found]) >= 0.8


def test_explain_text_json_gives_predicts_labels_and_writes_highlights(keyword_run, held_out, tmp_path, capsys):
  _, model_dir, _ = keyword_run
  texts = held_out[0][:3] + ['a text with quoted "words" and no keyword at all']
  args = ["--model", str(model_dir)] + [a for t in texts for a in ("--text", t)]
  assert cli.main(["explain", *args, "--json", "--steps", "16", "--output-dir", str(tmp_path / "out")]) == 0
  found = json.loads(capsys.readouterr().out)["explanations"]
  labels = [label for label, _ in predict.predict_texts(model_loader.load_model(str(model_dir)), texts)]
  assert [e["label"] for e in found] == labels and [e["input"] for e in found] == texts
  page = (tmp_path / "out" / "explanations.html").read_text(encoding="utf-8")
  assert page.count("<tr>") == 1 + len(texts) and "&quot;words&quot;" in page
  assert cli.main(["explain", *args[:4], "--steps", "16"]) == 0
  line = capsys.readouterr().out.splitlines()[0].split("\t")
  assert line[0] == texts[0] and line[1] == labels[0] and line[3].startswith("top words: ")


def test_the_explainer_step_explains_text_runs(keyword_run):
  from core import json_files, names  # pylint: disable=g-import-not-at-top
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  output, _, _ = keyword_run
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "text-bert")
  report = json_files.read_json(summary.output_uri(names.EXPLAINER, "explanations"), names.EXPLANATIONS_FILE)
  assert report["modality"] == "text" and report["explained"] == 16 and "filters" not in report
  assert all(row["attributions"]["words"] == row["text"].split() for row in report["examples"])
  assert explain.describe_split(report).startswith("explained 16 examples (")


def test_text_refusals_exit_2(keyword_run, trained_image_model, tmp_path, capsys):
  _, model_dir, _ = keyword_run
  image_model = trained_image_model[2]
  (tmp_path / "x.png").write_bytes(b"")
  cases = [
      (["--model", str(model_dir), "--text", "a", "--steps", "0"], "--steps must be at least 1"),
      (["--model", str(image_model), "--text", "a"], "not texts"),
      (["--model", str(model_dir), "--text", "a", str(tmp_path / "x.png")], "not both"),
      (["--model", str(model_dir), "--text-file", str(tmp_path / "missing.txt")], "missing.txt"),
      (["--model", str(model_dir), "--text", "a", "--method", "grad-cam"], "grad-cam explains images"),
      (["--model", str(model_dir), "--text", "a", "--method", "xrai"], "xrai explains images"),
  ]
  for args, message in cases:
    assert cli.main(["explain", *args, "--output-dir", str(tmp_path / "out")]) == cli.EXIT_USAGE, args
    assert message in capsys.readouterr().err, args
  assert not (tmp_path / "out").exists()
