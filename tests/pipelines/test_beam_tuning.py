"""Beam's in-process runner tuned for local runs (pipelines/beam_tuning.py): each change keeps what Beam computes."""
import tensorflow as tf

from pipelines import beam_tuning


def test_in_process_beam_pickles_with_zlib_and_still_reads_bz2():
  import base64
  import bz2

  from apache_beam.internal import pickler


  def scale(x, factor=3):
    return x * factor

  try:
    beam_tuning.tune_in_process_beam(multi_processing=True)  # worker processes read bz2: Beam's own format
    bz2_pickle = pickler.dumps(scale)
    assert base64.b64decode(bz2_pickle)[:3] == b"BZh"
    beam_tuning.tune_in_process_beam()
    zlib_pickle = pickler.dumps(scale)
    assert base64.b64decode(zlib_pickle)[:1] == b"\x78"  # a zlib stream
    assert pickler.loads(zlib_pickle)(2) == 6 and pickler.loads(bz2_pickle)(5) == 15
  finally:
    beam_tuning.tune_in_process_beam(multi_processing=True)
  assert pickler.dumps(scale) and bz2.decompress(base64.b64decode(pickler.dumps(scale)))


def test_beam_reads_each_function_signature_once_and_still_finds_state(monkeypatch):
  import apache_beam as beam
  from apache_beam.transforms import core, userstate
  from apache_beam.coders import VarIntCoder


  beam_tuning.cache_function_signatures()
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


  beam_tuning.cache_option_parsing()
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


  beam_tuning.quiet_dill_trace()
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
  with beam_tuning.summarized_array_reprs():
    summarized = len(repr(batch))
  assert full > 500_000 and summarized < full / 10
  assert np.get_printoptions() == before
