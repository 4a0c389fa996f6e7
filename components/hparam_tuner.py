"""TFX's Tuner, quiet on the terminal (KerasTuner's tables go to the run's log file), whose trials also write
TensorBoard logs (with their hyperparameters, for the HParams dashboard)
into its `tuner_results` artifact, under `logs/<trial>`, beside TFX's tuner_results.json.

TFX's Tuner executor gives `tuner_fn` a temporary working directory only; this executor names the lasting folder
through the MODELFAB_TUNER_LOG_DIR environment variable (models/tuner.py), for the length of the search.
"""
from __future__ import annotations

import contextlib
import os
import sys

from tfx.components.tuner import component as tuner_component
from tfx.components.tuner import executor as tuner_executor
from tfx.dsl.components.base import executor_spec
from tfx.types import artifact_utils, standard_component_specs

from core import names


class Executor(tuner_executor.Executor):
  """The Tuner's executor with the trials' TensorBoard logs kept in `tuner_results/logs`."""

  def Do(self, input_dict, output_dict, exec_properties) -> None:
    results_uri = artifact_utils.get_single_uri(output_dict[standard_component_specs.TUNER_RESULTS_KEY])
    previous = os.environ.get(names.TUNER_LOG_DIR_ENV)
    os.environ[names.TUNER_LOG_DIR_ENV] = os.path.join(results_uri, names.TUNER_LOGS_DIR)
    try:
      with contextlib.redirect_stdout(sys.stderr):  # KerasTuner's per-trial tables: to the log, not the terminal
        super().Do(input_dict, output_dict, exec_properties)
    finally:
      if previous is None:
        os.environ.pop(names.TUNER_LOG_DIR_ENV, None)
      else:
        os.environ[names.TUNER_LOG_DIR_ENV] = previous


class Tuner(tuner_component.Tuner):
  """TFX's Tuner with this module's executor."""
  EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)
