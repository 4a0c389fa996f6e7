"""`modelfab monitor`: compares logged traffic with what the served version was trained and evaluated on.

The version in the request logs leads, through ML Metadata, to the run that pushed it: its ExampleGen output (the
train and eval splits) and its eval metrics. Three checks, with TFDV's comparators (Jensen-Shannon divergence for
numeric features, L-infinity distance for categorical ones):
- input drift: features derived from the raw input that can be compared (images: width, height, channels,
  brightness, contrast; text: words, share of words outside the model's vocabulary), train split vs traffic;
- prediction drift: predicted class and score, the model on the eval split vs what it answered in traffic;
- live accuracy, when true labels arrive (a CSV of request_id,label): against the eval accuracy.
Any check over its threshold makes the monitor exit with its own status (4), so a scheduler can alert.
"""
from __future__ import annotations

import csv
import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

from core import features, names
from core.errors import MonitorError
from core.layout import OutputLayout
from inference import model_loader
from monitoring import drift, outliers
from serving import request_log
# Measured on held-out digits (60 requests) against a small run's splits (about 160 train, 40 eval examples):
# input JSD up to 0.09, predicted-class L-infinity 0.18, score JSD 0.21, all sampling noise; inverted and noise
# images reach 0.5 to 1.0 on brightness and contrast (docs/monitoring.md).
DEFAULT_THRESHOLDS = {"input_jsd": 0.2, "input_linf": 0.2, "prediction_jsd": 0.3, "prediction_linf": 0.25,
                      "accuracy_drop": 0.05, "outlier_share": 0.1}
MIN_REQUESTS = 20


def _pushing_run(output: str, version_dir: str):
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  metadata = OutputLayout(output).metadata_path
  for run in reversed(run_summary.list_runs(metadata)):
    if run.pushed_to and os.path.realpath(run.pushed_to) == os.path.realpath(version_dir):
      return run
  raise MonitorError(f"{version_dir}: no run in {metadata} pushed this version")


def monitor(output: str, model: str, since: float = 0.0, labels_csv: Optional[str] = None,
            thresholds: Optional[Dict[str, float]] = None, version: Optional[int] = None) -> Dict[str, object]:
  """Runs the checks on the traffic of `version` (default: the version that answered most requests); returns a
  JSON-able result with `checks` and `alert`."""
  import pandas as pd  # pylint: disable=g-import-not-at-top

  limits = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
  rows = request_log.read_request_logs(output, model, since)
  versions = [int(r[request_log.PREFIX + "version"]) for r in rows]
  if version is not None:
    rows = [r for r, v in zip(rows, versions) if v == version]
  if len(rows) < MIN_REQUESTS:
    raise MonitorError(f"{OutputLayout(output).request_logs_dir(model)}: {len(rows)} logged request(s) "
                       + (f"answered by version {version} " if version is not None else "")
                       + f"since {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(since)) if since else 'the start'}"
                       f"; need at least {MIN_REQUESTS} (serve with --log-requests)")
  if version is None:
    version = max(set(versions), key=versions.count)
    rows = [r for r, v in zip(rows, versions) if v == version]
  version_dir = os.path.join(OutputLayout(output).serving_dir(model), str(version))
  loaded = model_loader.load_model(version_dir)
  key = loaded.metadata.input_feature
  modality = loaded.metadata.modality or features.IMAGE_KEY
  run = _pushing_run(output, version_dir)
  if run.examples is None:
    raise MonitorError(f"{version_dir}: the run that pushed it ({run.run_id}) has no ExampleGen output")
  examples_uri = run.examples.uri

  train_values = drift.read_split_values(examples_uri, "train", [key])[key]
  traffic_values = [r[key] for r in rows if key in r]
  checks = drift.drift_checks("input drift", drift.derived_features(train_values, modality, version_dir),
                              drift.derived_features(traffic_values, modality, version_dir), limits["input_jsd"],
                              limits["input_linf"])

  profile = outliers.read_profile(version_dir)
  if profile is not None:
    checks.append(drift.Check("outliers", features.OUTLIER_SCORE, f"share over {outliers.OUTLIER_LIMIT:g}",
                              outliers.outlier_share(profile, traffic_values, version_dir), limits["outlier_share"]))

  from inference import predict  # pylint: disable=g-import-not-at-top

  eval_values = drift.read_split_values(examples_uri, "eval", [key])[key]
  eval_out = predict.predict_serialized(loaded, predict.serialized_examples([{key: v} for v in eval_values]))
  baseline = pd.DataFrame({"predicted_label": [label.decode("utf-8", "replace")
                                               for label in eval_out[features.PREDICTED_LABEL]],
                           "score": eval_out[features.PREDICTED_SCORE].astype(float)})
  traffic = pd.DataFrame({"predicted_label": [r[request_log.PREFIX + "label"].decode("utf-8", "replace")
                                              for r in rows],
                          "score": [float(r[request_log.PREFIX + "score"]) for r in rows]})
  checks += drift.drift_checks("prediction drift", baseline, traffic, limits["prediction_jsd"],
                               limits["prediction_linf"])

  live = None
  if labels_csv:
    live = live_accuracy(labels_csv, rows)
    eval_accuracy = run.metrics.get(names.ACCURACY)
    if live["labelled"] and eval_accuracy is not None:
      checks.append(drift.Check("live accuracy", "accuracy", "accuracy drop", eval_accuracy - live["accuracy"],
                          limits["accuracy_drop"]))
  return {"model": model, "version": version, "requests": len(rows), "run": run.run_id,
          "live_accuracy": live, "checks": [dict(dataclasses.asdict(c), alert=c.alert) for c in checks],
          "alert": any(c.alert for c in checks)}


def read_labels(labels_csv: str) -> Dict[str, str]:
  """request id -> true label, from a CSV with the columns request_id,label; MonitorError naming the file (and the
  row, for an empty label) otherwise."""
  try:
    with open(labels_csv, newline="", encoding="utf-8-sig") as f:
      reader = csv.DictReader(f)
      if not reader.fieldnames or not {"request_id", "label"} <= set(reader.fieldnames):
        raise MonitorError(f"{labels_csv}: expected columns request_id,label; the header has {reader.fieldnames}")
      truth = {}
      for row in reader:
        if not (row["label"] or "").strip():
          raise MonitorError(f"{labels_csv}:{reader.line_num}: request {row['request_id']!r} has an empty label")
        truth[(row["request_id"] or "").strip()] = row["label"].strip()
      return truth
  except (OSError, UnicodeDecodeError, csv.Error) as e:
    raise MonitorError(f"{labels_csv}: cannot read ({e})") from e


def live_accuracy(labels_csv: str, rows) -> Dict[str, object]:
  truth = read_labels(labels_csv)
  predicted = {r[request_log.PREFIX + "request_id"].decode(): r[request_log.PREFIX + "label"].decode() for r in rows}
  matched = [(predicted[i], label) for i, label in truth.items() if i in predicted]
  correct = sum(p == t for p, t in matched)
  return {"labelled": len(matched), "accuracy": correct / len(matched) if matched else None,
          "unknown_request_ids": len(truth) - len(matched)}


def tensorboard_dir(output: str, model: str) -> str:
  return os.path.join(OutputLayout(output).tensorboard_dir, "monitor", model)


def write_result(output: str, result: Dict[str, object]) -> str:
  """Writes the result as JSON under <output>/reports/<model>/ (beside the HTML reports), and each measurement as a
  TensorBoard scalar `<check>/<feature>` in <output>/tensorboard/monitor/<model> (step: Unix seconds, so runs of
  the monitor line up in time); returns the JSON's path."""
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  folder = os.path.join(OutputLayout(output).reports_dir, str(result["model"]))
  os.makedirs(folder, exist_ok=True)
  path = os.path.join(folder, f"monitor-{time.strftime('%Y%m%d-%H%M%S')}.json")
  with open(path, "w", encoding="utf-8") as f:
    json.dump(result, f, indent=2)
  scalars = {f"{c['kind'].replace(' ', '_')}/{c['feature']}": c["value"] for c in result["checks"]}
  if result.get("live_accuracy") and result["live_accuracy"]["accuracy"] is not None:
    scalars["live_accuracy/accuracy"] = result["live_accuracy"]["accuracy"]
  tensorboard_logs.write_scalars(tensorboard_dir(output, str(result["model"])), scalars, int(time.time()))
  return path
