"""AnomaliesGate: real TFDV anomalies stop the run with every anomaly named."""
import pandas as pd
import pytest
import tensorflow_data_validation as tfdv
from tfx.types import standard_artifacts

from components.anomalies_gate import AnomaliesFound, check_anomalies, describe_anomalies


def _anomalies_artifact(tmp_path, anomalies):
  artifact = standard_artifacts.ExampleAnomalies()
  artifact.uri = str(tmp_path / "anomalies")
  artifact.split_names = '["train", "eval"]'
  for split in ("train", "eval"):
    (tmp_path / "anomalies" / f"Split-{split}").mkdir(parents=True)
    (tmp_path / "anomalies" / f"Split-{split}" / "SchemaDiff.pb").write_bytes(
        anomalies[split].SerializeToString())
  return artifact


def test_clean_data_passes_and_anomalies_stop_the_run(tmp_path):
  good = pd.DataFrame({"label": ["a", "b", "a", "b"], "filename": ["1", "2", "3", "4"]})
  schema = tfdv.infer_schema(tfdv.generate_statistics_from_dataframe(good))
  bad = pd.DataFrame({"label": ["a", "zebra", "a", "b"], "width": [1, 2, 3, 4]})  # new value, new column, no filename
  anomalies = {"train": tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(good), schema),
               "eval": tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(bad), schema)}
  artifact = _anomalies_artifact(tmp_path, anomalies)
  lines = describe_anomalies(artifact)
  assert lines and all(line.startswith("eval: ") for line in lines)
  assert any("'label'" in line for line in lines) and any("'width'" in line for line in lines)
  with pytest.raises(AnomaliesFound, match="zebra|label"):
    check_anomalies(artifact)


def test_no_anomalies_passes(tmp_path):
  good = pd.DataFrame({"label": ["a", "b"]})
  stats = tfdv.generate_statistics_from_dataframe(good)
  anomalies = tfdv.validate_statistics(stats, tfdv.infer_schema(stats))
  check_anomalies(_anomalies_artifact(tmp_path, {"train": anomalies, "eval": anomalies}))
