"""`modelfab serve`: the pushed models under `<output>/serving/` behind TF Serving's REST API (uvicorn) and, with a
gRPC port, its gRPC API (serving/grpc_api.py), both over the same loaded models, batching, limits and metrics."""
from __future__ import annotations

import dataclasses
import signal
from typing import List, Optional

from core.layout import OutputLayout
from serving.explanations import ExplainService
from serving.limits import RequestLimits
from serving.metrics import GRACE_SECONDS, Metrics
from serving.model_server import ModelServer
from serving.request_log import RequestLogger
from serving.rest_api import create_app


@dataclasses.dataclass
class ServeSettings:
  model_names: Optional[List[str]] = None  # default: every model under <output>/serving
  host: str = "127.0.0.1"
  port: int = 8501
  grpc_port: Optional[int] = None
  version_policy: str = "latest"
  poll_seconds: float = 2.0
  max_batch_size: int = 32
  batch_timeout: float = 0.002
  log_requests: float = 0.0
  explain: bool = False
  canary_percent: float = 0.0
  limits: RequestLimits = dataclasses.field(default_factory=RequestLimits)
  grace_seconds: int = GRACE_SECONDS


def make_server(output: str, settings: ServeSettings = ServeSettings()):
  """(ModelServer, FastAPI app, RequestLogger, Metrics) wired together; models load when the server starts."""
  metrics = Metrics()
  server = ModelServer(OutputLayout(output).serving_root, settings.model_names, settings.version_policy,
                       settings.poll_seconds, settings.max_batch_size, settings.batch_timeout,
                       on_batch=lambda name, version, size: metrics.batch_size.labels(name).observe(size),
                       canary_percent=settings.canary_percent)
  logger = RequestLogger(output, settings.log_requests,
                         on_error=lambda reason: metrics.log_errors.labels(reason).inc())
  app = create_app(server, metrics, logger, ExplainService() if settings.explain else None, settings.limits)
  return server, app, logger, metrics


def serve(output: str, settings: ServeSettings) -> int:
  """Serves until SIGINT or SIGTERM; returns an exit status.

  The ports open at once and the models load in the background: /healthz answers from the start, /readyz only once
  every model has a version AVAILABLE. On SIGTERM (Kubernetes' stop signal) the server stops accepting
  connections, finishes the requests in flight (for up to `settings.grace_seconds`), then exits 0.
  """
  import threading  # pylint: disable=g-import-not-at-top

  import uvicorn  # pylint: disable=g-import-not-at-top

  server, app, logger, metrics = make_server(output, settings)

  def load_then_announce():
    server.start()
    for name in server.names():
      versions = [s["version"] for s in server.status(name) if s["state"] == "AVAILABLE"] \
          if _has_status(server, name) else []
      labels = ", ".join(f"{label}={version}" for label, version in sorted(server.labels(name).items()))
      print(f"[modelfab] {name}: serving version(s) {', '.join(versions) or 'none yet'}"
            + (f" (labels {labels})" if labels else ""), flush=True)
    print("[modelfab] ready (/readyz)", flush=True)

  threading.Thread(target=load_then_announce, name="modelfab-first-load", daemon=True).start()
  if settings.canary_percent:
    print(f"[modelfab] {settings.canary_percent:g}% of unversioned requests go to the canary label", flush=True)
  if settings.log_requests:
    print(f"[modelfab] logging {settings.log_requests:.0%} of requests to {OutputLayout(output).request_logs_root}",
          flush=True)
  grpc_server = None
  if settings.grpc_port is not None:
    from serving import grpc_api  # pylint: disable=g-import-not-at-top

    grpc_server = grpc_api.start(server, metrics, settings.limits, settings.host, settings.grpc_port, logger)
    print(f"[modelfab] TF Serving gRPC API at {settings.host}:{settings.grpc_port}", flush=True)
  print(f"[modelfab] TF Serving REST API at http://{settings.host}:{settings.port}/v1/models/<name> "
        f"(metrics at /monitoring/prometheus/metrics, probes at /healthz and /readyz); Ctrl+C stops", flush=True)
  # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the handler that was there
  # before; these handlers turn it into an exception, so the cleanup below runs and the exit status is 0.
  previous = {sig: signal.signal(sig, _raise_stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
  try:
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning",
                timeout_graceful_shutdown=settings.grace_seconds)
  except _Stopped:
    pass
  finally:
    for sig, handler in previous.items():
      signal.signal(sig, handler)
    if grpc_server is not None:
      grpc_server.stop(grace=settings.grace_seconds).wait()
    server.stop()
    logger.close()
  print("[modelfab] stopped", flush=True)
  return 0


class _Stopped(Exception):
  """SIGINT or SIGTERM, after uvicorn's graceful shutdown."""


def _raise_stopped(signum, frame):  # pylint: disable=unused-argument
  raise _Stopped()


def _has_status(server: ModelServer, name: str) -> bool:
  try:
    server.status(name)
    return True
  except LookupError:
    return False
