"""The Evaluator's TFMA config, built in one place from the pipeline config, the same for every task."""
from __future__ import annotations

from typing import Iterable, List

import apache_beam as beam
import numpy as np
import tensorflow_model_analysis as tfma
from tensorflow_model_analysis.metrics import metric_types, metric_util

from models import features
from pipelines.config import PipelineConfig

ACCURACY = "sparse_categorical_accuracy"


def make_eval_config(config: PipelineConfig) -> tfma.EvalConfig:
  """Accuracy (blessing thresholds) and the multi-class confusion matrix (precision/recall/F1 come from it).

  The model reads raw examples through its `evaluation` signature (`serving_default`'s probabilities, plus the
  class names that map the raw string label to a class id), so evaluation runs on the same raw data users send,
  and the images are decoded once. (Reading the integer label from the `transform_features` signature decoded
  and kept every image a second time: at 20,000 images that was 200-300 MiB more at the run's memory peak.)
  """
  accuracy_threshold = tfma.MetricThreshold(
      value_threshold=tfma.GenericValueThreshold(lower_bound={"value": config.min_accuracy}),
      # No regression against the baseline (the previous blessed model); ignored when there is none yet.
      change_threshold=tfma.GenericChangeThreshold(direction=tfma.MetricDirection.HIGHER_IS_BETTER,
                                                   absolute={"value": -1e-10}))
  return tfma.EvalConfig(
      model_specs=[tfma.ModelSpec(signature_name=features.EVALUATION_SIGNATURE,
                                  label_key=features.RAW_LABEL_KEY,
                                  prediction_key=features.PROBABILITIES)],
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
  highest probability is at their label's class id), computed with numpy.

  TFMA runs a Keras metric through AutoGraph and a TF function in every bundle: Keras's SparseCategoricalAccuracy
  took 2.3-2.5 s of a 9 s Evaluator at 4,000 examples (measured); this is a loop over the examples in Python.
  """

  def __init__(self, name: str = ACCURACY):
    super().__init__(metric_util.merge_per_key_computations(_accuracy_computations), name=name)


def _accuracy_computations(name=None, eval_config=None, model_name="", output_name="", sub_key=None,
                                  example_weighted=False, **unused) -> metric_types.MetricComputations:
  key = metric_types.MetricKey(name=name, model_name=model_name, output_name=output_name, sub_key=sub_key,
                               example_weighted=example_weighted)
  return [metric_types.MetricComputation(keys=[key], preprocessors=None,
                                         combiner=_AccuracyCombiner(key, eval_config))]


class _AccuracyCombiner(beam.CombineFn):
  """Accumulates [weight of correct examples, weight of all examples]."""

  def __init__(self, key: metric_types.MetricKey, eval_config):
    self._key = key
    self._eval_config = eval_config

  def create_accumulator(self) -> List[float]:
    return [0.0, 0.0]

  def add_input(self, accumulator: List[float], element: metric_types.StandardMetricInputs) -> List[float]:
    label, prediction, weight = next(metric_util.to_label_prediction_example_weight(
        element, eval_config=self._eval_config, model_name=self._key.model_name,
        output_name=self._key.output_name, sub_key=self._key.sub_key,
        example_weighted=self._key.example_weighted, flatten=False, require_single_example_weight=True))
    label_class = int(np.argmax(label)) if label.size > 1 else int(label)  # one-hot or a class id (-1: unknown)
    weight = float(weight)
    accumulator[0] += weight * (label_class == int(np.argmax(prediction)))
    accumulator[1] += weight
    return accumulator

  def merge_accumulators(self, accumulators: Iterable[List[float]]) -> List[float]:
    correct, total = 0.0, 0.0
    for accumulator in accumulators:
      correct, total = correct + accumulator[0], total + accumulator[1]
    return [correct, total]

  def extract_output(self, accumulator: List[float]) -> metric_types.MetricsDict:
    return {self._key: accumulator[0] / accumulator[1] if accumulator[1] else float("nan")}
