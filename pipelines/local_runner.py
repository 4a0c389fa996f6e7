"""Runs the pipeline locally on Beam with LocalDagRunner. Also the file for the TFX CLI:

  tfx pipeline create --engine local --pipeline_path $PWD/pipelines/local_runner.py
  tfx run create --engine local --pipeline_name digits-cnn

Settings come from environment variables when run as a file: MODELFAB_PRESET (digits-cnn), MODELFAB_OUTPUT,
MODELFAB_DATA, MODELFAB_EPOCHS, MODELFAB_BERT_CHECKPOINT (text-bert).
"""
from __future__ import annotations

import dataclasses
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from pipelines import config as config_lib  # pylint: disable=g-import-not-at-top
from pipelines import output_dir  # pylint: disable=g-import-not-at-top
from pipelines.data_check import check_data, estimate_examples  # pylint: disable=g-import-not-at-top


def build(config: config_lib.PipelineConfig):
  """Checks the data and returns the TFX pipeline for `config` with a local sqlite ML Metadata store."""
  config = config.resolved()
  num_classes = check_data(config)  # before TFX is imported: bad data fails in about a second, nothing written
  if not config.beam_args:
    config = with_beam_defaults(config)
    mode = "multi-processing on all cores" if config.beam_args else "in one process"
    print(f"[modelfab] Beam DirectRunner {mode} (default for this data size; --beam-arg overrides)", flush=True)
  from tfx.orchestration import metadata  # pylint: disable=g-import-not-at-top
  from pipelines.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top

  output_dir.prepare(config.output)  # created and writable, or OutputNotWritable naming it
  return create_pipeline(
      config, num_classes,
      metadata_connection_config=metadata.sqlite_metadata_connection_config(config.metadata_path))


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
      hparams={"epochs": int(epochs) if epochs else None,
               "bert_checkpoint": os.environ.get("MODELFAB_BERT_CHECKPOINT")})
  try:
    config.check_settings()
  except ValueError as e:
    raise ValueError(f"MODELFAB_EPOCHS: {e}") from e
  return config


def main() -> int:
  """The TFX CLI's entry (`python local_runner.py`): one line and exit status 2 for bad settings or data."""
  import sys  # pylint: disable=g-import-not-at-top

  from components.image_folder import DataError  # pylint: disable=g-import-not-at-top
  from models.bert_checkpoint import CheckpointError  # pylint: disable=g-import-not-at-top

  try:
    pipeline = build(config_from_env())  # checks the data before LocalDagRunner starts
  except (ValueError, DataError, CheckpointError) as e:
    print(f"modelfab: error: {e}", file=sys.stderr)
    return 2
  from tfx.orchestration.local.local_dag_runner import LocalDagRunner  # pylint: disable=g-import-not-at-top

  LocalDagRunner().run(pipeline)
  return 0


if __name__ == "__main__":
  raise SystemExit(main())
