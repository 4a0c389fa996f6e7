"""Metrics of a TFMA evaluation, read back: accuracy and example count from TFMA, per-class and macro-averaged
precision, recall and F1 from its confusion matrix."""
from __future__ import annotations

from typing import Dict, Optional


def read_metrics(evaluation_uri: str, model_name: Optional[str] = None,
                 num_classes: Optional[int] = None) -> Dict[str, float]:
  """Overall-slice metrics of a TFMA evaluation: accuracy and example count from TFMA's metrics, per-class and
  macro-averaged precision/recall/F1 from its confusion matrix (`per_class_metrics`); of the candidate model, or
  of `model_name` where TFMA evaluated several. num_classes: as in `read_confusion_matrix`."""
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  result: Dict[str, float] = {}
  for metrics_for_slice in tfma.load_metrics(evaluation_uri):
    if metrics_for_slice.slice_key.single_slice_keys:
      continue  # only the overall slice
    for kv in metrics_for_slice.metric_keys_and_values:
      if kv.key.is_diff or not kv.value.HasField("double_value"):
        continue
      name = kv.key.name
      if kv.key.aggregation_type.macro_average:
        name = f"macro_{name}"
      elif kv.key.sub_key.HasField("class_id"):
        name = f"{name}/class_{kv.key.sub_key.class_id.value}"
      if not _is_model(kv.key.model_name, model_name):
        continue
      result[name] = kv.value.double_value.value
  matrix = read_confusion_matrix(evaluation_uri, num_classes, model_name)
  if matrix is not None:
    result.update(per_class_metrics(matrix))
  return result


def _is_model(key_model_name: str, model_name: Optional[str]) -> bool:
  """Whether a TFMA key belongs to `model_name`, or with None to the candidate (not the baseline model)."""
  return key_model_name == model_name if model_name is not None else not key_model_name.endswith("baseline")


def read_confusion_matrix(evaluation_uri: str, num_classes: Optional[int] = None, model_name: Optional[str] = None):
  """[actual, predicted] example counts (numpy), from TFMA's MultiClassConfusionMatrixPlot (predicted = the most
  probable class) of the candidate, or of `model_name` where TFMA evaluated several; None if absent.
  num_classes: the matrix's size; by default the highest class id seen, plus one."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  for plots in tfma.load_plots(evaluation_uri):
    if plots.slice_key.single_slice_keys:
      continue
    for kv in plots.plot_keys_and_values:
      if not kv.value.HasField("multi_class_confusion_matrix_at_thresholds") or \
          not _is_model(kv.key.model_name, model_name):
        continue
      entries = kv.value.multi_class_confusion_matrix_at_thresholds.matrices[0].entries
      size = num_classes if num_classes is not None else 1 + max(
          (max(e.actual_class_id, e.predicted_class_id) for e in entries), default=-1)
      matrix = np.zeros((size, size))
      for entry in entries:
        if 0 <= entry.actual_class_id < size and 0 <= entry.predicted_class_id < size:
          matrix[entry.actual_class_id, entry.predicted_class_id] += entry.num_weighted_examples
      return matrix
  return None


def per_class_metrics(matrix) -> Dict[str, float]:
  """Precision, recall and F1 of each class (`precision/class_3`...) and their unweighted means (`macro_precision`,
  `macro_recall`, `macro_f1_score`) from an [actual, predicted] count matrix. A class never predicted (or never
  present) has precision (or recall) 0, as in scikit-learn.

  Computed here rather than by TFMA: ten binarized Precision/Recall/F1 metrics took 3 s of a 10 s Evaluator at
  20,000 images, and from the confusion matrix they are the usual arg-max definitions.
  """
  import numpy as np  # pylint: disable=g-import-not-at-top

  matrix = np.asarray(matrix, dtype=float)
  hits = np.diag(matrix)
  predicted, actual = matrix.sum(axis=0), matrix.sum(axis=1)
  ratio = lambda a, b: np.divide(a, b, out=np.zeros_like(a), where=b > 0)
  precision, recall = ratio(hits, predicted), ratio(hits, actual)
  f1 = ratio(2 * precision * recall, precision + recall)
  result: Dict[str, float] = {}
  for name, values in (("precision", precision), ("recall", recall), ("f1_score", f1)):
    result.update({f"{name}/class_{c}": float(v) for c, v in enumerate(values)})
    result[f"macro_{name}"] = float(values.mean()) if len(values) else float("nan")
  return result
