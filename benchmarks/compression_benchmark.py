"""Compression benchmark: size, accuracy drop and latency of the .tflite against the SavedModel, from real runs.

  python benchmarks/compression_benchmark.py [--bert-checkpoint DIR] [--json results.json]

- digits-cnn, int8: the .tflite's size against the float SavedModel's, its eval accuracy drop, and batch-1 latency
  per example (TFLite interpreter vs the SavedModel's `serving_tensors` signature, same tensors in);
- digits-cnn pruned to 50% (`--prune-sparsity 0.5`) against the same run unpruned: accuracy drop and gzip size of
  the weights (the SavedModel's variables/, where pruning acts; the whole folder is also shown);
- text-bert, dynamic range, with a MiniLM-sized checkpoint (--bert-checkpoint): size and accuracy drop.

Every run uses a fresh output dir (no cache) and the embedded data. Numbers come from the Quantizer's
compression.json, read back through `modelfab runs --json`.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from core import names  # noqa: E402  # pylint: disable=wrong-import-position

MODELFAB = [sys.executable, "-m", "cli.main"]
ACCURACY = names.ACCURACY


def run_pipeline(output: str, *flags: str) -> dict:
  """Runs `modelfab run` into a new `output`; returns its run summary (`runs --json`) and the wall time."""
  started = time.time()
  result = subprocess.run([*MODELFAB, "run", "--output", output, *flags], cwd=REPO, capture_output=True, text=True,
                          check=False)
  seconds = time.time() - started
  if result.returncode != 0:
    raise SystemExit(f"modelfab run {' '.join(flags)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
  runs = json.loads(subprocess.run([*MODELFAB, "runs", "--output", output, "--json"], cwd=REPO,
                                   capture_output=True, text=True, check=True).stdout)
  return {**runs[-1], "wall_seconds": seconds}


def quantization_row(name: str, run: dict) -> dict:
  report = run["compression"]
  float_, tflite = report["float"], report["compressed"]
  return {"case": name, "mode": report["mode"], "float_kib": float_["bytes"] / 1024,
          "tflite_kib": tflite["bytes"] / 1024, "size_ratio": tflite["bytes"] / float_["bytes"],
          "float_accuracy": float_["metrics"][ACCURACY], "tflite_accuracy": tflite["metrics"][ACCURACY],
          "accuracy_drop_points": 100 * report["accuracy_drop"], "float_latency_ms": float_["latency_ms"],
          "tflite_latency_ms": tflite["latency_ms"], "latency_ratio": tflite["latency_ms"] / float_["latency_ms"],
          "blessed": report["blessed"], "pushed": report["pushed"], "eval_examples": report["eval_examples"],
          "wall_seconds": run["wall_seconds"]}


def pruning_row(dense: dict, pruned: dict) -> dict:
  d, p = dense["compression"]["float"], pruned["compression"]["float"]
  return {"case": "digits-cnn prune 50%", "sparsity": p["sparsity"],
          "dense_accuracy": d["metrics"][ACCURACY], "pruned_accuracy": p["metrics"][ACCURACY],
          "accuracy_drop_points": 100 * (d["metrics"][ACCURACY] - p["metrics"][ACCURACY]),
          "weights_gzip_kib": [d["weights_gzip_bytes"] / 1024, p["weights_gzip_bytes"] / 1024],
          "weights_gzip_ratio": p["weights_gzip_bytes"] / d["weights_gzip_bytes"],
          "savedmodel_gzip_ratio": p["gzip_bytes"] / d["gzip_bytes"],
          "tflite_gzip_kib": [dense["compression"]["compressed"]["gzip_bytes"] / 1024,
                              pruned["compression"]["compressed"]["gzip_bytes"] / 1024],
          "wall_seconds": [dense["wall_seconds"], pruned["wall_seconds"]]}


def main(argv=None) -> int:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--bert-checkpoint", help="a MiniLM-sized BERT checkpoint for the text-bert case")
  parser.add_argument("--skip-digits", action="store_true")
  parser.add_argument("--json", help="also write the results here")
  args = parser.parse_args(argv)
  rows = []
  with tempfile.TemporaryDirectory(prefix="modelfab-compression-") as scratch:
    if not args.skip_digits:
      dense = run_pipeline(os.path.join(scratch, "int8"), "--quantize", "int8")
      rows.append(quantization_row("digits-cnn int8", dense))
      print(json.dumps(rows[-1]), flush=True)
      pruned = run_pipeline(os.path.join(scratch, "pruned"), "--quantize", "int8", "--prune-sparsity", "0.5")
      rows.append(quantization_row("digits-cnn int8, pruned 50%", pruned))
      print(json.dumps(rows[-1]), flush=True)
      rows.append(pruning_row(dense, pruned))
      print(json.dumps(rows[-1]), flush=True)
    if args.bert_checkpoint:
      text = run_pipeline(os.path.join(scratch, "text"), "--preset", "text-bert", "--bert-checkpoint",
                          os.path.abspath(args.bert_checkpoint), "--quantize", "dynamic", "--min-accuracy", "0")
      rows.append(quantization_row("text-bert dynamic", text))
      print(json.dumps(rows[-1]), flush=True)
  if args.json:
    with open(args.json, "w") as f:
      json.dump(rows, f, indent=2)
  return 0


if __name__ == "__main__":
  sys.exit(main())
