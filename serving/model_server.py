"""The models a server holds: every pushed model under a serving root, each version loaded, warmed up and batched.

Like TF Serving's file-system source, a watcher polls `<root>/<model>/` for numeric version directories. A new
version is loaded and warmed up in the background; it takes over only then, and the old one keeps answering until
that moment, so no request fails during a roll-over. Half-copied versions are never seen: the Pusher copies under a
hidden name and renames (components/atomic_pusher.py). Policy "latest" serves the newest version, "all" every one.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import threading
import time
from typing import Callable, Dict, List, Optional

import numpy as np

from inference import model_loader

from core import model_files
from serving.batching import Batcher

VERSION_POLICIES = ("latest", "all")


@dataclasses.dataclass
class ServedVersion:
  name: str
  version: int
  model: model_loader.LoadedModel
  batcher: Batcher

  def predict(self, examples: List[bytes]) -> Dict[str, np.ndarray]:
    return self.batcher.submit(examples)


def warmup_examples(metadata: model_files.ModelMetadata) -> List[bytes]:
  """One raw example of the model's modality (a small gray PNG, or a short text), to warm the graph up."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  from inference.predict import serialized_examples  # pylint: disable=g-import-not-at-top

  if metadata.modality == "text":
    value = b"warm up"
  else:
    buffer = io.BytesIO()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buffer, format="PNG")
    value = buffer.getvalue()
  key = metadata.serving_features[0] if metadata.serving_features else "image"
  return serialized_examples([{key: value}])


class ModelServer:
  """Loads and serves the versions of `model_names` (default: every model folder) under `root`."""

  def __init__(self, root: str, model_names: Optional[List[str]] = None, version_policy: str = "latest",
               poll_seconds: float = 2.0, max_batch_size: int = 32, batch_timeout: float = 0.002,
               on_batch: Optional[Callable[[str, int, int], None]] = None):
    if version_policy not in VERSION_POLICIES:
      raise ValueError(f"unknown version policy {version_policy!r}; choose one of {', '.join(VERSION_POLICIES)}")
    self.root = root
    self.model_names = model_names
    self.version_policy = version_policy
    self.poll_seconds = poll_seconds
    self.max_batch_size = max_batch_size
    self.batch_timeout = batch_timeout
    self.on_batch = on_batch
    self._versions: Dict[str, Dict[int, ServedVersion]] = {}
    self._failed: Dict[str, Dict[int, str]] = {}  # versions that did not load, with the reason
    self._lock = threading.Lock()
    self._stopped = threading.Event()
    self._watcher: Optional[threading.Thread] = None

  def names(self) -> List[str]:
    if self.model_names:
      return list(self.model_names)
    if not os.path.isdir(self.root):
      return []
    return sorted(n for n in os.listdir(self.root) if not n.startswith(".") and
                  os.path.isdir(os.path.join(self.root, n)))

  def start(self) -> None:
    """Loads what is there now (blocking), then keeps watching in the background."""
    self.poll()
    self._watcher = threading.Thread(target=self._watch, name="modelfab-version-watcher", daemon=True)
    self._watcher.start()

  def stop(self) -> None:
    self._stopped.set()
    with self._lock:
      served = [v for versions in self._versions.values() for v in versions.values()]
    for version in served:
      version.batcher.stop()

  def _watch(self) -> None:
    while not self._stopped.wait(self.poll_seconds):
      try:
        self.poll()
      except Exception:  # pylint: disable=broad-except
        logging.exception("version watcher")

  def poll(self) -> None:
    """Loads new versions that the policy wants and retires versions it no longer wants."""
    for name in self.names():
      on_disk = model_files.version_dirs(os.path.join(self.root, name))
      wanted = on_disk[:1] if self.version_policy == "latest" else on_disk
      with self._lock:
        loaded = set(self._versions.get(name, {}))
        failed = set(self._failed.get(name, {}))
      for version in sorted(set(wanted) - loaded - failed):
        self._load(name, version)
      with self._lock:
        current = self._versions.get(name, {})
        if self.version_policy == "latest" and current:
          newest = max(current)
          retired = [current.pop(v) for v in list(current) if v != newest]
        else:
          retired = [current.pop(v) for v in list(current) if v not in on_disk]
      for version in retired:
        version.batcher.stop()  # its queued requests were already answered; new ones go to the newest

  def _load(self, name: str, version: int) -> None:
    path = os.path.join(self.root, name, str(version))
    started = time.time()
    try:
      model = model_loader.load_model(path)
      model.serving_fn(examples=_as_tensor(warmup_examples(model.metadata)))  # warm up before taking traffic
    except Exception as e:  # pylint: disable=broad-except
      logging.error("cannot load %s: %s", path, e)
      with self._lock:
        self._failed.setdefault(name, {})[version] = str(e)
      return
    serving_fn = model.serving_fn
    batcher = Batcher(lambda examples: {k: v.numpy() for k, v in serving_fn(examples=_as_tensor(examples)).items()},
                      self.max_batch_size, self.batch_timeout,
                      on_batch=(lambda size, n=name, v=version: self.on_batch(n, v, size)) if self.on_batch else None)
    with self._lock:
      self._versions.setdefault(name, {})[version] = ServedVersion(name, version, model, batcher)
    logging.info("serving %s version %d (loaded in %.1fs)", name, version, time.time() - started)

  def get(self, name: str, version: Optional[int] = None) -> ServedVersion:
    """The served version (the newest when `version` is None); LookupError naming what is missing."""
    with self._lock:
      versions = self._versions.get(name)
      if not versions:
        raise LookupError(f"Servable not found for request: Latest({name})" if version is None else
                          f"Servable not found for request: Specific({name}, {version})")
      if version is None:
        return versions[max(versions)]
      if version not in versions:
        raise LookupError(f"Servable not found for request: Specific({name}, {version})")
      return versions[version]

  def status(self, name: str) -> List[Dict[str, object]]:
    """TF Serving's model_version_status entries for `name` (newest first); LookupError when unknown."""
    with self._lock:
      versions = dict(self._versions.get(name, {}))
      failed = dict(self._failed.get(name, {}))
    if not versions and not failed:
      raise LookupError(f"Could not find any versions of model {name}")
    entries = [{"version": str(v), "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}
               for v in versions]
    entries += [{"version": str(v), "state": "END", "status": {"error_code": "UNKNOWN", "error_message": reason}}
                for v, reason in failed.items()]
    return sorted(entries, key=lambda e: -int(e["version"]))


def _as_tensor(examples: List[bytes]):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.constant(examples, dtype=tf.string)
