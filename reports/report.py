"""`modelfab report`: one self-contained HTML page (and its PNG figures) about one pipeline run.

Everything is read back from what the run recorded: ML Metadata for the runs, components and lineage; the
StatisticsGen and ExampleValidator artifacts for the data; the Trainer's TensorBoard logs for the curves; the TFMA
evaluation for metrics, the confusion matrix and the blessing decision. Figures are drawn with matplotlib and embedded
as PNG data URIs, so the page can be mailed or archived alone.
"""
from __future__ import annotations

import base64
import dataclasses
import html
import io
import json
import os
from typing import Dict, List, Optional, Tuple

from reports import run_summary

REPORTS_DIR = "reports"


@dataclasses.dataclass
class Figure:
  name: str  # file name stem
  title: str
  png: bytes


# ---------------------------------------------------------------------------------------------------------- reading

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


def label_counts(stats, label: str = "label") -> Dict[str, int]:
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
  from models import features  # pylint: disable=g-import-not-at-top

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


# ---------------------------------------------------------------------------------------------------------- figures

def _png(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  plt.close(fig)
  return buffer.getvalue()


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  return plt


def plot_confusion_matrix(matrix, class_names: List[str]) -> Figure:
  import numpy as np  # pylint: disable=g-import-not-at-top

  plt = _pyplot()
  size = max(4.0, 0.45 * len(class_names) + 2)
  fig, ax = plt.subplots(figsize=(size, size * 0.85))
  image = ax.imshow(matrix, cmap="Blues")
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples")
  ticks = range(len(class_names))
  ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0)
  ax.set_yticks(ticks, class_names)
  ax.set_xlabel("predicted class")
  ax.set_ylabel("actual class")
  high = matrix.max() if matrix.size else 0
  for (i, j), value in np.ndenumerate(matrix):
    if value:
      ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8,
              color="white" if value > high / 2 else "black")
  ax.set_title("Confusion matrix (eval split)")
  return Figure("confusion_matrix", "Confusion matrix", _png(fig))


def plot_per_class(per_class: Dict[str, List[float]], class_names: List[str]) -> Figure:
  import numpy as np  # pylint: disable=g-import-not-at-top

  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(class_names) + 2), 3.6))
  x = np.arange(len(class_names))
  width = 0.8 / max(1, len(per_class))
  for k, (metric, values) in enumerate(per_class.items()):
    ax.bar(x + (k - (len(per_class) - 1) / 2) * width, values, width, label=metric)
  ax.set_xticks(x, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0)
  ax.set_ylim(0, 1.05)
  ax.set_ylabel("score")
  ax.legend(loc="lower right", fontsize=8)
  ax.set_title("Per-class precision, recall and F1 (eval split)")
  return Figure("per_class", "Per-class precision, recall and F1", _png(fig))


def plot_training_curves(curves) -> Optional[Figure]:
  """Loss, accuracy and learning rate per epoch (train vs validation)."""
  panels = [("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"), ("epoch_learning_rate", "learning rate")]
  panels = [(tag, label) for tag, label in panels if any(tag in c for c in curves.values())]
  if not panels:
    return None
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), squeeze=False)
  for ax, (tag, label) in zip(axes[0], panels):
    for run, style in (("train", "-o"), ("validation", "--s")):
      points = curves.get(run, {}).get(tag)
      if points:
        ax.plot([s + 1 for s, _ in points], [v for _, v in points], style, markersize=3, label=run)
    ax.set_xlabel("epoch")
    ax.set_title(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  return Figure("training_curves", "Training curves", _png(fig))


def plot_label_counts(counts_by_split: Dict[str, Dict[str, int]]) -> Optional[Figure]:
  import numpy as np  # pylint: disable=g-import-not-at-top

  labels = sorted({label for counts in counts_by_split.values() for label in counts}, key=_natural_key)
  if not labels:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(labels) + 2), 3.0))
  x = np.arange(len(labels))
  width = 0.8 / len(counts_by_split)
  for k, (split, counts) in enumerate(sorted(counts_by_split.items())):
    ax.bar(x + (k - (len(counts_by_split) - 1) / 2) * width, [counts.get(l, 0) for l in labels], width, label=split)
  ax.set_xticks(x, labels, rotation=45 if max(map(len, labels)) > 3 else 0)
  ax.set_ylabel("examples")
  ax.legend(fontsize=8)
  ax.set_title("Examples per class")
  return Figure("label_counts", "Examples per class", _png(fig))


# ---------------------------------------------------------------------------------------------------------- page

def build_report(output: str, run_id: Optional[str] = None, report_dir: Optional[str] = None) -> str:
  """Writes `report.html` and the PNG figures for run `run_id` (default: the newest); returns the HTML path."""
  output = os.path.abspath(output)
  metadata_path = os.path.join(output, "metadata.sqlite")
  run = run_summary.find_run(metadata_path, run_id)
  report_dir = report_dir or os.path.join(output, REPORTS_DIR, run.pipeline_name, run.run_id.replace(":", "-"))
  os.makedirs(report_dir, exist_ok=True)
  figures: List[Figure] = []
  sections: List[str] = [_overview_section(run)]

  statistics_uri = run.output_uri("StatisticsGen", "statistics")
  anomalies_uri = run.output_uri("ExampleValidator", "anomalies")
  sections.append(_data_section(statistics_uri, anomalies_uri, figures))

  model_run = run.output_uri("Trainer", "model_run")
  curves = read_curves(model_run) if model_run and os.path.isdir(model_run) else {}
  figure = plot_training_curves(curves)
  if figure:
    figures.append(figure)
  sections.append(_section("Training", _figure_html(figure) if figure else "<p>No training logs recorded.</p>",
                           "training"))

  evaluation_uri = run.output_uri("Evaluator", "evaluation")
  sections.append(_evaluation_section(run, evaluation_uri, figures))
  sections.append(_blessing_section(run, evaluation_uri))
  if run.tuning:
    sections.append(_tuning_section(run))
  if run.compression:
    sections.append(_compression_section(run, figures))
  sections.append(_lineage_section(run, metadata_path))

  for figure in figures:
    with open(os.path.join(report_dir, figure.name + ".png"), "wb") as f:
      f.write(figure.png)
  page = _PAGE.format(title=html.escape(f"modelfab run {run.run_id} ({run.pipeline_name})"),
                      body="\n".join(sections), figures=len(figures))
  path = os.path.join(report_dir, "report.html")
  with open(path, "w", encoding="utf-8") as f:
    f.write(page)
  return path


def _overview_section(run: run_summary.RunSummary) -> str:
  rows = [("run", run.run_id), ("pipeline", run.pipeline_name), ("started", run.started_text),
          ("blessed", {True: "yes", False: "no", None: "not evaluated"}[run.blessed]),
          ("pushed", run.pushed_to or "no")]
  components = _table(["component", "this run"], [[name, state] for name, state in run.components.items()])
  return _section(f"Run {run.run_id}", _table(["", ""], rows, header=False) + components, "overview")


def _data_section(statistics_uri: Optional[str], anomalies_uri: Optional[str], figures: List[Figure]) -> str:
  parts = []
  statistics = read_statistics(statistics_uri) if statistics_uri and os.path.isdir(statistics_uri) else {}
  for split, stats in statistics.items():
    rows = feature_rows(stats)
    parts.append(f"<h3>{html.escape(split)} split: {stats.num_examples} examples</h3>")
    parts.append(_table(["feature", "type", "missing", "summary"],
                        [[r["feature"], r["type"], r.get("missing", "-"), r.get("summary", "")] for r in rows]))
  figure = plot_label_counts({split: label_counts(stats) for split, stats in statistics.items()})
  if figure:
    figures.append(figure)
    parts.append(_figure_html(figure))
  anomalies = read_anomalies(anomalies_uri) if anomalies_uri and os.path.isdir(anomalies_uri) else {}
  parts.append("<h3>Anomalies</h3>")
  if not anomalies:
    parts.append("<p>ExampleValidator did not run.</p>")
  for split, lines in anomalies.items():
    items = "".join(f"<li>{html.escape(line)}</li>" for line in lines) or "<li>none</li>"
    parts.append(f"<p>{html.escape(split)} split:</p><ul class='anomalies'>{items}</ul>")
  return _section("Data", "".join(parts) or "<p>No statistics recorded.</p>", "data")


def _evaluation_section(run: run_summary.RunSummary, evaluation_uri: Optional[str], figures: List[Figure]) -> str:
  if not evaluation_uri or not run.metrics:
    return _section("Evaluation", "<p>The Evaluator did not run.</p>", "evaluation")
  metrics = run.metrics
  overall = [[name, _fmt(value)] for name, value in sorted(metrics.items()) if "/class_" not in name]
  class_ids = sorted({int(n.rsplit("_", 1)[1]) for n in metrics if "/class_" in n})
  num_classes = max(class_ids) + 1 if class_ids else 0
  class_names = read_class_names(run.output_uri("Transform", "transform_graph"), num_classes)
  class_ids.sort(key=lambda c: _natural_key(class_names[c]))  # label ids follow frequency; show classes by name
  names = ("precision", "recall", "f1_score")
  per_class_rows = [[class_names[c]] + [_fmt(metrics.get(f"{n}/class_{c}")) for n in names] for c in class_ids]
  parts = [_table(["metric", "value"], overall, table_id="overall-metrics"),
           "<h3>Per class</h3>", _table(["class", "precision", "recall", "F1"], per_class_rows,
                                        table_id="per-class-metrics")]
  if class_ids:
    figure = plot_per_class({n: [metrics.get(f"{n}/class_{c}", 0.0) for c in class_ids] for n in names},
                            [class_names[c] for c in class_ids])
    figures.append(figure)
    parts.append(_figure_html(figure))
  matrix = run_summary.read_confusion_matrix(evaluation_uri, num_classes) if num_classes else None
  if matrix is not None:
    figure = plot_confusion_matrix(matrix[class_ids][:, class_ids], [class_names[c] for c in class_ids])
    figures.append(figure)
    parts.append("<h3>Confusion matrix</h3>" + _figure_html(figure, element_id="confusion-matrix"))
  return _section("Evaluation", "".join(parts), "evaluation")


def _blessing_section(run: run_summary.RunSummary, evaluation_uri: Optional[str]) -> str:
  if not evaluation_uri:
    return _section("Blessing", "<p>Not evaluated.</p>", "blessing")
  thresholds, failures = read_blessing(evaluation_uri)
  verdict = "BLESSED" if run.blessed else "NOT BLESSED"
  parts = [f"<p class='verdict {'good' if run.blessed else 'bad'}' id='verdict'>{verdict}</p>",
           "<p>Thresholds:</p><ul>" + "".join(f"<li>{html.escape(t)}</li>" for t in thresholds) + "</ul>",
           "<p>Baseline: " + html.escape(run.baseline_model or "none (no earlier blessed model)") + "</p>"]
  if failures:
    parts.append("<p>Failed checks:</p><ul>" + "".join(f"<li>{html.escape(f)}</li>" for f in failures) + "</ul>")
  parts.append(f"<p>Pusher: {html.escape(run.pushed_to) if run.pushed_to else 'nothing pushed'}</p>")
  return _section("Blessing", "".join(parts), "blessing")


def _tuning_section(run: run_summary.RunSummary) -> str:
  """The hyperparameters the Trainer got and, when this run's Tuner searched, every trial with the best marked."""
  tuning = run.tuning
  best = tuning["best"]
  value = lambda v: f"{v:.4g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)
  parts = [_table(["hyperparameter", "used by the Trainer"], [[k, value(v)] for k, v in best.items()],
                  table_id="best-hyperparameters")]
  if tuning["source"] == "imported":
    parts.insert(0, f"<p>Imported from an earlier search: {html.escape(tuning['uri'])}</p>")
  trials = tuning.get("trials") or []
  if trials:
    names = list(best)
    best_id = max(trials, key=lambda t: t.get("score") or float("-inf"))["trial_id"]
    rows = [[("&#9733; " if t["trial_id"] == best_id else "") + html.escape(str(t["trial_id"])),
             _fmt(t.get("score"))] + [html.escape(value(t.get(n))) for n in names] for t in trials]
    parts.append(f"<h3>{len(trials)} completed trials (objective: val_accuracy; &#9733; = best)</h3>")
    parts.append(_table(["trial", "val_accuracy"] + names, rows, table_id="tuner-trials", escape=False))
  return _section("Hyperparameter search", "".join(parts), "tuning")


def _compression_section(run: run_summary.RunSummary, figures: List[Figure]) -> str:
  """Float SavedModel vs .tflite side by side, the verdict, and the .tflite's confusion matrix."""
  report = run.compression
  float_, tflite = report["float"], report["compressed"]
  kib = lambda b: f"{b / 1024:,.0f} KiB"
  rows = [["file size", kib(float_["bytes"]), kib(tflite["bytes"])],
          ["gzip size", kib(float_["gzip_bytes"]), kib(tflite["gzip_bytes"])],
          ["zero weights", f"{float_.get('sparsity', 0):.1%}", f"{float_.get('sparsity', 0):.1%}"],
          ["batch-1 latency (ms/example)", f"{float_['latency_ms']:.3f}", f"{tflite['latency_ms']:.3f}"]]
  for name in ("sparse_categorical_accuracy", "macro_precision", "macro_recall", "macro_f1_score", "example_count"):
    rows.append([name, _fmt(float_["metrics"].get(name)), _fmt(tflite["metrics"].get(name))])
  good = report.get("blessed")
  verdict = (f"{report['mode']} .tflite: accuracy drop {report['accuracy_drop'] * 100:.2f} points "
             f"(allowed {report['max_accuracy_drop'] * 100:.2f}); labels agree with the float model on "
             f"{report['label_agreement']:.1%} of {report['eval_examples']} eval examples; "
             + ("pushed beside the SavedModel" if report.get("pushed") else
                "not pushed" + (f" ({report['reason']})" if report.get("reason") else "")))
  parts = [_table(["", "float SavedModel", f"{report['mode']} .tflite"], rows, table_id="compression-table"),
           f"<p class='verdict {'good' if good else 'bad'}' id='compression-verdict'>{html.escape(verdict)}</p>"]
  class_ids = sorted({int(n.rsplit("_", 1)[1]) for n in tflite["metrics"] if "/class_" in n})
  matrix = (run_summary.read_confusion_matrix(os.path.join(report["uri"], "evaluation"), len(class_ids), "compressed")
            if class_ids and report.get("uri") else None)
  if matrix is not None:
    class_names = read_class_names(run.output_uri("Transform", "transform_graph"), len(class_ids))
    order = sorted(class_ids, key=lambda c: _natural_key(class_names[c]))
    figure = plot_confusion_matrix(matrix[order][:, order], [class_names[c] for c in order])
    figure.name = "compressed_confusion_matrix"
    figures.append(figure)
    parts.append("<h3>Confusion matrix of the .tflite model</h3>" +
                 _figure_html(figure, element_id="compressed-confusion-matrix"))
  return _section("Compression", "".join(parts), "compression")


def _lineage_section(run: run_summary.RunSummary, metadata_path: str) -> str:
  start = (run.outputs.get("Pusher", {}).get("pushed_model") if run.pushed_to else None) or \
      run.outputs.get("Trainer", {}).get("model")
  if not start:
    return _section("Lineage", "<p>No model was trained.</p>", "lineage")
  rows = []
  for node in read_lineage(metadata_path, start[0]):
    indent = "&nbsp;&nbsp;&nbsp;&nbsp;" * node.depth + ("&#8627; " if node.depth else "")
    rows.append([indent + html.escape(f"{node.artifact_type} #{node.artifact_id}"),
                 html.escape(node.produced_by), html.escape(node.uri), html.escape(node.note)])
  intro = ("<p>What the " + ("pushed version" if run.pushed_to else "model") +
           " was made from: each artifact, then the inputs of the component that produced it.</p>")
  return _section("Lineage", intro + _table(["artifact", "produced by", "uri", ""], rows, escape=False),
                  "lineage")


def _natural_key(name: str):
  return (0, int(name), "") if name.isdigit() else (1, 0, name)


def _fmt(value) -> str:
  return "-" if value is None else (f"{value:.0f}" if float(value).is_integer() and value > 1 else f"{value:.4f}")


def _table(headers, rows, header=True, table_id=None, escape=True) -> str:
  cell = html.escape if escape else (lambda v: v)
  head = "<tr>" + "".join(f"<th>{html.escape(str(h))}</th>" for h in headers) + "</tr>" if header else ""
  body = "".join("<tr>" + "".join(f"<td>{cell(str(v))}</td>" for v in row) + "</tr>" for row in rows)
  attr = f" id='{table_id}'" if table_id else ""
  return f"<table{attr}>{head}{body}</table>"


def _figure_html(figure: Figure, element_id: Optional[str] = None) -> str:
  data = base64.b64encode(figure.png).decode()
  attr = f" id='{element_id}'" if element_id else ""
  return (f"<figure{attr}><img alt='{html.escape(figure.title)}' src='data:image/png;base64,{data}'>"
          f"<figcaption>{html.escape(figure.title)} ({figure.name}.png)</figcaption></figure>")


def _section(title: str, body: str, section_id: str) -> str:
  return f"<section id='{section_id}'><h2>{html.escape(title)}</h2>{body}</section>"


_PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1100px; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5em 0 1em; font-size: 0.9em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f2f2f2; }}
figure {{ margin: 1em 0; }} figure img {{ max-width: 100%; }}
.verdict {{ font-size: 1.3em; font-weight: bold; }} .good {{ color: #16794c; }} .bad {{ color: #b3261e; }}
section {{ border-top: 2px solid #ddd; padding-top: 0.5em; }}
</style></head>
<body data-figures="{figures}">
<h1>{title}</h1>
{body}
<script>
window.addEventListener("load", function () {{
  var drawn = Array.prototype.filter.call(document.images, function (img) {{ return img.naturalWidth > 0; }});
  document.body.setAttribute("data-figures-drawn", String(drawn.length));
}});
</script>
</body></html>
"""
