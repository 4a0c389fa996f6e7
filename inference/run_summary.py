"""What a pipeline run did, read back from its ML Metadata store: components run or cached, metrics, blessing, push."""
from __future__ import annotations

import dataclasses
import datetime
import os
from typing import Any, Dict, List, Optional

from ml_metadata.proto import metadata_store_pb2

from core import layout, model_files, names, output_dir
from core.json_files import read_json
from inference.eval_metrics import read_metrics

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
  # {"precision": float32 | bfloat16 | float16, "reason": ...}: how the Trainer's model was trained (from its
  # metadata, models.precision); None for models exported before it was recorded.
  precision: Optional[Dict[str, str]] = None
  # DP-SGD's settings and the privacy spent (models.privacy.report), from the model's metadata; None without DP.
  privacy: Optional[Dict[str, Any]] = None
  privacy_refusal: Optional[str] = None  # why --max-epsilon refused to bless the model
  membership_inference: Optional[Dict[str, Any]] = None  # the attack's AUC on the Trainer's model (models.privacy)
  # The Explainer's counts (components/explainer.py: explained, misclassified, beats_random, median error, or a
  # reason); the per-example attributions stay in its artifact's explanations.json.
  explanations: Optional[Dict[str, Any]] = None
  # The OnnxExporter's report (inference/onnx_export.py: verdict, agreement, largest difference, size, latency) plus
  # "pushed"; None when the run exported no ONNX model.
  onnx: Optional[Dict[str, Any]] = None
  # The span numbers the run's ExampleGen read (data in spans, readers/spans.py); None for data without spans.
  spans: Optional[List[int]] = None
  # The DriftGate's report (components/drift_gate.py: span, baseline, checks, verdict); None when it did not finish.
  drift: Optional[Dict[str, Any]] = None
  # The BatchInference step (components/batch_inference.py): {"predicted", "failed", "predictions": the JSON Lines
  # file, "model", "reason"}; None when the run had none.
  batch_inference: Optional[Dict[str, Any]] = None
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

  @property
  def examples(self):
    """The MLMD Examples artifact of the run's ExampleGen (whichever ExampleGen the data needed), or None."""
    return examples_of(self.outputs)

  def output_uri(self, node: str, key: str) -> Optional[str]:
    artifacts = self.outputs.get(node, {}).get(key)
    return artifacts[0].uri if artifacts else None

  def to_json(self) -> Dict[str, Any]:
    """Plain data for `modelfab runs --json`."""
    return {"run_id": self.run_id, "pipeline": self.pipeline_name, "started": self.started_text,
            "components": self.components, "executed": self.executed(), "metrics": self.metrics,
            "blessed": self.blessed, "pushed_to": self.pushed_to, "pushed_version": self.pushed_version,
            "baseline_model": self.baseline_model, "model": self.output_uri(names.TRAINER, "model"),
            "serving_check_failure": self.serving_check_failure, "compression": self.compression,
            "tuning": self.tuning, "precision": self.precision, "spans": self.spans, "drift": self.drift,
            "batch_inference": self.batch_inference, "privacy": self.privacy,
            "privacy_refusal": self.privacy_refusal, "membership_inference": self.membership_inference,
            "explanations": self.explanations}


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
  the newest run can still be going, and only while a process holds the output dir (core.output_dir).
  """
  if not os.path.isfile(metadata_path):
    raise FileNotFoundError(f"{metadata_path}: no ML Metadata store (has a pipeline run with this output dir?)")
  store = open_store(metadata_path)
  contexts = sorted(store.get_contexts_by_type("pipeline_run"), key=lambda c: c.id)
  in_progress = output_dir.run_in_progress(layout.layout_of_store(metadata_path).root)
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
    if node == names.EVALUATOR:
      baseline = artifacts_of(store, execution.id, INPUT_EVENTS).get("baseline_model")
      baseline_model = baseline[0].uri if baseline else None
  metrics, blessed, pushed_to = {}, None, None
  evaluation = outputs.get(names.EVALUATOR, {}).get("evaluation")
  if evaluation:
    metrics = read_metrics(evaluation[0].uri)
  blessing = outputs.get(names.EVALUATOR, {}).get("blessing")
  if blessing:
    blessed = blessing[0].custom_properties["blessed"].int_value == 1
  pushed = outputs.get(names.PUSHER, {}).get("pushed_model")
  if pushed and pushed[0].custom_properties["pushed"].int_value == 1:
    pushed_to = pushed[0].custom_properties["pushed_destination"].string_value
  serving_check = outputs.get(names.SERVING_CHECK, {}).get("blessing")
  failure, privacy_refusal = None, None
  if serving_check and serving_check[0].custom_properties["blessed"].int_value != 1:
    failure = serving_check[0].custom_properties["reason"].string_value or "unknown reason"
    if serving_check[0].custom_properties.get("privacy_refused") and \
        serving_check[0].custom_properties["privacy_refused"].int_value == 1:
      failure, privacy_refusal, blessed = None, failure, False  # --max-epsilon: not blessed
  compression = read_compression(outputs.get(names.QUANTIZER, {}).get("tflite_model"))
  if compression is not None:
    compression["pushed"] = bool(pushed_to and compression.get("blessed"))
  onnx = read_onnx_report(outputs.get(names.ONNX_EXPORTER, {}).get("onnx_model"))
  if onnx is not None:
    onnx["pushed"] = bool(pushed_to and onnx.get("blessed"))
  examples = examples_of(outputs)
  drift_report = outputs.get(names.DRIFT_GATE, {}).get("drift_report")
  trained = trainer_metadata(outputs.get(names.TRAINER, {}).get("model"))
  return RunSummary(run_context.name, components, metrics, blessed, pushed_to, baseline_model,
                    spans=read_spans(examples) if examples is not None else None,
                    drift=read_json(drift_report[0].uri, names.DRIFT_REPORT_FILE) if drift_report else None,
                    batch_inference=read_batch_inference(outputs.get(names.BATCH_INFERENCE, {}).get("inference_result")),
                    pipeline_name=pipeline_name, started=run_context.create_time_since_epoch / 1000.0,
                    serving_check_failure=failure, compression=compression, tuning=read_tuning(outputs),
                    precision=precision_of(trained), onnx=onnx, privacy=trained.privacy,
                    membership_inference=trained.membership_inference,
                    explanations=read_explanations(outputs.get(names.EXPLAINER, {}).get("explanations")),
                    privacy_refusal=privacy_refusal,
                    outputs=outputs)


def examples_of(outputs: Dict[str, Dict[str, list]]):
  """The Examples artifact among a run's outputs that an ExampleGen node wrote, or None."""
  return next((outs["examples"][0] for node, outs in outputs.items()
               if node.endswith("ExampleGen") and outs.get("examples")), None)


def read_spans(examples_artifact) -> Optional[List[int]]:
  """The span numbers an ExampleGen's Examples artifact (MLMD) was made from; None when its data had no spans."""
  if names.SPANS_PROPERTY not in examples_artifact.custom_properties:
    return None
  value = examples_artifact.custom_properties[names.SPANS_PROPERTY].string_value
  return [int(n) for n in value.split(",") if n]


def read_batch_inference(artifacts) -> Optional[Dict[str, Any]]:
  """The BatchInference step's counts and predictions file, from its InferenceResult artifact."""
  if not artifacts:
    return None
  properties = artifacts[0].custom_properties
  value = lambda key, kind: getattr(properties[key], kind) if key in properties else None
  return {"predicted": value("predicted", "int_value") or 0, "failed": value("failed", "int_value") or 0,
          "predictions": os.path.join(artifacts[0].uri, names.PREDICTIONS_FILE), "model": value("model", "string_value"),
          "reason": value("reason", "string_value")}


def read_explanations(artifacts) -> Optional[Dict[str, Any]]:
  """The Explainer's report without its per-example rows, filters and activation maps; None when the run had no
  Explainer."""
  report = read_json(artifacts[0].uri, names.EXPLANATIONS_FILE) if artifacts else None
  return {k: v for k, v in report.items() if k not in ("examples", "filters", "activations")} if report else None


def trainer_metadata(model_artifacts) -> model_files.ModelMetadata:
  """The metadata the Trainer exported with its model (empty when the run has no Trainer model)."""
  if not model_artifacts:
    return model_files.ModelMetadata()
  return model_files.read_metadata(os.path.join(model_artifacts[0].uri, model_files.TRAINER_EXPORT_DIR))


def precision_of(metadata: model_files.ModelMetadata) -> Optional[Dict[str, str]]:
  """The precision the model was trained in, and why; None for models exported before it was recorded."""
  if not metadata.training_precision:
    return None
  return {"precision": metadata.training_precision, "reason": metadata.training_precision_reason or ""}


def read_tuning(outputs: Dict[str, Dict[str, list]]) -> Optional[Dict[str, Any]]:
  """The best hyperparameters the Trainer got (from this run's Tuner or imported) and the Tuner's trials."""
  for node, key, source in ((names.TUNER, "best_hyperparameters", "Tuner"),
                            (names.HPARAMS_IMPORTER, "result", "imported")):
    artifacts = outputs.get(node, {}).get(key)
    if not artifacts:
      continue
    best = read_json(artifacts[0].uri, names.BEST_HPARAMS_FILE)
    if best is None:
      return None
    best = best.get("values", {})
    results = outputs.get(names.TUNER, {}).get("tuner_results")
    trials = (read_json(results[0].uri, names.TUNER_RESULTS_FILE) if results else None) or []
    searched = lambda values: {k: v for k, v in values.items() if not k.startswith("tuner/")}  # Hyperband's own
    return {"source": source, "best": searched(best), "trials": [searched(t) for t in trials],
            "uri": artifacts[0].uri}
  return None


def read_onnx_report(onnx_artifacts) -> Optional[Dict[str, Any]]:
  """The OnnxExporter's onnx_export.json of this run's OnnxModel artifact; None when the run made none."""
  report = read_json(onnx_artifacts[0].uri, names.ONNX_REPORT_FILE) if onnx_artifacts else None
  if report is None:
    return None
  report["uri"] = onnx_artifacts[0].uri
  return report


def read_compression(tflite_artifacts) -> Optional[Dict[str, Any]]:
  """The Quantizer's compression.json of this run's .tflite artifact; None when the run made none."""
  report = read_json(tflite_artifacts[0].uri, names.COMPRESSION_REPORT_FILE) if tflite_artifacts else None
  if report is None:
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
