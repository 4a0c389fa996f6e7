"""`modelfab watch`'s decision: a new complete span calls for a run; a run in progress or no new span does not."""
import os

import pytest

from conftest import write_image
from core.errors import DataError
from core.layout import OutputLayout
from pipelines import watch


def _span(root, number, complete=True):
  for name in ("a", "b"):
    write_image(root / f"span-{number}" / name / "x.png")
    write_image(root / f"span-{number}" / name / "y.png")
  if complete:
    (root / f"span-{number}" / "_SUCCESS").write_text("")


def test_a_new_span_with_no_run_yet_calls_for_a_run(tmp_path):
  _span(tmp_path, 1)
  _span(tmp_path, 2, complete=False)
  decision = watch.decide(str(tmp_path / "span-{SPAN}"), str(tmp_path / "out"), "digits-cnn")
  assert decision.run and decision.span == 1
  assert decision.reason.startswith(f"new span 1 ({tmp_path / 'span-1'}); no run has read a span yet")
  assert "span 2" in decision.reason and "still being written" in decision.reason


def test_a_run_in_progress_means_wait(tmp_path):
  _span(tmp_path, 1)
  output = tmp_path / "out"
  output.mkdir()
  with open(OutputLayout(str(output)).lock_path, "w", encoding="utf-8") as f:
    f.write(f"pid {os.getpid()}, modelfab run")  # this process: alive
  decision = watch.decide(str(tmp_path / "span-{SPAN}"), str(output), "digits-cnn")
  assert not decision.run and "a run is in progress" in decision.reason


def test_no_complete_span_is_an_error_not_a_silent_wait(tmp_path):
  _span(tmp_path, 1, complete=False)
  with pytest.raises(DataError, match="no complete span"):
    watch.decide(str(tmp_path / "span-{SPAN}"), str(tmp_path / "out"), "digits-cnn")


def test_a_span_written_from_labelled_traffic_is_run_allowed_to_drift(tmp_path):
  _span(tmp_path, 1)
  (tmp_path / "span-1" / ".modelfab-span.json").write_text('{"source": "labelled traffic"}')
  decision = watch.decide(str(tmp_path / "span-{SPAN}"), str(tmp_path / "out"), "digits-cnn")
  assert decision.run and decision.allow_drift and "written from labelled traffic" in decision.reason
  _span(tmp_path, 2)  # an ordinary span: the drift gate decides
  decision = watch.decide(str(tmp_path / "span-{SPAN}"), str(tmp_path / "out"), "digits-cnn")
  assert decision.run and not decision.allow_drift


def test_traffic_is_not_checked_before_a_model_was_pushed(tmp_path):
  decision, traffic = watch.decide_on_traffic(str(tmp_path), "digits-cnn", "digits-cnn", "image", "labels.csv")
  assert not decision.run and traffic is None
  assert decision.reason == "traffic: no model of digits-cnn pushed yet, so no traffic to check"


def _row(request_id, image=b"png"):
  return {"image": image, "modelfab_request_id": request_id.encode()}


def test_only_labelled_single_example_requests_become_span_examples():
  rows = [_row("r1", b"one"), _row("r2", b"two-a"), _row("r2", b"two-b"), _row("r3", b"three"),
          {"text": b"other modality", "modelfab_request_id": b"r4"}]
  truth = {"r1": "7", "r2": "1", "r4": "2", "unknown": "3"}
  assert watch.labelled_requests(rows, truth, "image") == [("7", _row("r1", b"one"))]
