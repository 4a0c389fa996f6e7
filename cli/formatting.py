"""How results look on the terminal: the run summary, the `runs` table, the monitor's checks."""
from __future__ import annotations

from typing import Any, Dict, List

from core import names


def tuning_line(tuning) -> str:
  """One line: where the Trainer's hyperparameters came from, the best values and how many trials."""
  values = ", ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in tuning["best"].items())
  if tuning["source"] == "imported":
    return f"hyperparameters imported from {tuning['uri']}: {values}"
  best_score = max((t["score"] for t in tuning["trials"] if t.get("score") is not None), default=float("nan"))
  return f"tuned: {len(tuning['trials'])} trials, best val_accuracy {best_score:.4f} with {values}"


def onnx_line(report) -> str:
  """One line: whether model.onnx agrees with the SavedModel, and whether it was pushed."""
  if not report.get("eval_examples"):
    return f"onnx: not pushed ({report.get('reason')})"
  verdict = ("pushed beside the SavedModel" if report.get("pushed") else
             "not pushed" + (f": {report['reason']}" if report.get("reason") else " (the SavedModel was not)"))
  return (f"onnx: {report['bytes'] / 1024:.0f} KiB, the SavedModel's label on {report['label_agreement']:.1%} of "
          f"{report['eval_examples']} eval examples, probabilities within {report['max_probability_difference']:.1e},"
          f" {report['latency_ms']['onnx']:.3f} vs {report['latency_ms']['savedmodel']:.3f} ms/example; {verdict}")


def compression_line(report) -> str:
  """One line: the .tflite against the float model (size, accuracy, batch-1 latency) and whether it was pushed."""
  float_, tflite = report["float"], report["compressed"]
  accuracy = names.ACCURACY
  verdict = ("pushed beside the SavedModel" if report.get("pushed") else
             "not pushed" + (f": {report['reason']}" if report.get("reason") else " (the float model was not)"))
  sparsity = f", {float_['sparsity']:.0%} zero weights" if float_.get("sparsity", 0) >= 0.05 else ""
  return (f"compressed ({report['mode']}): {tflite['bytes'] / 1024:.0f} KiB vs {float_['bytes'] / 1024:.0f} KiB "
          f"SavedModel{sparsity}, accuracy {tflite['metrics'][accuracy]:.4f} vs {float_['metrics'][accuracy]:.4f}, "
          f"{tflite['latency_ms']:.3f} vs {float_['latency_ms']:.3f} ms/example at batch 1; {verdict}")


def spans_text(numbers) -> str:
  """'3', '3-5' or '1, 4, 5': the spans a run read."""
  from readers import spans  # pylint: disable=g-import-not-at-top

  return spans.describe(numbers)


def summary_lines(summary, seconds: float) -> List[str]:
  """What `modelfab run` prints at the end: components, metrics, blessing, tuning, compression, the push."""
  lines = ["", f"run {summary.run_id} finished in {seconds:.1f}s"]
  lines += [f"  {name:<20} {state}" for name, state in summary.components.items()]
  if summary.spans:
    lines.append(f"spans: {spans_text(summary.spans)}")
  if summary.drift:
    lines.append(f"drift gate, span {summary.drift['span']}: {summary.drift['verdict']}")
  if summary.metrics:
    lines.append("eval metrics: " + ", ".join(f"{k}={summary.metrics[k]:.4f}" for k in names.SUMMARY_METRICS
                                              if k in summary.metrics))
  from inference import explain  # pylint: disable=g-import-not-at-top  # neither imports TensorFlow here
  from models import privacy as privacy_lib  # pylint: disable=g-import-not-at-top

  if summary.privacy:
    lines.append(f"privacy: {privacy_lib.describe(summary.privacy)}")
  if summary.explanations:
    lines.append(f"explanations: {explain.describe_split(summary.explanations)}")
  if summary.membership_inference:
    lines.append(f"membership inference: {privacy_lib.describe_membership(summary.membership_inference)}")
  if summary.blessed is not None:
    lines.append("blessed: " + ("yes" if summary.blessed else
                                f"NO ({summary.privacy_refusal or 'thresholds not met'}; model not pushed)"))
  if summary.precision:
    lines.append(f"training precision: {summary.precision['precision']} ({summary.precision['reason']})")
  if summary.tuning:
    lines.append(tuning_line(summary.tuning))
  if summary.compression:
    lines.append(compression_line(summary.compression))
  if summary.onnx:
    lines.append(onnx_line(summary.onnx))
  if summary.serving_check_failure:
    lines.append(f"serving check: FAILED ({summary.serving_check_failure}); model not pushed")
  lines.append(f"pushed to: {summary.pushed_to}{_labels_of(summary.pushed_to)}" if summary.pushed_to else "pushed: no")
  if summary.batch_inference:
    inference = summary.batch_inference
    lines.append(f"batch inference: {inference['reason']}" if inference.get("reason") else
                 f"batch inference: {inference['predicted']:,} predicted, {inference['failed']:,} failed: "
                 f"{inference['predictions']}")
  return lines


def format_runs(runs) -> str:
  """The `modelfab runs` table: one line per run, newest last."""
  header = ["RUN", "STARTED", "PIPELINE", "SPANS", "EXECUTED", "PRECISION", "ACCURACY", "MACRO_F1", "BLESSED",
            "PUSHED"]
  rows = []
  for r in runs:
    executed = r.executed()
    components = [n for n, state in r.components.items() if state != "resolved"]
    ran = ("all" if len(executed) == len(components) else "none (all cached)" if not executed
           else ",".join(executed))
    interrupted = [n for n, state in r.components.items() if state == "interrupted"]
    running = [n for n, state in r.components.items() if state == "running"]
    failed = [n for n, state in r.components.items() if state == "failed"]
    if failed:
      ran = f"failed in {','.join(failed)}" + (f" (ran {','.join(executed)})" if executed else "")
    elif interrupted:
      ran = f"interrupted in {','.join(interrupted)}" + (f" (ran {','.join(executed)})" if executed else "")
    elif running:
      ran = f"running {','.join(running)}" + (f" (ran {','.join(executed)})" if executed else "")
    metric = lambda name: f"{r.metrics[name]:.4f}" if name in r.metrics else "-"
    blessed = {True: "yes", False: "no", None: "-"}[r.blessed]
    rows.append([r.run_id, r.started_text, r.pipeline_name, spans_text(r.spans) if r.spans else "-", ran, (r.precision or {}).get("precision", "-"),
                 metric(names.ACCURACY),
                 metric(names.MACRO_F1), blessed, r.pushed_version or "-"])
  widths = [max(len(str(row[i])) for row in [header] + rows) for i in range(len(header))]
  return "\n".join("  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip() for row in [header] + rows)


def format_monitor_result(result: Dict[str, Any]) -> str:
  """The `modelfab monitor` table: one line per check, then live accuracy and the verdict."""
  lines = [f"model {result['model']} version {result['version']} ({result['requests']} logged requests; "
           f"trained in run {result['run']})",
           f"{'CHECK':<17} {'FEATURE':<16} {'MEASURE':<15} {'VALUE':>7} {'LIMIT':>6}  STATUS"]
  for c in result["checks"]:
    lines.append(f"{c['kind']:<17} {c['feature']:<16} {c['measure']:<15} {c['value']:>7.3f} {c['threshold']:>6.2f}  "
                 f"{'ALERT' if c['alert'] else 'ok'}")
  live = result.get("live_accuracy")
  if live:
    accuracy = f"{live['accuracy']:.3f}" if live["accuracy"] is not None else "-"
    unknown = live["unknown_request_ids"]
    lines.append(f"live accuracy {accuracy} on {live['labelled']} labelled request(s)"
                 + (f"; {unknown} label(s) for unknown request ids" if unknown else ""))
  lines.append("ALERT: a threshold was crossed" if result["alert"] else "no threshold crossed")
  return "\n".join(lines)


def _labels_of(version_dir: str) -> str:
  """" (labels: canary)" when the pushed version carries version labels (core/version_labels.py), else ""."""
  import os  # pylint: disable=g-import-not-at-top

  from core import version_labels  # pylint: disable=g-import-not-at-top
  from core.errors import LabelError  # pylint: disable=g-import-not-at-top

  try:
    labels = version_labels.read_labels(os.path.dirname(version_dir.rstrip("/"))).labels
  except LabelError:
    return ""
  names = sorted(k for k, v in labels.items() if str(v) == os.path.basename(version_dir.rstrip("/")))
  return f" (labels: {', '.join(names)})" if names else ""
