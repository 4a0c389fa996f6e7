"""Checks the input data before the pipeline starts, and counts its classes (the Evaluator needs the number)."""
from __future__ import annotations

import dataclasses
import os
from typing import Dict, List, Optional

from core.errors import CheckpointError, DataError, WarmStartError
from core.layout import OutputLayout
from pipelines.config import PipelineConfig
from readers import image_folder, spans, text_csv, tfrecords


def resolve_spans(config: PipelineConfig, notes: Optional[List[str]] = None) -> PipelineConfig:
  """`config` with `span_folders` chosen by `spans` when `data` is a span pattern (DataError naming the pattern or
  span when none fits; a skipped incomplete span is appended to `notes`); unchanged otherwise."""
  if not spans.has_span_token(config.data):
    return config
  chosen = spans.select_spans(config.data, config.spans, notes)
  return dataclasses.replace(config, span_folders=tuple((s.number, s.path) for s in chosen))


def last_pushed_run(config: PipelineConfig):
  """(run summary, its ExampleGen's Examples artifact) of the newest run of this pipeline in `config.output` that
  pushed a model, or (None, None)."""
  metadata = OutputLayout(config.output).metadata_path
  if not os.path.isfile(metadata):
    return None, None
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  for run in reversed(run_summary.list_runs(metadata, config.pipeline_name)):
    if run.pushed_to and run.examples is not None:
      return run, run.examples
  return None, None


def drift_baseline(config: PipelineConfig) -> Optional[Dict[str, str]]:
  """What the drift gate compares a new span with: the ExampleGen output of the newest run of this pipeline that
  pushed a model ({"examples": URI, "model_dir": the pushed version, "version", "spans"}), or None before any."""
  if not config.span_folders:
    return None
  run, examples = last_pushed_run(config)
  if run is None:
    return None
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  trained = run_summary.read_spans(examples)
  return {"examples": examples.uri, "model_dir": run.pushed_to, "version": run.pushed_version or "",
          "spans": spans.describe(trained) if trained else ""}


def warm_start_model(config: PipelineConfig, num_classes: int) -> str:
  """The pushed version `--warm-start` starts from: the newest this pipeline pushed in `config.output`.
  WarmStartError when there is none, or it is another task or has another number of classes."""
  run, _ = last_pushed_run(config)
  if run is None or not os.path.isdir(run.pushed_to):
    raise WarmStartError(f"--warm-start: no model of pipeline {config.pipeline_name} was pushed in {config.output} "
                         "(or its version folder is gone); run once without --warm-start")
  from core import model_files  # pylint: disable=g-import-not-at-top

  metadata = model_files.read_metadata(run.pushed_to)
  if metadata.task and metadata.task != config.task:
    raise WarmStartError(f"--warm-start: {run.pushed_to} is a {metadata.task} model, this run trains {config.task}")
  if metadata.labels and len(metadata.labels) != num_classes:
    raise WarmStartError(f"--warm-start: {run.pushed_to} has {len(metadata.labels)} classes, this data "
                         f"{num_classes}: its classifier cannot be reused")
  return run.pushed_to


def check_data(config: PipelineConfig, check_checkpoint: bool = True,
               decode_check: Optional[List] = None) -> int:
  """Raises DataError (or CheckpointError) naming the bad path; returns the number of classes.

  check_checkpoint=False skips the BERT checkpoint (when compiling, it is a path inside the container image).
  decode_check: a list to which an image folder's decode check is appended, started in the background
  (image_folder.BackgroundDecodeCheck; the caller calls its `wait()`), instead of decoding every image here.
  """
  if config.task == "text_bert" and check_checkpoint:
    from models import bert_checkpoint  # pylint: disable=g-import-not-at-top

    if not config.hparams.get("bert_checkpoint"):
      raise CheckpointError("the text-bert preset needs a BERT checkpoint directory "
                            "(--bert-checkpoint DIR: config.json, vocab.txt, model weights)")
    bert_checkpoint.check_checkpoint_dir(config.hparams["bert_checkpoint"], config.hparams.get("max_seq_length"))
  if config.span_folders:  # each span checked as data of its own; the classes of all of them
    one_span = lambda folder: dataclasses.replace(config, data=folder, span_folders=())
    if config.data_format == "text_csv":
      return len(set().union(*(text_csv.check_text_data(folder, config.text_column, config.label_column)
                               for _, folder in config.span_folders)))
    counts = [check_data(one_span(folder), False, decode_check) for _, folder in config.span_folders]
    if config.data_format == "image_folder":
      return len({e.name for _, folder in config.span_folders for e in os.scandir(folder)
                  if e.is_dir() and not e.name.startswith(".")})
    return max(counts)  # TFRecords: classes are counted per span
  if config.data_format == "text_csv":
    return len(text_csv.check_text_data(config.data, config.text_column, config.label_column))
  if config.data_format == "image_folder":
    if "://" in config.data:
      if not config.num_classes:
        raise DataError(f"{config.data}: remote data cannot be checked here; pass the number of classes "
                        "(--num-classes)")
      return config.num_classes
    notes = []
    try:
      files = image_folder.list_image_folder(config.data, check_decodable=decode_check is None, notes=notes)
    except DataError:
      if decode_check is None:
        raise
      image_folder.list_image_folder(config.data)  # the same error, or first a file that does not decode
      raise
    if decode_check is not None:
      decode_check.append(image_folder.BackgroundDecodeCheck([f.path for f in files]))
    for note in notes:
      print(f"[modelfab] note: {note}", flush=True)
    return len({f.label for f in files})
  if config.data_format == "tfrecord":
    return config.num_classes or tfrecords.count_tfrecord_classes(config.data)
  raise DataError(f"unknown data format {config.data_format!r}")


def check_privacy_budget(config: PipelineConfig) -> None:
  """With --dp-target-epsilon: UsageError (nothing written) when no noise reaches it in the configured epochs, from
  the train split's expected size (the Trainer plans again from the real one)."""
  from models import privacy, tasks  # pylint: disable=g-import-not-at-top

  hp = tasks.get_task(config.task).hparams_from({"hparams": config.hparams})
  total = estimate_examples(config)
  if hp.get("dp_target_epsilon") is None or not total:
    return
  train = max(1, total * (100 - config.eval_percent) // 100)
  batch = int(hp["batch_size"])
  privacy.plan(hp, train, batch, int(hp["epochs"]) * max(1, train // batch))


def estimate_examples(config: PipelineConfig) -> Optional[int]:
  """How many examples the data holds, cheaply (files or CSV lines, records); None for remote data."""
  if config.span_folders:
    return sum(estimate_examples(dataclasses.replace(config, data=folder, span_folders=()))
               for _, folder in config.span_folders)
  if "://" in config.data:
    return None
  if config.data_format == "image_folder":
    return sum(1 for _, _, names in os.walk(config.data) for name in names
               if os.path.splitext(name)[1].lower() in image_folder.IMAGE_EXTENSIONS)
  if config.data_format == "text_csv":
    return sum(max(0, _line_count(path) - 1) for path in text_csv.list_csv_files(config.data))
  if config.data_format == "tfrecord":
    return tfrecords.count_records(config.data)
  return None


def _line_count(path: str) -> int:
  with open(path, "rb") as f:
    return sum(1 for _ in f)
