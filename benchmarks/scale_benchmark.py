"""Measures the scale-out numbers the README quotes (issue: Kubeflow, distributed training, Beam at scale).

  python benchmarks/scale_benchmark.py [--examples N] [--skip-transform] [--skip-multi-worker]

1. Transform throughput (examples/s) of the image task's preprocessing_fn on real tf.Transform, on Beam's
   DirectRunner in multi_processing mode with 1 and with 2 workers, over N synthetic 8x8 PNG digits (analyze: full
   pass for the mean/std and the label vocabulary; transform; write gzipped TFRecords). Wall clock per pipeline,
   worker start-up included; the scaling ratio is 2-worker throughput / 1-worker throughput.
2. Multi-worker training: the CNN on Transform output, trained by one process (default strategy) and by a
   2-process MultiWorkerMirroredStrategy cluster on 127.0.0.1 (tests/distributed_train.py), same per-worker batch.
   Reported: seconds per step of model.fit (start-up excluded) and the ratio multi-worker / single.
Not a test: numbers vary with the machine; nothing here asserts.
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))


def synthetic_digits(count: int):
  """`count` raw examples: an 8x8 grayscale PNG (noise plus a class-dependent bar) and a label '0'..'9'."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  examples = []
  for i in range(count):
    label = i % 10
    pixels = rng.integers(0, 80, (8, 8), dtype=np.uint8)
    pixels[label % 8, :] = 250
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    examples.append({"image": buffer.getvalue(), "label": str(label).encode()})
  return examples


def transform_seconds(raw, workers: int, work_dir: str) -> float:
  """Wall time of analyze + transform + write on DirectRunner multi_processing with `workers` workers."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  import tensorflow_transform.beam as tft_beam  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils  # pylint: disable=g-import-not-at-top

  from models import image_cnn  # pylint: disable=g-import-not-at-top

  spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  options = PipelineOptions(["--direct_running_mode=multi_processing", f"--direct_num_workers={workers}"])
  preprocessing_fn = functools.partial(image_cnn.preprocessing_fn,
                                       custom_config={"hparams": {"image_size": 8, "channels": 1}})
  started = time.time()
  with beam.Pipeline(options=options) as pipeline:
    with tft_beam.Context(temp_dir=os.path.join(work_dir, "tmp"), force_tf_compat_v1=False):
      examples = pipeline | "Create" >> beam.Create(raw, reshuffle=True)
      (transformed, transformed_metadata), _ = (
          (examples, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn,
                                                                     output_record_batches=False))
      coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
      _ = (transformed | "Encode" >> beam.Map(coder.encode)
           | "Write" >> beam.io.WriteToTFRecord(os.path.join(work_dir, "out", "data"), file_name_suffix=".gz"))
  return time.time() - started


def multi_worker_step_times(work_dir: str) -> dict:
  from conftest import make_transformed_dataset  # pylint: disable=g-import-not-at-top

  train_files, eval_files, transform_dir, _ = make_transformed_dataset(
      __import__("pathlib").Path(work_dir) / "data", per_class=256)
  data = json.dumps([train_files, eval_files, transform_dir])
  script = os.path.join(REPO, "tests", "distributed_train.py")
  common = ["--data", data, "--epochs", "4", "--batch-size", "32"]

  def run(out, strategy, env=None):
    return subprocess.Popen([sys.executable, script, "--out", out, "--strategy", strategy, *common],
                            env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

  single_out = os.path.join(work_dir, "single")
  assert run(single_out, "default").wait() == 0
  ports = []
  for _ in range(2):
    with socket.socket() as s:
      s.bind(("127.0.0.1", 0))
      ports.append(s.getsockname()[1])
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  processes = [run(os.path.join(work_dir, f"worker{i}"), "multi_worker",
                   {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
               for i in range(2)]
  assert all(p.wait() == 0 for p in processes)
  load = lambda d: json.load(open(os.path.join(d, "result.json"), encoding="utf-8"))
  single, chief = load(single_out), load(os.path.join(work_dir, "worker0"))
  return {"single_seconds_per_step": single["seconds_per_step"], "single_steps": single["steps"],
          "multi_worker_seconds_per_step": chief["seconds_per_step"], "multi_worker_steps": chief["steps"],
          "ratio": chief["seconds_per_step"] / single["seconds_per_step"],
          "examples_per_second_single": 32 / single["seconds_per_step"],
          "examples_per_second_multi_worker": 64 / chief["seconds_per_step"]}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--examples", type=int, default=40_000, help="synthetic examples for the Transform benchmark")
  parser.add_argument("--skip-transform", action="store_true")
  parser.add_argument("--skip-multi-worker", action="store_true")
  args = parser.parse_args()
  results = {"cpu_count": os.cpu_count()}
  with tempfile.TemporaryDirectory(prefix="modelfab-scale-") as work:
    if not args.skip_transform:
      raw = synthetic_digits(args.examples)
      seconds = {w: transform_seconds(raw, w, os.path.join(work, f"transform{w}")) for w in (1, 2)}
      results["transform"] = {"examples": args.examples,
                              **{f"seconds_{w}_workers": s for w, s in seconds.items()},
                              **{f"examples_per_second_{w}_workers": args.examples / s for w, s in seconds.items()},
                              "scaling_ratio": seconds[1] / seconds[2]}
      print(json.dumps(results["transform"]), flush=True)
    if not args.skip_multi_worker:
      results["multi_worker"] = multi_worker_step_times(os.path.join(work, "mw"))
      print(json.dumps(results["multi_worker"]), flush=True)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
