"""`modelfab run` (the pipeline, locally) and `modelfab compile` (the same pipeline for Kubeflow / Vertex AI).

TensorFlow and TFX are imported only once the flags and the data are checked, so argument errors answer at once.
"""
from __future__ import annotations

import argparse
import datetime
import os
import sys
import time
from typing import Optional

from cli import formatting
from cli.common import DEFAULT_OUTPUT
from core import names, output_dir
from core.errors import EXIT_FAILED, UsageError
from core.layout import OutputLayout
from pipelines import config as config_lib
from pipelines import memory
from readers import spans


def register(sub, common: argparse.ArgumentParser) -> None:
  """Adds `run` and `compile`, which share the pipeline settings."""
  settings = pipeline_settings(common)
  run = sub.add_parser("run", parents=[settings],
                       help="run the pipeline locally (LocalDagRunner on Beam) and push a blessed model")
  add_run_flags(run)
  run.set_defaults(handler=cmd_run)

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
  compile_.set_defaults(handler=cmd_compile)


def pipeline_settings(common: argparse.ArgumentParser) -> argparse.ArgumentParser:
  """The pipeline settings `run`, `compile` and `watch` share (a parent parser)."""
  settings = argparse.ArgumentParser(add_help=False, parents=[common])
  settings.add_argument("--preset", default="digits-cnn", choices=sorted(config_lib.PRESETS))
  settings.add_argument("--data", help="data location (default: the preset's embedded data)")
  settings.add_argument("--spans", metavar="WHICH",
                        help="with a span pattern in --data (e.g. 'incoming/span-{SPAN}'): which complete spans to "
                             "train on: " + spans.SPANS_HELP)
  settings.add_argument("--allow-drift", action="store_true",
                        help="train on a new span even when the drift gate finds it drifted (recorded in the run)")
  settings.add_argument("--drift-jsd", type=float, metavar="D",
                        help="drift gate: Jensen-Shannon limit on derived features (default: 0.2)")
  settings.add_argument("--drift-linf", type=float, metavar="D",
                        help="drift gate: L-infinity limit on the class distribution (default: 0.2)")
  settings.add_argument("--warm-start", action="store_true",
                        help="start training from the weights of the newest model this pipeline pushed (the same "
                             "architecture and classes, else refused)")
  settings.add_argument("--data-format", choices=config_lib.DATA_FORMATS,
                        help="image_folder (<data>/<class>/<image>) or tfrecord (files of tf.Example)")
  settings.add_argument("--epochs", type=int)
  settings.add_argument("--batch-size", type=int)
  settings.add_argument("--learning-rate", type=float)
  settings.add_argument("--image-size", type=int, help="images are resized to this height and width")
  settings.add_argument("--channels", type=int, choices=(1, 3), help="1 = grayscale, 3 = RGB")
  settings.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None,
                        help="image models: random shifts, rotations and zoom while training (default: on; off "
                             "under DP-SGD)")
  settings.add_argument("--dropout", type=float, metavar="P",
                        help="dropout before the classifier (default: the preset's; 0 for image models under DP-SGD)")
  settings.add_argument("--bert-checkpoint", metavar="DIR",
                        help="text-bert: a local Hugging Face BERT checkpoint (config.json, vocab.txt, "
                             "model.safetensors or tf_model.h5)")
  settings.add_argument("--max-seq-length", type=int, help="text-bert: tokens per text, [CLS] and [SEP] included")
  settings.add_argument("--precision", choices=names.PRECISIONS,
                        help="training arithmetic: auto (default: bfloat16 on CPUs with AMX/AVX512-BF16, float16 "
                             "on GPUs with tensor cores, float32 elsewhere), float32, bfloat16 or float16")
  settings.add_argument("--mixed-precision", action="store_true", help="the same as --precision float16")
  settings.add_argument("--text-column", help="text_csv data: the column holding the text (default: text)")
  settings.add_argument("--label-column", help="text_csv data: the column holding the label (default: label)")
  settings.add_argument("--strategy", choices=names.STRATEGIES)
  settings.add_argument("--tpu-address", help="for --strategy tpu: grpc://host:port, a TPU name, or 'local'")
  settings.add_argument("--min-accuracy", type=float, help="blessing lower bound on eval accuracy")
  settings.add_argument("--prune-sparsity", type=float, metavar="S",
                        help="train with magnitude pruning to this share of zero weights (0 < S < 1; image models)")
  settings.add_argument("--dp-l2-clip", type=float, metavar="C",
                        help="train with DP-SGD: clip each example's gradient to this L2 norm (with "
                             "--dp-noise-multiplier or --dp-target-epsilon)")
  settings.add_argument("--dp-noise-multiplier", type=float, metavar="Z",
                        help="DP-SGD: Gaussian noise of standard deviation Z x C on each batch's clipped gradient sum")
  settings.add_argument("--dp-target-epsilon", type=float, metavar="E",
                        help="DP-SGD: the smallest noise that spends at most E in the configured epochs")
  settings.add_argument("--dp-microbatches", type=int, metavar="M",
                        help="DP-SGD: clip the mean gradient of M microbatches per batch (default: one per example)")
  settings.add_argument("--dp-delta", type=float, metavar="D",
                        help="DP-SGD: the delta epsilon is stated at (default: 1/N rounded down to a power of ten)")
  settings.add_argument("--max-epsilon", type=float, metavar="E",
                        help="DP-SGD: do not bless (nor push) a model that spent more privacy than E")
  settings.add_argument("--explain", action=argparse.BooleanOptionalAction, default=None,
                        help="explain a sample of the eval split after the Evaluator: pixels or words (default: on)")
  settings.add_argument("--explain-examples", type=int, metavar="N",
                        help="--explain: eval examples to explain, misclassified first (default: 64)")
  settings.add_argument("--quantize", metavar="MODE",
                        help="also make a .tflite model: none, dynamic, float16 or int8 (default: the preset's)")
  settings.add_argument("--max-accuracy-drop", type=float, metavar="D",
                        help="push the .tflite only if its eval accuracy is at most D below the float model's "
                             "(default: 0.01)")
  settings.add_argument("--export-onnx", action=argparse.BooleanOptionalAction, default=None,
                        help="also push model.onnx when onnxruntime agrees with the SavedModel on every eval example "
                             "(default: on)")
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
  settings.add_argument("--model-card-notes", metavar="FILE",
                        help="a JSON file of users, use_cases, limitations, tradeoffs and ethical_considerations for "
                             "the model card pushed with every version")
  settings.add_argument("--model-name", help="name of the serving directory: <output>/serving/<model-name>/<version>")
  settings.add_argument("--beam-arg", action="append", default=[], metavar="ARG",
                        help="extra Beam pipeline argument, repeatable (e.g. --beam-arg=--runner=DataflowRunner)")
  settings.add_argument("--no-cache", action="store_true",
                        help="execute every component even when inputs are unchanged")

  return settings


def add_run_flags(run: argparse.ArgumentParser) -> None:
  """The flags of a local run beyond the pipeline settings (`run` and `watch`)."""
  run.add_argument("--output", default=DEFAULT_OUTPUT,
                   help="pipeline root, ML Metadata store and serving dir go under it (default: %(default)s)")
  run.add_argument("--push-label", metavar="LABEL",
                   help="label the pushed version (e.g. canary: it takes no default traffic until `modelfab "
                        "promote`; stable: it takes all of it)")
  run.add_argument("--bulk-infer", metavar="INPUT",
                   help="after the push, predict everything in INPUT with the pushed version on Beam (an image "
                        "folder, CSV files or TFRecords), into the run's InferenceResult (predictions.jsonl)")
  run.add_argument("--wait", action="store_true",
                   help="when another run is using the output dir, wait for it instead of stopping at once")


def config_from_args(args: argparse.Namespace) -> config_lib.PipelineConfig:
  """The preset with the flags applied; UsageError naming the flag when a setting is out of bounds."""
  base = config_lib.PRESETS[args.preset]
  compiling = args.command == "compile"
  config = config_lib.preset(
      args.preset, data=args.data, data_format=args.data_format, spans=args.spans,
      allow_drift=args.allow_drift or None, drift_jsd=args.drift_jsd, drift_linf=args.drift_linf,
      warm_start=args.warm_start or None,
      output=args.pipeline_root if compiling else args.output, strategy=args.strategy,
      trainer_workers=args.workers if compiling else None, gcp_project=getattr(args, "project", None),
      gcp_region=getattr(args, "region", None), trainer_machine_type=getattr(args, "machine_type", None),
      image=getattr(args, "image", None),
      tpu_address=args.tpu_address, min_accuracy=args.min_accuracy, eval_percent=args.eval_percent,
      num_classes=args.num_classes, schema=args.schema, model_name=args.model_name,
      quantize=args.quantize, max_accuracy_drop=args.max_accuracy_drop, tune=args.tune or None,
      max_epsilon=args.max_epsilon, explain=args.explain, explain_examples=args.explain_examples,
      push_label=getattr(args, "push_label", None), model_card_notes=args.model_card_notes,
      bulk_infer=getattr(args, "bulk_infer", None),
      export_onnx=args.export_onnx,
      tune_trials=args.tune_trials, tune_algorithm=args.tune_algorithm, tune_max_minutes=args.tune_max_minutes,
      hparams_uri=resolve_hparams_from(args.hparams_from, None if compiling else args.output),
      text_column=args.text_column, label_column=args.label_column,
      beam_args=list(base.beam_args) + list(args.beam_arg), enable_cache=not args.no_cache,
      hparams={"epochs": args.epochs, "batch_size": args.batch_size, "learning_rate": args.learning_rate,
               "image_size": args.image_size, "channels": args.channels, "augment": args.augment,
               "dropout": args.dropout,
               "bert_checkpoint": args.bert_checkpoint, "max_seq_length": args.max_seq_length,
               "precision": precision_from_args(args), "prune_sparsity": args.prune_sparsity,
               "dp_l2_clip": args.dp_l2_clip, "dp_noise_multiplier": args.dp_noise_multiplier,
               "dp_target_epsilon": args.dp_target_epsilon, "dp_microbatches": args.dp_microbatches,
               "dp_delta": args.dp_delta})
  try:
    config.check_settings()
  except ValueError as e:
    raise UsageError(str(e)) from e
  return config


def precision_from_args(args: argparse.Namespace) -> Optional[str]:
  """--precision, with --mixed-precision as its older spelling of float16."""
  if args.mixed_precision:
    if args.precision not in (None, "float16"):
      raise UsageError(f"--mixed-precision means --precision float16; it contradicts --precision {args.precision}")
    return "float16"
  return args.precision


def resolve_hparams_from(value: Optional[str], output: Optional[str]) -> Optional[str]:
  """The best_hyperparameters folder `--hparams-from` names: a folder holding best_hyperparameters.txt, a remote
  URI (compile), or a run id (prefix) in `output`'s store whose Tuner ran; UsageError otherwise."""
  if not value:
    return None
  if "://" in value or os.path.isfile(os.path.join(value, names.BEST_HPARAMS_FILE)):
    return value
  metadata = OutputLayout(output).metadata_path if output else None
  if not metadata or not os.path.isfile(metadata):
    raise UsageError(f"--hparams-from {value}: not a folder with {names.BEST_HPARAMS_FILE}, and no ML Metadata "
                     f"store to find a run in" + (f" ({metadata})" if metadata else ""))
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  try:
    run = run_summary.find_run(metadata, value)
  except LookupError as e:
    raise UsageError(f"--hparams-from {value}: {e}") from e
  uri = run.output_uri(names.TUNER, "best_hyperparameters") or run.output_uri(names.HPARAMS_IMPORTER, "result")
  if not uri:
    raise UsageError(f"--hparams-from {value}: run {run.run_id} did not tune (it has no best hyperparameters); "
                     "run with --tune first")
  return uri


def _configure_library_logging(verbose: bool) -> None:
  """Library logs at INFO: in the log file (cli/console.py), or on the terminal with --verbose."""
  import logging  # pylint: disable=g-import-not-at-top

  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top

  absl_logging.set_verbosity(absl_logging.INFO)
  if verbose:
    # A root handler of our own makes later logging.basicConfig() calls (Beam, TF) no-ops.
    root_handler = logging.StreamHandler(sys.stderr)
    root_handler.setLevel(logging.INFO)
    root_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(root_handler)
  absl_logging.get_absl_handler().setLevel(logging.INFO if verbose else logging.CRITICAL + 1)


def print_progress(node_id: str, seconds: Optional[float]) -> None:
  """Each component as it starts and finishes, with its time."""
  if seconds is None:
    print(f"[modelfab] {node_id} ...", flush=True)
  else:
    print(f"[modelfab] {node_id} done in {seconds:.1f}s", flush=True)


def cmd_run(args: argparse.Namespace) -> int:
  config = config_from_args(args).resolved()
  with memory.imports_kept_out_of_collection():
    from pipelines import local_runner  # pylint: disable=g-import-not-at-top

    print(f"[modelfab] checking data {config.data} ({config.data_format})", flush=True)
    _configure_library_logging(args.verbose)
    started = time.time()
    pipeline = local_runner.build(config)  # checks data and settings first: nothing is written when they are bad
  layout = OutputLayout(config.output)
  if args.console is not None:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    args.console.move_to(os.path.join(layout.logs_dir, f"run-{stamp}-{os.getpid()}.log"))
  with output_dir.locked(config.output, wait=args.wait):
    from inference import run_summary  # pylint: disable=g-import-not-at-top

    sys.argv = sys.argv[:1]  # Beam and absl parse sys.argv; our flags are not theirs
    local_runner.run(pipeline, progress=print_progress)
    summary = run_summary.latest_run_summary(layout.metadata_path, config.pipeline_name)  # ours: we hold the lock
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  tensorboard_logs.prepare_logdir(config.output)  # training curves and eval scalars, side by side per run
  print("\n".join(formatting.summary_lines(summary, time.time() - started)))
  output = args.output
  if args.console is not None and not args.console.verbose:
    print(f"library log: {args.console.path}")
  print(f"inspect: modelfab runs --output {output} | modelfab tensorboard --output {output} | "
        f"modelfab report --output {output}")
  if summary.batch_inference and summary.batch_inference["failed"]:
    print(f"modelfab: error: batch inference: {summary.batch_inference['failed']:,} example(s) could not be "
          f"predicted (listed in {summary.batch_inference['predictions']})", file=sys.stderr)
    return EXIT_FAILED
  return 0


def cmd_compile(args: argparse.Namespace) -> int:
  config = config_from_args(args)
  try:
    config.check_trainer_workers()
  except ValueError as e:
    raise UsageError(str(e)) from e
  from pipelines import kubeflow_v2_runner  # pylint: disable=g-import-not-at-top

  if os.path.splitext(args.output)[1].lower() not in kubeflow_v2_runner.OUTPUT_KINDS:
    raise UsageError(f"--output {args.output}: must end in .yaml (Kubeflow Pipelines) or .json (Vertex AI)")
  sys.argv = sys.argv[:1]
  path = kubeflow_v2_runner.compile_pipeline(config, args.output, args.image)
  kind = kubeflow_v2_runner.OUTPUT_KINDS[os.path.splitext(path)[1].lower()]
  print(f"compiled {config.pipeline_name} for {kind}: {path}")
  return 0
