"""The TFMA config built from the pipeline config."""
import tensorflow_model_analysis as tfma

from models import features
from pipelines import config, evaluation


def test_eval_config_has_thresholds_metrics_and_raw_input_signatures():
  eval_config = evaluation.make_eval_config(config.preset("digits-cnn", min_accuracy=0.93))
  spec = eval_config.model_specs[0]
  assert spec.signature_name == "serving_default" and spec.label_key == features.TRANSFORMED_LABEL_KEY
  assert list(spec.preprocessing_function_names) == [features.TRANSFORM_FEATURES_SIGNATURE]
  names = [m.class_name for s in eval_config.metrics_specs for m in s.metrics]
  assert {"SparseCategoricalAccuracy", "MultiClassConfusionMatrixPlot", "ExampleCount"} == set(names)
  accuracy = next(m for s in eval_config.metrics_specs for m in s.metrics if m.class_name == "SparseCategoricalAccuracy")
  assert accuracy.threshold.value_threshold.lower_bound.value == 0.93
  assert accuracy.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER
