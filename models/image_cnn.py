"""Image classification with a small Keras CNN: what differs from other tasks (Transform, model, defaults).

Transform decodes the encoded PNG/JPEG bytes, resizes to `image_size`, scales to [0, 1] and normalizes each channel
with the mean and standard deviation that tf.Transform computes over the whole training split.
"""
from __future__ import annotations

from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_transform as tft

from models import tf_setup  # noqa: F401  # pylint: disable=unused-import  # before any Keras use
from core import features
from models import privacy

IMAGE_KEY = features.IMAGE_KEY
TRANSFORMED_IMAGE_KEY = features.transformed_name(IMAGE_KEY)
SERVING_FEATURE_KEYS = (IMAGE_KEY,)
IMAGE_FEATURE_KEYS = (IMAGE_KEY,)  # encoded images: StatisticsGen gives them byte-size statistics

DEFAULT_HPARAMS: Dict[str, Any] = {
    "image_size": 8,  # height and width after resizing
    "channels": 1,  # 1 = grayscale, 3 = RGB; decoding converts any input to this
    "epochs": 20,
    "batch_size": 32,
    "learning_rate": 3e-3,
    "conv_filters": [32, 64],  # one conv/BN/ReLU x2 + max-pool block per entry
    "dropout": 0.3,
    "augment": True,  # random shifts/rotations/zoom, active only while training
    "augment_flip": False,  # also random horizontal flips (photos; not digits or text)
    "residual": False,  # each block adds its input back (a 1x1 projection when the width changes): a small ResNet
    "early_stopping_patience": 8,
}
TRANSFORM_HPARAMS = ("image_size", "channels")  # the only ones preprocessing_fn reads


# Under DP-SGD, unless asked for: no augmentation and no dropout. The noise regularizes already; with both, DP-SGD
# (noise 1.1, clip 1, batch 64, 30 epochs) reached 0.76 eval accuracy on the digits, 0.96 without (docs/privacy.md).
DP_DEFAULTS = {"augment": False, "dropout": 0.0}


def hparams_from(custom_config: Optional[Dict[str, Any]]) -> Dict[str, Any]:
  """Defaults (DP_DEFAULTS under DP-SGD) overridden by `custom_config['hparams']`."""
  given = {k: v for k, v in ((custom_config or {}).get("hparams") or {}).items() if v is not None}
  return {**DEFAULT_HPARAMS, **(DP_DEFAULTS if privacy.enabled(given) else {}), **given}


def decode_images(encoded: tf.Tensor, image_size: int, channels: int) -> tf.Tensor:
  """[batch] encoded PNG/JPEG bytes -> [batch, size, size, channels] float32 in [0, 1]."""
  def decode_one(data):
    image = tf.image.convert_image_dtype(tf.io.decode_image(data, channels=channels, expand_animations=False),
                                         tf.float32)
    same_size = tf.reduce_all(tf.shape(image)[:2] == image_size)
    image = tf.cond(same_size, lambda: image,  # already the model's size (CIFAR-like data): nothing to resample
                    lambda: tf.image.resize(image, [image_size, image_size], antialias=True))
    return tf.clip_by_value(tf.ensure_shape(image, [image_size, image_size, channels]), 0.0, 1.0)

  encoded = tf.reshape(encoded, [-1])
  return tf.map_fn(decode_one, encoded,
                   fn_output_signature=tf.TensorSpec([image_size, image_size, channels], tf.float32))


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Optional[Dict[str, Any]] = None):
  """tf.Transform: decoded, resized, per-channel standardized image; label string -> integer id."""
  hp = hparams_from(custom_config)
  size, channels = int(hp["image_size"]), int(hp["channels"])
  images = decode_images(inputs[IMAGE_KEY], size, channels)
  pixels = tf.reshape(images, [-1, channels])  # every pixel of the batch, one row each
  mean = tft.mean(pixels, reduce_instance_dims=False)  # [channels], over the full training split
  std = tf.sqrt(tft.var(pixels, reduce_instance_dims=False))
  normalized = (images - mean) / tf.maximum(std, 1e-6)
  labels = tf.reshape(inputs[features.RAW_LABEL_KEY], [-1])
  return {
      TRANSFORMED_IMAGE_KEY: normalized,
      features.TRANSFORMED_LABEL_KEY: tft.compute_and_apply_vocabulary(
          labels, vocab_filename=features.LABEL_VOCABULARY),
  }


def normalization(hp: Dict[str, Any], filters: int, name: str) -> tf.keras.layers.Layer:
  """Batch normalization; group normalization (groups of 4 channels at most 8 groups) under DP-SGD, where batch
  statistics would mix the examples whose gradients are clipped one by one (models.privacy)."""
  if privacy.enabled(hp):
    return tf.keras.layers.GroupNormalization(groups=min(8, max(1, filters // 4)), name=name)
  return tf.keras.layers.BatchNormalization(momentum=0.9, name=name)


def build_model(hp: Dict[str, Any], num_classes: int) -> tf.keras.Model:
  """Conv/BN/ReLU blocks (residual with `residual`) with max-pooling, global pooling, dropout and a softmax
  classifier (uncompiled)."""
  size, channels = int(hp["image_size"]), int(hp["channels"])
  inputs = tf.keras.Input(shape=(size, size, channels), name=TRANSFORMED_IMAGE_KEY)
  x = inputs
  f32 = {"dtype": "float32"}  # augmentation and the softmax stay float32 under a mixed precision (models.precision)
  if hp.get("augment"):
    x = tf.keras.layers.RandomTranslation(0.1, 0.1, fill_mode="nearest", name="augment_shift", **f32)(x)
    x = tf.keras.layers.RandomRotation(0.04, fill_mode="nearest", name="augment_rotate", **f32)(x)
    x = tf.keras.layers.RandomZoom(0.1, fill_mode="nearest", name="augment_zoom", **f32)(x)
  if hp.get("augment") and hp.get("augment_flip"):
    x = tf.keras.layers.RandomFlip("horizontal", name="augment_flip", **f32)(x)
  for block, filters in enumerate(hp["conv_filters"]):
    shortcut = x
    for conv in range(2):
      x = tf.keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"block{block}_conv{conv}")(x)
      x = normalization(hp, filters, f"block{block}_bn{conv}")(x)
      if hp.get("residual") and conv == 1:  # x + shortcut, projected by a 1x1 conv when the width changes
        if shortcut.shape[-1] != filters:
          shortcut = tf.keras.layers.Conv2D(filters, 1, use_bias=False, name=f"block{block}_project")(shortcut)
          shortcut = normalization(hp, filters, f"block{block}_project_bn")(shortcut)
        x = tf.keras.layers.Add(name=f"block{block}_add")([x, shortcut])
      x = tf.keras.layers.ReLU(name=f"block{block}_relu{conv}")(x)
    if x.shape[1] >= 2:
      x = tf.keras.layers.MaxPooling2D(name=f"block{block}_pool")(x)
  x = tf.keras.layers.GlobalAveragePooling2D(name="pool")(x)
  x = tf.keras.layers.Dropout(float(hp["dropout"]), name="dropout")(x)
  outputs = tf.keras.layers.Dense(num_classes, activation="softmax", name="probabilities", **f32)(x)
  return tf.keras.Model(inputs, outputs, name="image_cnn")


PIXELS_KEY = "pixels"


def tensor_inputs(tf_transform_output, hp: Dict[str, Any]):
  """uint8 pixels [batch, size, size, channels] (what a camera app has) -> the model's normalized input.

  The Transform's normalization is affine per channel, so it is read off the real Transform graph by sending it
  two constant images (black and white): x_norm = pixels / 255 * scale + offset.
  """
  from models import signatures  # pylint: disable=g-import-not-at-top

  size, channels = int(hp["image_size"]), int(hp["channels"])
  spec = {IMAGE_KEY: tf_transform_output.raw_feature_spec()[IMAGE_KEY]}
  probes = [tf.train.Example(features=tf.train.Features(feature={IMAGE_KEY: tf.train.Feature(
      bytes_list=tf.train.BytesList(value=[tf.io.encode_png(tf.fill([size, size, channels], value)).numpy()]))}))
            .SerializeToString() for value in (tf.constant(0, tf.uint8), tf.constant(255, tf.uint8))]
  transformed = tf_transform_output.transform_raw_features(tf.io.parse_example(tf.constant(probes), spec))
  black, white = transformed[TRANSFORMED_IMAGE_KEY][0, 0, 0], transformed[TRANSFORMED_IMAGE_KEY][1, 0, 0]
  offset, scale = tf.constant(black.numpy()), tf.constant((white - black).numpy())

  def from_examples(raw, transformed):  # pylint: disable=unused-argument
    pixels = decode_images(raw[IMAGE_KEY], size, channels) * 255.0
    return {PIXELS_KEY: tf.cast(tf.round(pixels), tf.uint8)}

  def to_model_inputs(tensors):
    return {TRANSFORMED_IMAGE_KEY: tf.cast(tensors[PIXELS_KEY], tf.float32) / 255.0 * scale + offset}

  return signatures.TensorInputs(
      specs={PIXELS_KEY: tf.TensorSpec([None, size, size, channels], tf.uint8, name=PIXELS_KEY)},
      from_examples=from_examples, to_model_inputs=to_model_inputs)


def search_space(space, hp: Dict[str, Any]) -> Dict[str, Any]:
  """The Tuner's search space (keras_tuner.HyperParameters `space`): learning rate, filters, dropout, batch size."""
  del hp
  filters = space.Choice("conv_filters", ["16,32", "32,64", "32,64,128"], default="32,64")
  return {"learning_rate": space.Float("learning_rate", 3e-4, 3e-2, sampling="log", default=3e-3),
          "conv_filters": [int(f) for f in filters.split(",")],
          "dropout": space.Float("dropout", 0.0, 0.5, step=0.1, default=0.3),
          "batch_size": space.Choice("batch_size", [16, 32, 64], default=32)}
