"""`modelfab watch`: runs the pipeline whenever a new complete span arrives, or, with `--labels`, when the monitor
alerts on the served model's traffic and labelled requests can become a new span (pipelines/watch.py decides).

Each check logs its decision and reason, on the terminal and in `<output>/logs/watch.log`. A run is `modelfab run`
in a child process with the same settings (a crash or leak in one run does not end the watcher); it takes the
output dir's run lock like any run. `--once` checks once and exits with a status a scheduler can use: 0 when there
was nothing to do or the run finished (pushed or not blessed), the run's own status otherwise (1: failed, e.g. the
drift gate stopped it; 3: another run held the output dir).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import re
import subprocess
import sys
import time
from typing import List

from cli import run as run_cli
from core import output_dir
from core.errors import EXIT_BUSY, UsageError
from core.layout import OutputLayout
from pipelines import config as config_lib
from readers import spans

WATCH_LOG = "watch.log"
WATCH_ONLY_FLAGS = ("every", "once", "labels", "help")


def register(sub, common: argparse.ArgumentParser) -> None:
  watch = sub.add_parser("watch", parents=[run_cli.pipeline_settings(common)],
                         help="run the pipeline on each new complete span of --data (a {SPAN} pattern)")
  run_cli.add_run_flags(watch)
  watch.add_argument("--every", default="10m", metavar="INTERVAL",
                     help="time between checks: seconds, or a number with s, m or h (default: %(default)s)")
  watch.add_argument("--once", action="store_true",
                     help="check once, run if a new span is there, and exit (for cron, Airflow, recurring runs)")
  watch.add_argument("--labels", metavar="CSV",
                     help="true labels of served requests (request_id,label): when `monitor` alerts on the traffic "
                          "since the last run, the labelled requests become a new span and the pipeline runs on it")
  watch.set_defaults(handler=cmd_watch, parser=watch)


def parse_interval(value: str) -> float:
  """'90', '30s', '10m', '1h' -> seconds; UsageError naming --every otherwise."""
  match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", value or "")
  if not match or float(match.group(1)) <= 0:
    raise UsageError(f"--every {value!r}: expected a positive number of seconds, or a number with s, m or h")
  return float(match.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[match.group(2)]


def run_argv(parser: argparse.ArgumentParser, args: argparse.Namespace) -> List[str]:
  """The `modelfab run` flags that reproduce `args` (every setting that differs from its default)."""
  argv = []
  for action in parser._actions:  # pylint: disable=protected-access
    if not action.option_strings or action.dest in WATCH_ONLY_FLAGS:
      continue
    value = getattr(args, action.dest, None)
    if value is None or value == action.default:
      continue
    flag = next(f for f in action.option_strings if f.startswith("--") and not f.startswith("--no-"))
    if isinstance(action, argparse.BooleanOptionalAction):
      argv.append(flag if value else "--no-" + flag[2:])
    elif value is True:
      argv.append(flag)
    elif isinstance(value, list):
      argv += [f"{flag}={v}" for v in value]
    else:
      argv += [flag, str(value)]
  return argv


def log_decision(output: str, message: str) -> None:
  """One line on the terminal and in <output>/logs/watch.log."""
  line = f"{datetime.datetime.now().strftime('%Y-%m-%d %H:%M:%S')} {message}"
  print(f"[modelfab watch] {line}", flush=True)
  logs = OutputLayout(output).logs_dir
  os.makedirs(logs, exist_ok=True)
  with open(os.path.join(logs, WATCH_LOG), "a", encoding="utf-8") as f:
    f.write(line + "\n")


def check_once(args: argparse.Namespace, config: config_lib.PipelineConfig) -> int:
  """One check: the decisions, logged, and the run they call for; the exit status `--once` gives."""
  from models import tasks  # pylint: disable=g-import-not-at-top
  from pipelines import watch  # pylint: disable=g-import-not-at-top

  decision = watch.decide(os.path.abspath(args.data), args.output, config.pipeline_name)
  log_decision(args.output, ("run: " if decision.run else "skip: ") + decision.reason)
  if not decision.run and args.labels and not output_dir.run_in_progress(args.output):
    input_key = tasks.get_task(config.task).SERVING_FEATURE_KEYS[0]
    decision, traffic = watch.decide_on_traffic(args.output, config.pipeline_name, config.model_name, input_key,
                                                args.labels)
    log_decision(args.output, ("run: " if decision.run else "skip: ") + decision.reason)
    if traffic is not None:
      number, folder = watch.write_traffic_span(os.path.abspath(args.data), traffic, config.data_format, input_key,
                                                config.text_column, config.label_column)
      decision = dataclasses.replace(decision, span=number)
      log_decision(args.output, f"wrote span {number} ({folder}): {len(traffic.inputs)} labelled requests")
  if not decision.run:
    return 0
  argv = [sys.executable, "-m", "cli.main", "run"] + run_argv(args.parser, args)
  if decision.allow_drift and not args.allow_drift:
    argv.append("--allow-drift")
  started = time.time()
  console = getattr(args, "console", None)
  status = subprocess.call(argv, stderr=console.terminal_fd() if console is not None else None)
  outcome = {0: "finished", EXIT_BUSY: "did not start: another run holds the output dir"}.get(status, "failed")
  log_decision(args.output, f"run on span {decision.span} {outcome} (exit {status}) in {time.time() - started:.0f}s")
  return status


def cmd_watch(args: argparse.Namespace) -> int:
  if not spans.has_span_token(args.data):
    raise UsageError(f"--data {args.data or '(none)'}: `modelfab watch` needs a span pattern, e.g. "
                     f"'incoming/span-{spans.SPAN_TOKEN}'")
  every = parse_interval(args.every)
  if args.labels and not os.path.isfile(args.labels):
    raise UsageError(f"--labels {args.labels}: no such file")
  config = run_cli.config_from_args(argparse.Namespace(**{**vars(args), "command": "run"}))  # bad settings: exit 2
  if args.once:
    return check_once(args, config)
  log_decision(args.output, f"watching {args.data} every {args.every}"
               + (f", and the traffic of {config.model_name} with the labels in {args.labels}" if args.labels else ""))
  while True:
    check_once(args, config)
    time.sleep(every)
