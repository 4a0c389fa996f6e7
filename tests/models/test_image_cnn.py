"""The image task: Transform's decode/resize/normalize on real tf.Transform, and the CNN builder."""
import functools

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from conftest import png_bytes
from core import features
from models import image_cnn


def _transform(raw_examples, custom_config, temp_dir):
  spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  with tft_beam.Context(temp_dir=str(temp_dir), force_tf_compat_v1=False):
    (transformed, _), transform_fn = (
        (raw_examples, metadata)
        | tft_beam.AnalyzeAndTransformDataset(
            functools.partial(image_cnn.preprocessing_fn, custom_config=custom_config),
            output_record_batches=False))
    _ = transform_fn | tft_beam.WriteTransformFn(str(temp_dir / "tft"))
  return transformed, tft.TFTransformOutput(str(temp_dir / "tft"))


def test_normalization_uses_full_pass_per_channel_statistics(tmp_path):
  rng = np.random.default_rng(0)
  raw = []
  for i in range(12):  # channels with very different means and spreads
    pixels = np.stack([rng.integers(0, 60, (6, 6)), rng.integers(100, 255, (6, 6)), np.full((6, 6), 10 * i)], -1)
    raw.append({"image": png_bytes(pixels.astype(np.uint8)), "label": [b"even", b"odd"][i % 2]})
  config = {"hparams": {"image_size": 6, "channels": 3}}
  transformed, tft_output = _transform(raw, config, tmp_path)
  images = np.stack([t[image_cnn.TRANSFORMED_IMAGE_KEY] for t in transformed])
  assert images.shape == (12, 6, 6, 3)
  per_channel = images.reshape(-1, 3)
  np.testing.assert_allclose(per_channel.mean(axis=0), 0.0, atol=1e-3)
  np.testing.assert_allclose(per_channel.std(axis=0), 1.0, atol=1e-2)
  vocabulary = tft_output.vocabulary_by_name(features.LABEL_VOCABULARY)
  assert sorted(vocabulary) == [b"even", b"odd"]
  labels = [vocabulary[t[features.TRANSFORMED_LABEL_KEY]] for t in transformed]
  assert labels == [b"even", b"odd"] * 6


def test_decode_converts_grayscale_and_resizes():
  gray = png_bytes(np.full((20, 10), 255, np.uint8))
  rgb = png_bytes(np.zeros((4, 4, 3), np.uint8))
  images = image_cnn.decode_images(tf.constant([gray, rgb]), image_size=8, channels=3).numpy()
  assert images.shape == (2, 8, 8, 3)
  np.testing.assert_allclose(images[0], 1.0, atol=1e-5)
  np.testing.assert_allclose(images[1], 0.0, atol=1e-5)


def test_model_outputs_class_probabilities_and_augments_only_in_training():
  hp = image_cnn.hparams_from({"hparams": {"image_size": 8, "channels": 1}})
  model = image_cnn.build_model(hp, num_classes=4)
  assert model.input_names == [image_cnn.TRANSFORMED_IMAGE_KEY]
  x = tf.random.stateless_normal((5, 8, 8, 1), seed=(1, 2))
  probabilities = model(x, training=False).numpy()
  assert probabilities.shape == (5, 4)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  np.testing.assert_allclose(model(x, training=False).numpy(), probabilities)  # inference is deterministic
  kinds = {type(layer).__name__ for layer in model.layers}
  assert {"Conv2D", "BatchNormalization", "ReLU", "MaxPooling2D", "Dropout", "RandomTranslation"} <= kinds


def test_decode_keeps_images_already_at_the_models_size_bit_exact():
  pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
  images = image_cnn.decode_images(tf.constant([png_bytes(pixels)]), image_size=32, channels=3).numpy()
  np.testing.assert_array_equal(np.round(images[0] * 255).astype(np.uint8), pixels)


def test_residual_preset_model_adds_shortcuts_and_learns():
  from pipelines import config  # pylint: disable=g-import-not-at-top

  hp = image_cnn.hparams_from({"hparams": {**config.PRESETS["cifar-resnet"].hparams, "image_size": 8}})
  model = image_cnn.build_model(hp, num_classes=2)
  adds = [layer for layer in model.layers if type(layer).__name__ == "Add"]
  assert len(adds) == len(hp["conv_filters"]) and "augment_flip" in [layer.name for layer in model.layers]
  assert [layer.name for layer in model.layers if layer.name.endswith("_project")] == [
      "block0_project", "block1_project", "block2_project"]  # 3 -> 32 -> 64 -> 128 channels
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 128)
  x = rng.normal(0, 0.3, (128, 8, 8, 3)).astype("float32")
  x[y == 1, :, :, 0] += 1.5  # class 1: red
  model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
  assert model.fit(x, y, epochs=4, batch_size=32, verbose=0).history["accuracy"][-1] > 0.95


def test_model_learns_a_separable_problem():
  hp = image_cnn.hparams_from({"hparams": {"augment": False}})
  rng = np.random.default_rng(0)
  y = rng.integers(0, 2, 256)
  x = rng.normal(0, 0.3, (256, 8, 8, 1)).astype("float32")
  x[y == 1, :4] += 1.5  # class 1: bright top half
  model = image_cnn.build_model(hp, num_classes=2)
  model.compile(tf.keras.optimizers.Adam(3e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
  history = model.fit(x, y, epochs=5, batch_size=32, verbose=0)
  assert history.history["accuracy"][-1] > 0.95


def test_hparams_override_defaults():
  hp = image_cnn.hparams_from({"hparams": {"epochs": 3}})
  assert hp["epochs"] == 3 and hp["batch_size"] == image_cnn.DEFAULT_HPARAMS["batch_size"]


def test_under_dp_sgd_the_model_has_group_norm_and_no_augmentation_or_dropout_unless_asked():
  dp = {"dp_l2_clip": 1.0, "dp_noise_multiplier": 1.1}
  hp = image_cnn.hparams_from({"hparams": dp})
  assert hp["augment"] is False and hp["dropout"] == 0.0
  kinds = {type(layer).__name__ for layer in image_cnn.build_model(hp, 3).layers}
  assert "GroupNormalization" in kinds and "BatchNormalization" not in kinds and "RandomTranslation" not in kinds
  asked = image_cnn.hparams_from({"hparams": {**dp, "augment": True, "dropout": 0.2, "epochs": None}})
  assert asked["augment"] is True and asked["dropout"] == 0.2 and asked["epochs"] == 20  # None: the default
  plain = image_cnn.hparams_from({"hparams": {}})
  assert plain["augment"] is True and "BatchNormalization" in {
      type(layer).__name__ for layer in image_cnn.build_model(plain, 3).layers}
