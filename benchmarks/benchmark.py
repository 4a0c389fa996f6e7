"""Measures the digits pipeline: wall times, eval accuracy, Trainer input throughput (benchmarks/RESULTS.md).

  python benchmarks/benchmark.py [--output DIR] [--epochs N] [--skip-pipeline] [--bert-checkpoint DIR]
                                 [--runs N] [--write-results]

1. First full run of the default pipeline (`modelfab run`, a fresh output dir), wall clock, imports included.
2. Re-run with nothing changed (every component from cache), wall clock.
3. Eval accuracy of that run (TFMA, eval split).
4. Training throughput (examples/s) of the Trainer's input pipeline (models.input_pipeline on the run's transformed
   examples) against the same Keras model fitted on the same data as in-memory NumPy arrays; the ratio.
5. With --bert-checkpoint: the text-bert pipeline on the embedded reviews, accuracy on the hand-written held-out
   sentences (data/reviews-heldout) against the majority class, the BERT Trainer's throughput ratio (as in 4), and
   the serving latency of the raw-text signature against the same model on pre-tokenized input.
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

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
from core import names  # noqa: E402  # pylint: disable=wrong-import-position  # first: the legacy-Keras default
from core.layout import OutputLayout  # noqa: E402  # pylint: disable=wrong-import-position
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


def trainer_throughput(pipeline_root: str, epochs: int, task_name: str = "image_cnn", hparams=None) -> dict:
  """The Trainer's tf.data input vs in-memory NumPy arrays: same model, same batch size, same examples."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top

  from core import features  # pylint: disable=g-import-not-at-top
  from models import input_pipeline, tasks  # pylint: disable=g-import-not-at-top

  transform_dir = sorted(glob.glob(os.path.join(pipeline_root, "Transform", "transform_graph", "*")))[-1]
  examples_dir = sorted(glob.glob(os.path.join(pipeline_root, "*ExampleGen", "examples", "*")))[-1]  # raw: the
  # Trainer applies the Transform graph in tf.data
  train_files = glob.glob(os.path.join(examples_dir, "Split-train", "*"))
  tft_output = tft.TFTransformOutput(transform_dir)
  task = tasks.get_task(task_name)
  hp = task.hparams_from({"hparams": hparams or {}})
  num_classes = tft_output.vocabulary_size_by_name(features.LABEL_VOCABULARY)
  batch = int(hp["batch_size"])
  n = input_pipeline.count_examples(train_files)
  steps = n // batch

  def compiled_model():
    tf.keras.utils.set_random_seed(0)
    model = task.build_model(hp, num_classes)
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


def serving_latency(model_dir: str, texts, repeats: int = 30) -> dict:
  """Median latency of the raw-text `serving_default` against the same model on pre-tokenized input, batch 1 and 32.

  Pre-tokenized input comes from the model's own `transform_features` signature, outside the timed calls, and goes
  through its `serving_tensors` signature (the same model on int32 token ids).
  """
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import

  from models import text_bert  # pylint: disable=g-import-not-at-top
  from inference import predict  # pylint: disable=g-import-not-at-top

  loaded = tf.saved_model.load(model_dir)
  serve = loaded.signatures["serving_default"]
  pretokenized = loaded.signatures["serving_tensors"]  # the same model on int32 token ids
  result = {}
  for batch in (1, 32):
    batch_texts = [texts[i % len(texts)] for i in range(batch)]
    raw = tf.constant(predict.serialized_examples([{"text": t.encode(), "label": b"positive"} for t in batch_texts]))
    tokenized = loaded.signatures["transform_features"](examples=raw)
    inputs = {k: tf.cast(tokenized[k], tf.int32) for k in text_bert.MODEL_INPUTS}  # serving_tensors' dtype

    def median_ms(fn):
      fn()  # warm-up
      times = []
      for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
      return 1000 * float(np.median(times))

    raw_ms = median_ms(lambda: serve(examples=raw))
    tokenized_ms = median_ms(lambda: pretokenized(**inputs))
    result[f"batch{batch}"] = {"raw_text_ms": raw_ms, "pretokenized_ms": tokenized_ms,
                               "ratio": raw_ms / tokenized_ms}
  return result


def bert_benchmark(checkpoint: str, output: str, pipeline_epochs: int, timed_epochs: int) -> dict:
  """text-bert: pipeline run, held-out accuracy, Trainer throughput ratio, serving latency ratio."""
  import csv  # pylint: disable=g-import-not-at-top

  from inference import run_summary
  from inference import predict  # pylint: disable=g-import-not-at-top

  started = time.time()
  subprocess.run([MODELFAB, "run", "--preset", "text-bert", "--bert-checkpoint", checkpoint, "--output", output,
                  "--epochs", str(pipeline_epochs), "--min-accuracy", "0"], check=True, stdout=subprocess.DEVNULL,
                 cwd=REPO)
  result = {"first_run_s": time.time() - started}
  summary = run_summary.latest_run_summary(OutputLayout(output).metadata_path, "text-bert")
  result["eval_accuracy"] = summary.metrics.get(names.ACCURACY)
  with open(os.path.join(REPO, "data", "reviews-heldout", "heldout.csv"), encoding="utf-8") as f:
    heldout = list(csv.DictReader(f))
  model_dir = predict.resolve_model_dir(OutputLayout(output).serving_dir("text-bert"))
  predictions = predict.predict_texts(model_dir, [r["text"] for r in heldout])
  result["heldout_accuracy"] = sum(p == r["label"] for (p, _), r in zip(predictions, heldout)) / len(heldout)
  result["heldout_majority_class"] = max(sum(r["label"] == c for r in heldout) for c in ("positive", "negative")) \
      / len(heldout)
  result.update(trainer_throughput(os.path.join(output, "pipeline"), timed_epochs, "text_bert",
                                   {"bert_checkpoint": os.path.abspath(checkpoint)}))
  result["serving_latency"] = serving_latency(model_dir, [r["text"] for r in heldout])
  return result


def digits_benchmark(output: str, epochs: int, skip_pipeline: bool) -> dict:
  """One measurement of the default preset in `output`: first run, cached re-run, accuracy, throughput."""
  results = {}
  if not skip_pipeline:
    if os.path.exists(output):
      shutil.rmtree(output)
    results["first_run_s"] = timed_run(output)
    results["cached_rerun_s"] = timed_run(output)
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  summary = run_summary.latest_run_summary(OutputLayout(output).metadata_path, "digits-cnn")
  results["eval_accuracy"] = summary.metrics.get(names.ACCURACY)
  results["blessed"] = summary.blessed
  results.update(trainer_throughput(OutputLayout(output).pipeline_root, epochs))
  return results


def results_table(runs) -> str:
  """The RESULTS.md table of the digits benchmark: one column per run."""
  from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top

  rows = [("first full `modelfab run`, wall clock incl. imports", "first_run_s", "{:.1f} s", "<= 150 s"),
          ("re-run with nothing changed (all from cache)", "cached_rerun_s", "{:.1f} s", "<= 30 s"),
          ("eval accuracy (TFMA, eval split)", "eval_accuracy", "{:.4f}", ">= 0.97"),
          ("blessed", "blessed", "{}", ""),
          ("Trainer input, examples/s", "trainer_examples_per_s", "{:,.0f}", ""),
          ("same model on in-memory NumPy, examples/s", "numpy_examples_per_s", "{:,.0f}", ""),
          ("Trainer input throughput / in-memory NumPy", "throughput_ratio", "{:.2f}", ">= 0.9")]
  header = ["what"] + [f"run {n + 1}" for n in range(len(runs))] + ["target"]
  return results_lib.table(header, [[label] + [fmt.format(r[key]) if key in r else "-" for r in runs] + [target]
                                    for label, key, fmt, target in rows])


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--output", help="where the benchmark pipeline writes (default: a temp dir, removed)")
  parser.add_argument("--epochs", type=int, default=10, help="timed epochs for the throughput comparison")
  parser.add_argument("--runs", type=int, default=1, help="repeat the digits measurement this many times")
  parser.add_argument("--skip-pipeline", action="store_true",
                      help="only the throughput part, on an existing --output run")
  parser.add_argument("--bert-checkpoint", help="also benchmark the text-bert preset with this checkpoint directory")
  parser.add_argument("--bert-epochs", type=int, default=2, help="epochs of the text-bert pipeline run")
  parser.add_argument("--bert-timed-epochs", type=int, default=2, help="timed epochs for the BERT throughput")
  parser.add_argument("--write-results", action="store_true",
                      help="replace the digits section of benchmarks/RESULTS.md with this run's figures")
  args = parser.parse_args()
  output = args.output or tempfile.mkdtemp(prefix="modelfab-bench-")
  results = {}
  try:
    runs = [digits_benchmark(output, args.epochs, args.skip_pipeline) for _ in range(args.runs)]
    results = {"digits": runs}
    if args.bert_checkpoint:
      results["text_bert"] = bert_benchmark(args.bert_checkpoint, os.path.join(output, "text-bert"),
                                            args.bert_epochs, args.bert_timed_epochs)
  finally:
    if not args.output:
      shutil.rmtree(output, ignore_errors=True)
  print(json.dumps(results, indent=2))
  if args.write_results:
    from benchmarks import results as results_lib  # pylint: disable=g-import-not-at-top

    command = "python benchmarks/benchmark.py " + " ".join(sys.argv[1:])
    results_lib.write_section("digits", "The digits pipeline (`make benchmark`)", command.strip(),
                              "The default preset (`digits-cnn`) on the embedded digits (1,797 8x8 images), each run "
                              "in a fresh output dir.\n\n" + results_table(results["digits"]))


if __name__ == "__main__":
  main()
