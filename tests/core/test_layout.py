"""The output dir's layout: one object names every path that runs and commands share."""
import os

from core import layout


def test_every_path_is_under_the_output_dir():
  out = layout.OutputLayout("/data/out")
  assert out.metadata_path == "/data/out/metadata.sqlite"
  assert out.pipeline_root == "/data/out/pipeline"
  assert out.serving_root == "/data/out/serving" and out.serving_dir("digits") == "/data/out/serving/digits"
  assert out.logs_dir == "/data/out/logs" and out.reports_dir == "/data/out/reports"
  assert out.request_logs_dir("digits") == "/data/out/request_logs/digits"
  assert out.tensorboard_dir == "/data/out/tensorboard" and out.lock_path == "/data/out/.modelfab.lock"


def test_remote_roots_keep_their_scheme():
  assert layout.OutputLayout("gs://bucket/modelfab").serving_dir("m") == "gs://bucket/modelfab/serving/m"


def test_the_layout_of_a_store_is_its_folder(tmp_path):
  assert layout.layout_of_store(str(tmp_path / "metadata.sqlite")).root == str(tmp_path)
  assert layout.layout_of_store("metadata.sqlite").root == os.getcwd()
