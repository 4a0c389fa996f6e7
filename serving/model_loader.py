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
import json
import os
from typing import Any, Dict, List, Optional

METADATA_FILE = os.path.join("assets.extra", "modelfab.json")
SAVED_MODEL_FILE = "saved_model.pb"
TFLITE_FILE = "model.tflite"
TFLITE_METADATA_SUFFIX = ".json"  # model.tflite.json
LABELS_FILE = "labels.txt"
VOCAB_FILE = "vocab.txt"


class ModelError(ValueError):
  """A model path that holds no usable model, or a model asked for what it does not take; names the path."""


@dataclasses.dataclass
class ModelMetadata:
  task: Optional[str] = None
  serving_features: List[str] = dataclasses.field(default_factory=list)  # raw tf.Example features serving parses
  labels: List[str] = dataclasses.field(default_factory=list)
  lower_case: Optional[bool] = None  # text models: the tokenizer lower-cases (for clients that tokenize)

  @property
  def modality(self) -> Optional[str]:
    """"image" or "text" from the serving features; None for a model without metadata."""
    for modality in ("image", "text"):
      if modality in self.serving_features:
        return modality
    return None

  def to_json(self) -> Dict[str, Any]:
    return dataclasses.asdict(self)


def write_metadata(export_dir: str, metadata: ModelMetadata) -> None:
  """Writes `assets.extra/modelfab.json` into an exported SavedModel directory."""
  path = os.path.join(export_dir, METADATA_FILE)
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    json.dump(metadata.to_json(), f, indent=2)


def read_metadata(model_dir: str) -> ModelMetadata:
  """The model's metadata (of a SavedModel directory or a .tflite file); empty for models exported without it."""
  path = model_dir + TFLITE_METADATA_SUFFIX if model_dir.endswith(".tflite") else os.path.join(model_dir,
                                                                                                METADATA_FILE)
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


def resolve_model_dir(path: str) -> str:
  """`path` itself when it holds saved_model.pb or is a .tflite file, else its newest numeric version sub-directory."""
  if path.endswith(".tflite"):
    if not os.path.isfile(path):
      raise ModelError(f"{path}: no such .tflite file")
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

  @property
  def is_tflite(self) -> bool:
    return self.path.endswith(".tflite")

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
  if path.endswith(".tflite"):
    return load_tflite(path)
  model_dir = resolve_model_dir(path)
  metadata = read_metadata(model_dir)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_text  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import  # registers text ops

  try:
    model = tf.saved_model.load(model_dir)
  except (OSError, ValueError, tf.errors.OpError) as e:
    message = getattr(e, "message", None) or str(e)
    raise ModelError(f"{model_dir}: cannot load the SavedModel ({message.splitlines()[0] if message else e})") from e
  if "serving_default" not in model.signatures:
    raise ModelError(f"{model_dir}: the SavedModel has no serving_default signature "
                     f"(it has {sorted(model.signatures)})")
  return LoadedModel(model_dir, metadata, model.signatures["serving_default"])


def load_tflite(path: str) -> LoadedModel:
  """Loads a .tflite model (from the Quantizer) with its metadata; ModelError naming the file when it cannot."""
  if not os.path.isfile(path):
    raise ModelError(f"{path}: no such .tflite file")
  metadata = read_metadata(path)
  from serving.tflite_runner import TFLiteRunner  # pylint: disable=g-import-not-at-top

  try:
    runner = TFLiteRunner(path)
  except (ValueError, RuntimeError) as e:
    raise ModelError(f"{path}: not a TFLite model the interpreter can load ({str(e).splitlines()[0]})") from e
  if not metadata.labels:
    labels_path = os.path.join(os.path.dirname(path), LABELS_FILE)
    if not os.path.isfile(labels_path):
      raise ModelError(f"{path}: no {os.path.basename(path)}{TFLITE_METADATA_SUFFIX} or {LABELS_FILE} beside it "
                       "to name the classes")
    with open(labels_path, encoding="utf-8") as f:
      metadata.labels = [line.rstrip("\n") for line in f if line.strip()]
  return LoadedModel(path, metadata, runner)
