"""What the report reads back from a run's artifacts: data statistics and anomalies, training curves, the
blessing decision, class names and the lineage of the pushed model."""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Dict, List, Optional, Tuple

from core import features
from inference import run_summary


def _read_split_protos(uri: str, file_name: str, proto_class) -> Dict[str, object]:
  """Split name -> the proto in `<uri>/Split-<name>/<file_name>` (how TFX lays out per-split artifacts)."""
  result = {}
  for split_dir in sorted(os.listdir(uri)):
    path = os.path.join(uri, split_dir, file_name)
    if split_dir.startswith("Split-") and os.path.isfile(path):
      message = proto_class()
      with open(path, "rb") as f:
        message.ParseFromString(f.read())
      result[split_dir[len("Split-"):]] = message
  return result


def read_statistics(statistics_uri: str) -> Dict[str, object]:
  """Split name -> DatasetFeatureStatistics, from StatisticsGen's `Split-<name>/FeatureStats.pb` files."""
  from tensorflow_metadata.proto.v0 import statistics_pb2  # pylint: disable=g-import-not-at-top

  lists = _read_split_protos(statistics_uri, "FeatureStats.pb", statistics_pb2.DatasetFeatureStatisticsList)
  return {split: stats.datasets[0] for split, stats in lists.items()}


def read_anomalies(anomalies_uri: str) -> Dict[str, List[str]]:
  """Split name -> one line per anomaly ('feature: description'), from ExampleValidator's `SchemaDiff.pb` files."""
  from tensorflow_metadata.proto.v0 import anomalies_pb2  # pylint: disable=g-import-not-at-top

  result = {}
  for split, anomalies in _read_split_protos(anomalies_uri, "SchemaDiff.pb", anomalies_pb2.Anomalies).items():
    lines = [f"{name}: {info.description or info.short_description}"
             for name, info in sorted(anomalies.anomaly_info.items())]
    if anomalies.HasField("dataset_anomaly_info"):
      lines.append(f"(dataset): {anomalies.dataset_anomaly_info.description}")
    result[split] = lines
  return result


def feature_rows(stats) -> List[Dict[str, str]]:
  """One summary row per feature of a DatasetFeatureStatistics."""
  rows = []
  for feature in stats.features:
    name = ".".join(feature.path.step) or feature.name
    kind = feature.WhichOneof("stats")
    row = {"feature": name, "type": _TYPE_NAMES.get(feature.type, str(feature.type))}
    common = getattr(getattr(feature, kind), "common_stats", None) if kind else None
    if common is not None:
      total = common.num_missing + common.num_non_missing
      row["missing"] = f"{100.0 * common.num_missing / total:.1f}%" if total else "-"
    if kind == "num_stats":
      s = feature.num_stats
      row["summary"] = f"mean {s.mean:.4g}, std {s.std_dev:.4g}, min {s.min:.4g}, max {s.max:.4g}"
    elif kind == "string_stats":
      s = feature.string_stats
      top = ", ".join(f"{v.value} ({int(v.frequency)})" for v in s.top_values[:5] if v.value != "__BYTES_VALUE__")
      row["summary"] = f"{s.unique} unique, avg length {s.avg_length:.1f}" + (f"; top: {top}" if top else "")
    elif kind == "bytes_stats":
      s = feature.bytes_stats
      row["summary"] = ((f"{s.unique} unique, " if s.unique else "")  # not counted for declared images
                        + f"{s.avg_num_bytes:.0f} bytes on average (min {s.min_num_bytes:.0f}, max {s.max_num_bytes:.0f})")
    rows.append(row)
  return rows


_TYPE_NAMES = {0: "INT", 1: "FLOAT", 2: "STRING", 3: "BYTES", 4: "STRUCT"}


def label_counts(stats, label: str = features.RAW_LABEL_KEY) -> Dict[str, int]:
  """Examples per class, from the label feature's string statistics."""
  for feature in stats.features:
    if ".".join(feature.path.step) == label and feature.HasField("string_stats"):
      buckets = feature.string_stats.rank_histogram.buckets
      if buckets:
        return {b.label: int(b.sample_count) for b in buckets}
      return {v.value: int(v.frequency) for v in feature.string_stats.top_values}
  return {}


def read_curves(model_run_dir: str) -> Dict[str, Dict[str, List[Tuple[int, float]]]]:
  """`train`/`validation` -> scalar tag -> [(step, value)], from the Trainer's TensorBoard event files."""
  from reports import tensorboard_logs  # pylint: disable=g-import-not-at-top

  return {run: tensorboard_logs.read_scalars(os.path.join(model_run_dir, run)) for run in ("train", "validation")
          if os.path.isdir(os.path.join(model_run_dir, run))}


def read_blessing(evaluation_uri: str) -> Tuple[List[str], List[str]]:
  """(thresholds as text, failed checks as text) from the evaluation's eval_config.json and validation result."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  thresholds = []
  with open(os.path.join(evaluation_uri, "eval_config.json"), encoding="utf-8") as f:
    eval_config = json.load(f).get("evalConfig", {})
  for spec in eval_config.get("metricsSpecs", []):
    for metric in spec.get("metrics", []):
      threshold = metric.get("threshold", {})
      value = threshold.get("valueThreshold", {})
      if "lowerBound" in value:
        thresholds.append(f"{metric['className']} >= {value['lowerBound']}")
      if "upperBound" in value:
        thresholds.append(f"{metric['className']} <= {value['upperBound']}")
      change = threshold.get("changeThreshold", {})
      if change:
        direction = "not lower than" if change.get("direction") == "HIGHER_IS_BETTER" else "not higher than"
        thresholds.append(f"{metric['className']} {direction} the baseline's "
                          f"(absolute change {change.get('absolute', 0)})")
  failures = []
  result = tfma.load_validation_result(evaluation_uri)
  for per_slice in result.metric_validations_per_slice:
    for failure in per_slice.failures:
      failures.append(f"{failure.metric_key.name}{' (vs baseline)' if failure.metric_key.is_diff else ''}: "
                      f"{failure.message or 'threshold not met'}; value {failure.metric_value.double_value.value:.4f}")
  return thresholds, failures


def read_class_names(transform_graph_uri: Optional[str], num_classes: int) -> List[str]:
  """Class names in label-id order: Transform's label vocabulary (one name per line)."""

  path = os.path.join(transform_graph_uri or "", "transform_fn", "assets", features.LABEL_VOCABULARY)
  if transform_graph_uri and os.path.isfile(path):
    with open(path, encoding="utf-8") as f:
      names = [line.rstrip("\n") for line in f]
    if len(names) >= num_classes:
      return names[:num_classes]
  return [str(i) for i in range(num_classes)]


@dataclasses.dataclass
class LineageNode:
  depth: int
  artifact_type: str
  artifact_id: int
  uri: str
  produced_by: str  # node id of the execution that made it, "" for none
  note: str = ""  # e.g. ExampleGen's input location, or "(shown above)"


def read_lineage(metadata_path: str, artifact, max_depth: int = 6) -> List[LineageNode]:
  """The artifacts `artifact` was made from, depth first: each artifact, then the inputs of the execution that made it.

  A cached execution is skipped in favour of the one that ran; the baseline model the Evaluator compared against is
  left out (it is not an ingredient of the candidate).
  """
  store = run_summary.open_store(metadata_path)
  type_names: Dict[int, str] = {}
  seen = set()
  nodes: List[LineageNode] = []

  def type_name(type_id):
    if type_id not in type_names:
      type_names[type_id] = store.get_artifact_types_by_id([type_id])[0].name
    return type_names[type_id]

  def visit(current, depth):
    producer = _producer(store, current.id)
    node_id = run_summary.node_id(store, producer.id) if producer else ""
    note = ""
    if producer is not None and "input_base" in producer.custom_properties:
      note = f"read from {producer.custom_properties['input_base'].string_value}"
    if current.id in seen:
      nodes.append(LineageNode(depth, type_name(current.type_id), current.id, current.uri, node_id, "(shown above)"))
      return
    seen.add(current.id)
    nodes.append(LineageNode(depth, type_name(current.type_id), current.id, current.uri, node_id, note))
    if producer is None or depth >= max_depth:
      return
    inputs = run_summary.artifacts_of(store, producer.id, run_summary.INPUT_EVENTS)
    for key in sorted(inputs):
      if key == "baseline_model":
        continue
      for parent in inputs[key]:
        visit(parent, depth + 1)

  visit(artifact, 0)
  return nodes


def _producer(store, artifact_id: int):
  """The execution that made the artifact: the first one that output it (later ones took it from cache)."""
  events = [e for e in store.get_events_by_artifact_ids([artifact_id]) if e.type in run_summary.OUTPUT_EVENTS]
  if not events:
    return None
  return store.get_executions_by_id([min(e.execution_id for e in events)])[0]
