"""The TFMA config built from the pipeline config."""
import pytest
import tensorflow_model_analysis as tfma

from core import features, names
from pipelines import config
from models import evaluation


def test_eval_config_has_thresholds_metrics_and_raw_input_signatures():
  eval_config = evaluation.make_eval_config(0.93)
  spec = eval_config.model_specs[0]
  assert spec.signature_name == features.EVALUATION_SIGNATURE and spec.label_key == features.RAW_LABEL_KEY
  assert not spec.preprocessing_function_names  # the label is mapped by the signature's class names, not Transform
  assert all(m.module == "models.evaluation" for s in eval_config.metrics_specs for m in s.metrics
             if m.class_name == "SparseCategoricalAccuracy")  # ours, not Keras's
  names = [m.class_name for s in eval_config.metrics_specs for m in s.metrics]
  assert {"SparseCategoricalAccuracy", "MultiClassConfusionMatrixPlot", "ExampleCount"} == set(names)
  accuracy = next(m for s in eval_config.metrics_specs for m in s.metrics if m.class_name == "SparseCategoricalAccuracy")
  assert accuracy.threshold.value_threshold.lower_bound.value == 0.93
  assert accuracy.threshold.change_threshold.direction == tfma.MetricDirection.HIGHER_IS_BETTER


def test_tfma_takes_the_stated_model_type_without_loading_the_model(monkeypatch, tmp_path):
  from tensorflow_model_analysis.utils import model_util  # pylint: disable=g-import-not-at-top

  loads = []
  monkeypatch.setattr(model_util.tf.keras.models, "load_model", lambda *a, **k: loads.append(a))
  spec = evaluation.make_eval_config(config.preset("digits-cnn").min_accuracy).model_specs[0]
  assert model_util.get_model_type(spec, str(tmp_path)) == tfma.TF_GENERIC and loads == []
  spec.ClearField("model_type")
  model_util.get_model_type(spec, str(tmp_path))
  assert loads  # without it, TFMA tries a Keras load of the whole SavedModel first


def test_accuracy_matches_keras_sparse_categorical_accuracy(tmp_path):
  """Our metric gives Keras's value, under Keras's name, through TFMA (the Evaluator's thresholds read it)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tf_keras  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(0)
  labels = rng.integers(0, 4, 300)
  probabilities = rng.dirichlet(np.ones(4), 300).astype("float32")
  probabilities[:120, :] = np.eye(4, dtype="float32")[labels[:120]] * 0.7 + 0.075  # 120 surely right
  keras_accuracy = tf_keras.metrics.SparseCategoricalAccuracy()
  keras_accuracy.update_state(labels, probabilities)
  eval_config = evaluation.make_comparison_eval_config(["m"])
  tfma.analyze_raw_data(pd.DataFrame({"label": labels, "m": list(probabilities)}), eval_config,
                        output_path=str(tmp_path))
  metrics = tfma.load_metrics(str(tmp_path))
  values = {m.key.name: m.value.double_value.value for record in metrics for m in record.metric_keys_and_values}
  assert values[names.ACCURACY] == pytest.approx(float(keras_accuracy.result()), abs=1e-6)
  assert 0.4 < values[names.ACCURACY] < 0.8  # neither all right nor all wrong


def test_accuracy_shares_the_confusion_matrix_pass():
  """TFMA computes one combiner per distinct computation: accuracy adds none of its own to the matrix's."""
  from tensorflow_model_analysis.evaluators import metrics_plots_and_validations_evaluator as evaluator  # pylint: disable=g-import-not-at-top
  from tensorflow_model_analysis.metrics import metric_specs  # pylint: disable=g-import-not-at-top

  eval_config = evaluation.make_eval_config(config.preset("digits-cnn").min_accuracy)
  computations = metric_specs.to_computations(eval_config.metrics_specs, eval_config=eval_config)
  combiners = [type(c.combiner).__name__ for c in evaluator._filter_and_separate_computations(computations)[0]]  # pylint: disable=protected-access
  assert combiners.count("_MultiClassConfusionMatrixCombiner") == 1
  assert len(combiners) == 2  # that and ExampleCount's
