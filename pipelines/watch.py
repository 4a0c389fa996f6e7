"""Retraining on its own: whether a new span, or the served model's traffic, calls for a run (`modelfab watch`).

A span is handled once a run of the pipeline has read it: its ExampleGen records the spans it read (ML Metadata,
components/span_inputs.py), whatever came after (pushed, not blessed, stopped by the drift gate). So a span the
drift gate stopped is not retried on every check; `modelfab run --allow-drift` trains on it when a person decides
to. The newest complete span (readers/spans.py) that no run has read calls for a run.

Traffic (`decide_on_traffic`): the requests the served model answered since the newest run started go through
`modelfab monitor`'s checks; when one alerts and at least MIN_LABELLED of those requests have a true label in the
labels CSV, they become the next span (`write_traffic_span`), and the run on it is allowed to drift: the drift is
what the alert found, and the labels are what the model should learn from it.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Dict, List, Optional, Tuple

from core import output_dir
from core.errors import MonitorError
from core.layout import OutputLayout
from readers import spans

MIN_LABELLED = 20  # labelled requests that make a span (the monitor itself needs 20 requests)
ALERT_NAMES = {"live accuracy": "live accuracy drop", "outliers": "share of outliers"}  # else "<check> <feature>"
FROM_TRAFFIC = "labelled traffic"  # a span's provenance source when watch wrote it from traffic


@dataclasses.dataclass(frozen=True)
class Decision:
  run: bool
  reason: str
  span: Optional[int] = None  # the newest complete span, when there is one
  allow_drift: bool = False  # the span was written from labelled traffic: its drift is why it exists


@dataclasses.dataclass(frozen=True)
class Traffic:
  """Labelled requests to write as a span: raw inputs, true labels, request ids, and what the monitor found."""
  inputs: List[bytes]
  labels: List[str]
  request_ids: List[str]
  alerts: List[str]
  since: float
  model: str
  labels_csv: str
  monitor_result: str  # the monitor's JSON result file


def newest_handled_span(output: str, pipeline_name: str) -> Optional[int]:
  """The newest span any run of `pipeline_name` in `output`'s store has read, or None."""
  metadata = OutputLayout(output).metadata_path
  if not os.path.isfile(metadata):
    return None
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  handled = [max(run.spans) for run in run_summary.list_runs(metadata, pipeline_name) if run.spans]
  return max(handled) if handled else None


def decide(pattern: str, output: str, pipeline_name: str) -> Decision:
  """Whether to run the pipeline on `pattern`'s spans now, and why (DataError when the pattern matches no complete
  span: nothing to train on at all)."""
  if output_dir.run_in_progress(output):
    return Decision(False, f"a run is in progress in {output}; the next check looks again")
  notes = []
  newest = spans.select_spans(pattern, "latest", notes)[-1]
  handled = newest_handled_span(output, pipeline_name)
  waiting = f" ({'; '.join(notes)})" if notes else ""
  if handled is not None and newest.number <= handled:
    return Decision(False, f"no new span: the newest complete span is {newest.number}, and a run already read span "
                           f"{handled}{waiting}", newest.number)
  since = f"the newest a run has read is {handled}" if handled is not None else "no run has read a span yet"
  from_traffic = spans.provenance(newest.path).get("source") == FROM_TRAFFIC
  origin = "; written from labelled traffic, so the run may drift" if from_traffic else ""
  return Decision(True, f"new span {newest.number} ({newest.path}); {since}{origin}{waiting}", newest.number,
                  from_traffic)


def _when(seconds: float) -> str:
  return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(seconds))


def decide_on_traffic(output: str, pipeline_name: str, model: str, input_key: str,
                      labels_csv: str) -> Tuple[Decision, Optional[Traffic]]:
  """Whether the served model's traffic since the newest run started calls for a run: the monitor alerts and at
  least MIN_LABELLED single-example requests of it have a label in `labels_csv`. The monitor's result is saved as
  `modelfab monitor` saves it."""
  if output_dir.run_in_progress(output):
    return Decision(False, f"a run is in progress in {output}; the next check looks again"), None
  from inference import run_summary  # pylint: disable=g-import-not-at-top
  from monitoring import monitor  # pylint: disable=g-import-not-at-top
  from serving import request_log  # pylint: disable=g-import-not-at-top

  metadata = OutputLayout(output).metadata_path
  runs = run_summary.list_runs(metadata, pipeline_name) if os.path.isfile(metadata) else []
  if not any(run.pushed_to for run in runs):
    return Decision(False, f"traffic: no model of {pipeline_name} pushed yet, so no traffic to check"), None
  since = runs[-1].started  # what the newest run could not have trained on
  try:
    result = monitor.monitor(output, model, since, labels_csv)
  except MonitorError as e:
    return Decision(False, f"traffic since {_when(since)}: {e}"), None
  saved = monitor.write_result(output, result)
  alerts = [f"{ALERT_NAMES.get(c['kind'], c['kind'] + ' ' + c['feature'])} {c['value']:.2f} > {c['threshold']:g}"
            for c in result["checks"] if c["alert"]]
  if not alerts:
    return Decision(False, f"traffic since {_when(since)}: {result['requests']} requests, every monitor check within "
                           f"its limit ({saved})"), None
  rows = request_log.read_request_logs(output, model, since)
  labelled = labelled_requests(rows, monitor.read_labels(labels_csv), input_key)
  requests = len({row[request_log.PREFIX + "request_id"] for row in rows})
  found = f"the monitor alerts on traffic since {_when(since)} ({'; '.join(alerts)}; {saved})"
  if len(labelled) < MIN_LABELLED:
    return Decision(False, f"{found}, but only {len(labelled)} of its {requests} requests have a label in "
                           f"{labels_csv} (single-example requests); {MIN_LABELLED} make a span"), None
  traffic = Traffic([row[input_key] for _, row in labelled], [truth for truth, _ in labelled],
                    [row[request_log.PREFIX + "request_id"].decode("utf-8") for _, row in labelled], alerts, since,
                    model, labels_csv, saved)
  return Decision(True, f"{found}; {len(labelled)} labelled requests become a span", allow_drift=True), traffic


def labelled_requests(rows: List[dict], truth: Dict[str, str], input_key: str) -> List[Tuple[str, dict]]:
  """(true label, logged row) of each logged request that `truth` labels, oldest first. Only requests of one
  example: a label is given per request id, and the examples of a longer request share it."""
  from serving.request_log import PREFIX  # pylint: disable=g-import-not-at-top

  per_request: Dict[str, List[dict]] = {}
  for row in rows:
    per_request.setdefault(row[PREFIX + "request_id"].decode("utf-8"), []).append(row)
  return [(truth[rid], group[0]) for rid, group in per_request.items()
          if rid in truth and len(group) == 1 and input_key in group[0]]


def write_traffic_span(pattern: str, traffic: Traffic, data_format: str, input_key: str, text_column: str,
                       label_column: str) -> Tuple[int, str]:
  """Writes `traffic` as the next span of `pattern` (complete, with its provenance); returns (number, folder)."""
  number, folder = spans.next_span_folder(pattern)
  provenance = {"source": FROM_TRAFFIC, "model": traffic.model, "requests_since": _when(traffic.since),
                "requests": len(traffic.inputs), "labels": os.path.abspath(traffic.labels_csv),
                "alerts": traffic.alerts, "monitor_result": traffic.monitor_result}
  spans.write_span(folder, data_format, traffic.inputs, traffic.labels, traffic.request_ids, input_key, text_column,
                   label_column, provenance)
  return number, folder
