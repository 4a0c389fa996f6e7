"""Batch inference on Beam against one in-process loop calling the model in batches of 256.

    python benchmarks/batch_inference_benchmark.py --model OUTPUT/serving/digits-cnn [--images DIR] [--count 20000]
        [--workers 2]

Both sides start from the files and a model on disk, and both are timed end to end: the loop loads the model, reads
every image and calls `serving_default` on batches of 256 (inference.predict); `modelfab predict --batch` (inference
.batch_predict) runs the same on Beam's DirectRunner: in one process, with `--workers` worker threads
(multi_threading) and with `--workers` worker processes (multi_processing). The loop runs first and last (the
machine's speed drifts); each Beam time is compared with the faster loop. The labels are compared example by
example. The `--count` images are copies, round by round, of the images under --images (an
image folder; default: the embedded digits), made in a temporary folder.
"""
from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from inference import batch_predict  # pylint: disable=wrong-import-position

DIGITS = pathlib.Path(__file__).resolve().parents[1] / "data" / "digits"


def make_images(source: pathlib.Path, folder: pathlib.Path, count: int) -> pathlib.Path:
  """`count` image files: those of the image folder `source`, copied round by round into
  <folder>/<class>/<round>-<name>."""
  sources = sorted(p for p in source.glob("*/*") if p.suffix.lower() in (".png", ".jpg", ".jpeg"))
  for i in range(count):
    source = sources[i % len(sources)]
    target = folder / source.parent.name / f"{i // len(sources)}-{source.name}"
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
  return folder


def in_process_loop(model: str, folder: str):
  """{relative path: label} and seconds, for the plain loop: load, read, predict in batches of 256."""
  from inference import model_loader, predict  # pylint: disable=g-import-not-at-top

  started = time.time()
  loaded = model_loader.load_model(model)
  paths = sorted(os.path.relpath(os.path.join(d, n), folder) for d, _, names in os.walk(folder) for n in names)
  labels = {}
  for i in range(0, len(paths), batch_predict.BATCH_SIZE):
    chunk = paths[i:i + batch_predict.BATCH_SIZE]
    encoded = []
    for path in chunk:
      with open(os.path.join(folder, path), "rb") as f:
        encoded.append(f.read())
    outputs = predict.predict_serialized(loaded, predict.serialized_examples([{"image": e} for e in encoded]))
    labels.update(zip(chunk, (label.decode() for label in outputs["label"])))
  return labels, time.time() - started


def on_beam(model: str, folder: str, workers: int, output: str, mode: str = "multi_processing"):
  args = [] if workers <= 1 else [f"--direct_running_mode={mode}", f"--direct_num_workers={workers}"]
  result = batch_predict.predict_batch(model, folder, output, beam_args=args)
  with open(output, encoding="utf-8") as f:
    labels = {row["id"]: row["label"] for row in map(json.loads, f)}
  return labels, result.seconds, result


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--model", required=True)
  parser.add_argument("--images", default=str(DIGITS), help="an image folder to copy from (default: the digits)")
  parser.add_argument("--count", type=int, default=20_000)
  parser.add_argument("--workers", type=int, default=2)
  args = parser.parse_args()
  work = pathlib.Path(tempfile.mkdtemp(prefix="batch-bench-"))
  folder = str(make_images(pathlib.Path(args.images), work / "images", args.count))
  model = batch_predict.check_model(args.model)
  loop_labels, first_loop = in_process_loop(model, folder)
  results = {"model": model, "images": len(loop_labels)}
  beam = {}
  for name, workers, mode in (("beam_1", 1, ""), (f"beam_{args.workers}_threads", args.workers, "multi_threading"),
                              (f"beam_{args.workers}_processes", args.workers, "multi_processing")):
    labels, seconds, result = on_beam(model, folder, workers, str(work / f"{name}.jsonl"), mode)
    beam[name] = (seconds, result, sum(labels.get(k) == v for k, v in loop_labels.items()))
  _, last_loop = in_process_loop(model, folder)
  loop_seconds = min(first_loop, last_loop)
  results.update(loop_seconds=[round(first_loop, 2), round(last_loop, 2)],
                 loop_per_second=round(len(loop_labels) / loop_seconds, 1))
  for name, (seconds, result, same) in beam.items():
    results[f"{name}_seconds"] = round(seconds, 2)
    results[f"{name}_per_second"] = round(result.examples_per_second, 1)
    results[f"{name}_vs_loop"] = round(loop_seconds / seconds, 3)
    results[f"{name}_same_labels"] = same
    results[f"{name}_failed"] = result.failed
  print(json.dumps(results, indent=2))
  shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
  main()
