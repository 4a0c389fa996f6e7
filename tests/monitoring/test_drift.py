"""Drift between two samples (TFDV's comparators) on the features derived from raw images and texts."""
import io

import numpy as np
import pandas as pd
from PIL import Image

from monitoring import drift


def _png(value: int, size=8) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(np.full((size, size), value, np.uint8)).save(buffer, format="PNG")
  return buffer.getvalue()


def test_image_features_describe_size_channels_and_light():
  features = drift.image_features(_png(255, size=6))
  assert features == {"width": 6.0, "height": 6.0, "channels": 1.0, "brightness": 1.0, "contrast": 0.0}
  assert drift.image_features(b"not an image")["brightness"] == -1.0  # undecodable: its own, comparable value


def test_text_features_count_words_and_the_unknown_share():
  assert drift.text_features("A good film, really".encode(), {"a", "good", "film", ","}) == {
      "words": 5.0, "unknown_share": 0.2}
  assert drift.text_features(b"no vocabulary", None) == {"words": 2.0}


def test_the_same_distribution_does_not_drift_and_a_shifted_one_does():
  rng = np.random.default_rng(0)
  baseline = pd.DataFrame({"brightness": rng.normal(0.3, 0.05, 400), "label": rng.choice(["a", "b"], 400)})
  same = pd.DataFrame({"brightness": rng.normal(0.3, 0.05, 400), "label": rng.choice(["a", "b"], 400)})
  shifted = pd.DataFrame({"brightness": rng.normal(0.8, 0.05, 400), "label": ["a"] * 400})
  quiet = drift.drift_checks("input drift", baseline, same, jsd=0.2, linf=0.2)
  assert {c.feature for c in quiet} == {"brightness", "label"} and not any(c.alert for c in quiet)
  loud = {c.feature: c for c in drift.drift_checks("input drift", baseline, shifted, jsd=0.2, linf=0.2)}
  assert loud["brightness"].alert and loud["brightness"].measure == "jensen_shannon"
  assert loud["label"].alert and loud["label"].measure == "l_infinity" and loud["label"].value > 0.4
