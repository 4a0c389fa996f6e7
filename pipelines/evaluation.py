"""The Evaluator's TFMA config, built in one place from the pipeline config, the same for every task."""
from __future__ import annotations

import tensorflow_model_analysis as tfma

from models import features
from pipelines.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"


def make_eval_config(config: PipelineConfig, num_classes: int) -> tfma.EvalConfig:
  """Accuracy (blessing thresholds), macro precision/recall/F1 (and per class), multi-class confusion matrix.

  The model reads raw examples through `serving_default`; the integer label comes from the `transform_features`
  signature, so evaluation runs on the same raw data users send.
  """
  accuracy_threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_accuracy}),
      # No regression against the baseline (the previous blessed model); ignored when there is none yet.
      change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                   absolute={"value": -1e-10}))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name="serving_default",
                                  label_key=features.TRANSFORMED_LABEL_KEY,
                                  prediction_key=features.PROBABILITIES,
                                  preprocessing_function_names=[features.TRANSFORM_FEATURES_SIGNATURE])],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=make_metrics_specs(num_classes, accuracy_threshold))


def make_comparison_eval_config(num_classes: int, model_names) -> tfma.EvalConfig:
  """The same metrics, for models whose predictions are columns of a table (`tfma.analyze_raw_data`): one
  ModelSpec per name, reading probabilities from the column of that name and the integer label from `label`."""
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(name=name, label_key="label", prediction_key=name) for name in model_names],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=make_metrics_specs(num_classes))


def make_metrics_specs(num_classes: int, accuracy_threshold=None):
  """Example count, accuracy, confusion matrix; per-class and macro-averaged precision, recall and F1."""
  return [
    tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ]),
    tfma.MetricsSpec(  # per class
        metrics=_precision_recall_f1(),
        binarize=tfma.BinarizationOptions(class_ids={"values": list(range(num_classes))})),
    tfma.MetricsSpec(  # macro average: every class weighs the same
        metrics=_precision_recall_f1(),
        aggregate=tfma.AggregationOptions(macro_average=True,
                                          class_weights={i: 1.0 for i in range(num_classes)})),
  ]


def _precision_recall_f1():
  return [tfma.MetricConfig(class_name=name) for name in ("Precision", "Recall", "F1Score")]
