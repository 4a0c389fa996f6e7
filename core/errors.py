"""Every error modelfab raises on purpose, in one place, with the exit status `modelfab` gives it.

Each message names the file, flag, model or destination at fault. The command line recognises these classes by
`isinstance` along an exception's cause chain (TFX wraps what a component raises), never by their names.
"""
from __future__ import annotations

from typing import Optional

EXIT_FAILED = 1  # the pipeline failed (anomalies, a failing component), or `monitor` could not compare
EXIT_USAGE = 2  # bad flags, data, checkpoint, model path or output dir
EXIT_BUSY = 3  # another run holds the output dir
EXIT_DRIFT = 4  # `modelfab monitor`: a drift or accuracy threshold was crossed; `promote`: a check refused


class ModelfabError(Exception):
  """Base of modelfab's own errors: printed as one line, without a traceback."""
  exit_status = EXIT_FAILED


class UsageError(ModelfabError, ValueError):
  """A flag or setting that cannot be used; the message names the flag."""
  exit_status = EXIT_USAGE


class DataError(ModelfabError, ValueError):
  """Input data that cannot be used; the message names the file or folder (and the row or record)."""
  exit_status = EXIT_USAGE


class CheckpointError(ModelfabError, ValueError):
  """A BERT checkpoint directory that cannot be used; the message lists what is missing."""
  exit_status = EXIT_USAGE


class ModelError(ModelfabError, ValueError):
  """A model path that holds no usable model, or a model asked for what it does not take; names the path."""
  exit_status = EXIT_USAGE


class OutputNotWritable(ModelfabError, ValueError):
  """The output dir cannot be created or written; the message names it and the cause."""
  exit_status = EXIT_USAGE


class OutputBusy(ModelfabError, RuntimeError):
  """Another run holds the output dir."""
  exit_status = EXIT_BUSY


class StrategyError(ModelfabError, ValueError):
  """A distribution strategy that cannot be built here; the message says why and what to do."""


class AnomaliesFound(ModelfabError, RuntimeError):
  """The examples do not match the schema."""


class WarmStartError(ModelfabError, ValueError):
  """`--warm-start` cannot start from the last blessed model (none, or another architecture); names the model."""
  exit_status = EXIT_USAGE


class DriftFound(ModelfabError, RuntimeError):
  """A new span drifted from the data the blessed model was trained on; the message names each feature."""


class PushError(ModelfabError, RuntimeError):
  """The model could not be pushed; the message names the destination and the cause."""


class MonitorError(ModelfabError, ValueError):
  """Nothing to compare (no request logs, no lineage); the message says what is missing."""
  exit_status = EXIT_USAGE


class LabelError(ModelfabError, ValueError):
  """A version label that cannot be set, moved or read (unknown version or label, damaged labels file)."""
  exit_status = EXIT_USAGE


class PromoteRefused(ModelfabError, RuntimeError):
  """`modelfab promote`: a check on the canary failed; the message names the check."""
  exit_status = EXIT_DRIFT


class BadRequest(ModelfabError, ValueError):
  """A request the model cannot take; the server answers it with HTTP 400."""


def find_in_chain(error: BaseException, kind=ModelfabError) -> Optional[BaseException]:
  """The first exception of class `kind` in `error`'s cause/context chain (itself included), or None."""
  seen, visited = error, set()
  while seen is not None and id(seen) not in visited:
    if isinstance(seen, kind):
      return seen
    visited.add(id(seen))
    seen = seen.__cause__ or seen.__context__
  return None
