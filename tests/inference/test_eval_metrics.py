"""Metrics read back from TFMA: per-class and macro precision, recall and F1 from a confusion matrix."""
import pytest

from inference import eval_metrics


def test_per_class_metrics_from_a_confusion_matrix():
  # rows: actual class, columns: predicted class
  matrix = [[8, 2, 0],
            [1, 3, 0],
            [0, 0, 0]]  # class 2: never present, never predicted
  metrics = eval_metrics.per_class_metrics(matrix)
  assert metrics["precision/class_0"] == pytest.approx(8 / 9)
  assert metrics["recall/class_0"] == pytest.approx(8 / 10)
  assert metrics["precision/class_1"] == pytest.approx(3 / 5) and metrics["recall/class_1"] == pytest.approx(3 / 4)
  f1_class_1 = 2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4)
  assert metrics["f1_score/class_1"] == pytest.approx(f1_class_1)
  assert metrics["precision/class_2"] == metrics["recall/class_2"] == metrics["f1_score/class_2"] == 0.0
  assert metrics["macro_recall"] == pytest.approx((8 / 10 + 3 / 4 + 0) / 3)
  assert metrics["macro_f1_score"] == pytest.approx((2 * (8 / 9) * 0.8 / (8 / 9 + 0.8) + f1_class_1) / 3)
