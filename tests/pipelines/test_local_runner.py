"""The TFX CLI's local engine on pipelines/local_runner.py: `tfx pipeline create`, then `tfx run create`."""
import os
import subprocess
import sys

import pytest


from conftest import REPO, copy_digits_subset
from inference import run_summary

TFX = os.path.join(os.path.dirname(sys.executable), "tfx")


@pytest.mark.e2e
def test_tfx_cli_creates_and_runs_the_pipeline(tmp_path):
  env = {**os.environ, "LOCAL_HOME": str(tmp_path / "tfx_home"), "MODELFAB_OUTPUT": str(tmp_path / "out"),
         "MODELFAB_DATA": str(copy_digits_subset(tmp_path / "digits", per_class=8)), "MODELFAB_EPOCHS": "1"}
  create = subprocess.run([TFX, "pipeline", "create", "--engine", "local", "--pipeline_path",
                           str(REPO / "pipelines" / "local_runner.py")],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
  assert create.returncode == 0, create.stderr[-3000:]
  assert 'Pipeline "digits-cnn" created successfully' in create.stdout
  assert (tmp_path / "tfx_home" / "digits-cnn" / "pipeline_args.json").is_file()
  assert not (tmp_path / "out" / "metadata.sqlite").exists()  # create compiles; it runs nothing

  run = subprocess.run([TFX, "run", "create", "--engine", "local", "--pipeline_name", "digits-cnn"],
                       env=env, cwd=tmp_path, capture_output=True, text=True, timeout=900)
  assert run.returncode == 0, run.stderr[-3000:]
  summary = run_summary.latest_run_summary(str(tmp_path / "out" / "metadata.sqlite"), "digits-cnn")
  assert summary.components["Trainer"] == "ran" and summary.components["Evaluator"] == "ran"
  assert summary.metrics["example_count"] > 0
  assert list((tmp_path / "out" / "pipeline" / "Trainer" / "model").glob("*/Format-Serving/saved_model.pb"))


def test_environment_configures_the_runner(monkeypatch, tmp_path):
  from pipelines import local_runner  # pylint: disable=g-import-not-at-top

  monkeypatch.setenv("MODELFAB_PRESET", "text-bert")
  monkeypatch.setenv("MODELFAB_OUTPUT", str(tmp_path))
  monkeypatch.setenv("MODELFAB_EPOCHS", "2")
  monkeypatch.setenv("MODELFAB_BERT_CHECKPOINT", "/ckpt")
  config = local_runner.config_from_env()
  assert config.task == "text_bert" and config.output == str(tmp_path)
  assert config.hparams == {"epochs": 2, "bert_checkpoint": "/ckpt"}


def test_beam_defaults_keep_given_args_and_pick_by_data_size(tmp_path):
  from pipelines import config as config_lib, local_runner  # pylint: disable=g-import-not-at-top

  small = config_lib.preset("digits-cnn", output=str(tmp_path))
  assert local_runner.with_beam_defaults(small).beam_args == []  # 1,797 embedded digits: one process
  given = config_lib.preset("digits-cnn", output=str(tmp_path), beam_args=["--direct_num_workers=3"])
  assert local_runner.with_beam_defaults(given).beam_args == ["--direct_num_workers=3"]
