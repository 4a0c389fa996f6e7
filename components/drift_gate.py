"""DriftGate: stops a run on spans before Transform when the newest span has drifted from the data the current
blessed model was trained on (TFDV's drift comparators, as TFX's DistributionValidator uses them).

Raw images and texts are not comparable as they are, so both sides are reduced to the derived features `modelfab
monitor` uses (monitoring/drift.py: images' width, height, channels, brightness and contrast; texts' word count and
share of words outside the model's vocabulary), plus the class distribution. Numeric features are compared by
Jensen-Shannon divergence, the labels by L-infinity distance. Over a limit the run fails with DriftFound naming
each feature and its distance, unless `allow_drift`; either way the checks are the `drift_report` artifact
(`drift.json`), which `modelfab runs` and the report read back.
"""
import json
import os

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact
from tfx.types.standard_artifacts import Examples

from core import names
from core.errors import DriftFound
from core.features import RAW_LABEL_KEY


class DriftReport(artifact.Artifact):
  """The drift gate's checks of one span against the blessed model's training data (`drift.json`)."""
  TYPE_NAME = "modelfab.DriftReport"


def check_span(span: int, span_folder: str, data_format: str, input_key: str, text_column: str, label_column: str,
               baseline: dict, jsd: float, linf: float, allow_drift: bool) -> dict:
  """The report of span `span` against `baseline` ({"examples": Examples URI, "model_dir": pushed version,
  "version": its number}, or {} when nothing was blessed yet); raises DriftFound when a limit is crossed and drift
  is not allowed."""
  report = {"span": span, "span_folder": span_folder, "baseline": baseline, "allowed": allow_drift, "checks": []}
  if not baseline:
    report["verdict"] = "no blessed model yet: nothing to compare"
    return report
  from monitoring import drift  # pylint: disable=g-import-not-at-top
  from readers import spans  # pylint: disable=g-import-not-at-top

  values, labels = spans.read_span_inputs(span_folder, data_format, input_key, text_column, label_column)
  trained = drift.read_split_values(baseline["examples"], "train", [input_key, RAW_LABEL_KEY])
  checks = drift.span_drift_checks(trained[input_key], [v.decode("utf-8") for v in trained[RAW_LABEL_KEY]],
                                   values, labels, input_key, baseline.get("model_dir", ""), jsd, linf)
  report["checks"] = [dict(vars(c), alert=c.alert) for c in checks]
  drifted = [c for c in checks if c.alert]
  report["drifted"] = bool(drifted)
  described = "; ".join(f"{c.feature} {c.measure} {c.value:.3f} > {c.threshold:g}" for c in drifted)
  against = f"the data version {baseline.get('version')} was trained on"
  if drifted and not allow_drift:
    raise DriftFound(f"span {span} ({span_folder}) drifted from {against}: {described}; the run stops before "
                     "Transform and nothing is pushed (--allow-drift trains on it anyway)")
  report["verdict"] = (f"drifted from {against} ({described}); trained anyway (--allow-drift)" if drifted else
                       f"within the limits against {against}")
  return report


@component
def DriftGate(  # pylint: disable=invalid-name
    examples: InputArtifact[Examples], drift_report: OutputArtifact[DriftReport], span: Parameter[int],
    span_folder: Parameter[str], data_format: Parameter[str], input_key: Parameter[str], text_column: Parameter[str],
    label_column: Parameter[str], baseline: Parameter[str], jsd: Parameter[float], linf: Parameter[float],
    allow_drift: Parameter[int] = 0):
  """Fails the run when span `span` drifted from the `baseline` (JSON of `check_span`'s baseline) beyond `jsd` /
  `linf`, unless `allow_drift`; `examples` (this run's) only orders it after the ExampleGen."""
  del examples
  report = check_span(span, span_folder, data_format, input_key, text_column, label_column, json.loads(baseline),
                      jsd, linf, bool(allow_drift))
  with open(os.path.join(drift_report.uri, names.DRIFT_REPORT_FILE), "w", encoding="utf-8") as f:
    json.dump(report, f, indent=2)
  drift_report.set_int_custom_property("drifted", int(bool(report.get("drifted"))))
  print(f"[modelfab] drift gate, span {span}: {report['verdict']}", flush=True)
