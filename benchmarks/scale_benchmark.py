"""Measures the scale-out figures of benchmarks/RESULTS.md: Transform with 1 and 2 Beam workers, multi-worker training.

  python benchmarks/scale_benchmark.py [--examples N] [--skip-transform] [--skip-multi-worker]

1. Transform throughput (examples/s) of the image task's preprocessing_fn on real tf.Transform, on Beam's
   DirectRunner in multi_processing mode with 1 and with 2 workers, over N synthetic 8x8 PNG digits read from 8
   TFRecord shards (read; analyze: full pass for the mean/std and the label vocabulary; transform; write gzipped
   TFRecords). Wall clock per pipeline, worker start-up included; scaling ratio = 2-worker / 1-worker throughput.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))
import core  # noqa: E402,F401  # pylint: disable=g-import-not-at-top,unused-import,wrong-import-position  # legacy Keras


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


def write_raw_shards(raw, directory: str, shards: int = 8) -> str:
  """Writes the raw examples as serialized tf.Examples into `shards` TFRecord files; returns their glob pattern."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  os.makedirs(directory, exist_ok=True)
  writers = [tf.io.TFRecordWriter(os.path.join(directory, f"raw-{i:05d}.tfrecord")) for i in range(shards)]
  for i, example in enumerate(raw):
    proto = tf.train.Example(features=tf.train.Features(feature={
        k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])) for k, v in example.items()}))
    writers[i % shards].write(proto.SerializeToString())
  for writer in writers:
    writer.close()
  return os.path.join(directory, "raw-*.tfrecord")


def decode_raw_example(record: bytes):
  """A serialized raw tf.Example -> {"image": bytes, "label": bytes}."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  feature = tf.train.Example.FromString(record).features.feature
  return {key: feature[key].bytes_list.value[0] for key in ("image", "label")}


def _cpu_seconds() -> float:
  import resource  # pylint: disable=g-import-not-at-top

  own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
  return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def transform_seconds(raw_pattern: str, workers: int, work_dir: str):
  """(wall seconds, cores busy on average) of read + analyze + transform + write on DirectRunner multi_processing
  with `workers` workers; the CPU time of worker processes counts once they have exited."""
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
  started, cpu_started = time.time(), _cpu_seconds()
  with beam.Pipeline(options=options) as pipeline:
    with tft_beam.Context(temp_dir=os.path.join(work_dir, "tmp"), force_tf_compat_v1=False):
      examples = (pipeline | "Read" >> beam.io.ReadFromTFRecord(raw_pattern)
                  | "Decode" >> beam.Map(decode_raw_example))
      (transformed, transformed_metadata), _ = (
          (examples, metadata) | tft_beam.AnalyzeAndTransformDataset(preprocessing_fn,
                                                                     output_record_batches=False))
      coder = tft.coders.ExampleProtoCoder(transformed_metadata.schema)
      _ = (transformed | "Encode" >> beam.Map(coder.encode)
           | "Write" >> beam.io.WriteToTFRecord(os.path.join(work_dir, "out", "data"), file_name_suffix=".gz"))
  seconds = time.time() - started
  return seconds, (_cpu_seconds() - cpu_started) / seconds


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
  parser.add_argument("--examples", type=int, default=400_000, help="synthetic examples for the Transform benchmark")
  parser.add_argument("--skip-transform", action="store_true")
  parser.add_argument("--skip-multi-worker", action="store_true")
  args = parser.parse_args()
  results = {"cpu_count": os.cpu_count()}
  with tempfile.TemporaryDirectory(prefix="modelfab-scale-") as work:
    if not args.skip_transform:
      pattern = write_raw_shards(synthetic_digits(args.examples), os.path.join(work, "raw"))
      measured = {w: transform_seconds(pattern, w, os.path.join(work, f"transform{w}")) for w in (1, 2)}
      seconds = {w: m[0] for w, m in measured.items()}
      results["transform"] = {"examples": args.examples,
                              **{f"seconds_{w}_workers": s for w, s in seconds.items()},
                              **{f"cores_busy_{w}_workers": m[1] for w, m in measured.items()},
                              **{f"examples_per_second_{w}_workers": args.examples / s for w, s in seconds.items()},
                              "scaling_ratio": seconds[1] / seconds[2]}
      print(json.dumps(results["transform"]), flush=True)
    if not args.skip_multi_worker:
      results["multi_worker"] = multi_worker_step_times(os.path.join(work, "mw"))
      print(json.dumps(results["multi_worker"]), flush=True)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
