"""What the command line prints: the run summary, the `runs` table and the monitor's checks."""
from cli import formatting
from inference.run_summary import RunSummary


def _summary(**overrides):
  values = dict(run_id="2026-12-03T10:00:00.1", components={"ImageExampleGen": "cached", "Trainer": "ran",
                                                             "baseline_resolver": "resolved", "Pusher": "ran"},
                metrics={"sparse_categorical_accuracy": 0.9917, "macro_f1_score": 0.99, "example_count": 362.0},
                blessed=True, pushed_to="/out/serving/digits-cnn/1764756000", pipeline_name="digits-cnn",
                started=1764756000.0, precision={"precision": "bfloat16", "reason": "auto: the CPU computes in "
                                                                                    "bfloat16 natively (amx_bf16)"})
  values.update(overrides)
  return RunSummary(**values)


def test_the_run_summary_names_components_metrics_blessing_and_the_push():
  lines = formatting.summary_lines(_summary(), 21.34)
  assert lines[1] == "run 2026-12-03T10:00:00.1 finished in 21.3s"
  assert "  Trainer              ran" in lines
  assert "eval metrics: sparse_categorical_accuracy=0.9917, macro_f1_score=0.9900, example_count=362.0000" in lines
  assert lines[-3:] == ["blessed: yes", "training precision: bfloat16 (auto: the CPU computes in bfloat16 natively "
                        "(amx_bf16))", "pushed to: /out/serving/digits-cnn/1764756000"]
  refused = formatting.summary_lines(_summary(blessed=False, pushed_to=None, serving_check_failure="NaN"), 1)
  assert "blessed: NO (thresholds not met; model not pushed)" in refused
  assert "serving check: FAILED (NaN); model not pushed" in refused and refused[-1] == "pushed: no"


def test_the_run_summary_names_the_pushed_versions_labels(tmp_path):
  from core import version_labels  # pylint: disable=g-import-not-at-top

  for version in (100, 200):
    (tmp_path / str(version)).mkdir()
    (tmp_path / str(version) / "saved_model.pb").write_bytes(b"")
  version_labels.label_new_push(str(tmp_path), 200, "canary")
  lines = formatting.summary_lines(_summary(pushed_to=str(tmp_path / "200")), 1)
  assert lines[-1] == f"pushed to: {tmp_path / '200'} (labels: canary)"


def test_the_runs_table_says_what_executed():
  cached = _summary(run_id="r2", components={"ImageExampleGen": "cached", "Trainer": "cached"})
  killed = _summary(run_id="r3", components={"ImageExampleGen": "ran", "Trainer": "interrupted"}, metrics={},
                    blessed=None, pushed_to=None)
  stopped = _summary(run_id="r4", components={"ImageExampleGen": "ran", "DriftGate": "failed"}, metrics={},
                     blessed=None, pushed_to=None, spans=[3, 4], precision=None)
  lines = formatting.format_runs([_summary(), cached, killed, stopped]).splitlines()
  assert lines[0].split() == ["RUN", "STARTED", "PIPELINE", "SPANS", "EXECUTED", "PRECISION", "ACCURACY", "MACRO_F1",
                              "BLESSED", "PUSHED"]
  assert "Trainer,Pusher" in lines[1] and lines[1].split()[-3:] == ["0.9900", "yes", "1764756000"]
  assert "none (all cached)" in lines[2] and "bfloat16" in lines[2].split()
  assert "interrupted in Trainer (ran ImageExampleGen)" in lines[3] and lines[3].split()[-4:] == ["-", "-", "-", "-"]
  assert lines[1].split()[4] == "-" and lines[4].split()[4] == "3-4"  # the spans each run read
  assert "failed in DriftGate (ran ImageExampleGen)" in lines[4]


def test_the_run_summary_names_spans_and_the_drift_verdict():
  drift = {"span": 5, "verdict": "within the limits against the data version 17 was trained on"}
  lines = formatting.summary_lines(_summary(spans=[3, 4, 5], drift=drift), 1)
  assert "spans: 3-5" in lines
  assert "drift gate, span 5: within the limits against the data version 17 was trained on" in lines
  assert not any(line.startswith("spans") for line in formatting.summary_lines(_summary(), 1))


def test_compression_and_tuning_lines():
  report = {"mode": "int8", "pushed": True, "reason": "",
            "float": {"bytes": 429 * 1024, "latency_ms": 0.6, "metrics": {"sparse_categorical_accuracy": 0.99}},
            "compressed": {"bytes": 75 * 1024, "latency_ms": 0.04, "metrics": {"sparse_categorical_accuracy": 0.98}}}
  assert formatting.compression_line(report) == (
      "compressed (int8): 75 KiB vs 429 KiB SavedModel, accuracy 0.9800 vs 0.9900, 0.040 vs 0.600 ms/example at "
      "batch 1; pushed beside the SavedModel")
  tuning = {"source": "Tuner", "best": {"learning_rate": 0.00152, "batch_size": 16},
            "trials": [{"score": 0.9904}, {"score": 0.5}]}
  assert formatting.tuning_line(tuning) == "tuned: 2 trials, best val_accuracy 0.9904 with learning_rate=0.00152, " \
                                           "batch_size=16"


def test_the_monitor_table_marks_each_alert():
  result = {"model": "digits-cnn", "version": 17, "requests": 60, "run": "r1", "alert": True,
            "live_accuracy": {"accuracy": 0.5, "labelled": 20, "unknown_request_ids": 2},
            "checks": [{"kind": "input drift", "feature": "brightness", "measure": "jensen_shannon", "value": 0.61,
                        "threshold": 0.2, "alert": True}]}
  text = formatting.format_monitor_result(result)
  assert "input drift       brightness       jensen_shannon    0.610   0.20  ALERT" in text
  assert "live accuracy 0.500 on 20 labelled request(s); 2 label(s) for unknown request ids" in text
  assert text.endswith("ALERT: a threshold was crossed")


def test_the_run_summary_counts_batch_inference():
  inference = {"predicted": 1796, "failed": 1, "predictions": "/o/predictions.jsonl", "reason": None}
  assert formatting.summary_lines(_summary(batch_inference=inference), 1)[-1] == (
      "batch inference: 1,796 predicted, 1 failed: /o/predictions.jsonl")
  skipped = {"predicted": 0, "failed": 0, "predictions": "", "reason": "nothing was pushed: no batch inference"}
  assert formatting.summary_lines(_summary(batch_inference=skipped), 1)[-1] == (
      "batch inference: nothing was pushed: no batch inference")
