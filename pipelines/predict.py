"""Prediction with a pushed model through its raw-input `serving_default` signature."""
from __future__ import annotations

import os
from typing import List, Sequence, Tuple

import tensorflow as tf

from components.image_folder import IMAGE_KEY


def resolve_model_dir(path: str) -> str:
  """`path` itself when it holds saved_model.pb, else its newest numeric version sub-directory."""
  if os.path.isfile(os.path.join(path, "saved_model.pb")):
    return path
  if not os.path.isdir(path):
    raise FileNotFoundError(f"{path}: no such model directory")
  versions = sorted((int(n) for n in os.listdir(path) if n.isdigit()
                     and os.path.isfile(os.path.join(path, n, "saved_model.pb"))), reverse=True)
  if not versions:
    raise FileNotFoundError(f"{path}: no SavedModel here (expected saved_model.pb or <version>/saved_model.pb)")
  return os.path.join(path, str(versions[0]))


def serialized_examples(features_per_example: Sequence[dict]) -> List[bytes]:
  """tf.Examples with bytes features, serialized."""
  return [tf.train.Example(features=tf.train.Features(feature={
      k: tf.train.Feature(bytes_list=tf.train.BytesList(value=[v])) for k, v in feats.items()
  })).SerializeToString() for feats in features_per_example]


def predict_serialized(model_dir: str, examples: List[bytes]):
  """Runs `serving_default` on serialized tf.Examples; returns its outputs as NumPy arrays."""
  model = tf.saved_model.load(model_dir)
  outputs = model.signatures["serving_default"](examples=tf.constant(examples))
  return {k: v.numpy() for k, v in outputs.items()}


def predict_texts(model_dir: str, texts: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each raw text, tokenized inside the model."""
  import tensorflow_text  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import  # tokenizer ops

  outputs = predict_serialized(model_dir, serialized_examples([{"text": t.encode("utf-8")} for t in texts]))
  return [(label.decode("utf-8"), float(score)) for label, score in zip(outputs["label"], outputs["score"])]


def predict_images(model_dir: str, image_paths: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each image file, sending its encoded bytes as they are on disk."""
  features = []
  for path in image_paths:
    with open(path, "rb") as f:
      features.append({IMAGE_KEY: f.read()})
  outputs = predict_serialized(model_dir, serialized_examples(features))
  return [(label.decode("utf-8"), float(score)) for label, score in zip(outputs["label"], outputs["score"])]
