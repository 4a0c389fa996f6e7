"""Outlier scores per example: how far an input's derived features lie from the training data's.

The features are those the monitor and the drift gate compare (monitoring/drift.py: images' width, height,
channels, brightness and contrast; texts' word count and unknown-word share). The profile keeps, per feature, the
training data's median and a robust scale (1.4826 x the median absolute deviation, floored so that a feature
constant in training, like the image size, still gives a finite score). An example's score is its largest robust
z-score over the features, capped at MAX_SCORE: about 0-3 for inputs like the training data, far more for an
inverted image, noise, or a text from another domain.

The Pusher writes the profile of the train split beside each version (PROFILE_FILE); batch inference scores every
example with it.
"""
from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

import numpy as np

from core import json_files

PROFILE_FILE = "outlier_profile.json"
MAX_SCORE = 100.0
MAD_TO_STD = 1.4826  # the MAD of a normal distribution times this is its standard deviation
PROFILE_EXAMPLES = 2000
OUTLIER_LIMIT = 3.5  # a score above this counts as an outlier in `modelfab monitor` (held-out digits: 95% below 2.6)


def fit_profile(derived, modality: str) -> Dict[str, object]:
  """The profile of a DataFrame of derived features (monitoring.drift.derived_features)."""
  features = {}
  for column in derived.columns:
    values = derived[column].to_numpy(dtype=float)
    median = float(np.median(values))
    mad = float(np.median(np.abs(values - median)))
    floor = 0.01 * max(abs(median), 1.0)
    features[column] = {"median": median, "scale": max(MAD_TO_STD * mad, float(np.std(values)) * 0.1, floor)}
  return {"modality": modality, "examples": int(len(derived)), "features": features}


def score(profile: Dict[str, object], derived) -> np.ndarray:
  """Each row's largest robust z-score over the profile's features (0 when a feature is missing), for a DataFrame
  of derived features."""
  return score_rows(profile, derived.to_dict("records"))


def score_rows(profile: Dict[str, object], rows: List[Dict[str, float]]) -> np.ndarray:
  """`score` for rows of derived features as dicts (monitoring.drift.feature_rows): no pandas, so the server can
  call it on every request (a DataFrame per call cost more than the digits model itself)."""
  stats = profile["features"].items()
  scores = [max([abs(row[c] - s["median"]) / s["scale"] for c, s in stats if c in row], default=0.0) for row in rows]
  return np.minimum(np.asarray(scores, dtype=float), MAX_SCORE)


def write_profile(folder: str, profile: Dict[str, object]) -> str:
  path = os.path.join(folder, PROFILE_FILE)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(profile, f, indent=2)
  return path


def read_profile(model_dir: str) -> Optional[Dict[str, object]]:
  """The profile pushed beside a version, or None (versions pushed before profiles existed)."""
  return json_files.read_json(model_dir, PROFILE_FILE)


def profile_of_examples(examples_uri: str, modality: str, model_dir: str,
                        limit: int = PROFILE_EXAMPLES) -> Dict[str, object]:
  """The profile of up to `limit` raw examples of an Examples artifact's train split."""
  from monitoring import drift  # pylint: disable=g-import-not-at-top

  values = drift.read_split_values(examples_uri, "train", [modality], limit)[modality]
  return fit_profile(drift.derived_features(values, modality, model_dir), modality)


def score_raw(profile: Dict[str, object], raw_values: List[bytes], model_dir: str = "") -> np.ndarray:
  """Scores of raw inputs (image bytes or UTF-8 texts) of the profile's modality."""
  from monitoring import drift  # pylint: disable=g-import-not-at-top

  return score_rows(profile, drift.feature_rows(raw_values, str(profile["modality"]), model_dir))


def scorer(model_dir: str):
  """A picklable function raw inputs -> outlier scores for the version at `model_dir`, or None when it has no
  profile."""
  import functools  # pylint: disable=g-import-not-at-top

  profile = read_profile(model_dir)
  return functools.partial(score_raw, profile, model_dir=model_dir) if profile else None


def outlier_share(profile: Dict[str, object], raw_values: List[bytes], model_dir: str = "") -> float:
  """The share of raw inputs scoring above OUTLIER_LIMIT."""
  scores = score_raw(profile, raw_values, model_dir)
  return float(np.mean(scores > OUTLIER_LIMIT)) if len(scores) else 0.0
