"""The checks `modelfab promote` makes before `stable` moves to the canary's version.

1. The canary loads and answers: a fresh load of its version directory classifies a warm-up example.
2. Its logged traffic raises no `monitor` alert (input and prediction drift against its own training and eval
   data); it needs at least monitor.MIN_REQUESTS logged requests answered by the canary.
3. With true labels (a CSV of request_id,label), its live accuracy is not below stable's by more than
   `max_accuracy_drop`; both versions need labelled requests.
Each check is a RolloutCheck that says what it saw; promote refuses when any fails.
"""
from __future__ import annotations

import dataclasses
import os
import time
from typing import List, Optional

from core import version_labels
from core.errors import LabelError, MonitorError
from core.layout import OutputLayout
from monitoring import monitor as monitor_lib
from serving import request_log

DEFAULT_MAX_ACCURACY_DROP = 0.02


@dataclasses.dataclass
class RolloutCheck:
  name: str
  passed: bool
  detail: str


def promote_checks(output: str, model: str, labels_csv: Optional[str] = None,
                   max_accuracy_drop: float = DEFAULT_MAX_ACCURACY_DROP, since: float = 0.0) -> List[RolloutCheck]:
  """The checks on the canary of `model`, on traffic logged since `since` (Unix seconds); LabelError when there is
  no canary."""
  model_dir = OutputLayout(output).serving_dir(model)
  labels = version_labels.read_labels(model_dir).labels
  if version_labels.CANARY not in labels:
    raise LabelError(f"{model_dir} has no canary to promote (label one with `modelfab label --output {output} "
                     f"--model {model} canary=VERSION`)")
  canary, stable = labels[version_labels.CANARY], labels.get(version_labels.STABLE)
  checks = [_answers(os.path.join(model_dir, str(canary)), canary)]
  checks.append(_no_drift(output, model, canary, since))
  if labels_csv:
    checks.append(_accuracy(output, model, labels_csv, canary, stable, max_accuracy_drop, since))
  return checks


def _answers(version_dir: str, version: int) -> RolloutCheck:
  from inference import model_loader  # pylint: disable=g-import-not-at-top
  from serving.model_server import as_tensor, warmup_examples  # pylint: disable=g-import-not-at-top

  name = "the canary loads and answers"
  started = time.time()
  try:
    loaded = model_loader.load_model(version_dir)
    outputs = loaded.serving_fn(examples=as_tensor(warmup_examples(loaded.metadata)))
    label = outputs["label"].numpy()[0].decode("utf-8", "replace")
  except Exception as e:  # pylint: disable=broad-except
    return RolloutCheck(name, False, f"version {version}: {str(e).strip().splitlines()[0] if str(e).strip() else e}")
  return RolloutCheck(name, True, f"version {version} loaded and answered {label!r} in {time.time() - started:.1f} s")


def _no_drift(output: str, model: str, canary: int, since: float) -> RolloutCheck:
  name = "its logged traffic raises no monitor alert"
  try:
    result = monitor_lib.monitor(output, model, since, version=canary)
  except MonitorError as e:
    return RolloutCheck(name, False, str(e))
  alerts = [f"{c['kind']} {c['feature']} {c['value']:.3f} > {c['threshold']}" for c in result["checks"] if c["alert"]]
  if alerts:
    return RolloutCheck(name, False, f"{result['requests']} requests to version {canary}: " + "; ".join(alerts))
  return RolloutCheck(name, True, f"{result['requests']} requests to version {canary}, "
                                  f"{len(result['checks'])} drift checks under their thresholds")


def _accuracy(output: str, model: str, labels_csv: str, canary: int, stable: Optional[int],
              max_drop: float, since: float) -> RolloutCheck:
  name = f"live accuracy within {max_drop:.1%} of stable's"
  if stable is None:
    return RolloutCheck(name, False, "no stable version to compare with")
  rows = request_log.read_request_logs(output, model, since)
  by_version = {}
  try:
    for version in (stable, canary):
      by_version[version] = monitor_lib.live_accuracy(
          labels_csv, [r for r in rows if int(r[request_log.PREFIX + "version"]) == version])
  except MonitorError as e:
    return RolloutCheck(name, False, str(e))
  missing = [str(v) for v, live in by_version.items() if not live["labelled"]]
  if missing:
    return RolloutCheck(name, False, f"{labels_csv} labels no request answered by version(s) {', '.join(missing)}")
  stable_live, canary_live = by_version[stable], by_version[canary]
  drop = stable_live["accuracy"] - canary_live["accuracy"]
  detail = (f"canary {canary_live['accuracy']:.1%} on {canary_live['labelled']} labelled requests, stable "
            f"{stable_live['accuracy']:.1%} on {stable_live['labelled']}")
  return RolloutCheck(name, drop <= max_drop, detail + (f": {drop:.1%} lower" if drop > max_drop else ""))
