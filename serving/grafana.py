"""A Grafana dashboard for the metrics `modelfab serve` exports (`modelfab deploy grafana`), built with grafanalib.

Panels: requests per second by model, version and status; by version label (the canary's share); error rate;
latency quantiles (p50, p90, p99) by model and API; batch sizes; the predicted-class mix; the top-class score
distribution; request-log errors. The Prometheus datasource is a dashboard variable (`datasource`), and the model a
second one (`model`, from the metrics' labels). `modelfab monitor`'s drift values are not exported to Prometheus
(they are TensorBoard scalars and JSON), so they are not on this dashboard.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List

DATASOURCE = "${datasource}"
MODEL_FILTER = 'model=~"$model"'


def _panels():
  from grafanalib import core as g  # pylint: disable=g-import-not-at-top

  rate = "[$__rate_interval]"

  def series(title: str, targets: List[tuple], unit: str = "short", x: int = 0, y: int = 0, w: int = 12):
    return g.TimeSeries(title=title, dataSource=DATASOURCE, unit=unit,
                        targets=[g.Target(expr=expr, legendFormat=legend, refId=chr(ord("A") + i))
                                 for i, (expr, legend) in enumerate(targets)],
                        gridPos=g.GridPos(h=8, w=w, x=x, y=y))

  quantile = lambda q, metric, by: (
      f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{MODEL_FILTER}}}{rate})))")
  return [
      series("Requests by model, version and status", [
          (f"sum by (model, version, status) (rate(modelfab_requests_total{{{MODEL_FILTER}}}{rate}))",
           "{{model}} v{{version}} {{status}}")], "reqps", 0, 0),
      series("Requests by version label (canary share)", [
          (f"sum by (label, version) (rate(modelfab_requests_total{{{MODEL_FILTER}}}{rate}))",
           "{{label}} (v{{version}})")], "reqps", 12, 0),
      series("Error rate (non-200 share)", [
          (f'sum(rate(modelfab_requests_total{{{MODEL_FILTER},status!~"200|OK"}}{rate})) / '
           f"sum(rate(modelfab_requests_total{{{MODEL_FILTER}}}{rate}))", "errors")], "percentunit", 0, 8),
      series("Latency quantiles", [
          (quantile(q, "modelfab_request_latency_seconds", "model, api"), f"p{int(q * 100)} {{{{api}}}}")
          for q in (0.5, 0.9, 0.99)], "s", 12, 8),
      series("Batch size", [
          (quantile(0.5, "modelfab_batch_size", "model"), "p50"),
          (f"sum(rate(modelfab_batch_size_sum{{{MODEL_FILTER}}}{rate})) / "
           f"sum(rate(modelfab_batch_size_count{{{MODEL_FILTER}}}{rate}))", "mean")], "short", 0, 16),
      series("Predicted-class mix", [
          (f"sum by (label) (rate(modelfab_predicted_class_total{{{MODEL_FILTER}}}{rate}))", "{{label}}")],
             "reqps", 12, 16),
      series("Top-class score", [
          (quantile(q, "modelfab_prediction_score", "model"), f"p{int(q * 100)}") for q in (0.1, 0.5, 0.9)],
             "percentunit", 0, 24),
      series("Request-log errors", [
          (f"sum by (reason) (rate(modelfab_request_log_errors_total{rate}))", "{{reason}}")], "short", 12, 24),
  ]


def dashboard(title: str = "modelfab serve") -> Dict[str, Any]:
  """The dashboard as Grafana's JSON model (a dict)."""
  from grafanalib import core as g  # pylint: disable=g-import-not-at-top
  from grafanalib._gen import DashboardEncoder  # pylint: disable=g-import-not-at-top

  board = g.Dashboard(
      title=title, uid="modelfab-serve", tags=["modelfab", "serving"], timezone="browser", refresh="30s",
      time=g.Time("now-1h", "now"),
      templating=g.Templating(list=[
          g.Template(name="datasource", type="datasource", query="prometheus", label="Prometheus"),
          g.Template(name="model", label="model", dataSource=DATASOURCE, includeAll=True, multi=True,
                     query="label_values(modelfab_requests_total, model)", default="$__all"),
      ]),
      panels=_panels()).auto_panel_ids()
  return json.loads(json.dumps(board.to_json_data(), cls=DashboardEncoder))


def queries(board: Dict[str, Any]) -> List[str]:
  """Every PromQL expression on the dashboard (panel targets and template queries)."""
  exprs = [t["expr"] for panel in board["panels"] for t in panel.get("targets", [])]
  exprs += [t["query"] for t in board["templating"]["list"] if t.get("type") == "query"]
  return exprs
