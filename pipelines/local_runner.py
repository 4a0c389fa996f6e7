"""Runs the pipeline locally on Beam with LocalDagRunner. Also the file for the TFX CLI:

  tfx pipeline create --engine local --pipeline_path $PWD/pipelines/local_runner.py
  tfx run create --engine local --pipeline_name digits-cnn

Settings come from environment variables when run as a file: MODELFAB_PRESET (digits-cnn), MODELFAB_OUTPUT,
MODELFAB_DATA, MODELFAB_EPOCHS, MODELFAB_PRECISION, MODELFAB_BERT_CHECKPOINT (text-bert).
"""
from __future__ import annotations

import dataclasses
import os
import sys
from typing import Callable, Optional

from core import names, output_dir
from core.errors import CheckpointError, DataError
from models import precision
from pipelines import config as config_lib
from pipelines.data_check import (check_data, check_privacy_budget, drift_baseline, estimate_examples,
                                  resolve_spans, warm_start_model)
from readers import spans


def build(config: config_lib.PipelineConfig):
  """Checks the data and returns the TFX pipeline for `config` with a local sqlite ML Metadata store."""
  config = config.resolved()
  notes = []
  config = resolve_spans(config, notes)  # DataError naming the pattern or span: nothing written
  for note in notes:
    print(f"[modelfab] note: {note}", flush=True)
  if config.span_folders:
    print(f"[modelfab] spans {spans.describe([n for n, _ in config.span_folders])} of {config.data} "
          f"(--spans {config.spans or 'latest'})", flush=True)
  decode_check = []
  num_classes = check_data(config, decode_check=decode_check)  # before TFX is imported: bad data fails at once,
  # nothing written; the images decode in a child process while TFX is imported, and the wait is below
  check_privacy_budget(config)  # --dp-target-epsilon that no noise reaches: UsageError, nothing written
  if config.warm_start:
    config = dataclasses.replace(config, warm_start_from=warm_start_model(config, num_classes))
    print(f"[modelfab] warm start from {config.warm_start_from}", flush=True)
  if not config.beam_args:
    config = with_beam_defaults(config)
    mode = "multi-processing on all cores" if config.beam_args else "in one process"
    print(f"[modelfab] Beam DirectRunner {mode} (default for this data size; --beam-arg overrides)", flush=True)
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  from pipelines.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top

  for check in decode_check:
    check.wait()  # DataError naming the first image that does not decode
  choice = precision.choose(config.hparams.get("precision"))  # the Trainer runs here: float16 needs a GPU
  print(f"[modelfab] training precision {choice.precision} ({choice.reason})", flush=True)
  if choice.warning:
    print(f"[modelfab] warning: {choice.warning}", file=sys.stderr, flush=True)
  output_dir.prepare(config.output)  # created and writable, or OutputNotWritable naming it
  if config.span_folders:
    config = dataclasses.replace(config, drift_baseline=drift_baseline(config))
  return create_pipeline(
      config, num_classes,
      metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path))


def run(pipeline, progress: Optional[Callable[[str, Optional[float]], None]] = None) -> None:
  """Runs `pipeline` locally: TFX's LocalDagRunner with independent components side by side
  (pipelines/concurrent_runner.py), Beam tuned for this process (pipelines/beam_tuning.py), and memory given back to
  the system after each component that took more than a second (pipelines/memory.py).

  progress: called with (node id, None) when a component starts and (node id, seconds) when it finishes.
  """
  from pipelines import beam_tuning, memory  # pylint: disable=g-import-not-at-top
  from pipelines.concurrent_runner import ConcurrentLocalDagRunner  # pylint: disable=g-import-not-at-top

  def on_component(node_id: str, seconds: Optional[float]) -> None:
    if progress is not None:
      progress(node_id, seconds)
    if seconds is not None and seconds > 1:
      # Before the next components: the Trainer's input cache and model are only garbage once their reference
      # cycles are collected (the ServingCheck process starts beside the Evaluator right after).
      memory.release_memory(collect_garbage=node_id == names.TRAINER)

  beam_tuning.tune_in_process_beam(multi_processing=not beam_tuning.beam_runs_in_process(pipeline.beam_pipeline_args))
  with beam_tuning.summarized_array_reprs():
    ConcurrentLocalDagRunner(on_component=on_component).run(pipeline)


def with_beam_defaults(config: config_lib.PipelineConfig) -> config_lib.PipelineConfig:
  """`config` with the default Beam args for its data size when it gives none (config_lib.default_beam_args)."""
  if config.beam_args:
    return config
  return dataclasses.replace(config, beam_args=config_lib.default_beam_args(estimate_examples(config)))


def config_from_env() -> config_lib.PipelineConfig:
  """The config from MODELFAB_* variables; ValueError naming the variable when one is wrong."""
  name = os.environ.get("MODELFAB_PRESET", "digits-cnn")
  if name not in config_lib.PRESETS:
    raise ValueError(f"MODELFAB_PRESET={name!r}: unknown preset; choose one of {', '.join(config_lib.PRESETS)}")
  epochs = os.environ.get("MODELFAB_EPOCHS")
  if epochs is not None and not epochs.strip().isdigit():
    raise ValueError(f"MODELFAB_EPOCHS={epochs!r}: expected a whole number of epochs")
  config = config_lib.preset(
      name, output=os.environ.get("MODELFAB_OUTPUT"), data=os.environ.get("MODELFAB_DATA"),
      hparams={"epochs": int(epochs) if epochs else None, "precision": os.environ.get("MODELFAB_PRECISION"),
               "bert_checkpoint": os.environ.get("MODELFAB_BERT_CHECKPOINT")})
  try:
    config.check_settings()
  except ValueError as e:
    raise ValueError(f"MODELFAB_EPOCHS or MODELFAB_PRECISION: {e}") from e
  return config


def main() -> int:
  """The TFX CLI's entry (`python local_runner.py`): one line and exit status 2 for bad settings or data."""
  import sys  # pylint: disable=g-import-not-at-top

  from pipelines import memory  # pylint: disable=g-import-not-at-top

  try:
    with memory.imports_kept_out_of_collection():
      pipeline = build(config_from_env())  # checks the data before LocalDagRunner starts
  except (ValueError, DataError, CheckpointError) as e:
    print(f"modelfab: error: {e}", file=sys.stderr)
    return 2
  run(pipeline)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
