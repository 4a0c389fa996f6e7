"""Measures what the README quotes: pipeline wall times, eval accuracy, Trainer input throughput.

  python benchmarks/benchmark.py [--output DIR] [--epochs N] [--skip-pipeline]

1. First full run of the default pipeline (`modelfab run`, a fresh output dir), wall clock, imports included.
2. Re-run with nothing changed (every component from cache), wall clock.
3. Eval accuracy of that run (TFMA, eval split).
4. Training throughput (examples/s) of the Trainer's input pipeline (models.input_pipeline on the run's transformed
   examples) against the same Keras model fitted on the same data as in-memory NumPy arrays; the ratio.
Not a test: numbers vary with the machine; nothing here asserts.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODELFAB = os.path.join(os.path.dirname(sys.executable), "modelfab")


def timed_run(output: str) -> float:
  started = time.time()
  subprocess.run([MODELFAB, "run", "--output", output], check=True, stdout=subprocess.DEVNULL, cwd=REPO)
  return time.time() - started


def _epoch_throughput(fit, examples_per_epoch: int, epochs: int) -> float:
  """examples/s over `epochs` epochs after one warm-up epoch (tracing excluded)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class Timer(tf.keras.callbacks.Callback):

    def __init__(self):
      super().__init__()
      self.times = []

    def on_epoch_begin(self, epoch, logs=None):
      self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
      self.times.append(time.perf_counter() - self.start)

  timer = Timer()
  fit(epochs + 1, [timer])
  return examples_per_epoch * epochs / sum(timer.times[1:])


def trainer_throughput(pipeline_root: str, epochs: int) -> dict:
  """The Trainer's tf.data input vs in-memory NumPy arrays, same model, same batch size, no augmentation cost diff."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top

  from models import features, image_cnn, input_pipeline  # pylint: disable=g-import-not-at-top

  transform_dir = sorted(glob.glob(os.path.join(pipeline_root, "Transform", "transform_graph", "*")))[-1]
  examples_dir = sorted(glob.glob(os.path.join(pipeline_root, "Transform", "transformed_examples", "*")))[-1]
  train_files = glob.glob(os.path.join(examples_dir, "Split-train", "*"))
  tft_output = tft.TFTransformOutput(transform_dir)
  hp = image_cnn.hparams_from({})
  num_classes = tft_output.vocabulary_size_by_name(features.LABEL_VOCABULARY)
  batch = int(hp["batch_size"])
  n = input_pipeline.count_examples(train_files)
  steps = n // batch

  def compiled_model():
    tf.keras.utils.set_random_seed(0)
    model = image_cnn.build_model(hp, num_classes)
    model.compile("adam", "sparse_categorical_crossentropy")
    return model

  dataset = input_pipeline.make_dataset(train_files, tft_output, batch, training=True)
  model = compiled_model()
  pipeline_rate = _epoch_throughput(
      lambda e, cb: model.fit(dataset, epochs=e, steps_per_epoch=steps, callbacks=cb, verbose=0), steps * batch, epochs)

  arrays = list(input_pipeline.make_dataset(train_files, tft_output, n, training=False).take(1))[0]
  x = {k: v.numpy() for k, v in arrays[0].items()}
  y = arrays[1].numpy()
  x = {k: v[: steps * batch] for k, v in x.items()}
  y = y[: steps * batch]
  model = compiled_model()
  numpy_rate = _epoch_throughput(
      lambda e, cb: model.fit(x, y, batch_size=batch, epochs=e, shuffle=True, callbacks=cb, verbose=0),
      steps * batch, epochs)
  return {"trainer_examples_per_s": pipeline_rate, "numpy_examples_per_s": numpy_rate,
          "throughput_ratio": pipeline_rate / numpy_rate, "train_examples": int(np.shape(y)[0])}


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output", help="where the benchmark pipeline writes (default: a temp dir, removed)")
  parser.add_argument("--epochs", type=int, default=10, help="timed epochs for the throughput comparison")
  parser.add_argument("--skip-pipeline", action="store_true",
                      help="only the throughput part, on an existing --output run")
  args = parser.parse_args()
  output = args.output or tempfile.mkdtemp(prefix="modelfab-bench-")
  results = {}
  try:
    if not args.skip_pipeline:
      if os.path.exists(output):
        shutil.rmtree(output)
      results["first_run_s"] = timed_run(output)
      results["cached_rerun_s"] = timed_run(output)
    from pipelines import run_summary  # pylint: disable=g-import-not-at-top

    summary = run_summary.latest_run_summary(os.path.join(output, "metadata.sqlite"), "digits-cnn")
    results["eval_accuracy"] = summary.metrics.get("sparse_categorical_accuracy")
    results["blessed"] = summary.blessed
    results.update(trainer_throughput(os.path.join(output, "pipeline"), args.epochs))
  finally:
    if not args.output:
      shutil.rmtree(output, ignore_errors=True)
  print(json.dumps(results, indent=2))


if __name__ == "__main__":
  main()
