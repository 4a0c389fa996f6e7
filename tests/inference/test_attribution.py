"""What every explanation shares: integrated gradients on any tensor, its completeness error, deletion points."""
import numpy as np
import tensorflow as tf

from inference import attribution


def test_integrated_gradients_are_exact_on_a_quadratic_and_sum_to_the_change():
  inputs = np.array([[[1.0, -2.0], [0.5, 3.0]]], np.float32)  # any shape: [1, 2, 2]
  baseline = np.zeros_like(inputs)
  score = lambda batch: tf.reduce_sum(tf.reshape(batch, [tf.shape(batch)[0], -1]) ** 2, axis=1)  # noqa: E731
  found = attribution.integrated_gradients(score, inputs, [baseline], steps=8)
  assert found.shape == (2, 2)
  np.testing.assert_allclose(found, inputs[0] ** 2, rtol=1e-5)  # trapezoids are exact on a linear gradient
  assert attribution.completeness_error(float(found.sum()), float((inputs ** 2).sum()), 0.0) < 1e-5


def test_completeness_error_is_relative_and_zero_without_a_change():
  assert abs(attribution.completeness_error(0.45, score=0.9, baseline_score=0.4) - 0.1) < 1e-9
  assert attribution.completeness_error(0.3, score=0.5, baseline_score=0.5) == 0.0


def test_deletion_points_and_areas():
  assert attribution.deletion_counts(5).tolist() == [0, 0, 1, 2, 2, 2, 3, 4, 4, 4, 5]
  assert attribution.curve_area([1.0] * 11) == 1.0 and attribution.curve_area([1.0] + [0.0] * 10) == 0.05


def test_attributions_average_over_baselines_in_chunks(monkeypatch):
  """Two baselines, the path split over several model calls: the mean of each baseline's own attributions."""
  inputs = np.array([[2.0, 1.0, -1.0]], np.float32)
  baselines = [np.zeros_like(inputs), np.ones_like(inputs)]
  calls = []

  def score(batch):
    calls.append(int(batch.shape[0]))
    return tf.reduce_sum(batch ** 2, axis=1)

  monkeypatch.setattr(attribution, "CHUNK_VALUES", 3 * 5)  # 5 path rows per call
  found = attribution.integrated_gradients(score, inputs, baselines, steps=4)
  assert calls == [5, 5]  # 2 baselines x 5 points, in two calls
  np.testing.assert_allclose(found, np.mean([inputs[0] ** 2, inputs[0] ** 2 - 1.0], axis=0), rtol=1e-5)
