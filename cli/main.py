"""The `modelfab` command: run the pipeline, predict with a pushed model, inspect runs, serve and monitor.

Each command group is a module of this package with a `register(subparsers, common_flags)` function; this one
puts them together, routes library output to a log file (cli/console.py) and turns every failure into one line on
stderr and an exit status (core/errors.py). TensorFlow and TFX are imported only inside the command that needs
them, so `--help` and argument errors answer at once.
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional

from cli import common, deploy, explain, inspection, predict, rollout, run, serve, watch
from core.errors import EXIT_BUSY, EXIT_FAILED, EXIT_USAGE, ModelfabError, find_in_chain
from core.process_exit import exit_without_teardown

COMMAND_GROUPS = (run, watch, predict, explain, serve, rollout, deploy, inspection)  # each registers its commands, in this order in --help


def _quiet_libraries(verbose: bool) -> None:
  os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "2")
  import warnings  # pylint: disable=g-import-not-at-top

  warnings.filterwarnings("ignore", category=FutureWarning)
  warnings.filterwarnings("ignore", category=DeprecationWarning)
  warnings.filterwarnings("ignore", category=UserWarning)


def build_parser() -> argparse.ArgumentParser:
  parser = argparse.ArgumentParser(prog="modelfab", description=__doc__.splitlines()[0])
  sub = parser.add_subparsers(dest="command", required=True)
  common_flags = common.common_flags()
  for group in COMMAND_GROUPS:
    group.register(sub, common_flags)
  return parser


def main(argv: Optional[List[str]] = None) -> int:
  args = build_parser().parse_args(argv)
  _quiet_libraries(args.verbose)
  from cli import console  # pylint: disable=g-import-not-at-top

  log = console.ConsoleLog(console.temporary_log_path(args.command), verbose=args.verbose)
  args.console = log
  with log:
    status = _dispatch(args, log)
  in_temp_dir = os.path.dirname(log.path) == os.path.dirname(console.temporary_log_path(args.command))
  if status in (0, EXIT_USAGE, EXIT_BUSY) and in_temp_dir and not args.verbose:
    _remove_quietly(log.path)  # no traceback to keep, and no output dir to keep it in
  return status


def _dispatch(args: argparse.Namespace, log) -> int:
  """Runs the command; one line on stderr and an exit status for every failure, the traceback in the log.

  modelfab's own errors (core.errors) carry their exit status; inside the pipeline TFX wraps them, so the cause
  chain is searched. A missing file the command was pointed at is a usage error; anything else is a failure whose
  traceback goes to the log.
  """
  try:
    return args.handler(args)
  except (ModelfabError, FileNotFoundError) as e:
    print(f"modelfab: error: {e}", file=sys.stderr)
    return getattr(e, "exit_status", EXIT_USAGE)
  except Exception as e:  # pylint: disable=broad-except
    if args.verbose:
      raise
    from cli import console  # pylint: disable=g-import-not-at-top

    log_path = console.log_exception(log)
    known = find_in_chain(e)
    message = str(known) if known is not None else \
        f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"
    print(f"modelfab: error: {message}", file=sys.stderr)
    if log_path and known is None:
      print(f"modelfab: the full traceback is in {log_path} (or run again with --verbose)", file=sys.stderr)
    return EXIT_FAILED if known is None else known.exit_status


def _remove_quietly(path: str) -> None:
  try:
    os.remove(path)
  except OSError:
    pass


def entry() -> None:
  """The `modelfab` command: `main`, then `exit_without_teardown`."""
  exit_without_teardown(main())


if __name__ == "__main__":
  entry()
