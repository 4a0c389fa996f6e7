"""`modelfab serve` (TF Serving's REST API over the pushed models) and `modelfab monitor` (their logged traffic
against what they were trained and evaluated on)."""
from __future__ import annotations

import argparse
import os
import datetime
import time
from typing import Optional

from cli import common, formatting
from core.errors import EXIT_DRIFT, UsageError
from core.layout import OutputLayout
from serving.limits import MIB, RequestLimits


def register(sub, common_flags: argparse.ArgumentParser) -> None:
  serve = sub.add_parser("serve", parents=[common_flags],
                         help="serve the pushed models over TensorFlow Serving's REST API (127.0.0.1 by default)")
  common.add_output_flag(serve)
  serve.add_argument("--model", action="append", default=[], metavar="NAME",
                     help="a model under <output>/serving to serve, repeatable (default: all)")
  serve.add_argument("--host", default="127.0.0.1", help="address to bind (default: %(default)s)")
  serve.add_argument("--port", type=int, default=8501, help="port (default: %(default)s, TF Serving's REST port)")
  serve.add_argument("--versions", choices=("latest", "all"), default="latest",
                     help="serve the newest version only, or every pushed version (default: %(default)s)")
  serve.add_argument("--poll-seconds", type=float, default=2.0, help="how often to look for new versions")
  serve.add_argument("--max-batch-size", type=int, default=32, help="examples per model call at most")
  serve.add_argument("--batch-timeout-ms", type=float, default=2.0,
                     help="how long a batch waits for more requests once the first arrived")
  serve.add_argument("--log-requests", type=float, default=0.0, metavar="SHARE",
                     help="share of requests (0..1) written to <output>/request_logs/<model>/ for `monitor`")

  serve.add_argument("--explain", action="store_true",
                     help="also answer :explain (integrated gradients, image models; bounded: 8 examples and 64 "
                          "steps per request, one at a time, 4 waiting)")
  serve.add_argument("--grpc-port", type=int, metavar="PORT",
                     help="also serve TF Serving's gRPC API (PredictionService, ModelService) on this port (8500 is "
                          "TF Serving's)")
  serve.add_argument("--canary-percent", type=float, default=0.0, metavar="P",
                     help="share (0-100) of unversioned requests sent to the version labelled canary "
                          "(`modelfab label`); X-Modelfab-Routing-Key keeps one key on one side")
  limits = serve.add_argument_group("request limits (over one: 413 or 400 naming it)")
  defaults = RequestLimits()
  limits.add_argument("--max-body-mb", type=float, default=defaults.max_body_bytes / MIB,
                      help="request body size (default: %(default)g MiB)")
  limits.add_argument("--max-examples", type=int, default=defaults.max_examples,
                      help="examples per request (default: %(default)s)")
  limits.add_argument("--max-json-depth", type=int, default=defaults.max_json_depth,
                      help="JSON nesting (default: %(default)s)")
  limits.add_argument("--max-image-pixels", type=int, default=defaults.max_image_pixels,
                      help="decoded pixels per image, read from its header before decoding (default: %(default)s)")
  serve.set_defaults(handler=cmd_serve)

  watch = sub.add_parser("monitor", parents=[common_flags],
                         help="compare logged traffic with what the served version was trained and evaluated on")
  common.add_output_flag(watch)
  watch.add_argument("--model", help="a model under <output>/serving (default: the only one)")
  watch.add_argument("--since", help="only requests logged since then: 2026-11-24T10:00 or 30m, 6h, 2d ago")
  watch.add_argument("--labels", metavar="CSV", help="true labels that arrived: a CSV with request_id,label")
  watch.add_argument("--json", action="store_true", help="the result as JSON")
  watch.set_defaults(handler=cmd_monitor)


def cmd_serve(args: argparse.Namespace) -> int:
  models = common.pushed_models(args.output)
  for name in args.model:
    common.check_model_name(args.output, name, models)
  if not 0.0 <= args.canary_percent <= 100.0:
    raise UsageError(f"--canary-percent must be between 0 and 100, got {args.canary_percent:g}")
  if args.max_body_mb <= 0 or min(args.max_examples, args.max_json_depth, args.max_image_pixels) < 1:
    raise UsageError("--max-body-mb must be above 0; --max-examples, --max-json-depth and --max-image-pixels at "
                     "least 1")
  ports = [args.port] + ([args.grpc_port] if args.grpc_port is not None else [])
  if len(set(ports)) < len(ports):
    raise UsageError(f"--port and --grpc-port must differ, both are {args.port}")
  import socket  # pylint: disable=g-import-not-at-top

  for port in ports:
    common.check_port(port)
    with socket.socket() as probe:  # before the models load: a taken port is one line, not a uvicorn traceback
      try:
        probe.bind((args.host, port))
      except OSError as e:
        raise UsageError(f"cannot listen on {args.host}:{port}: {e.strerror or e}") from e
  if not 0.0 <= args.log_requests <= 1.0:
    raise UsageError(f"--log-requests must be between 0 and 1, got {args.log_requests}")
  if args.max_batch_size < 1 or args.batch_timeout_ms < 0 or args.poll_seconds <= 0:
    raise UsageError("--max-batch-size must be at least 1, --batch-timeout-ms at least 0, --poll-seconds above 0")
  from serving import serve  # pylint: disable=g-import-not-at-top

  limits = RequestLimits(int(args.max_body_mb * MIB), args.max_examples, args.max_json_depth, args.max_image_pixels)
  return serve.serve(args.output, serve.ServeSettings(
      args.model or None, args.host, args.port, args.grpc_port, args.versions, args.poll_seconds,
      args.max_batch_size, args.batch_timeout_ms / 1000.0, args.log_requests, args.explain, args.canary_percent,
      limits))


def since_time(text: Optional[str]) -> float:
  """Unix seconds from an ISO time or a span ago (30m, 6h, 2d); 0 for None."""
  if not text:
    return 0.0
  units = {"m": 60, "h": 3600, "d": 86400}
  if text[-1:] in units and text[:-1].isdigit():
    return time.time() - int(text[:-1]) * units[text[-1]]
  try:
    return datetime.datetime.fromisoformat(text).timestamp()
  except ValueError as e:
    raise UsageError(f"--since {text!r}: expected an ISO time (2026-11-24T10:00) or a span such as 30m, 6h, 2d") from e


def cmd_monitor(args: argparse.Namespace) -> int:
  models = common.pushed_models(args.output)
  if args.model is None and len(models) > 1:
    raise UsageError(f"{OutputLayout(args.output).serving_root} has {len(models)} models ({', '.join(models)}); "
                     "choose one with --model")
  model = args.model or models[0]
  common.check_model_name(args.output, model, models)
  since = since_time(args.since)
  if args.labels and not os.path.isfile(args.labels):
    raise UsageError(f"{args.labels}: no such labels file")
  common.metadata_path(args.output)
  from monitoring import monitor  # pylint: disable=g-import-not-at-top

  result = monitor.monitor(args.output, model, since, args.labels)
  path = monitor.write_result(args.output, result)
  if args.json:
    import json  # pylint: disable=g-import-not-at-top

    print(json.dumps(result, indent=2))
  else:
    print(formatting.format_monitor_result(result))
    print(f"result: {path}")
  return EXIT_DRIFT if result["alert"] else 0
