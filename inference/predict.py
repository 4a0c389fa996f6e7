"""Prediction with a pushed model: a SavedModel through its raw-input `serving_default` signature, or a .tflite
model through the TFLite interpreter, fed the tensors it takes (decoded pixels, token ids) made here the way the
model's own Transform graph makes them."""
from __future__ import annotations

from typing import List, Sequence, Tuple, Union

import tensorflow as tf

from core import features
from inference.model_loader import LoadedModel, ModelError, load_model, resolve_model_dir  # noqa: F401


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
    raise ModelError(f"{loaded.path}: the model refused the input ({tf_error_reason(e.message)})") from e
  return {k: v.numpy() for k, v in outputs.items()}


def tf_error_reason(message: str) -> str:
  """The line of a TensorFlow error that says what was wrong ("Unknown image file format. ..."), not its preamble
  ("Graph execution error:", "Detected at node ...") or node names."""
  preamble = ("Graph execution error", "Detected at node", "<stack traces")
  lines = [line.strip() for line in message.splitlines()
           if line.strip() and not line[0].isspace() and not line.startswith(preamble)]
  return lines[-1] if lines else message.strip().splitlines()[0] if message.strip() else "no message"


def _labels_and_scores(outputs) -> List[Tuple[str, float]]:
  return [(label.decode("utf-8"), float(score))
          for label, score in zip(outputs[features.PREDICTED_LABEL], outputs[features.PREDICTED_SCORE])]


def _tflite_labels_and_scores(loaded: LoadedModel, tensors) -> List[Tuple[str, float]]:
  probabilities = loaded.serving_fn(tensors)
  if probabilities.shape[1] != len(loaded.metadata.labels):
    raise ModelError(f"{loaded.path}: {probabilities.shape[1]} outputs but {len(loaded.metadata.labels)} labels")
  return [(loaded.metadata.labels[i], float(p[i])) for p, i in zip(probabilities, probabilities.argmax(axis=1))]


def predict_texts(model: Union[str, LoadedModel], texts: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each raw text, tokenized inside the model (SavedModel) or here (.tflite)."""
  loaded = _loaded(model)
  loaded.check_modality(features.TEXT_KEY)
  if loaded.is_tensor_model:
    return _tflite_labels_and_scores(loaded, tflite_text_tensors(loaded, texts))
  return _labels_and_scores(predict_serialized(loaded, serialized_examples([{features.TEXT_KEY: t.encode("utf-8")}
                                                                              for t in texts])))


def predict_images(model: Union[str, LoadedModel], image_paths: Sequence[str]) -> List[Tuple[str, float]]:
  """(label, probability) for each image file: its encoded bytes as they are on disk (SavedModel), or its pixels
  decoded and resized as the model's Transform does (.tflite)."""
  loaded = _loaded(model)
  loaded.check_modality(features.IMAGE_KEY)
  encoded = []
  for path in image_paths:
    with open(path, "rb") as f:
      encoded.append(f.read())
  if loaded.is_tensor_model:
    return _tflite_labels_and_scores(loaded, tflite_image_tensors(loaded, encoded))
  return _labels_and_scores(predict_serialized(loaded, serialized_examples([{features.IMAGE_KEY: e} for e in encoded])))


def tflite_image_tensors(loaded: LoadedModel, encoded: Sequence[bytes]):
  """uint8 pixels at the .tflite model's input size, decoded and resized with the Transform's own function."""
  from models import image_cnn  # pylint: disable=g-import-not-at-top

  (name, ((size, _, channels), _)), = loaded.serving_fn.input_specs.items()
  try:
    pixels = image_cnn.decode_images(tf.constant(list(encoded)), size, channels) * 255.0
  except tf.errors.InvalidArgumentError as e:
    raise ModelError(f"an image could not be decoded ({e.message.splitlines()[0]})") from e
  return {name: tf.cast(tf.round(pixels), tf.uint8).numpy()}


def tflite_text_tensors(loaded: LoadedModel, texts: Sequence[str]):
  """Token ids, mask and segment ids with the vocab.txt shipped beside the .tflite model."""
  import os  # pylint: disable=g-import-not-at-top

  from models import bert_tokenization  # pylint: disable=g-import-not-at-top
  from core import model_files  # pylint: disable=g-import-not-at-top

  vocab = os.path.join(os.path.dirname(loaded.path), model_files.VOCAB_FILE)
  if not os.path.isfile(vocab):
    raise ModelError(f"{loaded.path}: no {model_files.VOCAB_FILE} beside it to tokenize with")
  specs = loaded.serving_fn.input_specs
  length = specs[bert_tokenization.INPUT_WORD_IDS][0][0]
  lower_case = loaded.metadata.lower_case if loaded.metadata.lower_case is not None else True
  tokens = bert_tokenization.BertInputs(vocab, length, lower_case=lower_case)(tf.constant(list(texts)))
  return {name: tokens[name].numpy() for name in specs}
