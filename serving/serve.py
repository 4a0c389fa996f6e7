"""`modelfab serve`: the pushed models under `<output>/serving/` behind TF Serving's REST API (uvicorn) and, with a
gRPC port, its gRPC API (serving/grpc_api.py), both over the same loaded models, batching, limits and metrics."""
from __future__ import annotations

import dataclasses
from typing import List, Optional

from core.layout import OutputLayout
from serving.explanations import ExplainService
from serving.limits import RequestLimits
from serving.metrics import Metrics
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
  """Loads the models, then serves until interrupted; returns an exit status."""
  import uvicorn  # pylint: disable=g-import-not-at-top

  server, app, logger, metrics = make_server(output, settings)
  server.start()
  names = server.names()
  loaded = {n: [s["version"] for s in server.status(n) if s["state"] == "AVAILABLE"] for n in names
            if _has_status(server, n)}
  for name in names:
    labels = ", ".join(f"{label}={version}" for label, version in sorted(server.labels(name).items()))
    print(f"[modelfab] {name}: serving version(s) {', '.join(loaded.get(name, [])) or 'none yet'}"
          + (f" (labels {labels})" if labels else ""), flush=True)
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
        f"(metrics at /monitoring/prometheus/metrics); Ctrl+C stops", flush=True)
  try:
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")
  finally:
    if grpc_server is not None:
      grpc_server.stop(grace=5).wait()
    server.stop()
    logger.close()
  return 0


def _has_status(server: ModelServer, name: str) -> bool:
  try:
    server.status(name)
    return True
  except LookupError:
    return False
