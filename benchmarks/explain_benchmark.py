"""Explanations on digits: how good and how fast `modelfab explain`'s integrated gradients are.

  python benchmarks/explain_benchmark.py [--train-per-class 140] [--steps 64] [--work DIR] [--write-results]

Trains the digits preset on the first --train-per-class embedded images of each class (`modelfab run`), then
explains every other embedded digit (never trained or evaluated on) with the pushed model, as `modelfab explain`
does: the share whose attributions beat random deletion, the median completeness error, and the seconds per
explained example (after one warm-up explanation). Not a test: nothing here asserts.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import results  # noqa: E402  # pylint: disable=wrong-import-position


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  parser.add_argument("--train-per-class", type=int, default=140)
  parser.add_argument("--steps", type=int, default=64)
  parser.add_argument("--work", default="/tmp/modelfab-explain-benchmark")
  parser.add_argument("--write-results", action="store_true")
  args = parser.parse_args()
  digits = os.path.join(REPO, "data", "digits")
  train, held_out = os.path.join(args.work, "digits"), []
  shutil.rmtree(args.work, ignore_errors=True)
  for label in sorted(os.listdir(digits)):
    files = sorted(os.listdir(os.path.join(digits, label)))
    os.makedirs(os.path.join(train, label))
    for name in files[:args.train_per_class]:
      shutil.copy(os.path.join(digits, label, name), os.path.join(train, label, name))
    held_out += [os.path.join(digits, label, name) for name in files[args.train_per_class:]]
  started = time.time()
  subprocess.run([os.path.join(os.path.dirname(sys.executable), "modelfab"), "run", "--data", train, "--output",
                  os.path.join(args.work, "out")], check=True, cwd=REPO, stdout=subprocess.DEVNULL)
  run_seconds = time.time() - started

  from inference import attribution, explain  # pylint: disable=g-import-not-at-top

  explainable = attribution.load_explainable(os.path.join(args.work, "out", "serving", "digits-cnn"))
  with open(held_out[0], "rb") as f:
    explain.explain_image(explainable, f.read(), steps=args.steps)  # warm-up: traces the signature's gradient
  found, started = [], time.time()
  for path in held_out:
    with open(path, "rb") as f:
      found.append(explain.explain_image(explainable, f.read(), steps=args.steps))
  per_example = (time.time() - started) / len(found)
  beats = float(np.mean([e["deletion"]["attributed_area"] < e["deletion"]["random_area"] for e in found]))
  errors = [e["approximation_error"] for e in found]
  rows = [["held-out digits explained", f"{len(found)}", ""],
          ["attributions beat random deletion", f"{beats:.1%}", ">= 80%"],
          ["completeness error, median (90th percentile)",
           f"{np.median(errors):.2%} ({np.percentile(errors, 90):.2%})", "< 5%"],
          ["seconds per explained image (2 baselines x "
           f"{args.steps} steps, and the two deletion curves)", f"{per_example:.3f} s", ""],
          ["the `modelfab run` that trained the model, for scale", f"{run_seconds:.1f} s", ""]]
  table = results.table(["what", "measured", "target"], rows)
  print(table)
  if args.write_results:
    body = (f"The digits preset trained on the first {args.train_per_class} embedded images of each class; every "
            "other embedded digit explained with the pushed SavedModel alone (`inference/explain.py`, integrated "
            "gradients from a black and a blurred baseline; deletion to black, against a random order).\n\n" + table)
    results.write_section("explain", "Explanations (integrated gradients) on digits",
                          f"python benchmarks/explain_benchmark.py --train-per-class {args.train_per_class} "
                          f"--steps {args.steps} --write-results", body)


if __name__ == "__main__":
  main()
