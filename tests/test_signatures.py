"""Serving signatures: raw serialized examples in, through the Transform graph, class probabilities out."""
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features, image_cnn, signatures
from serving import predict


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


def test_unknown_serving_feature_is_refused(model_and_transform):
  model, tft_output, _ = model_and_transform
  with pytest.raises(ValueError, match=r"serving features \['pixels'\] are not in the raw schema"):
    signatures.make_serving_signatures(model, tft_output, ["pixels"])
