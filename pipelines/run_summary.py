"""What a pipeline run did, read back from its ML Metadata store: components run or cached, metrics, blessing, push."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional

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

  def executed(self) -> List[str]:
    """Components that executed (not from cache) in this run; resolver nodes, which only query, are not counted."""
    return [name for name, state in self.components.items() if state == "ran"]


def open_store(metadata_path: str):
  from ml_metadata import metadata_store  # pylint: disable=g-import-not-at-top

  config = metadata_store_pb2.ConnectionConfig()
  config.sqlite.filename_uri = metadata_path
  config.sqlite.connection_mode = metadata_store_pb2.SqliteMetadataSourceConfig.READONLY
  return metadata_store.MetadataStore(config)


def latest_run_summary(metadata_path: str, pipeline_name: str) -> RunSummary:
  """The summary of the newest run of `pipeline_name`."""
  store = open_store(metadata_path)
  runs = [c for c in store.get_contexts_by_type("pipeline_run")
          if _belongs_to(store, c, pipeline_name)]
  if not runs:
    raise LookupError(f"no run of pipeline {pipeline_name!r} in {metadata_path}")
  return summarize_run(store, max(runs, key=lambda c: c.id))


def _belongs_to(store, run_context, pipeline_name: str) -> bool:
  parents = store.get_parent_contexts_by_context(run_context.id)
  return not parents or any(p.name == pipeline_name for p in parents)


def summarize_run(store, run_context) -> RunSummary:
  components: Dict[str, str] = {}
  outputs: Dict[str, Dict[str, list]] = {}
  baseline_model = None
  for execution in sorted(store.get_executions_by_context(run_context.id), key=lambda e: e.id):
    node = _node_id(store, execution.id)
    state = _STATE_NAMES.get(execution.last_known_state, str(execution.last_known_state))
    if _is_resolver(store, execution) and state == "ran":
      state = "resolved"  # a resolver node queries ML Metadata on every run; it executes no component
    components[node] = state
    outputs[node] = _artifacts(store, execution.id, _OUTPUT_EVENTS)
    if node == "Evaluator":
      baseline = _artifacts(store, execution.id, _INPUT_EVENTS).get("baseline_model")
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
  return RunSummary(run_context.name, components, metrics, blessed, pushed_to, baseline_model)


def _is_resolver(store, execution) -> bool:
  return "Resolver" in store.get_execution_types_by_id([execution.type_id])[0].name


def _node_id(store, execution_id: int) -> str:
  for context in store.get_contexts_by_execution(execution_id):
    if context.type == "node" or store.get_context_types_by_id([context.type_id])[0].name == "node":
      return context.name.split(".", 1)[-1]
  return f"execution-{execution_id}"


_OUTPUT_EVENTS = (metadata_store_pb2.Event.OUTPUT, metadata_store_pb2.Event.DECLARED_OUTPUT)
_INPUT_EVENTS = (metadata_store_pb2.Event.INPUT, metadata_store_pb2.Event.DECLARED_INPUT)


def _artifacts(store, execution_id: int, event_types) -> Dict[str, list]:
  """The execution's artifacts of the given event types, by input/output key."""
  by_key: Dict[str, list] = {}
  events = [e for e in store.get_events_by_execution_ids([execution_id]) if e.type in event_types]
  artifacts = {a.id: a for a in store.get_artifacts_by_id([e.artifact_id for e in events])}
  for event in events:
    key = event.path.steps[0].key if event.path.steps else "output"
    by_key.setdefault(key, []).append(artifacts[event.artifact_id])
  return by_key


def read_metrics(evaluation_uri: str) -> Dict[str, float]:
  """Overall-slice metrics of a TFMA evaluation: accuracy, example count, macro and per-class precision/recall/F1."""
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
      if kv.key.model_name.endswith("baseline"):
        continue  # the baseline model's own metrics; the candidate's are what this run produced
      result[name] = kv.value.double_value.value
  return result
