"""`modelfab serve`: the pushed models under `<output>/serving/` behind TF Serving's REST API (uvicorn)."""
from __future__ import annotations

from typing import List, Optional

from core.layout import OutputLayout
from serving.model_server import ModelServer
from serving.explanations import ExplainService
from serving.request_log import RequestLogger
from serving.metrics import Metrics
from serving.rest_api import create_app


def make_server(output: str, model_names: Optional[List[str]] = None, version_policy: str = "latest",
                poll_seconds: float = 2.0, max_batch_size: int = 32, batch_timeout: float = 0.002,
                log_requests: float = 0.0, explain: bool = False):
  """(ModelServer, FastAPI app, RequestLogger) with the metrics wired; models load when the server starts;
  `explain` turns `:explain` on."""
  metrics = Metrics()
  server = ModelServer(OutputLayout(output).serving_root, model_names, version_policy, poll_seconds, max_batch_size,
                       batch_timeout,
                       on_batch=lambda name, version, size: metrics.batch_size.labels(name).observe(size))
  logger = RequestLogger(output, log_requests, on_error=lambda reason: metrics.log_errors.labels(reason).inc())
  return server, create_app(server, metrics, logger, ExplainService() if explain else None), logger


def serve(output: str, model_names: Optional[List[str]] = None, host: str = "127.0.0.1", port: int = 8501,
          version_policy: str = "latest", poll_seconds: float = 2.0, max_batch_size: int = 32,
          batch_timeout: float = 0.002, log_requests: float = 0.0, explain: bool = False) -> int:
  """Loads the models, then serves until interrupted; returns an exit status."""
  import uvicorn  # pylint: disable=g-import-not-at-top

  server, app, logger = make_server(output, model_names, version_policy, poll_seconds, max_batch_size,
                                    batch_timeout, log_requests, explain)
  server.start()
  names = server.names()
  loaded = {n: [s["version"] for s in server.status(n) if s["state"] == "AVAILABLE"] for n in names
            if _has_status(server, n)}
  for name in names:
    print(f"[modelfab] {name}: serving version(s) {', '.join(loaded.get(name, [])) or 'none yet'}", flush=True)
  if log_requests:
    print(f"[modelfab] logging {log_requests:.0%} of requests to {OutputLayout(output).request_logs_root}", flush=True)
  print(f"[modelfab] TF Serving REST API at http://{host}:{port}/v1/models/<name> "
        f"(metrics at /monitoring/prometheus/metrics); Ctrl+C stops", flush=True)
  try:
    uvicorn.run(app, host=host, port=port, log_level="warning")
  finally:
    server.stop()
    logger.close()
  return 0


def _has_status(server: ModelServer, name: str) -> bool:
  try:
    server.status(name)
    return True
  except LookupError:
    return False
