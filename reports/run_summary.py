"""What a pipeline run did, read back from its ML Metadata store: components run or cached, metrics, blessing, push."""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

_STATE_NAMES = {1: "new", 2: "running", 3: "ran", 4: "failed", 5: "cached", 6: "canceled"}


@dataclasses.dataclass
class RunSummary:
  run_id: str
  components: Dict[str, str]  # node id -> "ran" | "cached" | "failed" | ...
  metrics: Dict[str, float]
  blessed: Optional[bool]
  pushed_to: Optional[str]
  baseline_model: Optional[str] = None  # URI of the model the Evaluator compared against, if any
  pipeline_name: str = ""
  started: float = 0.0  # seconds since the epoch
  serving_check_failure: Optional[str] = None  # why ServingCheck refused the model (then it is not pushed)
  # The Quantizer's report (components/quantizer.py: sizes, sparsity, latency, metrics of float and .tflite, verdict)
  # plus "pushed": whether the .tflite went out beside the SavedModel in this run.
  compression: Optional[Dict[str, Any]] = None
  # Hyperparameter search: {"source": "Tuner" | "imported", "best": {name: value}, "trials": [{trial_id, score,
  # name: value...}, best first], "uri": the best_hyperparameters folder}; None when the Trainer used its config.
  tuning: Optional[Dict[str, Any]] = None
  # node id -> output key -> MLMD artifacts (cached nodes point at the artifacts of the run that made them)
  outputs: Dict[str, Dict[str, list]] = dataclasses.field(default_factory=dict, repr=False)

  def executed(self) -> List[str]:
    """Components that executed (not from cache) in this run; resolver nodes, which only query, are not counted."""
    return [name for name, state in self.components.items() if state == "ran"]

  @property
  def started_text(self) -> str:
    return datetime.datetime.fromtimestamp(self.started).strftime("%Y-%m-%d %H:%M:%S")

  @property
  def pushed_version(self) -> Optional[str]:
    return os.path.basename(self.pushed_to.rstrip("/")) if self.pushed_to else None

  def output_uri(self, node: str, key: str) -> Optional[str]:
    artifacts = self.outputs.get(node, {}).get(key)
    return artifacts[0].uri if artifacts else None

  def to_json(self) -> Dict[str, Any]:
    """Plain data for `modelfab runs --json`."""
    return {"run_id": self.run_id, "pipeline": self.pipeline_name, "started": self.started_text,
            "components": self.components, "executed": self.executed(), "metrics": self.metrics,
            "blessed": self.blessed, "pushed_to": self.pushed_to, "pushed_version": self.pushed_version,
            "baseline_model": self.baseline_model, "model": self.output_uri("Trainer", "model"),
            "serving_check_failure": self.serving_check_failure, "compression": self.compression,
            "tuning": self.tuning}


def open_store(metadata_path: str):
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top

  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(config)


def latest_run_summary(metadata_path: str, pipeline_name: str) -> RunSummary:
  """The summary of the newest run of `pipeline_name`."""
  runs = list_runs(metadata_path, pipeline_name)
  if not runs:
    raise LookupError(f"no run of pipeline {pipeline_name!r} in {metadata_path}")
  return runs[-1]


def list_runs(metadata_path: str, pipeline_name: Optional[str] = None) -> List[RunSummary]:
  """Every run in the store (of `pipeline_name`, if given), oldest first.

  A component left "running" by a run that is over (killed, or the machine went down) reads "interrupted": only
  the newest run can still be going, and only while a process holds the output dir (pipelines.output_dir).
  """
  if not os.path.isfile(metadata_path):
    raise FileNotFoundError(f"{metadata_path}: no ML Metadata store (has a pipeline run with this output dir?)")
  from pipelines import output_dir  # pylint: disable=g-import-not-at-top

  store = open_store(metadata_path)
  contexts = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id)
  in_progress = output_dir.run_in_progress(os.path.dirname(os.path.abspath(metadata_path)))
  runs = []
  for context in contexts:
    owner = _pipeline_of(store, context)
    if pipeline_name is None or owner in (None, pipeline_name):
      run = summarize_run(store, context, owner or pipeline_name or "")
      if not (in_progress and context is contexts[-1]):
        run.components = {n: "interrupted" if state == "running" else state for n, state in run.components.items()}
      runs.append(run)
  return runs


def find_run(metadata_path: str, run_id: Optional[str] = None) -> RunSummary:
  """The run `run_id` (a unique prefix is enough), or the newest run of any pipeline."""
  runs = list_runs(metadata_path)
  if not runs:
    raise LookupError(f"{metadata_path}: no pipeline runs recorded")
  if run_id is None:
    return runs[-1]
  matches = [r for r in runs if r.run_id == run_id] or [r for r in runs if r.run_id.startswith(run_id)]
  if len(matches) != 1:
    known = ", ".join(r.run_id for r in runs[-5:])
    raise LookupError(f"run {run_id!r} {'is ambiguous' if matches else 'not found'} in {metadata_path} "
                      f"(newest runs: {known})")
  return matches[0]


def _pipeline_of(store, run_context) -> Optional[str]:
  parents = store.get_parent_contexts_by_context(run_context.id)
  return parents[0].name if parents else None


def summarize_run(store, run_context, pipeline_name: str = "") -> RunSummary:
  components: Dict[str, str] = {}
  outputs: Dict[str, Dict[str, list]] = {}
  baseline_model = None
  for execution in sorted(store.get_executions_by_context(run_context.id), key=lambda e: e.id):
    node = node_id(store, execution.id)
    state = _STATE_NAMES.get(execution.last_known_state, str(execution.last_known_state))
    if _is_resolver(store, execution) and state == "ran":
      state = "resolved"  # a resolver node queries ML Metadata on every run; it executes no component
    components[node] = state
    outputs[node] = artifacts_of(store, execution.id, OUTPUT_EVENTS)
    if node == "Evaluator":
      baseline = artifacts_of(store, execution.id, INPUT_EVENTS).get("baseline_model")
      baseline_model = baseline[0].uri if baseline else None
  metrics, blessed, pushed_to = {}, None, None
  evaluation = outputs.get("Evaluator", {}).get("evaluation")
  if evaluation:
    metrics = read_metrics(evaluation[0].uri)
  blessing = outputs.get("Evaluator", {}).get("blessing")
  if blessing:
    blessed = blessing[0].custom_properties["blessed"].int_value == 1
  pushed = outputs.get("Pusher", {}).get("pushed_model")
  if pushed and pushed[0].custom_properties["pushed"].int_value == 1:
    pushed_to = pushed[0].custom_properties["pushed_destination"].string_value
  serving_check = outputs.get("ServingCheck", {}).get("blessing")
  failure = None
  if serving_check and serving_check[0].custom_properties["blessed"].int_value != 1:
    failure = serving_check[0].custom_properties["reason"].string_value or "unknown reason"
  compression = read_compression(outputs.get("Quantizer", {}).get("tflite_model"))
  if compression is not None:
    compression["pushed"] = bool(pushed_to and compression.get("blessed"))
  return RunSummary(run_context.name, components, metrics, blessed, pushed_to, baseline_model,
                    pipeline_name=pipeline_name, started=run_context.create_time_since_epoch / 1000.0,
                    serving_check_failure=failure, compression=compression, tuning=read_tuning(outputs),
                    outputs=outputs)


def read_tuning(outputs: Dict[str, Dict[str, list]]) -> Optional[Dict[str, Any]]:
  """The best hyperparameters the Trainer got (from this run's Tuner or imported) and the Tuner's trials."""
  import json  # pylint: disable=g-import-not-at-top

  for node, key, source in (("Tuner", "best_hyperparameters", "Tuner"), ("hparams_importer", "result", "imported")):
    artifacts = outputs.get(node, {}).get(key)
    if not artifacts:
      continue
    try:
      with open(os.path.join(artifacts[0].uri, "best_hyperparameters.txt"), encoding="utf-8") as f:
        best = json.load(f).get("values", {})
    except (OSError, ValueError):
      return None
    trials = []
    results = outputs.get("Tuner", {}).get("tuner_results")
    if results:
      try:
        with open(os.path.join(results[0].uri, "tuner_results.json"), encoding="utf-8") as f:
          trials = json.load(f)
      except (OSError, ValueError):
        trials = []
    searched = lambda values: {k: v for k, v in values.items() if not k.startswith("tuner/")}  # Hyperband's own
    return {"source": source, "best": searched(best), "trials": [searched(t) for t in trials],
            "uri": artifacts[0].uri}
  return None


COMPRESSION_REPORT_FILE = "compression.json"  # components.quantizer.REPORT_FILE


def read_compression(tflite_artifacts) -> Optional[Dict[str, Any]]:
  """The Quantizer's compression.json of this run's .tflite artifact; None when the run made none."""
  import json  # pylint: disable=g-import-not-at-top

  if not tflite_artifacts:
    return None
  path = os.path.join(tflite_artifacts[0].uri, COMPRESSION_REPORT_FILE)
  try:
    with open(path, encoding="utf-8") as f:
      report = json.load(f)
  except (OSError, ValueError):
    return None
  report["uri"] = tflite_artifacts[0].uri
  return report


def _is_resolver(store, execution) -> bool:
  return "Resolver" in store.get_execution_types_by_id([execution.type_id])[0].name


def node_id(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if context.type == "node" or store.get_context_types_by_id([context.type_id])[0].name == "node":
      return context.name.split(".", 1)[-1]
  return f"execution-{execution_id}"


OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def artifacts_of(store, execution_id: int, event_types) -> Dict[str, list]:
  """The execution's artifacts of the given event types, by input/output key."""
  by_key: Dict[str, list] = {}
  events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
  artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  for event in events:
    key = event.path.steps[0].key if event.path.steps else "output"
    by_key.setdefault(key, []).append(artifacts[event.artifact_id])
  return by_key


def read_metrics(evaluation_uri: str, model_name: Optional[str] = None,
                 num_classes: Optional[int] = None) -> Dict[str, float]:
  """Overall-slice metrics of a TFMA evaluation: accuracy and example count from TFMA's metrics, per-class and
  macro-averaged precision/recall/F1 from its confusion matrix (`per_class_metrics`); of the candidate model, or
  of `model_name` where TFMA evaluated several. num_classes: as in `read_confusion_matrix`."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  result: Dict[str, float] = {}
  for metrics_for_slice in tfma.load_metrics(evaluation_uri):
    if metrics_for_slice.slice_key.single_slice_keys:
      continue  # only the overall slice
    for kv in metrics_for_slice.metric_keys_and_values:
      if kv.key.is_diff or not kv.value.HasField("double_value"):
        continue
      name = kv.key.name
      if kv.key.aggregation_type.macro_average:
        name = f"macro_{name}"
      elif kv.key.sub_key.HasField("class_id"):
        name = f"{name}/class_{kv.key.sub_key.class_id.value}"
      if not _is_model(kv.key.model_name, model_name):
        continue
      result[name] = kv.value.double_value.value
  matrix = read_confusion_matrix(evaluation_uri, num_classes, model_name)
  if matrix is not None:
    result.update(per_class_metrics(matrix))
  return result


def _is_model(key_model_name: str, model_name: Optional[str]) -> bool:
  """Whether a TFMA key belongs to `model_name`, or with None to the candidate (not the baseline model)."""
  return key_model_name == model_name if model_name is not None else not key_model_name.endswith("baseline")


def read_confusion_matrix(evaluation_uri: str, num_classes: Optional[int] = None, model_name: Optional[str] = None):
  """[actual, predicted] example counts (numpy), from TFMA's MultiClassConfusionMatrixPlot (predicted = the most
  probable class) of the candidate, or of `model_name` where TFMA evaluated several; None if absent.
  num_classes: the matrix's size; by default the highest class id seen, plus one."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  for plots in tfma.load_plots(evaluation_uri):
    if plots.slice_key.single_slice_keys:
      continue
    for kv in plots.plot_keys_and_values:
      if not kv.value.HasField("multi_class_confusion_matrix_at_thresholds") or \
          not _is_model(kv.key.model_name, model_name):
        continue
      entries = kv.value.multi_class_confusion_matrix_at_thresholds.matrices[0].entries
      size = num_classes if num_classes is not None else 1 + max(
          (max(e.actual_class_id, e.predicted_class_id) for e in entries), default=-1)
      matrix = np.zeros((size, size))
      for entry in entries:
        if 0 <= entry.actual_class_id < size and 0 <= entry.predicted_class_id < size:
          matrix[entry.actual_class_id, entry.predicted_class_id] += entry.num_weighted_examples
      return matrix
  return None


def per_class_metrics(matrix) -> Dict[str, float]:
  """Precision, recall and F1 of each class (`precision/class_3`...) and their unweighted means (`macro_precision`,
  `macro_recall`, `macro_f1_score`) from an [actual, predicted] count matrix. A class never predicted (or never
  present) has precision (or recall) 0, as in scikit-learn.

  Computed here rather than by TFMA: ten binarized Precision/Recall/F1 metrics took 3 s of a 10 s Evaluator at
  20,000 images, and from the confusion matrix they are the usual arg-max definitions.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  matrix = np.asarray(matrix, dtype=float)
  hits = np.diag(matrix)
  predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
  ratio = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)
  precision, recall = ratio(hits, predicted), ratio(hits, actual)
  f1 = ratio(2 * precision * recall, precision + recall)
  result: Dict[str, float] = {}
  for name, values in (("precision", precision), ("recall", recall), ("f1_score", f1)):
    result.update({f"{name}/class_{c}": float(v) for c, v in enumerate(values)})
    result[f"macro_{name}"] = float(values.mean()) if len(values) else float("nan")
  return result
