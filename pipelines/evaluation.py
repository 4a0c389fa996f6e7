"""The Evaluator's TFMA config, built in one place from the pipeline config, the same for every task."""
from __future__ import annotations

import tensorflow_model_analysis as tfma

from models import features
from pipelines.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
  """Accuracy (blessing thresholds) and the multi-class confusion matrix (precision/recall/F1 come from it).

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
      metrics_specs=make_metrics_specs(accuracy_threshold))


def make_comparison_eval_config(model_names) -> tfma.EvalConfig:
  """The same metrics, for models whose predictions are columns of a table (`tfma.analyze_raw_data`): one
  ModelSpec per name, reading probabilities from the column of that name and the integer label from `label`."""
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(name=name, label_key="label", prediction_key=name) for name in model_names],
      slicing_specs=[tfma.SlicingSpec()],
      metrics_specs=make_metrics_specs())


def make_metrics_specs(accuracy_threshold=None):
  """Example count, accuracy and the multi-class confusion matrix. Per-class and macro-averaged precision, recall
  and F1 are derived from the matrix when the metrics are read (reports.run_summary.per_class_metrics): as ten
  binarized TFMA metrics they took 3 s of a 10 s Evaluator at 20,000 images."""
  return [
    tfma.MetricsSpec(metrics=[
        tfma.MetricConfig(class_name="ExampleCount"),
        tfma.MetricConfig(class_name="SparseCategoricalAccuracy", threshold=accuracy_threshold),
        tfma.MetricConfig(class_name="MultiClassConfusionMatrixPlot"),
    ]),
  ]
