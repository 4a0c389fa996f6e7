"""The files of a pushed model version, and modelfab's metadata file beside the SavedModel (no TensorFlow).

A version folder `<serving dir>/<model name>/<version>/` holds a SavedModel (TF Serving's layout) and, in
`assets.extra/modelfab.json` (which TF Serving ignores), the task, the raw features `serving_default` parses (which
tell the modality: `image` bytes or `text`) and the class labels. A blessed .tflite ships beside it as
`model.tflite` with `model.tflite.json` (the same metadata), `labels.txt` and, for text, `vocab.txt`.
"""
from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Dict, List, Optional

from core import features
from core.errors import ModelError

ASSETS_EXTRA_DIR = "assets.extra"  # files beside the SavedModel that TF Serving ignores
METADATA_FILE = os.path.join(ASSETS_EXTRA_DIR, "modelfab.json")
SAVED_MODEL_FILE = "saved_model.pb"
TRAINER_EXPORT_DIR = "Format-Serving"  # the SavedModel inside a TFX Model artifact (tfx.utils.path_utils)
TFLITE_FILE = "model.tflite"
ONNX_FILE = "model.onnx"
TENSOR_MODEL_SUFFIXES = (".tflite", ".onnx")  # single-file models of the `serving_tensors` signature
TFLITE_METADATA_SUFFIX = ".json"  # model.tflite.json
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"


@dataclasses.dataclass
class ModelMetadata:
  task: Optional[str] = None
  serving_features: List[str] = dataclasses.field(default_factory=list)  # raw tf.Example features serving parses
  labels: List[str] = dataclasses.field(default_factory=list)
  lower_case: Optional[bool] = None  # text models: the tokenizer lower-cases (for clients that tokenize)
  training_precision: Optional[str] = None  # float32, bfloat16 or float16 (models.precision); serving is float32
  training_precision_reason: Optional[str] = None  # why: asked for, or what `auto` saw in the hardware
  # DP-SGD's settings and the privacy spent (models.privacy.report: epsilon, delta, steps...); None without DP.
  privacy: Optional[Dict[str, Any]] = None
  # The loss-threshold membership-inference attack on train vs eval examples (models.privacy): its AUC...
  membership_inference: Optional[Dict[str, Any]] = None

  @property
  def modality(self) -> Optional[str]:
    """"image" or "text" from the serving features; None for a model without metadata."""
    for modality in features.MODALITIES:
      if modality in self.serving_features:
        return modality
    return None

  @property
  def input_feature(self) -> str:
    """The raw feature serving reads (the first serving feature; "image" for a model without metadata)."""
    return self.serving_features[0] if self.serving_features else features.IMAGE_KEY

  @property
  def image_feature(self) -> Optional[str]:
    """The feature holding an image's encoded bytes; None for a text model."""
    return None if self.modality == features.TEXT_KEY else self.input_feature

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def write_metadata(export_dir: str, metadata: ModelMetadata) -> None:
  """Writes `assets.extra/modelfab.json` into an exported SavedModel directory."""
  path = os.path.join(export_dir, METADATA_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(metadata.to_json(), f, indent=2)


def read_metadata(model_dir: str) -> ModelMetadata:
  """The model's metadata (of a SavedModel directory, or a .tflite or .onnx file: `<file>.json` beside it); empty
  for models exported without it."""
  path = model_dir + TFLITE_METADATA_SUFFIX if model_dir.endswith(TENSOR_MODEL_SUFFIXES) else os.path.join(
      model_dir, METADATA_FILE)
  if not os.path.isfile(path):
    return ModelMetadata()
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
    return ModelMetadata(**{f.name: data[f.name] for f in dataclasses.fields(ModelMetadata) if f.name in data})
  except (OSError, ValueError, TypeError) as e:
    raise ModelError(f"{path}: unreadable model metadata ({e})") from e


def version_dirs(base: str) -> List[int]:
  """The numeric version directories under `base` that hold a SavedModel, newest first.

  Names that are not numbers are skipped: the Pusher copies into a hidden temporary name and renames it when done,
  so a half-copied version is never listed (as TF Serving never loads one).
  """
  if not os.path.isdir(base):
    return []
  return sorted((int(n) for n in os.listdir(base)
                 if n.isdigit() and os.path.isfile(os.path.join(base, n, SAVED_MODEL_FILE))), reverse=True)
