"""The server's Prometheus metrics, in a registry of their own (served at METRICS_PATH), and its probe paths."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

METRICS_PATH = "/monitoring/prometheus/metrics"
HEALTH_PATH, READY_PATH = "/healthz", "/readyz"  # Kubernetes liveness and readiness probes
GRACE_SECONDS = 20  # on SIGTERM, how long requests in flight may take (below Kubernetes' default 30 s)


class Metrics:
  """The server's Prometheus metrics, in a registry of their own."""

  def __init__(self):
    self.registry = CollectorRegistry()
    self.requests = Counter("modelfab_requests", "Requests by model, version, label that routed them, API, status",
                            ["model", "version", "label", "api", "status"], registry=self.registry)
    self.latency = Histogram("modelfab_request_latency_seconds", "Request latency", ["model", "api"],
                             buckets=(.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5),
                             registry=self.registry)
    self.batch_size = Histogram("modelfab_batch_size", "Examples per model call", ["model"],
                                buckets=(1, 2, 4, 8, 16, 32, 64, 128), registry=self.registry)
    self.predicted = Counter("modelfab_predicted_class", "Predictions by class", ["model", "label"],
                             registry=self.registry)
    self.log_errors = Counter("modelfab_request_log_errors", "Requests not logged (queue full, write error)",
                              ["reason"], registry=self.registry)
    self.score = Histogram("modelfab_prediction_score", "Top-class probability", ["model"],
                           buckets=(.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, .99, 1.0), registry=self.registry)
    self.outlier = Histogram("modelfab_outlier_score", "Outlier score of each example (monitoring/outliers.py)",
                             ["model"], buckets=(0.5, 1, 2, 3, 5, 10, 20, 50, 100), registry=self.registry)

  def observe_outputs(self, model: str, outputs) -> None:
    """The per-example metrics of one answer: predicted class, top-class probability, outlier score."""
    from core import features  # pylint: disable=g-import-not-at-top

    for predicted, score in zip(outputs[features.PREDICTED_LABEL], outputs[features.PREDICTED_SCORE]):
      self.predicted.labels(model, predicted.decode("utf-8", "replace")).inc()
      self.score.labels(model).observe(float(score))
    for value in outputs.get(features.OUTLIER_SCORE, ()):
      self.outlier.labels(model).observe(float(value))
