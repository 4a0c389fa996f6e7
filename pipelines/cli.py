"""The `modelfab` command: run the pipeline, predict with a pushed model, inspect runs.

TensorFlow and TFX are imported only inside the subcommand that needs them, so `--help` and argument errors answer
at once.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from typing import List, Optional

from pipelines import config as config_lib
from pipelines import memory
from serving.process_exit import exit_without_teardown

EXIT_USAGE = 2  # bad flags, data, checkpoint or model path
EXIT_FAILED = 1  # the pipeline failed (anomalies, a failing component)
EXIT_BUSY = 3  # another run holds the output dir


class CliError(Exception):
  """An error to print as one line, without a traceback."""


def _quiet_libraries(verbose: bool) -> None:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
  os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
  import warnings  # pylint: disable=g-import-not-at-top

  warnings.filterwarnings("ignore", category=FutureWarning)
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  warnings.filterwarnings("ignore", category=UserWarning)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="modelfab", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--verbose", action="store_true",
                      help="library logs (TensorFlow, TFX, Beam) on the terminal instead of the log file")

  settings = argparse.ArgumentParser(add_help=False, parents=[common])  # shared by `run` and `compile`
  settings.add_argument("--preset", default="digits-cnn", choices=sorted(config_lib.PRESETS))
  settings.add_argument("--data", help="data location (default: the preset's embedded data)")
  settings.add_argument("--data-format", choices=config_lib.DATA_FORMATS,
                        help="image_folder (<data>/<class>/<image>) or tfrecord (files of tf.Example)")
  settings.add_argument("--epochs", type=int)
  settings.add_argument("--batch-size", type=int)
  settings.add_argument("--learning-rate", type=float)
  settings.add_argument("--image-size", type=int, help="images are resized to this height and width")
  settings.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB")
  settings.add_argument("--bert-checkpoint", metavar="DIR",
                        help="text-bert: a local Hugging Face BERT checkpoint (config.json, vocab.txt, "
                             "model.safetensors or tf_model.h5)")
  settings.add_argument("--max-seq-length", type=int, help="text-bert: tokens per text, [CLS] and [SEP] included")
  settings.add_argument("--mixed-precision", action="store_true", help="train in mixed_float16 (for GPUs)")
  settings.add_argument("--text-column", help="text_csv data: the column holding the text (default: text)")
  settings.add_argument("--label-column", help="text_csv data: the column holding the label (default: label)")
  settings.add_argument("--strategy", choices=("auto", "default", "mirrored", "multi_worker", "tpu"))
  settings.add_argument("--tpu-address", help="for --strategy tpu: grpc://host:port, a TPU name, or 'local'")
  settings.add_argument("--min-accuracy", type=float, help="blessing lower bound on eval accuracy")
  settings.add_argument("--prune-sparsity", type=float, metavar="S",
                        help="train with magnitude pruning to this share of zero weights (0 < S < 1; image models)")
  settings.add_argument("--quantize", metavar="MODE",
                        help="also make a .tflite model: none, dynamic, float16 or int8 (default: the preset's)")
  settings.add_argument("--max-accuracy-drop", type=float, metavar="D",
                        help="push the .tflite only if its eval accuracy is at most D below the float model's "
                             "(default: 0.01)")
  settings.add_argument("--eval-percent", type=int, help="share of examples in the eval split (1-99)")
  settings.add_argument("--num-classes", type=int, help="number of classes (found from the data when not given)")
  settings.add_argument("--schema", help="a curated schema.pbtxt to validate the data against")
  settings.add_argument("--tune", action="store_true",
                        help="search hyperparameters with TFX's Tuner (KerasTuner) before training with the best")
  settings.add_argument("--tune-trials", type=int, help="--tune: trials at most (default: 10)")
  settings.add_argument("--tune-algorithm", metavar="ALGORITHM",
                        help="--tune: random, bayesian or hyperband (default: random)")
  settings.add_argument("--tune-max-minutes", type=float, help="--tune: start no trial after this (default: 30)")
  settings.add_argument("--hparams-from", metavar="RUN",
                        help="train with the best hyperparameters an earlier run's Tuner found (a run id or prefix "
                             "in --output's store, or a best_hyperparameters folder), without tuning again")
  settings.add_argument("--model-name", help="name of the serving directory: <output>/serving/<model-name>/<version>")
  settings.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="extra Beam pipeline argument, repeatable (e.g. --beam-arg=--runner=DataflowRunner)")
  settings.add_argument("--no-cache", action="store_true",
                        help="execute every component even when inputs are unchanged")

  run = sub.add_parser("run", parents=[settings],
                       help="run the pipeline locally (LocalDagRunner on Beam) and push a blessed model")
  run.add_argument("--output", default="modelfab-output",
                   help="pipeline root, ML Metadata store and serving dir go under it (default: %(default)s)")
  run.add_argument("--wait", action="store_true",
                   help="when another run is using the output dir, wait for it instead of stopping at once")

  predict = sub.add_parser("predict", parents=[common],
                           help="classify images or texts with a pushed model (raw input through serving_default)")
  predict.add_argument("--model", required=True,
                       help="a pushed model: <serving dir>/<model name> (newest version) or one version directory")
  predict.add_argument("images", nargs="*", metavar="IMAGE", help="image files (image models)")
  predict.add_argument("--text", action="append", default=[], help="a text to classify (text models), repeatable")
  predict.add_argument("--text-file", help="a UTF-8 file with one text per line (text models)")

  compile_ = sub.add_parser("compile", parents=[settings],
                            help="compile the pipeline for Kubeflow Pipelines v2 (.yaml) or Vertex AI (.json)")
  compile_.add_argument("--output", default="pipeline.yaml",
                        help="the compiled file: .yaml = KFP v2 PipelineSpec, .json = Vertex AI PipelineJob "
                             "(default: %(default)s)")
  compile_.add_argument("--image", required=True, help="container image built from this repository's Dockerfile")
  compile_.add_argument("--pipeline-root", required=True,
                        help="where artifacts (<root>/pipeline) and pushed models (<root>/serving) go, e.g. gs://...")
  compile_.add_argument("--workers", type=int, default=1,
                        help="Trainer workers; more than 1 trains as a Vertex AI job under MultiWorkerMirroredStrategy")
  compile_.add_argument("--project", help="Google Cloud project (for --workers > 1)")
  compile_.add_argument("--region", help="Google Cloud region (for --workers > 1)")
  compile_.add_argument("--machine-type", help="machine type of each Trainer worker (default: n1-standard-8)")

  serve = sub.add_parser("serve", parents=[common],
                         help="serve the pushed models over TensorFlow Serving's REST API (127.0.0.1 by default)")
  serve.add_argument("--output", default="modelfab-output", help="the output dir of `modelfab run` (%(default)s)")
  serve.add_argument("--model", action="append", default=[], metavar="NAME",
                     help="a model under <output>/serving to serve, repeatable (default: all)")
  serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
  serve.add_argument("--port", type=int, default=8501, help="port (default: %(default)s, TF Serving's REST port)")
  serve.add_argument("--versions", choices=("latest", "all"), default="latest",
                     help="serve the newest version only, or every pushed version (default: %(default)s)")
  serve.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
  serve.add_argument("--max-batch-size", type=int, default=32, help="examples per model call at most")
  serve.add_argument("--batch-timeout-ms", type=float, default=2.0,
                     help="how long a batch waits for more requests once the first arrived")
  serve.add_argument("--log-requests", type=float, default=0.0, metavar="SHARE",
                     help="share of requests (0..1) written to <output>/request_logs/<model>/ for `monitor`")

  watch = sub.add_parser("monitor", parents=[common],
                         help="compare logged traffic with what the served version was trained and evaluated on")
  watch.add_argument("--output", default="modelfab-output", help="the output dir of `modelfab run` (%(default)s)")
  watch.add_argument("--model", help="a model under <output>/serving (default: the only one)")
  watch.add_argument("--since", help="only requests logged since then: 2026-11-24T10:00 or 30m, 6h, 2d ago")
  watch.add_argument("--labels", metavar="CSV", help="true labels that arrived: a CSV with request_id,label")
  watch.add_argument("--json", action="store_true", help="the result as JSON")

  runs = sub.add_parser("runs", parents=[common],
                        help="list the runs recorded in the ML Metadata store of an output dir")
  runs.add_argument("--output", default="modelfab-output", help="the output dir of `modelfab run` (%(default)s)")
  runs.add_argument("--pipeline", help="only runs of this pipeline (preset name)")
  runs.add_argument("--json", action="store_true", help="one JSON array with every field, for scripts")

  board = sub.add_parser("tensorboard", parents=[common],
                         help="serve TensorBoard on 127.0.0.1 over every trained run of an output dir")
  board.add_argument("--output", default="modelfab-output", help="the output dir of `modelfab run` (%(default)s)")
  board.add_argument("--port", type=int, default=6006, help="port on 127.0.0.1 (default: %(default)s)")
  board.add_argument("--reload-interval", type=int, help="seconds between re-reads of the logs (TensorBoard's 5)")

  report = sub.add_parser("report", parents=[common], help="write an HTML page (and PNG figures) about one run")
  report.add_argument("run", nargs="?", help="run id or a unique prefix of it (default: the newest run)")
  report.add_argument("--output", default="modelfab-output", help="the output dir of `modelfab run` (%(default)s)")
  report.add_argument("--report-dir", help="where to write report.html and the figures "
                                           "(default: <output>/reports/<pipeline>/<run>)")
  return parser


def config_from_args(args: argparse.Namespace) -> config_lib.PipelineConfig:
  """The preset with the flags applied; CliError naming the flag when a setting is out of bounds."""
  base = config_lib.PRESETS[args.preset]
  compiling = args.command == "compile"
  config = config_lib.preset(
      args.preset, data=args.data, data_format=args.data_format,
      output=args.pipeline_root if compiling else args.output, strategy=args.strategy,
      trainer_workers=args.workers if compiling else None, gcp_project=getattr(args, "project", None),
      gcp_region=getattr(args, "region", None), trainer_machine_type=getattr(args, "machine_type", None),
      image=getattr(args, "image", None),
      tpu_address=args.tpu_address, min_accuracy=args.min_accuracy, eval_percent=args.eval_percent,
      num_classes=args.num_classes, schema=args.schema, model_name=args.model_name,
      quantize=args.quantize, max_accuracy_drop=args.max_accuracy_drop, tune=args.tune or None,
      tune_trials=args.tune_trials, tune_algorithm=args.tune_algorithm, tune_max_minutes=args.tune_max_minutes,
      hparams_uri=resolve_hparams_from(args.hparams_from, None if compiling else args.output),
      text_column=args.text_column, label_column=args.label_column,
      beam_args=list(base.beam_args) + list(args.beam_arg), enable_cache=not args.no_cache,
      hparams={"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
               "image_size": args.image_size, "channels": args.channels,
               "bert_checkpoint": args.bert_checkpoint, "max_seq_length": args.max_seq_length,
               "mixed_precision": True if args.mixed_precision else None, "prune_sparsity": args.prune_sparsity})
  try:
    config.check_settings()
  except ValueError as e:
    raise CliError(str(e)) from e
  return config


BEST_HPARAMS_FILE = "best_hyperparameters.txt"  # components.hparam_tuner.BEST_FILE


def resolve_hparams_from(value: Optional[str], output: Optional[str]) -> Optional[str]:
  """The best_hyperparameters folder `--hparams-from` names: a folder holding best_hyperparameters.txt, a remote
  URI (compile), or a run id (prefix) in `output`'s store whose Tuner ran; CliError otherwise."""
  if not value:
    return None
  if "://" in value or os.path.isfile(os.path.join(value, BEST_HPARAMS_FILE)):
    return value
  metadata = os.path.join(output, "metadata.sqlite") if output else None
  if not metadata or not os.path.isfile(metadata):
    raise CliError(f"--hparams-from {value}: not a folder with {BEST_HPARAMS_FILE}, and no ML Metadata store to "
                   f"find a run in" + (f" ({metadata})" if metadata else ""))
  from reports import run_summary  # pylint: disable=g-import-not-at-top

  try:
    run = run_summary.find_run(metadata, value)
  except LookupError as e:
    raise CliError(f"--hparams-from {value}: {e}") from e
  uri = run.output_uri("Tuner", "best_hyperparameters") or run.output_uri("hparams_importer", "result")
  if not uri:
    raise CliError(f"--hparams-from {value}: run {run.run_id} did not tune (it has no best hyperparameters); "
                   "run with --tune first")
  return uri


def _install_progress_printer(verbose: bool) -> None:
  """Prints each component as it starts and finishes, with its time; other library logs only with --verbose
  (otherwise they go to the log file, see pipelines/console.py)."""
  import logging  # pylint: disable=g-import-not-at-top

  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top

  started = {}

  class ProgressHandler(logging.Handler):

    def emit(self, record):
      message = record.getMessage()
      if message.startswith("Component ") and message.endswith(" is running."):
        name = message[len("Component "):-len(" is running.")]
        started[name] = time.time()
        print(f"[modelfab] {name} ...", flush=True)
      elif message.startswith("Component ") and message.endswith(" is finished."):
        name = message[len("Component "):-len(" is finished.")]
        seconds = time.time() - started.get(name, time.time())
        print(f"[modelfab] {name} done in {seconds:.1f}s", flush=True)
        if seconds > 1:
          # Before the next components: the Trainer's input cache and model are only garbage once their reference
          # cycles are collected (the ServingCheck process starts beside the Evaluator right after).
          memory.release_memory(collect_garbage=name == "Trainer")

  absl_logging.set_verbosity(absl_logging.INFO)
  logging.getLogger("absl").addHandler(ProgressHandler(level=logging.INFO))
  if verbose:
    # A root handler of our own makes later logging.basicConfig() calls (Beam, TF) no-ops.
    root_handler = logging.StreamHandler(sys.stderr)
    root_handler.setLevel(logging.INFO)
    root_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(root_handler)
  absl_logging.get_absl_handler().setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


def cmd_run(args: argparse.Namespace) -> int:
  config = config_from_args(args).resolved()
  with memory.imports_kept_out_of_collection():
    from pipelines import local_runner, output_dir  # pylint: disable=g-import-not-at-top

    print(f"[modelfab] checking data {config.data} ({config.data_format})", flush=True)
    _install_progress_printer(args.verbose)
    started = time.time()
    pipeline = local_runner.build(config)  # checks data and settings first: nothing is written when they are bad
  if args.console is not None:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.console.move_to(os.path.join(config.output, "logs", f"run-{stamp}-{os.getpid()}.log"))
  with output_dir.locked(config.output, wait=args.wait):
    from reports import run_summary  # pylint: disable=g-import-not-at-top

    sys.argv = sys.argv[:1]  # Beam and absl parse sys.argv; our flags are not theirs
    local_runner.run(pipeline)
    summary = run_summary.latest_run_summary(config.metadata_path, config.pipeline_name)  # ours: we hold the lock
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  tensorboard_logs.prepare_logdir(config.output)  # training curves and eval scalars, side by side per run
  print_summary(summary, time.time() - started)
  output = args.output
  if args.console is not None and not args.console.verbose:
    print(f"library log: {args.console.path}")
  print(f"inspect: modelfab runs --output {output} | modelfab tensorboard --output {output} | "
        f"modelfab report --output {output}")
  return 0


def tuning_line(tuning) -> str:
  """One line: where the Trainer's hyperparameters came from, the best values and how many trials."""
  values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in tuning["best"].items())
  if tuning["source"] == "imported":
    return f"hyperparameters imported from {tuning['uri']}: {values}"
  best_score = max((t["score"] for t in tuning["trials"] if t.get("score") is not None), default=float("nan"))
  return f"tuned: {len(tuning['trials'])} trials, best val_accuracy {best_score:.4f} with {values}"


def compression_line(report) -> str:
  """One line: the .tflite against the float model (size, accuracy, batch-1 latency) and whether it was pushed."""
  float_, tflite = report["float"], report["compressed"]
  accuracy = "sparse_categorical_accuracy"
  verdict = ("pushed beside the SavedModel" if report.get("pushed") else
             "not pushed" + (f": {report['reason']}" if report.get("reason") else " (the float model was not)"))
  sparsity = f", {float_['sparsity']:.0%} zero weights" if float_.get("sparsity", 0) >= 0.05 else ""
  return (f"compressed ({report['mode']}): {tflite['bytes'] / 1024:.0f} KiB vs {float_['bytes'] / 1024:.0f} KiB "
          f"SavedModel{sparsity}, accuracy {tflite['metrics'][accuracy]:.4f} vs {float_['metrics'][accuracy]:.4f}, "
          f"{tflite['latency_ms']:.3f} vs {float_['latency_ms']:.3f} ms/example at batch 1; {verdict}")


def print_summary(summary, seconds: float) -> None:
  print(f"\nrun {summary.run_id} finished in {seconds:.1f}s")
  for name, state in summary.components.items():
    print(f"  {name:<20} {state}")
  shown = ["sparse_categorical_accuracy", "macro_precision", "macro_recall", "macro_f1_score", "example_count"]
  if summary.metrics:
    print("eval metrics: " + ", ".join(f"{k}={summary.metrics[k]:.4f}" for k in shown if k in summary.metrics))
  if summary.blessed is not None:
    print("blessed: " + ("yes" if summary.blessed else "NO (thresholds not met; model not pushed)"))
  if summary.tuning:
    print(tuning_line(summary.tuning))
  if summary.compression:
    print(compression_line(summary.compression))
  if summary.serving_check_failure:
    print(f"serving check: FAILED ({summary.serving_check_failure}); model not pushed")
  print(f"pushed to: {summary.pushed_to}" if summary.pushed_to else "pushed: no")


def cmd_compile(args: argparse.Namespace) -> int:
  config = config_from_args(args)
  try:
    config.check_trainer_workers()
  except ValueError as e:
    raise CliError(str(e)) from e
  from pipelines import kubeflow_v2_runner  # pylint: disable=g-import-not-at-top

  if os.path.splitext(args.output)[1].lower() not in kubeflow_v2_runner.OUTPUT_KINDS:
    raise CliError(f"--output {args.output}: must end in .yaml (Kubeflow Pipelines) or .json (Vertex AI)")
  sys.argv = sys.argv[:1]
  path = kubeflow_v2_runner.compile_pipeline(config, args.output, args.image)
  kind = kubeflow_v2_runner.OUTPUT_KINDS[os.path.splitext(path)[1].lower()]
  print(f"compiled {config.pipeline_name} for {kind}: {path}")
  return 0


def cmd_predict(args: argparse.Namespace) -> int:
  texts = list(args.text)
  if args.text_file:
    try:
      with open(args.text_file, encoding="utf-8") as f:
        texts += [line.rstrip("\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
      raise CliError(f"{args.text_file}: cannot read as UTF-8 text ({e})") from e
  if bool(texts) == bool(args.images):
    raise CliError("give image files, or texts with --text/--text-file, not both and not neither")
  if args.images:
    from components.image_folder import check_image_file  # pylint: disable=g-import-not-at-top

    for image in args.images:
      if not os.path.isfile(image):
        raise CliError(f"{image}: no such image file")
      check_image_file(image)
  from serving import model_loader  # pylint: disable=g-import-not-at-top

  model_loader.resolve_model_dir(args.model)  # a missing model is named before TensorFlow loads
  from serving import predict  # pylint: disable=g-import-not-at-top

  model = model_loader.load_model(args.model)
  if args.images:
    rows = zip(args.images, predict.predict_images(model, args.images))
  else:
    rows = zip((t.replace("\t", " ") for t in texts), predict.predict_texts(model, texts))
  for name, (label, score) in rows:
    print(f"{name}\t{label}\t{score:.4f}")
  return 0


def _metadata_path(output: str) -> str:
  path = os.path.join(output, "metadata.sqlite")
  if not os.path.isfile(path):
    raise CliError(f"{path}: no ML Metadata store; run `modelfab run --output {output}` first")
  return path


def cmd_runs(args: argparse.Namespace) -> int:
  from reports import run_summary  # pylint: disable=g-import-not-at-top

  runs = run_summary.list_runs(_metadata_path(args.output), args.pipeline)
  if args.json:
    import json  # pylint: disable=g-import-not-at-top

    print(json.dumps([r.to_json() for r in runs], indent=2))
    return 0
  print(format_runs(runs))
  return 0


def format_runs(runs) -> str:
  """The `modelfab runs` table: one line per run, newest last."""
  header = ["RUN", "STARTED", "PIPELINE", "EXECUTED", "ACCURACY", "MACRO_F1", "BLESSED", "PUSHED"]
  rows = []
  for r in runs:
    executed = r.executed()
    components = [n for n, state in r.components.items() if state != "resolved"]
    ran = ("all" if len(executed) == len(components) else "none (all cached)" if not executed
           else ",".join(executed))
    interrupted = [n for n, state in r.components.items() if state == "interrupted"]
    running = [n for n, state in r.components.items() if state == "running"]
    if interrupted:
      ran = f"interrupted in {','.join(interrupted)}" + (f" (ran {','.join(executed)})" if executed else "")
    elif running:
      ran = f"running {','.join(running)}" + (f" (ran {','.join(executed)})" if executed else "")
    metric = lambda name: f"{r.metrics[name]:.4f}" if name in r.metrics else "-"
    blessed = {True: "yes", False: "no", None: "-"}[r.blessed]
    rows.append([r.run_id, r.started_text, r.pipeline_name, ran, metric("sparse_categorical_accuracy"),
                 metric("macro_f1_score"), blessed, r.pushed_version or "-"])
  widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
  return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header] + rows)


def _check_port(port: int) -> None:
  if not 1 <= port <= 65535:
    raise CliError(f"--port must be between 1 and 65535, got {port}")


def cmd_tensorboard(args: argparse.Namespace) -> int:
  _metadata_path(args.output)
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  sys.argv = sys.argv[:1]
  _check_port(args.port)
  if args.reload_interval is not None and args.reload_interval < 1:
    raise CliError(f"--reload-interval must be at least 1 second, got {args.reload_interval}")
  return tensorboard_logs.serve(args.output, port=args.port, reload_seconds=args.reload_interval)


def cmd_serve(args: argparse.Namespace) -> int:
  root = os.path.join(args.output, "serving")
  if not os.path.isdir(root):
    raise CliError(f"{root}: no pushed models; run `modelfab run --output {args.output}` first")
  for name in args.model:
    if not os.path.isdir(os.path.join(root, name)):
      raise CliError(f"{os.path.join(root, name)}: no such model (have: {', '.join(sorted(os.listdir(root)))})")
  _check_port(args.port)
  import socket  # pylint: disable=g-import-not-at-top

  with socket.socket() as probe:  # before the models load: a taken port is one line, not a uvicorn traceback
    try:
      probe.bind((args.host, args.port))
    except OSError as e:
      raise CliError(f"cannot listen on {args.host}:{args.port}: {e.strerror or e}") from e
  if not 0.0 <= args.log_requests <= 1.0:
    raise CliError(f"--log-requests must be between 0 and 1, got {args.log_requests}")
  if args.max_batch_size < 1 or args.batch_timeout_ms < 0 or args.poll_seconds <= 0:
    raise CliError("--max-batch-size must be at least 1, --batch-timeout-ms at least 0, --poll-seconds above 0")
  from serving import serve  # pylint: disable=g-import-not-at-top

  return serve.serve(args.output, args.model or None, args.host, args.port, args.versions, args.poll_seconds,
                     args.max_batch_size, args.batch_timeout_ms / 1000.0, args.log_requests)


def _since(text: Optional[str]) -> float:
  """Unix seconds from an ISO time or a span ago (30m, 6h, 2d); 0 for None."""
  if not text:
    return 0.0
  units = {"m": 60, "h": 3600, "d": 86400}
  if text[-1:] in units and text[:-1].isdigit():
    return time.time() - int(text[:-1]) * units[text[-1]]
  try:
    return datetime.datetime.fromisoformat(text).timestamp()
  except ValueError as e:
    raise CliError(f"--since {text!r}: expected an ISO time (2026-11-24T10:00) or a span such as 30m, 6h, 2d") from e


def cmd_monitor(args: argparse.Namespace) -> int:
  root = os.path.join(args.output, "serving")
  models = sorted(os.listdir(root)) if os.path.isdir(root) else []
  if not models:
    raise CliError(f"{root}: no pushed models; run `modelfab run --output {args.output}` first")
  if args.model is None and len(models) > 1:
    raise CliError(f"{root} has {len(models)} models ({', '.join(models)}); choose one with --model")
  model = args.model or models[0]
  if model not in models:
    raise CliError(f"{os.path.join(root, model)}: no such model (have: {', '.join(models)})")
  since = _since(args.since)
  if args.labels and not os.path.isfile(args.labels):
    raise CliError(f"{args.labels}: no such labels file")
  _metadata_path(args.output)
  from serving import monitor  # pylint: disable=g-import-not-at-top

  try:
    result = monitor.monitor(args.output, model, since, args.labels)
  except monitor.MonitorError as e:
    raise CliError(str(e)) from e
  path = monitor.write_result(args.output, result)
  if args.json:
    import json  # pylint: disable=g-import-not-at-top

    print(json.dumps(result, indent=2))
  else:
    print(monitor.format_result(result))
    print(f"result: {path}")
  return monitor.EXIT_DRIFT if result["alert"] else 0


def cmd_report(args: argparse.Namespace) -> int:
  _metadata_path(args.output)
  from reports import report  # pylint: disable=g-import-not-at-top

  try:
    path = report.build_report(args.output, args.run, args.report_dir)
  except LookupError as e:
    raise CliError(str(e.args[0] if e.args else e)) from e
  print(f"report: {path}")
  return 0


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  _quiet_libraries(args.verbose)
  from pipelines import console  # pylint: disable=g-import-not-at-top

  log = console.ConsoleLog(console.temporary_log_path(args.command), verbose=args.verbose)
  args.console = log
  with log:
    status = _dispatch(args, log)
  in_temp_dir = os.path.dirname(log.path) == os.path.dirname(console.temporary_log_path(args.command))
  if status in (0, EXIT_USAGE, EXIT_BUSY) and in_temp_dir and not args.verbose:
    _remove_quietly(log.path)  # no traceback to keep, and no output dir to keep it in
  return status


def _dispatch(args: argparse.Namespace, log) -> int:
  """Runs the subcommand; one line on stderr and an exit status for every failure, the traceback in the log."""
  from components.image_folder import DataError  # pylint: disable=g-import-not-at-top
  from models.bert_checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top
  from pipelines.output_dir import OutputBusy, OutputNotWritable  # pylint: disable=g-import-not-at-top
  from serving.model_loader import ModelError  # pylint: disable=g-import-not-at-top

  commands = {"run": cmd_run, "compile": cmd_compile, "predict": cmd_predict, "runs": cmd_runs,
              "tensorboard": cmd_tensorboard, "report": cmd_report, "serve": cmd_serve,
              "monitor": cmd_monitor}
  try:
    return commands[args.command](args)
  except (CliError, DataError, CheckpointError, ModelError, OutputNotWritable, FileNotFoundError) as e:
    print(f"modelfab: error: {e}", file=sys.stderr)
    return EXIT_USAGE
  except OutputBusy as e:
    print(f"modelfab: error: {e}", file=sys.stderr)
    return EXIT_BUSY
  except Exception as e:  # pylint: disable=broad-except
    if args.verbose:
      raise
    from pipelines import console  # pylint: disable=g-import-not-at-top

    log_path = console.log_exception(log)
    known = _known_failure(e)
    message = known or f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    print(f"modelfab: error: {message}", file=sys.stderr)
    if log_path and not known:
      print(f"modelfab: the full traceback is in {log_path} (or run again with --verbose)", file=sys.stderr)
    return EXIT_USAGE if _is_data_error(e) else EXIT_FAILED


def _remove_quietly(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass


def _in_cause_chain(error: Exception, names) -> Optional[BaseException]:
  """The first exception in `error`'s cause/context chain whose class name is in `names`."""
  seen = error
  while seen is not None:
    if type(seen).__name__ in names:
      return seen
    seen = seen.__cause__ or seen.__context__
  return None


def _is_data_error(error: Exception) -> bool:
  """Whether a failure inside the pipeline was caused by the data or the checkpoint (exit status 2)."""
  return _in_cause_chain(error, {"DataError", "CheckpointError"}) is not None


def _known_failure(error: Exception) -> Optional[str]:
  """A one-line message for failures the pipeline reports on purpose (anomalies, strategy, data, push); None
  otherwise."""
  known = _in_cause_chain(error, {"AnomaliesFound", "StrategyError", "DataError", "CheckpointError", "PushError"})
  return str(known) if known is not None else None


def entry() -> None:
  """The `modelfab` command: `main`, then `exit_without_teardown`."""
  exit_without_teardown(main())


if __name__ == "__main__":
  entry()
