"""The local runner's scheduling: dependencies first, independent components side by side, failures stop the rest.

The runner itself runs every end-to-end pipeline test (tests/test_pipeline_e2e.py and others go through it).
"""
import threading
import time

import pytest

from pipelines.concurrent_runner import run_in_dependency_order


class Recorder:
  """A `launch` that records start and end times; `slow` nodes sleep, `failing` ones raise."""

  def __init__(self, slow=(), failing=()):
    self.slow, self.failing = set(slow), set(failing)
    self.started, self.ended, self.lock = {}, {}, threading.Lock()

  def __call__(self, node):
    with self.lock:
      self.started[node] = time.monotonic()
    time.sleep(0.3 if node in self.slow else 0.01)
    if node in self.failing:
      raise RuntimeError(f"{node} failed")
    with self.lock:
      self.ended[node] = time.monotonic()


# The shape of modelfab's pipeline after the Trainer.
DAG = {"Trainer": [], "baseline_resolver": ["Trainer"], "Evaluator": ["Trainer", "baseline_resolver"],
       "ServingCheck": ["Trainer"], "Pusher": ["Trainer", "Evaluator", "ServingCheck"]}


def test_every_component_starts_after_the_ones_it_depends_on():
  launch = Recorder(slow=("Evaluator", "ServingCheck"))
  run_in_dependency_order(DAG, launch)
  assert set(launch.ended) == set(DAG)
  for node, deps in DAG.items():
    assert all(launch.started[node] >= launch.ended[dep] for dep in deps), node


def test_independent_components_overlap_up_to_the_limit():
  both_running = threading.Barrier(2, timeout=30)  # passes only when Evaluator and ServingCheck run at once

  class Overlapping(Recorder):
    def __call__(self, node):
      if node in ("Evaluator", "ServingCheck"):
        both_running.wait()  # BrokenBarrierError after the timeout if they ran one after the other
      super().__call__(node)

  launch = Overlapping()
  run_in_dependency_order(DAG, launch, max_parallel=2)
  assert set(launch.ended) == set(DAG)

  one_at_a_time = Recorder(slow=("Evaluator", "ServingCheck"))
  run_in_dependency_order(DAG, one_at_a_time, max_parallel=1)
  assert one_at_a_time.started["ServingCheck"] >= one_at_a_time.ended["Evaluator"] or \
      one_at_a_time.started["Evaluator"] >= one_at_a_time.ended["ServingCheck"]


def test_a_failure_is_raised_and_nothing_downstream_starts():
  launch = Recorder(slow=("ServingCheck",), failing=("Evaluator",))
  with pytest.raises(RuntimeError, match="Evaluator failed"):
    run_in_dependency_order(DAG, launch)
  assert "ServingCheck" in launch.ended  # already running: it finished
  assert "Pusher" not in launch.started


def test_a_cycle_is_an_error_not_a_hang():
  with pytest.raises(ValueError, match="wait on each other"):
    run_in_dependency_order({"a": ["b"], "b": ["a"]}, Recorder())
