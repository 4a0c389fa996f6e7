"""Drift between two samples of the same features, with TFDV's comparators, and the features compared.

Raw inputs are not comparable as they are (every image and text is distinct), so each is reduced to derived
features that are: images to width, height, channels, brightness and contrast; texts to their word count and the
share of words outside the model's vocabulary. `drift_checks` compares every column of two DataFrames: Jensen-Shannon
divergence for numeric columns, L-infinity distance for categorical ones.
"""
from __future__ import annotations

import dataclasses
import functools
import glob
import io
import os
from typing import Dict, List, Optional

import numpy as np

from core import features, model_files


@dataclasses.dataclass
class Check:
  kind: str  # "input drift" | "prediction drift" | "live accuracy" | "span drift"
  feature: str
  measure: str  # "jensen_shannon" | "l_infinity" | "accuracy drop"
  value: float
  threshold: float

  @property
  def alert(self) -> bool:
    return self.value > self.threshold


def image_features(encoded: bytes) -> Dict[str, float]:
  from PIL import Image  # pylint: disable=g-import-not-at-top

  try:
    with Image.open(io.BytesIO(encoded)) as image:
      channels = len(image.getbands())
      gray = np.asarray(image.convert("L"), dtype=np.float32) / 255.0
      return {"width": float(image.width), "height": float(image.height), "channels": float(channels),
              "brightness": float(gray.mean()), "contrast": float(gray.std())}
  except Exception:  # pylint: disable=broad-except
    return {"width": 0.0, "height": 0.0, "channels": 0.0, "brightness": -1.0, "contrast": -1.0}


def text_features(text: bytes, vocabulary: Optional[set]) -> Dict[str, float]:
  import re  # pylint: disable=g-import-not-at-top

  words = re.findall(r"\w+|[^\w\s]", text.decode("utf-8", "replace").lower())
  values = {"words": float(len(words))}
  if vocabulary:
    values["unknown_share"] = sum(w not in vocabulary for w in words) / max(len(words), 1)
  return values


def _vocabulary(model_dir: str) -> Optional[set]:
  """The tokenizer's vocabulary shipped beside the model (assets.extra/vocab.txt), if any."""
  for path in glob.glob(os.path.join(model_dir, model_files.ASSETS_EXTRA_DIR, "*.txt")):
    try:
      with open(path, encoding="utf-8") as f:
        tokens = [line.rstrip("\n") for line in f]
    except (OSError, UnicodeDecodeError):
      continue
    if "[UNK]" in tokens:
      return set(tokens)
  return None


def feature_rows(raw_values: List[bytes], modality: str, model_dir: str) -> List[Dict[str, float]]:
  """The derived features of each raw input (image bytes or UTF-8 text), one dict each."""
  if modality == features.TEXT_KEY:
    vocabulary = _cached_vocabulary(model_dir)
    return [text_features(v, vocabulary) for v in raw_values]
  return [image_features(v) for v in raw_values]


@functools.lru_cache(maxsize=16)
def _cached_vocabulary(model_dir: str) -> Optional[frozenset]:
  vocabulary = _vocabulary(model_dir)
  return frozenset(vocabulary) if vocabulary is not None else None


def derived_features(raw_values: List[bytes], modality: str, model_dir: str):
  """`feature_rows` as a DataFrame (what TFDV's comparators take)."""
  import pandas as pd  # pylint: disable=g-import-not-at-top

  return pd.DataFrame(feature_rows(raw_values, modality, model_dir))


def drift_checks(kind: str, baseline, traffic, jsd: float, linf: float) -> List[Check]:
  """TFDV drift of every column of `traffic` against `baseline` (DataFrames)."""
  import tensorflow_data_validation as tfdv  # pylint: disable=g-import-not-at-top

  baseline_stats = tfdv.generate_statistics_from_dataframe(baseline)
  schema = tfdv.infer_schema(baseline_stats)
  for column in baseline.columns:
    comparator = tfdv.get_feature(schema, column).drift_comparator
    if baseline[column].dtype == object:
      comparator.infinity_norm.threshold = linf
    else:
      comparator.jensen_shannon_divergence.threshold = jsd
  anomalies = tfdv.validate_statistics(tfdv.generate_statistics_from_dataframe(traffic), schema,
                                       previous_statistics=baseline_stats)
  checks = []
  for info in anomalies.drift_skew_info:
    for measurement in info.drift_measurements:
      measure = "jensen_shannon" if measurement.type == measurement.JENSEN_SHANNON_DIVERGENCE else "l_infinity"
      checks.append(Check(kind, ".".join(info.path.step), measure, float(measurement.value),
                          float(measurement.threshold)))
  return checks


LABEL_COLUMN = "label"  # the class distribution, compared beside the derived features between spans


def read_split_values(examples_uri: str, split: str, keys, limit: int = 5000) -> Dict[str, List[bytes]]:
  """key -> the bytes of that feature in up to `limit` raw examples of a split (examples lacking any key are
  skipped)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from inference.model_check import read_split_records  # pylint: disable=g-import-not-at-top

  values = {key: [] for key in keys}
  for record in read_split_records(examples_uri, split, limit):
    feature = tf.train.Example.FromString(record).features.feature
    if all(key in feature and feature[key].bytes_list.value for key in keys):
      for key in keys:
        values[key].append(feature[key].bytes_list.value[0])
  return values


def span_drift_checks(baseline_values: List[bytes], baseline_labels: List[str], span_values: List[bytes],
                      span_labels: List[str], modality: str, model_dir: str, jsd: float, linf: float) -> List[Check]:
  """The drift gate's checks: the derived features (Jensen-Shannon) and the class distribution (L-infinity) of a
  new span against the data a model was trained on."""
  baseline = derived_features(baseline_values, modality, model_dir)
  baseline[LABEL_COLUMN] = list(baseline_labels)
  span = derived_features(span_values, modality, model_dir)
  span[LABEL_COLUMN] = list(span_labels)
  return drift_checks("span drift", baseline, span, jsd, linf)
