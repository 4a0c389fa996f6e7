"""Beam's in-process runner made cheaper, and TensorFlow's error messages kept short, for local pipeline runs.

Each function replaces one measured cost of Beam 2.59's DirectRunner in one process; `local_runner.run` applies
them before LocalDagRunner starts. None changes what a pipeline computes.
"""
from __future__ import annotations

import bz2
import contextlib
import zlib


SUMMARIZED_REPR_THRESHOLD = 100  # numpy prints arrays with more elements as their first and last three


@contextlib.contextmanager
def summarized_array_reprs(threshold: int = SUMMARIZED_REPR_THRESHOLD):
  """Within it, numpy (and so TensorFlow) prints an array of more than `threshold` elements summarized.

  Why: TFMA calls the model's `evaluation` signature with one positional argument. TensorFlow refuses that
  (signatures take keywords) only after formatting the whole batch into its error message, every encoded image
  in full, then falls back to the positional call, which works: 0.4 s per 10,000 eval examples (measured), for a
  message nobody reads. TFMA accepts only Keras-like callables in place of a signature, so the call cannot be
  changed from here. Error messages that do get shown stay readable.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  with np.printoptions(threshold=threshold):
    yield


def beam_runs_in_process(beam_args) -> bool:
  """Whether `beam_args` keep Beam's workers in this process: the DirectRunner (the default) and not its
  multi-processing mode. Any other runner or worker environment counts as out of process."""
  return not any("multi_processing" in arg or (arg.startswith(("--runner", "--environment_type"))
                 and "DirectRunner" not in arg) for arg in beam_args)


def tune_in_process_beam(multi_processing: bool = False) -> None:
  """Makes Beam's in-process (embedded) runner cheaper on this machine.

  - Its state cache is off. That cache weighs every side input it keeps with `objsize`, which walks the globals of
    every loaded module on each call (TensorFlow's included): about 1.5 s of the Transform and Evaluator at 20,000
    images, to cache values that live in the same process anyway. (Multi-processing workers keep theirs.)
  - Unless `multi_processing` (workers in other processes, which would not read it), Beam's pickler compresses with zlib at
    level 1 instead of bz2 at level 9 (`InProcessPickleCompression`): each Beam stage pickles and unpickles its
    functions, and bz2 was most of that time in a profile at 20,000 images.
  - In every mode (this process builds the pipelines), the costs next in that profile go:
    `cache_function_signatures`, `quiet_dill_trace` and `cache_option_parsing`.
  """
  from apache_beam.internal import dill_pickler  # pylint: disable=g-import-not-at-top
  from apache_beam.runners.portability.fn_api_runner import worker_handlers  # pylint: disable=g-import-not-at-top

  worker_handlers.STATE_CACHE_SIZE_MB = 0
  dill_pickler.bz2 = bz2 if multi_processing else InProcessPickleCompression
  cache_function_signatures()
  quiet_dill_trace()
  cache_option_parsing()


def cache_option_parsing() -> None:
  """Makes Beam parse a list of pipeline flags once per options class. Each `PipelineOptions(flags)` and each
  `view_as` builds an argparse parser for its class and parses the flags again, and Beam's transforms ask for
  views of the pipeline's options as they are applied: 2,166 parses and 0.63 s in a 20,000-image run (measured).
  Each new options object gets its own copy of the parsed values, so a change to one (an experiment appended to
  its list) stays in it. Flags read from sys.argv (`flags=None`) are parsed as before."""
  import copy  # pylint: disable=g-import-not-at-top

  from apache_beam.options import pipeline_options  # pylint: disable=g-import-not-at-top

  options_class = pipeline_options.PipelineOptions
  parse = getattr(options_class.__init__, "uncached", options_class.__init__)
  parsed = {}  # (options class, flags) -> the argparse.Namespace of the first parse

  def __init__(self, flags=None, **kwargs):
    key = (type(self), tuple(flags)) if isinstance(flags, (list, tuple)) else None
    namespace = parsed.get(key) if key is not None else None
    if namespace is None:
      parse(self, flags, **kwargs)
      if key is not None:
        parsed[key] = copy.deepcopy(self._visible_options)  # pylint: disable=protected-access
      return
    # What PipelineOptions.__init__ does after parsing (apache_beam/options/pipeline_options.py, Beam 2.59).
    self._flags = flags  # pylint: disable=protected-access
    self._visible_options = copy.deepcopy(namespace)  # pylint: disable=protected-access
    self._all_options = kwargs  # pylint: disable=protected-access
    for name in self._visible_option_list():  # pylint: disable=protected-access
      if name not in kwargs:
        kwargs[name] = getattr(self._visible_options, name)  # pylint: disable=protected-access

  __init__.uncached = parse
  options_class.__init__ = __init__


def cache_function_signatures() -> None:
  """Makes Beam's `get_function_args_defaults` (the arguments and defaults of a function, read with `inspect`)
  remember its answer per function. Beam asks it for every method of every DoFn each time it checks a DoFn for
  state and timers (`userstate.get_dofn_specs`: some 34,000 `inspect.signature` calls per Beam component, a
  fifth of StatisticsGen's time in a profile). Only plain functions and methods are remembered, by the function
  (held weakly); anything else is read as before."""
  import types  # pylint: disable=g-import-not-at-top
  import weakref  # pylint: disable=g-import-not-at-top

  from apache_beam.transforms import core  # pylint: disable=g-import-not-at-top

  read = getattr(core.get_function_args_defaults, "uncached", core.get_function_args_defaults)
  answers = weakref.WeakKeyDictionary()  # function -> {bound: (args, defaults)}

  def get_function_args_defaults(f):
    bound = isinstance(f, types.MethodType)
    function = f.__func__ if bound else f
    if not isinstance(function, types.FunctionType):
      return read(f)
    known = answers.setdefault(function, {})
    if bound not in known:
      known[bound] = read(f)
    args, defaults = known[bound]
    return list(args), list(defaults)

  get_function_args_defaults.uncached = read
  core.get_function_args_defaults = get_function_args_defaults


def quiet_dill_trace() -> None:
  """Beam turns dill's trace logging off after every pickle, with `Logger.setLevel`, which clears the cache of
  every logger in the process (hundreds once TensorFlow and TFX are loaded): about 2,000 times per Beam
  component. Now the level is set only when it changes."""
  import logging  # pylint: disable=g-import-not-at-top

  import dill  # pylint: disable=g-import-not-at-top

  log = dill._dill.log  # pylint: disable=protected-access

  def _trace(boolean):
    level = logging.INFO if boolean else logging.WARN
    if log.level != level:
      log.setLevel(level)

  dill._dill._trace = _trace  # pylint: disable=protected-access


class InProcessPickleCompression:
  """Stands in for the `bz2` module inside Beam's dill pickler: writes zlib level 1, reads zlib or bz2."""

  @staticmethod
  def compress(data: bytes, compresslevel: int = 9) -> bytes:  # pylint: disable=unused-argument
    return zlib.compress(data, 1)

  @staticmethod
  def decompress(data: bytes) -> bytes:
    return bz2.decompress(data) if data[:3] == b"BZh" else zlib.decompress(data)
