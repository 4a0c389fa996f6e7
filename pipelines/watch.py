"""Retraining on its own: whether a new span calls for a run (`modelfab watch`).

A span is handled once a run of the pipeline has read it: its ExampleGen records the spans it read (ML Metadata,
components/span_inputs.py), whatever came after (pushed, not blessed, stopped by the drift gate). So a span the
drift gate stopped is not retried on every check; `modelfab run --allow-drift` trains on it when a person decides
to. The newest complete span (readers/spans.py) that no run has read calls for a run.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Optional

from core import output_dir
from core.layout import OutputLayout
from readers import spans


@dataclasses.dataclass(frozen=True)
class Decision:
  run: bool
  reason: str
  span: Optional[int] = None  # the newest complete span, when there is one


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
  return Decision(True, f"new span {newest.number} ({newest.path}); {since}{waiting}", newest.number)
