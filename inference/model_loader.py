"""The one way to find and load a pushed model, used by `modelfab predict` and by the check before the Pusher.

A pushed model is a SavedModel in `<serving dir>/<model name>/<version>/` (TF Serving's layout). Beside
saved_model.pb, the Trainer writes `assets.extra/modelfab.json`: the task, the raw features `serving_default`
parses (which tells the modality: `image` bytes or `text`), and the class labels. TF Serving ignores that folder.

A compressed model (components/quantizer.py) is `model.tflite` with `model.tflite.json` (the same metadata),
`labels.txt` and, for text, `vocab.txt` beside it; `load_model("path/model.tflite")` loads it for the TFLite
interpreter.
"""
from __future__ import annotations

import dataclasses
import os
from typing import Any

from core import features
from core.errors import ModelError
from core.model_files import (LABELS_FILE, SAVED_MODEL_FILE, TENSOR_MODEL_SUFFIXES, TFLITE_METADATA_SUFFIX,
                              ModelMetadata, read_metadata, version_dirs)

def resolve_model_dir(path: str) -> str:
  """`path` itself when it holds saved_model.pb or is a .tflite file, else its newest numeric version sub-directory."""
  if path.endswith(TENSOR_MODEL_SUFFIXES):
    if not os.path.isfile(path):
      raise ModelError(f"{path}: no such {os.path.splitext(path)[1]} file")
    return path
  if os.path.isfile(os.path.join(path, SAVED_MODEL_FILE)):
    return path
  if not os.path.exists(path):
    raise ModelError(f"{path}: no such model directory")
  if not os.path.isdir(path):
    raise ModelError(f"{path}: not a model directory (expected a SavedModel folder or a folder of versions)")
  versions = version_dirs(path)
  if not versions:
    raise ModelError(f"{path}: no SavedModel here (expected saved_model.pb or <version>/saved_model.pb)")
  return os.path.join(path, str(versions[0]))


@dataclasses.dataclass
class LoadedModel:
  path: str  # the version directory, or the .tflite file
  metadata: ModelMetadata
  serving_fn: Any  # SavedModel: `serving_default` (serialized tf.Examples in); .tflite: a TFLiteRunner
  saved_model: Any = None  # SavedModel: the loaded object, whose `signatures` has every signature

  @property
  def is_tensor_model(self) -> bool:
    """A .tflite or .onnx file: it takes decoded tensors (`serving_tensors`), not serialized tf.Examples."""
    return self.path.endswith(TENSOR_MODEL_SUFFIXES)

  def check_modality(self, modality: str) -> None:
    """Raises ModelError when the model is known to take another modality than `modality`."""
    known = self.metadata.modality
    if known and known != modality:
      raise ModelError(f"{self.path}: this model classifies {known}s (it reads the '{known}' feature), "
                       f"not {modality}s; give it {'image files' if known == 'image' else '--text/--text-file'}")


def load_model(path: str) -> LoadedModel:
  """Loads the SavedModel at `path` (a version directory, or a model folder: its newest version), or the .tflite
  model at `path`.

  Registers tensorflow_text's ops first, which text models' graphs use, so any model loads in any process.
  """
  if path.endswith(TENSOR_MODEL_SUFFIXES):
    return load_tensor_model(path)
  model_dir = resolve_model_dir(path)
  metadata = read_metadata(model_dir)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import  # registers text ops

  try:
    model = tf.saved_model.load(model_dir)
  except (OSError, ValueError, tf.errors.OpError) as e:
    message = getattr(e, "message", None) or str(e)
    raise ModelError(f"{model_dir}: cannot load the SavedModel ({message.splitlines()[0] if message else e})") from e
  if features.SERVING_SIGNATURE not in model.signatures:
    raise ModelError(f"{model_dir}: the SavedModel has no serving_default signature "
                     f"(it has {sorted(model.signatures)})")
  return LoadedModel(model_dir, metadata, model.signatures[features.SERVING_SIGNATURE], model)


def load_tensor_model(path: str) -> LoadedModel:
  """Loads a .tflite model (from the Quantizer) or a .onnx model (from the ONNX exporter) with its metadata;
  ModelError naming the file when it cannot."""
  if not os.path.isfile(path):
    raise ModelError(f"{path}: no such {os.path.splitext(path)[1]} file")
  metadata = read_metadata(path)
  try:
    if path.endswith(".onnx"):
      from inference.onnx_runner import OnnxRunner  # pylint: disable=g-import-not-at-top

      runner = OnnxRunner(path)
    else:
      from inference.tflite_runner import TFLiteRunner  # pylint: disable=g-import-not-at-top

      runner = TFLiteRunner(path)
  except Exception as e:  # pylint: disable=broad-except  # each runtime raises its own kinds
    kind = "an ONNX model onnxruntime" if path.endswith(".onnx") else "a TFLite model the interpreter"
    raise ModelError(f"{path}: not {kind} can load ({str(e).strip().splitlines()[0]})") from e
  if not metadata.labels:
    labels_path = os.path.join(os.path.dirname(path), LABELS_FILE)
    if not os.path.isfile(labels_path):
      raise ModelError(f"{path}: no {os.path.basename(path)}{TFLITE_METADATA_SUFFIX} or {LABELS_FILE} beside it "
                       "to name the classes")
    with open(labels_path, encoding="utf-8") as f:
      metadata.labels = [line.rstrip("\n") for line in f if line.strip()]
  return LoadedModel(path, metadata, runner)


def signature_names(saved_model_dir: str) -> "list[str]":
  """The signature names of a SavedModel, read from saved_model.pb without loading the graph."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top

  proto = saved_model_pb2.SavedModel()
  with open(os.path.join(saved_model_dir, SAVED_MODEL_FILE), "rb") as f:
    proto.ParseFromString(f.read())
  return sorted({name for graph in proto.meta_graphs for name in graph.signature_def})
