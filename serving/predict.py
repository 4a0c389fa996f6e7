"""Prediction with a pushed model through its raw-input `serving_default` signature."""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import tensorflow as tf

from components.image_folder import IMAGE_KEY
from serving.model_loader import LoadedModel, ModelError, load_model, resolve_model_dir  # noqa: F401


def serialized_examples(features_per_example: Sequence[dict]) -> List[bytes]:
  """tf.Examples with bytes features, serialized."""
  return [tf.train.Example(features=tf.train.Features(feature={
      k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])) for k, v in feats.items()
  })).SerializeToString() for feats in features_per_example]


def _loaded(model: Union[str, LoadedModel]) -> LoadedModel:
  return model if isinstance(model, LoadedModel) else load_model(model)


def predict_serialized(model: Union[str, LoadedModel], examples: List[bytes]):
  """Runs `serving_default` on serialized tf.Examples; returns its outputs as NumPy arrays."""
  loaded = _loaded(model)
  try:
    outputs = loaded.serving_fn(examples=tf.constant(examples))
  except tf.errors.InvalidArgumentError as e:
    raise ModelError(f"{loaded.path}: the model refused the input ({e.message.splitlines()[0]})") from e
  return {k: v.numpy() for k, v in outputs.items()}


def _labels_and_scores(outputs) -> List[Tuple[str, float]]:
  return [(label.decode("utf-8"), float(score)) for label, score in zip(outputs["label"], outputs["score"])]


def predict_texts(model: Union[str, LoadedModel], texts: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each raw text, tokenized inside the model."""
  loaded = _loaded(model)
  loaded.check_modality("text")
  return _labels_and_scores(predict_serialized(loaded, serialized_examples([{"text": t.encode("utf-8")}
                                                                              for t in texts])))


def predict_images(model: Union[str, LoadedModel], image_paths: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each image file, sending its encoded bytes as they are on disk."""
  loaded = _loaded(model)
  loaded.check_modality("image")
  features = []
  for path in image_paths:
    with open(path, "rb") as f:
      features.append({IMAGE_KEY: f.read()})
  return _labels_and_scores(predict_serialized(loaded, serialized_examples(features)))
