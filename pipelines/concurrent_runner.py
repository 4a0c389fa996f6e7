"""TFX's LocalDagRunner, but a component starts as soon as the components it depends on have finished.

TFX's LocalDagRunner runs the components one after the other (its own TODO asks for this change). After the
Trainer, the Evaluator (TFMA on Beam, one core), the ServingCheck (a fresh process that imports TensorFlow) and the
Quantizer do not depend on each other, so they overlap here: at 20,000 CIFAR-sized images the ServingCheck's 4 s
disappear behind the Evaluator. Components that depend on each other still run in order; a failure stops every
component that has not started, lets the running ones finish, and is raised.

ML Metadata is safe to share: each launcher opens its own connection, and MLMD's SQLite source waits and retries
while another connection writes.
"""
from __future__ import annotations

import concurrent.futures
import datetime
import threading
import time
from typing import Callable, Dict, Iterable, Optional

from absl import logging
from tfx.dsl.compiler import constants
from tfx.orchestration import metadata
from tfx.orchestration.local import runner_utils
from tfx.orchestration.local.local_dag_runner import LocalDagRunner
from tfx.orchestration.portable import launcher, partial_run_utils, runtime_parameter_utils
from tfx.proto.orchestration import pipeline_pb2

MAX_PARALLEL_COMPONENTS = 2


def run_in_dependency_order(upstream: Dict[str, Iterable[str]], launch: Callable[[str], None],
                            max_parallel: int = MAX_PARALLEL_COMPONENTS) -> None:
  """Calls `launch(node)` for every node of `upstream` (node -> the nodes it depends on, in pipeline order) once
  all its upstream nodes returned; at most `max_parallel` at a time, earlier nodes first. When a launch raises,
  nothing new starts, the running launches finish and the first error is raised."""
  waiting = {node: set(deps) & set(upstream) for node, deps in upstream.items()}
  finished, running, errors = set(), {}, []
  with concurrent.futures.ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="component") as pool:
    while (waiting and not errors) or running:
      if not errors:
        for node in [n for n, deps in waiting.items() if deps <= finished]:
          if len(running) >= max_parallel:
            break
          del waiting[node]
          running[pool.submit(launch, node)] = node
      if not running:
        raise ValueError(f"components wait on each other or on unknown components: {sorted(waiting)}")
      done, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
      for future in done:
        node = running.pop(future)
        if future.exception() is not None:
          errors.append(future.exception())
        else:
          finished.add(node)
  if errors:
    raise errors[0]


class ConcurrentLocalDagRunner(LocalDagRunner):
  """LocalDagRunner that runs independent components side by side (`run_in_dependency_order`)."""

  def __init__(self, max_parallel: int = MAX_PARALLEL_COMPONENTS,
               on_component: Optional[Callable[[str, Optional[float]], None]] = None):
    """on_component: called with (node id, None) as a component starts and (node id, seconds) when it finished."""
    super().__init__()
    self._max_parallel = max_parallel
    self._on_component = on_component or (lambda node_id, seconds: None)

  def run_with_ir(self, pipeline: pipeline_pb2.Pipeline,
                  run_options: Optional[pipeline_pb2.RunOptions] = None) -> None:
    """Runs the compiled `pipeline` (same set-up as LocalDagRunner.run_with_ir)."""
    runtime_parameter_utils.substitute_runtime_parameter(
        pipeline, {constants.PIPELINE_RUN_ID_PARAMETER_NAME: datetime.datetime.now().isoformat()})
    deployment_config = runner_utils.extract_local_deployment_config(pipeline)
    connection_config = getattr(deployment_config.metadata_connection_config,
                                deployment_config.metadata_connection_config.WhichOneof("connection_config"))
    if run_options:
      partial_run = run_options.partial_run
      partial_run_utils.mark_pipeline(pipeline, from_nodes=partial_run.from_nodes or None,
                                      to_nodes=partial_run.to_nodes or None,
                                      snapshot_settings=partial_run.snapshot_settings)
    nodes = {node.pipeline_node.node_info.id: node.pipeline_node for node in pipeline.nodes}
    snapshot_lock = threading.Lock()

    def launch(node_id: str) -> None:
      pipeline_node = nodes[node_id]
      if pipeline_node.execution_options.HasField("skip"):
        logging.info("Skipping component %s.", node_id)
        return
      component_launcher = launcher.Launcher(
          pipeline_node=pipeline_node,
          mlmd_connection=metadata.Metadata(connection_config),
          pipeline_info=pipeline.pipeline_info,
          pipeline_runtime_spec=pipeline.runtime_spec,
          executor_spec=runner_utils.extract_executor_spec(deployment_config, node_id),
          custom_driver_spec=runner_utils.extract_custom_driver_spec(deployment_config, node_id))
      logging.info("Component %s is running.", node_id)
      started = time.monotonic()
      self._on_component(node_id, None)
      if pipeline_node.execution_options.run.perform_snapshot:
        with snapshot_lock, metadata.Metadata(connection_config) as mlmd_handle:
          partial_run_utils.snapshot(mlmd_handle, pipeline)
      component_launcher.launch()
      logging.info("Component %s is finished.", node_id)
      self._on_component(node_id, time.monotonic() - started)

    run_in_dependency_order({node_id: list(node.upstream_nodes) for node_id, node in nodes.items()}, launch,
                            self._max_parallel)
