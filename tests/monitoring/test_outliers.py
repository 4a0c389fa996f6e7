"""Outlier scores: inverted and noise images stand out from held-out digits; the profile file round-trips."""
import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from conftest import DIGITS, png_bytes
from monitoring import drift, outliers


def _digits(start, step, count):
  paths = sorted(DIGITS.glob("*/*.png"))[start::step][:count]
  return [p.read_bytes() for p in paths]


def test_inverted_and_noise_images_separate_from_held_out_digits():
  from PIL import Image  # pylint: disable=g-import-not-at-top
  import io  # pylint: disable=g-import-not-at-top

  profile = outliers.fit_profile(drift.derived_features(_digits(0, 2, 800), "image", ""), "image")
  held_out = _digits(1, 2, 200)
  inverted = [png_bytes(255 - np.asarray(Image.open(io.BytesIO(b)).convert("L"))) for b in held_out[:100]]
  rng = np.random.default_rng(0)
  noise = [png_bytes(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(100)]
  normal_scores = outliers.score_raw(profile, held_out)
  odd_scores = outliers.score_raw(profile, inverted + noise)
  labels = [0] * len(normal_scores) + [1] * len(odd_scores)
  auc = roc_auc_score(labels, np.concatenate([normal_scores, odd_scores]))
  assert auc >= 0.95, auc
  assert np.median(normal_scores) < 3 < np.median(odd_scores)


def test_a_feature_constant_in_training_still_scores_finitely():
  import pandas as pd  # pylint: disable=g-import-not-at-top

  profile = outliers.fit_profile(pd.DataFrame({"width": [8.0] * 50, "brightness": np.linspace(0.2, 0.4, 50)}),
                                 "image")
  scores = outliers.score(profile, pd.DataFrame({"width": [8.0, 9.0, 4000.0], "brightness": [0.3, 0.3, 0.3]}))
  assert scores[0] < 1 and scores[1] > 10 and scores[2] == outliers.MAX_SCORE


def test_profile_round_trip_and_scorer(tmp_path):
  assert outliers.read_profile(str(tmp_path)) is None and outliers.scorer(str(tmp_path)) is None
  profile = outliers.fit_profile(drift.derived_features(_digits(0, 3, 100), "image", ""), "image")
  outliers.write_profile(str(tmp_path), profile)
  assert outliers.read_profile(str(tmp_path)) == profile
  score = outliers.scorer(str(tmp_path))
  assert score(_digits(1, 3, 4)) == pytest.approx(outliers.score_raw(profile, _digits(1, 3, 4)))


def test_the_share_the_monitor_checks():
  profile = outliers.fit_profile(drift.derived_features(_digits(0, 2, 400), "image", ""), "image")
  rng = np.random.default_rng(2)
  noise = [png_bytes(rng.integers(0, 256, (8, 8), dtype=np.uint8)) for _ in range(20)]
  assert outliers.outlier_share(profile, _digits(1, 2, 80)) < 0.1
  assert outliers.outlier_share(profile, _digits(1, 2, 60) + noise) >= 0.2
  assert outliers.outlier_share(profile, []) == 0.0
