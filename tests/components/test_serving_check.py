"""The check before the Pusher: a fresh process loads the exported model and calls serving_default on raw examples."""
import glob
import os

import numpy as np
import pytest
import tensorflow_transform as tft

from components import serving_check
from models import image_cnn, trainer
from core import model_files
from core.errors import ModelError
from inference import model_check, predict


@pytest.fixture(scope="module")
def exported(transformed_dataset, tmp_path_factory):
  """A real exported image model (both signatures, Transform graph inside, metadata) and raw examples."""
  tft_output = tft.TFTransformOutput(transformed_dataset[2])
  model = image_cnn.build_model(image_cnn.hparams_from({"hparams": {"augment": False}}), num_classes=2)
  raw = transformed_dataset[3]
  examples = predict.serialized_examples([{"image": r["image"]} for r in raw[:8]])
  return model, tft_output, examples, tmp_path_factory


def _export(exported, name, break_weights=False):
  """Exports the shared model (with NaN output weights when `break_weights`, restored afterwards)."""
  model, tft_output, _, factory = exported
  kernel = model.get_layer("probabilities").kernel
  weights = kernel.numpy()
  if break_weights:
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
  path = str(factory.mktemp(name) / "model")
  try:
    trainer.export(model, tft_output, image_cnn.SERVING_FEATURE_KEYS, path, "image_cnn")
  finally:
    kernel.assign(weights)
  return path


@pytest.mark.e2e  # a fresh Python process loads TensorFlow
def test_a_model_that_serves_passes_in_a_fresh_process(exported):
  path = _export(exported, "good")
  assert serving_check.run_check(path, exported[2], timeout_seconds=300) == ""
  metadata = model_files.read_metadata(path)
  assert metadata.task == "image_cnn" and metadata.modality == "image" and sorted(metadata.labels) == ["bottom", "top"]


@pytest.mark.e2e  # a fresh Python process loads TensorFlow
def test_a_model_whose_variables_are_missing_is_refused_with_the_reason(exported):
  path = _export(exported, "no-variables")
  for data_file in glob.glob(os.path.join(path, "variables", "variables.data-*")):
    os.remove(data_file)
  reason = serving_check.run_check(path, exported[2], timeout_seconds=300)
  assert reason.startswith(f"{path}: cannot load the SavedModel"), reason


@pytest.mark.e2e  # a fresh Python process loads TensorFlow
def test_a_model_answering_nan_is_refused(exported):
  path = _export(exported, "nan", break_weights=True)
  assert "non-finite probabilities" in serving_check.run_check(path, exported[2], timeout_seconds=300)


def test_the_check_itself_passes_a_good_model_and_names_what_is_wrong_with_a_bad_one(exported):
  """What the fresh process runs (inference.model_check.check_serving), called in this process."""
  good, nan = _export(exported, "good-in-process"), _export(exported, "nan-in-process", break_weights=True)
  model_check.check_serving(good, exported[2])
  with pytest.raises(ModelError, match="non-finite probabilities"):
    model_check.check_serving(nan, exported[2])
  missing = _export(exported, "no-variables-in-process")
  for data_file in glob.glob(os.path.join(missing, "variables", "variables.data-*")):
    os.remove(data_file)
  with pytest.raises(ModelError, match="cannot load the SavedModel"):
    model_check.check_serving(missing, exported[2])


def test_an_explain_signature_that_disagrees_with_serving_is_refused(tmp_path):
  """The check covers `explain_pixels` (inference/explain.py) where a model has it: same answers as serving."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from core import features  # pylint: disable=g-import-not-at-top

  examples_spec = tf.TensorSpec([None], tf.string, name="examples")
  module = tf.Module()
  module.weight = tf.Variable(0.01)
  probabilities = lambda n: tf.tile([[0.25, 0.75]], [n, 1])
  module.serve = tf.function(lambda examples: {
      features.PROBABILITIES: probabilities(tf.size(examples)),
      features.PREDICTED_LABEL: tf.fill([tf.size(examples)], "b"),
      features.PREDICTED_SCORE: tf.fill([tf.size(examples)], 0.75)}, input_signature=[examples_spec])
  module.to_pixels = tf.function(lambda examples: {"pixels": tf.zeros([tf.size(examples), 2, 2, 1], tf.uint8)},
                                 input_signature=[examples_spec])
  module.explain = tf.function(lambda pixels: {features.PROBABILITIES: tf.nn.softmax(
      tf.reduce_sum(pixels, [1, 2]) * module.weight + tf.constant([[0.0, 0.1]]))},  # not what serving says
      input_signature=[tf.TensorSpec([None, 2, 2, 1], tf.float32, name="pixels")])
  tf.saved_model.save(module, str(tmp_path), signatures={
      "serving_default": module.serve, features.EXAMPLES_TO_TENSORS_SIGNATURE: module.to_pixels,
      features.EXPLAIN_SIGNATURE: module.explain})
  with pytest.raises(ModelError, match="explain_pixels does not answer what serving_default answers"):
    model_check.check_serving(str(tmp_path), [b"x", b"y"])


def test_max_epsilon_refuses_a_model_that_spent_more_privacy():
  spent = {"epsilon": 3.2, "delta": 1e-4}
  assert serving_check.privacy_verdict(spent, 0.0) == ""  # no limit
  assert serving_check.privacy_verdict(spent, 4.0) == ""
  assert serving_check.privacy_verdict(spent, 3.0) == (
      "privacy: the model spent epsilon 3.2 (at delta 0.0001), more than --max-epsilon 3")
  assert "records no DP-SGD training" in serving_check.privacy_verdict(None, 3.0)
