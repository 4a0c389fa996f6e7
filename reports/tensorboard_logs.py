"""One TensorBoard log directory over every run under an output dir, and the TensorBoard server on it.

`<output>/tensorboard/<pipeline>/<run>/` holds, for each run that trained a model, links to that Trainer's Keras logs
(`train`, `validation`: loss, accuracy, learning rate per epoch and every few steps, the model graph) and an
`evaluation` folder with the Evaluator's metrics as scalars. Eval accuracy is written under the tag Keras uses for
training accuracy (`epoch_accuracy`), at the last epoch, so it shows on the same chart as the training curves.
With `--tune`, `tuner/<trial>/...` holds each trial's curves and hyperparameters (TensorBoard's HParams dashboard).
With compression, `model-float` and `model-tflite` hold the same `model/*` tags (size, gzip size, sparsity, eval
accuracy, batch-1 latency), so each chart shows the two side by side.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from core import names
from core.layout import OutputLayout
from inference import run_summary

EVALUATION_RUN = "evaluation"
TUNER_RUN = "tuner"  # -> the Tuner's trial logs, <trial>/execution0/{train,validation}, with their hyperparameters
# TFMA metric name -> the Keras tag it shares a chart with; other metrics get an "eval_" prefix.
SHARED_TAGS = {names.ACCURACY: "epoch_accuracy"}


def run_dir_name(summary: run_summary.RunSummary) -> str:
  """`<pipeline>/<run id>`, with the characters TensorBoard URLs and file systems dislike replaced."""
  return f"{summary.pipeline_name or 'pipeline'}/{summary.run_id.replace(':', '-')}"


def eval_scalars(metrics: Dict[str, float]) -> Dict[str, float]:
  """TensorBoard tags for the Evaluator's metrics (example_count left out: it is not a quality measure)."""
  return {SHARED_TAGS.get(name, f"eval_{name}"): value for name, value in sorted(metrics.items())
          if name != names.EXAMPLE_COUNT and value == value}  # value == value drops NaN


def prepare_logdir(output: str) -> List[str]:
  """Builds `<output>/tensorboard` from the ML Metadata store; returns the run folders it holds (one per training).

  Idempotent: links and evaluation scalars already there are kept.
  """
  output = os.path.abspath(output)
  logdir = OutputLayout(output).tensorboard_dir
  os.makedirs(logdir, exist_ok=True)
  made = []
  for summary in run_summary.list_runs(OutputLayout(output).metadata_path):
    model_run = summary.output_uri(names.TRAINER, "model_run")
    if summary.components.get(names.TRAINER) != "ran" or not model_run or not os.path.isdir(model_run):
      continue  # a cached Trainer's logs belong to the run that trained it
    run_dir = os.path.join(logdir, run_dir_name(summary))
    os.makedirs(run_dir, exist_ok=True)
    for name in sorted(os.listdir(model_run)):
      link = os.path.join(run_dir, name)
      if os.path.isdir(os.path.join(model_run, name)) and not os.path.lexists(link):
        os.symlink(os.path.join(model_run, name), link)
    evaluation_dir = os.path.join(run_dir, EVALUATION_RUN)
    if summary.components.get(names.EVALUATOR) == "ran" and summary.metrics and not os.path.isdir(evaluation_dir):
      write_scalars(evaluation_dir, eval_scalars(summary.metrics), step=last_epoch(model_run))
    tuner_results = summary.output_uri(names.TUNER, "tuner_results")
    tuner_logs = os.path.join(tuner_results, names.TUNER_LOGS_DIR) if tuner_results else None
    if summary.components.get(names.TUNER) == "ran" and tuner_logs and os.path.isdir(tuner_logs) and \
        not os.path.lexists(os.path.join(run_dir, TUNER_RUN)):
      os.symlink(tuner_logs, os.path.join(run_dir, TUNER_RUN))  # one run per trial: the HParams dashboard
    if summary.compression and not os.path.isdir(os.path.join(run_dir, "model-float")):
      for name, scalars in compression_scalars(summary.compression).items():
        write_scalars(os.path.join(run_dir, name), scalars, step=last_epoch(model_run))
    made.append(run_dir)
  return made


def compression_scalars(report) -> Dict[str, Dict[str, float]]:
  """{"model-float": tags, "model-tflite": tags} from the Quantizer's report."""
  def tags(side):
    return {"model/size_kib": side["bytes"] / 1024, "model/gzip_size_kib": side["gzip_bytes"] / 1024,
            "model/sparsity": side.get("sparsity", 0.0), "model/latency_ms_batch1": side["latency_ms"],
            "model/eval_accuracy": side["metrics"][names.ACCURACY]}

  float_tags = tags(report["float"])
  tflite_tags = tags(report["compressed"])
  tflite_tags["model/sparsity"] = float_tags["model/sparsity"]  # the .tflite holds the same (quantized) weights
  return {"model-float": float_tags, "model-tflite": tflite_tags}


def last_epoch(model_run_dir: str) -> int:
  """The step of the last per-epoch scalar in the Trainer's validation logs (0 when there is none)."""
  path = os.path.join(model_run_dir, "validation")
  if not os.path.isdir(path):
    return 0
  return max((step for tag, points in read_scalars(path).items() if tag.startswith("epoch_") for step, _ in points),
             default=0)


def read_scalars(log_dir: str) -> Dict[str, List[Tuple[int, float]]]:
  """Scalar tag -> [(step, value)] sorted by step, from the TensorBoard event files in `log_dir` (Keras writes
  scalars as tensor summaries)."""
  from tensorboard.backend.event_processing import event_accumulator  # pylint: disable=g-import-not-at-top
  from tensorboard.util import tensor_util  # pylint: disable=g-import-not-at-top

  accumulator = event_accumulator.EventAccumulator(log_dir, size_guidance={event_accumulator.TENSORS: 0})
  accumulator.Reload()
  scalars = {}
  for tag in accumulator.Tags()["tensors"]:
    points = [(event.step, tensor_util.make_ndarray(event.tensor_proto)) for event in accumulator.Tensors(tag)]
    numeric = [(step, float(value)) for step, value in points if value.size == 1 and value.dtype.kind in "fiub"]
    points = sorted(numeric)  # the "keras" tag holds the model config as a string: not a scalar
    if points:
      scalars[tag] = points
  return scalars


def write_scalars(log_dir: str, scalars: Dict[str, float], step: int) -> None:
  """Writes `scalars` as one TensorBoard event file in `log_dir`, whatever recording condition a caller left in
  force (an interrupted Keras `fit` leaves its TensorBoard callback's "every N steps" condition behind)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  writer = tf.summary.create_file_writer(log_dir)
  with writer.as_default(), tf.summary.record_if(True):
    for tag, value in scalars.items():
      tf.summary.scalar(tag, value, step=step)
  writer.close()


def serve(output: str, port: int = 6006, host: str = "127.0.0.1", reload_seconds: Optional[int] = None) -> int:
  """Prepares the log dir and serves TensorBoard on host:port until interrupted; returns TensorBoard's status."""
  from tensorboard import program  # pylint: disable=g-import-not-at-top

  runs = prepare_logdir(output)
  logdir = OutputLayout(os.path.abspath(output)).tensorboard_dir
  print(f"[modelfab] {len(runs)} trained run(s) in {logdir}", flush=True)
  board = program.TensorBoard()
  argv = [None, "--logdir", logdir, "--host", host, "--port", str(port), "--load_fast", "false"]
  if reload_seconds is not None:
    argv += ["--reload_interval", str(reload_seconds)]
  board.configure(argv=argv)
  return int(board.main() or 0)
