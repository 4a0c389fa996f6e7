"""One module of error classes: each carries its exit status, and is found anywhere in a cause chain."""
import pytest

from core import errors


@pytest.mark.parametrize("error,status", [
    (errors.DataError("x"), errors.EXIT_USAGE), (errors.CheckpointError("x"), errors.EXIT_USAGE),
    (errors.ModelError("x"), errors.EXIT_USAGE), (errors.OutputNotWritable("x"), errors.EXIT_USAGE),
    (errors.UsageError("x"), errors.EXIT_USAGE), (errors.MonitorError("x"), errors.EXIT_USAGE),
    (errors.OutputBusy("x"), errors.EXIT_BUSY), (errors.AnomaliesFound("x"), errors.EXIT_FAILED),
    (errors.StrategyError("x"), errors.EXIT_FAILED), (errors.PushError("x"), errors.EXIT_FAILED)])
def test_each_error_carries_its_exit_status(error, status):
  assert isinstance(error, errors.ModelfabError) and error.exit_status == status


def test_errors_keep_the_builtin_classes_callers_catch():
  assert isinstance(errors.DataError("x"), ValueError) and isinstance(errors.OutputBusy("x"), RuntimeError)


def test_an_error_wrapped_by_tfx_is_found_in_the_cause_chain():
  try:
    try:
      raise errors.DataError("images/7/bad.png: corrupt")
    except errors.DataError as e:
      raise RuntimeError("component ImageExampleGen failed") from e
  except RuntimeError as wrapped:
    found = errors.find_in_chain(wrapped)
  assert isinstance(found, errors.DataError) and str(found) == "images/7/bad.png: corrupt"
  assert errors.find_in_chain(RuntimeError("plain")) is None


def test_a_chain_that_loops_ends():
  first, second = ValueError("a"), ValueError("b")
  first.__context__, second.__context__ = second, first
  assert errors.find_in_chain(first) is None
