"""AnomaliesGate: stops the pipeline when ExampleValidator found anomalies, before Transform and training.

ExampleValidator only records anomalies; this component reads them and fails with every anomaly listed (split,
feature, description), so nothing downstream runs on data that does not match the schema.
"""

import os

from tfx.dsl.component.experimental.annotations import InputArtifact
from tfx.dsl.component.experimental.decorators import component
from tfx.types import artifact_utils
from tfx.types.standard_artifacts import ExampleAnomalies

from core.errors import AnomaliesFound


def describe_anomalies(anomalies_artifact) -> list:
  """One line per anomaly: `split: feature: description`."""
  from tensorflow_data_validation.utils import anomalies_util  # pylint: disable=g-import-not-at-top

  lines = []
  for split in artifact_utils.decode_split_names(anomalies_artifact.split_names):
    path = os.path.join(artifact_utils.get_split_uri([anomalies_artifact], split), "SchemaDiff.pb")
    anomalies = anomalies_util.load_anomalies_binary(path)
    for feature, info in sorted(anomalies.anomaly_info.items()):
      lines.append(f"{split}: feature '{feature}': {info.description or info.short_description}")
    if anomalies.HasField("dataset_anomaly_info"):
      lines.append(f"{split}: dataset: {anomalies.dataset_anomaly_info.description}")
  return lines


def check_anomalies(anomalies_artifact) -> None:
  """Raises AnomaliesFound listing every anomaly; returns when there is none."""
  lines = describe_anomalies(anomalies_artifact)
  if lines:
    raise AnomaliesFound("data does not match the schema; the run stops before Transform:\n  " + "\n  ".join(lines))


@component
def AnomaliesGate(anomalies: InputArtifact[ExampleAnomalies]):  # pylint: disable=invalid-name
  """Fails the pipeline run when ExampleValidator recorded any anomaly."""
  check_anomalies(anomalies)
