"""Serving signatures: raw serialized examples in, through the Transform graph, class probabilities out."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from core import features
from models import image_cnn, signatures
from inference import predict


@pytest.fixture(scope="module")
def model_and_transform(transformed_dataset):
  tft_output = tft.TFTransformOutput(transformed_dataset[2])
  model = image_cnn.build_model(image_cnn.hparams_from({"hparams": {"augment": False}}), num_classes=2)
  return model, tft_output, transformed_dataset[3]


def test_serving_default_parses_raw_bytes_and_matches_the_model(model_and_transform):
  model, tft_output, raw = model_and_transform
  sigs = signatures.make_serving_signatures(model, tft_output, image_cnn.SERVING_FEATURE_KEYS)
  examples = tf.constant(predict.serialized_examples([{"image": r["image"]} for r in raw[:4]]))
  outputs = sigs["serving_default"](examples)
  transformed = sigs[features.TRANSFORM_FEATURES_SIGNATURE](tf.constant(predict.serialized_examples(
      [{"image": r["image"], "label": r["label"]} for r in raw[:4]])))
  direct = model(transformed[image_cnn.TRANSFORMED_IMAGE_KEY], training=False).numpy()
  np.testing.assert_allclose(outputs[features.PROBABILITIES].numpy(), direct, atol=1e-6)
  vocabulary = tft_output.vocabulary_by_name(features.LABEL_VOCABULARY)
  assert outputs[features.PREDICTED_LABEL].numpy().tolist() == [vocabulary[i] for i in direct.argmax(axis=1)]


def test_evaluation_signature_gives_the_class_names_tfma_maps_raw_labels_with(model_and_transform):
  """TFMA turns a raw string label into the index of that name in `all_classes`: the index the Transform gives it."""
  from tensorflow_model_analysis.metrics import metric_util  # pylint: disable=g-import-not-at-top

  model, tft_output, raw = model_and_transform
  sigs = signatures.make_serving_signatures(model, tft_output, image_cnn.SERVING_FEATURE_KEYS)
  labelled = tf.constant(predict.serialized_examples([{"image": r["image"], "label": r["label"]} for r in raw[:6]]))
  outputs = sigs[features.EVALUATION_SIGNATURE](labelled)
  served = sigs["serving_default"](labelled)
  np.testing.assert_allclose(outputs[features.PROBABILITIES].numpy(), served[features.PROBABILITIES].numpy())
  classes = outputs[features.ALL_CLASSES].numpy()
  assert classes.shape == (6, 2) and all(row.tolist() == classes[0].tolist() for row in classes)
  raw_labels = np.array([r["label"] for r in raw[:6]], dtype=object)
  labels, _ = metric_util.prepare_labels_and_predictions(
      raw_labels, {k: v.numpy() for k, v in outputs.items()}, features.PROBABILITIES)
  transformed = sigs[features.TRANSFORM_FEATURES_SIGNATURE](labelled)[features.TRANSFORMED_LABEL_KEY].numpy()
  assert labels.ravel().tolist() == transformed.ravel().tolist()


def test_unknown_serving_feature_is_refused(model_and_transform):
  model, tft_output, _ = model_and_transform
  with pytest.raises(ValueError, match=r"serving features \['pixels'\] are not in the raw schema"):
    signatures.make_serving_signatures(model, tft_output, ["pixels"])
