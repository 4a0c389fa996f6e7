"""Looking at what runs did: `modelfab runs` (a table from ML Metadata), `modelfab tensorboard`, `modelfab report`."""
from __future__ import annotations

import argparse
import sys

from cli import common, formatting
from core.errors import UsageError


def register(sub, common_flags: argparse.ArgumentParser) -> None:
  runs = sub.add_parser("runs", parents=[common_flags],
                        help="list the runs recorded in the ML Metadata store of an output dir")
  common.add_output_flag(runs)
  runs.add_argument("--pipeline", help="only runs of this pipeline (preset name)")
  runs.add_argument("--json", action="store_true", help="one JSON array with every field, for scripts")

  board = sub.add_parser("tensorboard", parents=[common_flags],
                         help="serve TensorBoard on 127.0.0.1 over every trained run of an output dir")
  common.add_output_flag(board)
  board.add_argument("--port", type=int, default=6006, help="port on 127.0.0.1 (default: %(default)s)")
  board.add_argument("--reload-interval", type=int, help="seconds between re-reads of the logs (TensorBoard's 5)")

  report = sub.add_parser("report", parents=[common_flags], help="write an HTML page (and PNG figures) about one run")
  report.add_argument("run", nargs="?", help="run id or a unique prefix of it (default: the newest run)")
  common.add_output_flag(report)
  report.add_argument("--report-dir", help="where to write report.html and the figures "
                                           "(default: <output>/reports/<pipeline>/<run>)")
  runs.set_defaults(handler=cmd_runs)
  board.set_defaults(handler=cmd_tensorboard)
  report.set_defaults(handler=cmd_report)


def cmd_runs(args: argparse.Namespace) -> int:
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  runs = run_summary.list_runs(common.metadata_path(args.output), args.pipeline)
  if args.json:
    import json  # pylint: disable=g-import-not-at-top

    print(json.dumps([r.to_json() for r in runs], indent=2))
    return 0
  print(formatting.format_runs(runs))
  return 0


def cmd_tensorboard(args: argparse.Namespace) -> int:
  common.metadata_path(args.output)
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  sys.argv = sys.argv[:1]
  common.check_port(args.port)
  if args.reload_interval is not None and args.reload_interval < 1:
    raise UsageError(f"--reload-interval must be at least 1 second, got {args.reload_interval}")
  return tensorboard_logs.serve(args.output, port=args.port, reload_seconds=args.reload_interval)


def cmd_report(args: argparse.Namespace) -> int:
  common.metadata_path(args.output)
  from reports import report  # pylint: disable=g-import-not-at-top

  try:
    path = report.build_report(args.output, args.run, args.report_dir)
  except LookupError as e:
    raise UsageError(str(e.args[0] if e.args else e)) from e
  print(f"report: {path}")
  return 0
