"""The Evaluator's TFMA config, built in one place, the same for every task."""
from __future__ import annotations

import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util, multi_class_confusion_matrix_metrics
from tensorflow_model_analysis.metrics.multi_class_confusion_matrix_metrics import NO_PREDICTED_CLASS_ID

from core import features, names


def make_eval_config(min_accuracy: float) -> tfma.EvalConfig:
  """Accuracy (blessing thresholds) and the multi-class confusion matrix (precision/recall/F1 come from it).

  The model reads raw examples through its `evaluation` signature (`serving_default`'s probabilities, plus the
  class names that map the raw string label to a class id), so evaluation runs on the same raw data users send,
  and the images are decoded once. (Reading the integer label from the `transform_features` signature decoded
  and kept every image a second time: at 20,000 images that was 180-250 MiB more at the run's memory peak.)
  """
  accuracy_threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={"value": min_accuracy}),
      # No regression against the baseline (the previous blessed model); ignored when there is none yet.
      change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                   absolute={"value": -1e-10}))
  return tfma.EvalConfig(
      # The type is stated: left out, TFMA finds it by trying to load the model as Keras (0.24 s per model at
      # 32x32, measured); modelfab's SavedModels hold signatures, no Keras objects (models.trainer.serving_root).
      model_specs=[tfma.ModelSpec(model_type=tfma.TF_GENERIC, signature_name=features.EVALUATION_SIGNATURE,
                                  label_key=features.RAW_LABEL_KEY,
                                  prediction_key=features.PROBABILITIES)],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=make_metrics_specs(accuracy_threshold))


def make_comparison_eval_config(model_names) -> tfma.EvalConfig:
  """The same metrics, for models whose predictions are columns of a table (`tfma.analyze_raw_data`): one
  ModelSpec per name, reading probabilities from the column of that name and the integer label from `label`."""
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(name=name, label_key=features.RAW_LABEL_KEY, prediction_key=name)
                   for name in model_names],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=make_metrics_specs())


def make_metrics_specs(accuracy_threshold=None):
  """Example count, accuracy and the multi-class confusion matrix. Per-class and macro-averaged precision, recall
  and F1 are derived from the matrix when the metrics are read (inference.eval_metrics.per_class_metrics): as ten
  binarized TFMA metrics they took 3 s of a 10 s Evaluator at 20,000 images. Accuracy is this module's
  `SparseCategoricalAccuracy`, not Keras's."""
  return [
    tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name=SparseCategoricalAccuracy.__name__, module=__name__,
                          threshold=accuracy_threshold),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ]),
  ]


class SparseCategoricalAccuracy(tfma.metrics.Metric):
  """Keras's metric of that name and meaning (`sparse_categorical_accuracy`: the share of examples, weighted, whose
  highest probability is at their label's class id), read off the multi-class confusion matrix.

  TFMA runs a Keras metric through AutoGraph and a TF function in every bundle: Keras's SparseCategoricalAccuracy
  took 2.3-2.5 s of an Evaluator run at 4,000 examples (measured). This one asks for the same confusion matrix as
  MultiClassConfusionMatrixPlot (arg-max predictions: threshold 0), which TFMA computes once for both, and sums its
  diagonal: 0.3-0.6 s less per Evaluator at 10,000 examples than a pass of its own (measured).
  """

  def __init__(self, name: str = names.ACCURACY):
    super().__init__(metric_util.merge_per_key_computations(_accuracy_computations), name=name)


def _accuracy_computations(name=None, eval_config=None, model_name="", output_name="", sub_key=None,
                           example_weighted=False, **unused) -> metric_types.MetricComputations:
  matrices = multi_class_confusion_matrix_metrics.multi_class_confusion_matrices(
      thresholds=[0.0], eval_config=eval_config, model_name=model_name, output_name=output_name,
      example_weighted=example_weighted)
  matrices_key = matrices[-1].keys[-1]
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name, sub_key=sub_key,
                               example_weighted=example_weighted)

  def accuracy(metrics) -> metric_types.MetricsDict:
    entries = metrics[matrices_key].get(0.0, {})  # MatrixEntryKey(actual, predicted class id) -> weight
    total = sum(entries.values())
    correct = sum(weight for entry, weight in entries.items()
                  if entry.actual_class_id == entry.predicted_class_id != NO_PREDICTED_CLASS_ID)
    return {key: correct / total if total else float("nan")}

  return matrices + [metric_types.DerivedMetricComputation(keys=[key], result=accuracy)]
