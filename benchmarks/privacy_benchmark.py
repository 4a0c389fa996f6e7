"""DP-SGD against plain training on the embedded digits: accuracy, speed, the privacy spent, membership inference.

    python benchmarks/privacy_benchmark.py [--write-results]

Three `modelfab run`s on data/digits, each in a fresh output dir: the preset as it is (not private); the DP
run's settings without DP (what DP itself costs); and DP-SGD with noise 1.1 and clip 1.0. From each: the eval
accuracy (TFMA, the Evaluator's), the Trainer's fit throughput, the membership-inference AUC, and for the DP run
the epsilon printed against the one dp-accounting gives for the recorded steps, sampling rate and noise.
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import results  # pylint: disable=wrong-import-position

DP_SETTINGS = ["--batch-size", "64", "--learning-rate", "0.01", "--epochs", "30", "--no-augment", "--dropout", "0"]
DP_FLAGS = ["--dp-l2-clip", "1.0", "--dp-noise-multiplier", "1.1"]
RUNS = (("not private, the preset", []), ("not private, the DP run's settings", DP_SETTINGS),
        ("DP-SGD, noise 1.1, clip 1.0", DP_SETTINGS + DP_FLAGS))
FIT = re.compile(r"\[modelfab\] fit ([0-9.]+)s, ([0-9]+) examples/s \(([0-9]+) epochs")
ACCURACY = re.compile(r"sparse_categorical_accuracy=([0-9.]+)")


def run(output: pathlib.Path, flags, data=None):
  """The run's figures, from its summary and `modelfab runs --json`."""
  command = [sys.executable, "-m", "cli.main", "run", "--output", str(output), "--min-accuracy", "0",
             "--quantize", "none", "--no-export-onnx", *(["--data", str(data)] if data else []), *flags]
  started = time.time()
  completed = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=True)
  wall = time.time() - started
  listed = subprocess.run([sys.executable, "-m", "cli.main", "runs", "--output", str(output), "--json"], cwd=REPO,
                          capture_output=True, text=True, check=True)
  [summary] = json.loads(listed.stdout)
  fit = FIT.search(completed.stdout)
  return {"accuracy": float(ACCURACY.search(completed.stdout).group(1)), "fit_seconds": float(fit.group(1)),
          "examples_per_second": int(fit.group(2)), "epochs": int(fit.group(3)), "wall_seconds": round(wall, 1),
          "membership_auc": summary["membership_inference"]["auc"], "privacy": summary["privacy"]}


def subset(target: pathlib.Path, per_class: int) -> pathlib.Path:
  """The first `per_class` embedded digits of each class, as an image folder."""
  import shutil  # pylint: disable=g-import-not-at-top

  for class_dir in sorted((REPO / "data" / "digits").iterdir()):
    (target / class_dir.name).mkdir(parents=True, exist_ok=True)
    for image in sorted(class_dir.iterdir())[:per_class]:
      shutil.copy(image, target / class_dir.name / image.name)
  return target


def dp_accounting_epsilon(privacy):
  import dp_accounting  # pylint: disable=g-import-not-at-top
  from dp_accounting import rdp  # pylint: disable=g-import-not-at-top

  accountant = rdp.RdpAccountant()
  accountant.compose(dp_accounting.SelfComposedDpEvent(dp_accounting.PoissonSampledDpEvent(
      privacy["sampling_rate"], dp_accounting.GaussianDpEvent(privacy["noise_multiplier"])), privacy["steps"]))
  return accountant.get_epsilon(privacy["delta"])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--write-results", action="store_true", help="replace the section in benchmarks/RESULTS.md")
  parser.add_argument("--per-class", type=int, help="train on the first N digits of each class (default: all)")
  parser.add_argument("--epochs", type=int, help="instead of the runs' own epochs")
  args = parser.parse_args()
  work = pathlib.Path(tempfile.mkdtemp(prefix="privacy-benchmark-"))
  data = subset(work / "digits", args.per_class) if args.per_class else None
  extra = ["--epochs", str(args.epochs)] if args.epochs else []
  measured = {name: run(work / str(i), flags + extra, data) for i, (name, flags) in enumerate(RUNS)}
  print(json.dumps(measured, indent=2))
  rows = []
  for (name, flags), figures in zip(RUNS, measured.values()):
    privacy = figures["privacy"]
    spent = "-"
    if privacy:
      spent = (f"{privacy['epsilon']:.3f} (dp-accounting: {dp_accounting_epsilon(privacy):.3f}) at delta "
               f"{privacy['delta']:g}, {privacy['steps']} steps, q {privacy['sampling_rate']:.4f}")
    rows.append([name, " ".join(flags + extra) or "(none)", f"{figures['accuracy']:.4f}", figures["epochs"],
                 f"{figures['fit_seconds']:.1f} s ({figures['examples_per_second']}/s)",
                 f"{figures['membership_auc']:.3f}", spent])
  body = results.table(["run", "flags", "eval accuracy", "epochs run", "fit", "membership AUC", "epsilon"], rows)
  if args.write_results:
    scope = f" (the first {args.per_class} digits of each class)" if args.per_class else ""
    command = " ".join(["python benchmarks/privacy_benchmark.py"] + sys.argv[1:])
    results.write_section("privacy" + (f"-{args.per_class}" if args.per_class else ""),
                          f"Private training (DP-SGD) on the digits{scope}", command, body)
  print(body)


if __name__ == "__main__":
  main()
