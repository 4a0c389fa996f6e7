"""What `--warm-start` saves on a new span: epochs and time to reach the cold model's eval accuracy.

    python benchmarks/warm_start_benchmark.py [--epochs 20] [--warm-learning-rate X]

The embedded digits are dealt into two spans (alternate images of each class). A model is trained on span 1 and
pushed. Then span 2 is trained twice with the same settings: cold (a fresh output dir) and with `--warm-start`
from span 1's model. The Keras validation accuracy after each epoch (on span 2's eval split) is read from the
Trainer's output; the figure is the first epoch at which each run reaches the cold run's best.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
DIGITS = REPO / "data" / "digits"
VAL_ACCURACY = re.compile(r"val_accuracy: ([0-9.]+)")


def make_spans(root: pathlib.Path) -> None:
  for class_dir in sorted(DIGITS.iterdir()):
    for index, image in enumerate(sorted(class_dir.iterdir())):
      target = root / f"span-{index % 2 + 1}" / class_dir.name / image.name
      target.parent.mkdir(parents=True, exist_ok=True)
      shutil.copyfile(image, target)
  for span in ("span-1", "span-2"):
    (root / span / "_SUCCESS").write_text("")


def run(data: pathlib.Path, output: pathlib.Path, epochs: int, *extra: str):
  """(validation accuracy after each epoch, wall seconds, the run's output)."""
  command = [sys.executable, "-m", "cli.main", "run", "--data", str(data), "--output", str(output), "--epochs",
             str(epochs), "--min-accuracy", "0", "--quantize", "none", "--no-export-onnx", *extra]
  started = time.time()
  completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
  seconds = time.time() - started
  accuracies = [float(m.group(1)) for m in map(VAL_ACCURACY.search, completed.stdout.splitlines()) if m]
  return accuracies, seconds, completed.stdout


def first_epoch_reaching(accuracies, target: float):
  return next((i + 1 for i, a in enumerate(accuracies) if a >= target - 1e-9), None)


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--epochs", type=int, default=20)
  parser.add_argument("--warm-learning-rate", type=float,
                      help="the warm run's --learning-rate (default: the preset's, as the cold run)")
  args = parser.parse_args()
  work = pathlib.Path(tempfile.mkdtemp(prefix="warm-start-"))
  make_spans(work / "incoming")
  run(work / "incoming" / "span-1", work / "out", args.epochs)  # the model warm start starts from
  cold, cold_seconds, _ = run(work / "incoming" / "span-2", work / "cold", args.epochs)
  lr = ["--learning-rate", str(args.warm_learning_rate)] if args.warm_learning_rate else []
  warm, warm_seconds, out = run(work / "incoming" / "span-2", work / "out", args.epochs, "--warm-start", *lr)
  assert "warm start:" in out, out[-2000:]
  target = max(cold)
  result = {"epochs": args.epochs, "warm_learning_rate": args.warm_learning_rate, "cold_best_val_accuracy": target,
            "cold_epochs_to_best": first_epoch_reaching(cold, target),
            "warm_epochs_to_cold_best": first_epoch_reaching(warm, target), "warm_first_epoch": warm[0],
            "cold_first_epoch": cold[0], "cold_epochs_run": len(cold), "warm_epochs_run": len(warm),
            "cold_run_seconds": round(cold_seconds, 1), "warm_run_seconds": round(warm_seconds, 1),
            "cold_curve": cold, "warm_curve": warm}
  print(json.dumps(result, indent=2))
  shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()
