"""Explanations: how good and how fast `modelfab explain` is, on digits (integrated gradients, XRAI, Grad-CAM) and
on text (integrated gradients on a MiniLM-size BERT's word embeddings).

  python benchmarks/explain_benchmark.py [--part digits|text|both|cost] [--train-per-class 140] [--steps 64]
                                         [--cost-pairs 3] [--work DIR] [--write-results]

digits: trains the digits preset on the first --train-per-class embedded images of each class (`modelfab run`), then
explains every other embedded digit (never trained or evaluated on) with the pushed model, as `modelfab explain`
does, by each method: the share whose attributions beat random deletion, the median completeness error (integrated
gradients), and the seconds per explained example (after one warm-up explanation).

text: a tiny BERT and one with all-MiniLM-L6-v2's sizes (random initial weights, as nothing can be downloaded here)
fine-tuned by `modelfab run --preset text-bert` on generated sentences whose label is carried by one keyword
(tests/conftest.py `write_keyword_reviews`), then 40 new keyword sentences explained by each: how often the keyword
gets the highest attribution, the deletion and completeness checks, and the seconds per explained sentence (at
--text-max-seq-length, 32 by default: the sentences are at most 13 tokens).

cost: pairs of fresh default runs with the Explainer and with --no-explain. Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import csv
import os
import pathlib
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests"))

import results  # noqa: E402  # pylint: disable=wrong-import-position

MODELFAB = os.path.join(os.path.dirname(sys.executable), "modelfab")


def _timed_explanations(explain_one, inputs):
  """[explanation per input], seconds per input (after one warm-up: the first call traces the gradients)."""
  explain_one(inputs[0])
  started = time.time()
  found = [explain_one(x) for x in inputs]
  return found, (time.time() - started) / len(found)


def _beats(found) -> float:
  return float(np.mean([e["deletion"]["attributed_area"] < e["deletion"]["random_area"] for e in found]))


def _errors(found) -> str:
  errors = [e["approximation_error"] for e in found if e["approximation_error"] is not None]
  return f"{np.median(errors):.2%} ({np.percentile(errors, 90):.2%})" if errors else "n/a"


def digits_part(args) -> str:
  digits = os.path.join(REPO, "data", "digits")
  work = os.path.join(args.work, "digits")
  train, held_out = os.path.join(work, "data"), []
  for label in sorted(os.listdir(digits)):
    files = sorted(os.listdir(os.path.join(digits, label)))
    os.makedirs(os.path.join(train, label))
    for name in files[:args.train_per_class]:
      shutil.copy(os.path.join(digits, label, name), os.path.join(train, label, name))
    held_out += [os.path.join(digits, label, name) for name in files[args.train_per_class:]]
  started = time.time()
  subprocess.run([MODELFAB, "run", "--data", train, "--output", os.path.join(work, "out")], check=True, cwd=REPO,
                 stdout=subprocess.DEVNULL)
  run_seconds = time.time() - started

  from inference import attribution, explain  # pylint: disable=g-import-not-at-top

  explainable = attribution.load_explainable(os.path.join(work, "out", "serving", "digits-cnn"))
  images = []
  for path in held_out:
    with open(path, "rb") as f:
      images.append(f.read())
  rows = []
  for method in attribution.METHODS:
    found, seconds = _timed_explanations(
        lambda image, m=method: explain.explain_image(explainable, image, steps=args.steps, method=m), images)
    rows.append([method, f"{len(found)}", f"{_beats(found):.1%}", _errors(found), f"{seconds:.3f} s"])
    print(rows[-1], flush=True)
  table = results.table(["method", "held-out digits", "beat random deletion (target >= 80%)",
                         "completeness error, median (90th pct.; target < 5%)", "seconds per image"], rows)
  return (f"The digits preset trained on the first {args.train_per_class} embedded images of each class "
          f"(`modelfab run`, {run_seconds:.1f} s); every other embedded digit explained with the pushed SavedModel "
          f"alone, {args.steps} integration steps (XRAI ranks its regions by the same integrated gradients; Grad-CAM "
          "reads the last convolution block). Each time includes the two deletion curves.\n\n" + table)


def _fine_tune(work: pathlib.Path, name: str, sizes: dict, data: pathlib.Path, args, epochs: int,
               learning_rate: float):
  """`modelfab run --preset text-bert` with a random BERT of `sizes`; (pushed model dir, eval accuracy, seconds)."""
  from conftest import keyword_vocab, write_tiny_checkpoint  # pylint: disable=g-import-not-at-top

  from inference import run_summary  # pylint: disable=g-import-not-at-top

  checkpoint, output = work / name, work / f"{name}-out"
  write_tiny_checkpoint(checkpoint, vocab=keyword_vocab(), **sizes)
  started = time.time()
  subprocess.run([MODELFAB, "run", "--preset", "text-bert", "--data", str(data), "--bert-checkpoint", str(checkpoint),
                  "--output", str(output), "--epochs", str(epochs), "--max-seq-length", str(args.text_max_seq_length),
                  "--learning-rate", str(learning_rate), "--min-accuracy", "0", "--explain-examples", "16",
                  "--no-export-onnx", "--quantize", "none"], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
  seconds = time.time() - started
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "text-bert")
  return output / "serving" / "text-bert", summary.metrics.get("sparse_categorical_accuracy"), seconds


def text_part(args) -> str:
  from conftest import KEYWORDS, MINILM_SIZES, write_keyword_reviews  # pylint: disable=g-import-not-at-top

  from inference import attribution, explain_text  # pylint: disable=g-import-not-at-top

  work = pathlib.Path(args.work) / "text"
  data = write_keyword_reviews(work / "data" / "reviews.csv", count=args.text_sentences).parent
  keywords = {w for words in KEYWORDS.values() for w in words}
  held_out = write_keyword_reviews(work / "held-out.csv", count=60, seed=7)
  with open(held_out, encoding="utf-8") as f:
    texts = [row["text"] for row in csv.DictReader(f) if set(row["text"].split()) & keywords][:40]
  rows = []
  for name, sizes, epochs, learning_rate in (("tiny", {}, 4, 5e-3),
                                             ("minilm-size", MINILM_SIZES, args.text_epochs, args.text_learning_rate)):
    model_dir, accuracy, run_seconds = _fine_tune(work, name, sizes, data, args, epochs, learning_rate)
    explainable = attribution.load_explainable(str(model_dir))
    found, seconds = _timed_explanations(
        lambda text, e=explainable: explain_text.explain_text(e, text, steps=args.steps), texts)
    tops = np.mean([explain_text.top_words(e["attributions"], 1)[0] in keywords for e in found])
    rows.append([f"{name} ({epochs} epochs, learning rate {learning_rate}; run {run_seconds:.0f} s)",
                 f"{accuracy:.4f}", f"{tops:.1%}", f"{_beats(found):.1%}", _errors(found), f"{seconds:.3f} s"])
    print(rows[-1], flush=True)
  return ("Two BERTs with random initial weights (nothing can be downloaded here) fine-tuned by `modelfab run "
          f"--preset text-bert` (max_seq_length {args.text_max_seq_length}) on {args.text_sentences} generated "
          "sentences: two in three carry one keyword that decides the label, the others none and a coin-flip label "
          "(tests/conftest.py `write_keyword_reviews`; eval accuracy can reach about 0.83). *tiny*: 2 layers, 32 "
          "wide (what the tests fine-tune); *minilm-size*: all-MiniLM-L6-v2's sizes (6 layers, 384 wide, 12 "
          "heads, 1,536 intermediate). Then 40 new keyword sentences explained with integrated gradients on the "
          f"word embeddings from the [PAD] baseline, {args.steps} steps, merged to words "
          "(`inference/explain_text.py`); the time includes both deletion curves and does not depend on the "
          "weights.\n\n" + results.table(
              ["model", "eval accuracy", "keyword has the highest attribution", "beat random deletion (words)",
               "completeness error, median (90th pct.)", "seconds per sentence"], rows))


def cost_part(args) -> str:
  """The Explainer's share of a default `modelfab run`: pairs of fresh runs with it and with --no-explain."""
  import re  # pylint: disable=g-import-not-at-top

  rows, shares = [], []
  for pair in range(1, args.cost_pairs + 1):
    walls, component = {}, ""
    for flag in ("", "--no-explain"):
      output = os.path.join(args.work, "cost")
      shutil.rmtree(output, ignore_errors=True)
      started = time.time()
      run = subprocess.run([MODELFAB, "run", "--output", output] + ([flag] if flag else []), check=True, cwd=REPO,
                           capture_output=True, text=True)
      walls[flag] = time.time() - started
      found = re.search(r"Explainer done in ([\d.]+)s", run.stdout + run.stderr)
      component = found.group(1) + " s" if found and not flag else component
    shares.append(walls[""] / walls["--no-explain"] - 1)
    rows.append([f"{pair}", f"{walls['']:.1f} s", f"{walls['--no-explain']:.1f} s", f"{shares[-1]:+.1%}", component])
    print(rows[-1], flush=True)
  return ("Fresh default runs (`modelfab run`, the embedded digits, 64 examples explained) in pairs, with the "
          "Explainer and with `--no-explain`. TFX's local runner runs the Explainer beside the Quantizer, "
          "OnnxExporter, ServingCheck and Pusher, so the run grows by less than the component's own time. Target: "
          f"under 15%. Median: {np.median(shares):+.1%}.\n\n" + results.table(
              ["pair", "with the Explainer", "--no-explain", "more", "Explainer component"], rows))


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--part", choices=("digits", "text", "cost", "both"), default="both",
                      help="both: digits and text; cost: the Explainer's share of a default run")
  parser.add_argument("--cost-pairs", type=int, default=3)
  parser.add_argument("--train-per-class", type=int, default=140)
  parser.add_argument("--steps", type=int, default=64)
  parser.add_argument("--text-epochs", type=int, default=2, help="the MiniLM-size model's")
  parser.add_argument("--text-sentences", type=int, default=400)
  parser.add_argument("--text-max-seq-length", type=int, default=32)
  parser.add_argument("--text-learning-rate", type=float, default=1e-4, help="the MiniLM-size model's")
  parser.add_argument("--work", default="/tmp/modelfab-explain-benchmark")
  parser.add_argument("--write-results", action="store_true")
  args = parser.parse_args()
  shutil.rmtree(args.work, ignore_errors=True)
  if args.part == "cost":
    command = f"python benchmarks/explain_benchmark.py --part cost --cost-pairs {args.cost_pairs} --write-results"
  else:
    command = (f"python benchmarks/explain_benchmark.py --part {{part}} --train-per-class {args.train_per_class} "
               f"--steps {args.steps} --text-epochs {args.text_epochs} --text-sentences {args.text_sentences} "
               f"--text-max-seq-length {args.text_max_seq_length} --text-learning-rate {args.text_learning_rate} "
               "--write-results")
  parts = {"digits": (digits_part, "explain", "Explanations on digits (integrated gradients, XRAI, Grad-CAM)"),
           "text": (text_part, "explain-text", "Explanations of a MiniLM-size BERT (integrated gradients on words)"),
           "cost": (cost_part, "explain-cost", "The Explainer's share of a default run")}
  for part, (measure, key, title) in parts.items():
    if args.part == part or (args.part == "both" and part != "cost"):
      body = measure(args)
      print(body)
      if args.write_results:
        results.write_section(key, title, command.format(part=part), body)


if __name__ == "__main__":
  main()
