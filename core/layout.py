"""The output dir's layout: where a run and the commands after it put and find things.

    <output>/metadata.sqlite              ML Metadata store (every run, execution and artifact)
    <output>/pipeline/                    TFX pipeline root (artifacts)
    <output>/serving/<model>/<version>/   pushed models (TF Serving's layout)
    <output>/logs/                        library logs of each `modelfab run`
    <output>/reports/                     HTML reports and monitor results
    <output>/request_logs/<model>/        sampled requests of `modelfab serve --log-requests`
    <output>/tensorboard/                 the TensorBoard folder (`modelfab tensorboard`)
    <output>/.modelfab.lock               the run lock (core.output_dir)
"""
from __future__ import annotations

import dataclasses
import os

METADATA_FILE = "metadata.sqlite"
PIPELINE_DIR = "pipeline"
SERVING_DIR = "serving"
LOGS_DIR = "logs"
REPORTS_DIR = "reports"
REQUEST_LOGS_DIR = "request_logs"
TENSORBOARD_DIR = "tensorboard"
LOCK_FILE = ".modelfab.lock"


@dataclasses.dataclass(frozen=True)
class OutputLayout:
  """Paths inside one output dir (`root`, as given: relative or absolute, local or remote)."""
  root: str

  @property
  def metadata_path(self) -> str:
    return os.path.join(self.root, METADATA_FILE)

  @property
  def pipeline_root(self) -> str:
    return os.path.join(self.root, PIPELINE_DIR)

  @property
  def serving_root(self) -> str:
    return os.path.join(self.root, SERVING_DIR)

  def serving_dir(self, model_name: str) -> str:
    return os.path.join(self.root, SERVING_DIR, model_name)

  @property
  def logs_dir(self) -> str:
    return os.path.join(self.root, LOGS_DIR)

  @property
  def reports_dir(self) -> str:
    return os.path.join(self.root, REPORTS_DIR)

  @property
  def request_logs_root(self) -> str:
    return os.path.join(self.root, REQUEST_LOGS_DIR)

  def request_logs_dir(self, model_name: str) -> str:
    return os.path.join(self.root, REQUEST_LOGS_DIR, model_name)

  @property
  def tensorboard_dir(self) -> str:
    return os.path.join(self.root, TENSORBOARD_DIR)

  @property
  def lock_path(self) -> str:
    return os.path.join(self.root, LOCK_FILE)


def layout_of_store(metadata_path: str) -> OutputLayout:
  """The layout of the output dir that holds the ML Metadata store at `metadata_path`."""
  return OutputLayout(os.path.dirname(os.path.abspath(metadata_path)))
