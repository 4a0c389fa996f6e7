"""Compiles the same `create_pipeline` for Kubeflow Pipelines v2 (a `.yaml` PipelineSpec) or Vertex AI Pipelines
(a `.json` PipelineJob) with TFX's KubeflowV2DagRunner.

Compiling touches no network and no cloud storage: the module code is referenced by dotted name (it is in the
container image, see Dockerfile), so TFX builds and uploads no module wheel, and the data is not read here (give
`num_classes` for remote data). As a file, it compiles from environment variables:

  MODELFAB_IMAGE=... MODELFAB_PIPELINE_ROOT=gs://... python pipelines/kubeflow_v2_runner.py pipeline.yaml
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import sys

from pipelines import config as config_lib

CONTAINER_ROOT = "/modelfab"  # where the Dockerfile puts this repository in the image
OUTPUT_KINDS = {".yaml": "Kubeflow Pipelines v2 PipelineSpec", ".yml": "Kubeflow Pipelines v2 PipelineSpec",
                ".json": "Vertex AI PipelineJob"}


def in_container(path: str) -> str:
  """Maps a path inside this repository (e.g. the embedded data) to the same path inside the image."""
  if "://" in path:
    return path
  try:
    return str(pathlib.PurePosixPath(CONTAINER_ROOT) / pathlib.Path(path).resolve().relative_to(config_lib.REPO_ROOT))
  except ValueError:
    return path


def compile_pipeline(config: config_lib.PipelineConfig, output_file: str, image: str) -> str:
  """Writes the compiled pipeline to `output_file` (.yaml for KFP, .json for Vertex); returns its path.

  `config.output` is the pipeline root (e.g. gs://bucket/modelfab): artifacts go to `<root>/pipeline`, pushed models
  to `<root>/serving/<model name>`. Data inside this repository is mapped to its path in the image.
  """
  from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner  # pylint: disable=g-import-not-at-top
  from pipelines.pipeline import create_pipeline  # pylint: disable=g-import-not-at-top

  extension = os.path.splitext(output_file)[1].lower()
  if extension not in OUTPUT_KINDS:
    raise ValueError(f"{output_file}: the compiled pipeline must be a .yaml (Kubeflow) or .json (Vertex AI) file")
  if not image:
    raise ValueError("a container image is needed (--image): the one built from this repository's Dockerfile")
  num_classes = config.num_classes or _count_local_classes(config)
  remote = dataclasses.replace(
      config, data=in_container(config.data), schema=in_container(config.schema) if config.schema else None,
      image=config.image or image,
      beam_args=config.beam_args or list(config_lib.MULTI_PROCESSING_BEAM_ARGS))  # all of each container's cores
  if remote.hparams.get("bert_checkpoint"):
    remote.hparams = {**remote.hparams, "bert_checkpoint": in_container(remote.hparams["bert_checkpoint"])}
  pipeline = create_pipeline(remote, num_classes, orchestrator="kubeflow")
  runner_config = kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(
      default_image=image, use_pipeline_spec_2_1=True)  # 2.1 spec: what kfp 2 loads (see ../shared/STACK.md)
  output_dir = os.path.dirname(os.path.abspath(output_file))
  os.makedirs(output_dir, exist_ok=True)
  kubeflow_v2_dag_runner.KubeflowV2DagRunner(
      config=runner_config, output_dir=output_dir, output_filename=os.path.basename(output_file)).run(pipeline)
  return os.path.join(output_dir, os.path.basename(output_file))


def _count_local_classes(config: config_lib.PipelineConfig) -> int:
  """Counts classes in local data; remote data needs `num_classes` (compiling reads no cloud storage)."""
  from core.errors import DataError  # pylint: disable=g-import-not-at-top
  from pipelines.data_check import check_data  # pylint: disable=g-import-not-at-top

  if "://" in config.data:
    raise DataError(f"{config.data}: compiling does not read remote data; pass the number of classes "
                    "(--num-classes)")
  return check_data(config, check_checkpoint=False)


def config_from_env() -> config_lib.PipelineConfig:
  workers = os.environ.get("MODELFAB_TRAINER_WORKERS")
  return config_lib.preset(
      os.environ.get("MODELFAB_PRESET", "digits-cnn"),
      output=os.environ.get("MODELFAB_PIPELINE_ROOT"), data=os.environ.get("MODELFAB_DATA"),
      strategy=os.environ.get("MODELFAB_STRATEGY"),
      trainer_workers=int(workers) if workers else None,
      gcp_project=os.environ.get("MODELFAB_PROJECT"), gcp_region=os.environ.get("MODELFAB_REGION"),
      beam_args=os.environ["MODELFAB_BEAM_ARGS"].split() if os.environ.get("MODELFAB_BEAM_ARGS") else None)


if __name__ == "__main__":
  print(compile_pipeline(config_from_env(), sys.argv[1] if len(sys.argv) > 1 else "pipeline.yaml",
                         os.environ["MODELFAB_IMAGE"]))
