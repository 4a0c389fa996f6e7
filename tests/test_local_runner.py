"""The TFX CLI's local engine on pipelines/local_runner.py: `tfx pipeline create`, then `tfx run create`."""
import os
import subprocess
import sys

import tensorflow as tf

from conftest import REPO, copy_digits_subset
from pipelines import local_runner
from reports import run_summary

TFX = os.path.join(os.path.dirname(sys.executable), "tfx")


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


def test_in_process_beam_pickles_with_zlib_and_still_reads_bz2():
  import base64
  import bz2

  from apache_beam.internal import pickler

  from pipelines import local_runner

  def scale(x, factor=3):
    return x * factor

  try:
    local_runner.tune_in_process_beam(multi_processing=True)  # worker processes read bz2: Beam's own format
    bz2_pickle = pickler.dumps(scale)
    assert base64.b64decode(bz2_pickle)[:3] == b"BZh"
    local_runner.tune_in_process_beam()
    zlib_pickle = pickler.dumps(scale)
    assert base64.b64decode(zlib_pickle)[:1] == b"\x78"  # a zlib stream
    assert pickler.loads(zlib_pickle)(2) == 6 and pickler.loads(bz2_pickle)(5) == 15
  finally:
    local_runner.tune_in_process_beam(multi_processing=True)
  assert pickler.dumps(scale) and bz2.decompress(base64.b64decode(pickler.dumps(scale)))


def test_beam_reads_each_function_signature_once_and_still_finds_state(monkeypatch):
  import apache_beam as beam
  from apache_beam.transforms import core, userstate
  from apache_beam.coders import VarIntCoder

  from pipelines import local_runner

  local_runner.cache_function_signatures()
  reads = []
  original = core.get_signature
  monkeypatch.setattr(core, "get_signature", lambda f: reads.append(f) or original(f))

  class Count(beam.DoFn):
    COUNT = userstate.ReadModifyWriteStateSpec("count", VarIntCoder())

    def process(self, element, count=beam.DoFn.StateParam(COUNT)):
      yield element

  class Plain(beam.DoFn):
    def process(self, element, scale=2):
      yield element * scale

  assert userstate.is_stateful_dofn(Count()) and not userstate.is_stateful_dofn(Plain())
  first = len(reads)
  assert userstate.is_stateful_dofn(Count()) and not userstate.is_stateful_dofn(Plain())  # new instances
  assert len(reads) == first  # every method's signature was remembered
  assert core.get_function_args_defaults(Plain().process) == (["element", "scale"], [2])
  assert core.get_function_args_defaults(Plain.process) == (["self", "element", "scale"], [2])
  assert core.get_function_args_defaults(len) == core.get_function_args_defaults.uncached(len)  # not cached


def test_beam_parses_each_flag_list_once_per_options_class(monkeypatch):
  from apache_beam.options import pipeline_options as po

  from pipelines import local_runner

  local_runner.cache_option_parsing()
  parses = []
  original = po._BeamArgumentParser.parse_known_args  # pylint: disable=protected-access
  monkeypatch.setattr(po._BeamArgumentParser, "parse_known_args",  # pylint: disable=protected-access
                      lambda self, *a, **k: parses.append(a) or original(self, *a, **k))
  flags = ["--direct_num_workers=3", "--experiments=a", "--unknown_flag=1"]
  first = po.PipelineOptions(flags)
  assert first.view_as(po.DirectOptions).direct_num_workers == 3
  count = len(parses)
  second = po.PipelineOptions(list(flags), job_name="given")  # the same flags: parsed values reused
  assert second.view_as(po.DirectOptions).direct_num_workers == 3
  assert second.view_as(po.GoogleCloudOptions).job_name == "given"  # keyword overrides still apply
  assert len(parses) == count + 1  # only GoogleCloudOptions, not seen before with these flags
  second.view_as(po.DebugOptions).add_experiment("b")  # appends to the options' own list
  assert first.view_as(po.DebugOptions).experiments == ["a"]
  assert second.view_as(po.DebugOptions).experiments == ["a", "b"]
  assert first.view_as(po.DebugOptions).lookup_experiment("b") is None
  other = po.PipelineOptions(["--direct_num_workers=5"])  # other flags: parsed
  assert other.view_as(po.DirectOptions).direct_num_workers == 5
  assert first.get_all_options()["direct_num_workers"] == 3


def test_beam_pickles_without_resetting_the_dill_log_level(monkeypatch):
  import dill
  from apache_beam.internal import pickler

  from pipelines import local_runner

  local_runner.quiet_dill_trace()
  log = dill._dill.log  # pylint: disable=protected-access
  log.setLevel("WARNING")
  levels = []
  monkeypatch.setattr(log, "setLevel", levels.append)  # Logger.setLevel clears every logger's cache
  for _ in range(3):
    assert pickler.loads(pickler.dumps(lambda x: x + 1))(1) == 2
  assert levels == []


def test_pipeline_runs_print_big_arrays_summarized():
  """What the TFMA/TensorFlow positional-call fallback formats (a batch of encoded images) stays short inside a run,
  and the print options come back after it."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  batch = tf.constant([bytes(range(256)) * 10] * 112)  # 112 "encoded images" of 2,560 bytes
  before = np.get_printoptions()
  full = len(repr(batch))
  with local_runner.summarized_array_reprs():
    summarized = len(repr(batch))
  assert full > 500_000 and summarized < full / 10
  assert np.get_printoptions() == before
