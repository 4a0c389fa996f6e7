"""The models a server holds: every pushed model under a serving root, each version loaded, warmed up and batched.

Like TF Serving's file-system source, a watcher polls `<root>/<model>/` for numeric version directories. A new
version is loaded and warmed up in the background; it takes over only then, and the old one keeps answering until
that moment, so no request fails during a roll-over. Half-copied versions are never seen: the Pusher copies under a
hidden name and renames (components/atomic_pusher.py). Policy "latest" serves the newest version, "all" every one.

Version labels (core/version_labels.py) are read on the same poll. Labelled versions, and the stable version before
the current one (so a rollback is instant), are loaded whatever the policy. A label moves only once its new version
has loaded; a label on a version that failed to load, or a damaged labels file, is logged and the last good labels
keep answering. Unversioned requests go to `stable` when it is set, else to the newest version; with a canary and
`canary_percent`, that share of them goes to `canary` (by a hash of the routing key when one is given, so one user
stays on one side).
"""
from __future__ import annotations

import dataclasses
import hashlib
import io
import logging
import os
import random
import threading
import time
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from inference import model_loader

from core import features, model_files, version_labels
from core.errors import LabelError
from monitoring import outliers
from serving.batching import Batcher

VERSION_POLICIES = ("latest", "all")


@dataclasses.dataclass
class ServedVersion:
  name: str
  version: int
  model: model_loader.LoadedModel
  batcher: Batcher
  # raw inputs -> outlier scores (monitoring.outliers), when the version was pushed with a profile
  outlier_scorer: Optional[Callable[[List[bytes]], np.ndarray]] = None

  def predict(self, examples: List[bytes]) -> Dict[str, np.ndarray]:
    """`serving_default`'s outputs, plus `outlier_score` for each example when the version has an outlier profile."""
    outputs = self.batcher.submit(examples)
    if self.outlier_scorer is None:
      return outputs
    scores = outlier_scores(self.outlier_scorer, examples, self.model.metadata.input_feature)
    return outputs if scores is None else {**outputs, features.OUTLIER_SCORE: scores}


def outlier_scores(scorer, examples: List[bytes], key: str) -> Optional[np.ndarray]:
  """The outlier scores of serialized raw examples, or None when they cannot be computed (scoring never fails a
  request)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  try:
    raw = [tf.train.Example.FromString(e).features.feature[key].bytes_list.value[0] for e in examples]
    return np.asarray(scorer(raw), dtype=np.float32)
  except Exception:  # pylint: disable=broad-except
    logging.warning("outlier scores skipped for a request", exc_info=True)
    return None


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
  return serialized_examples([{metadata.input_feature: value}])


class ModelServer:
  """Loads and serves the versions of `model_names` (default: every model folder) under `root`."""

  def __init__(self, root: str, model_names: Optional[List[str]] = None, version_policy: str = "latest",
               poll_seconds: float = 2.0, max_batch_size: int = 32, batch_timeout: float = 0.002,
               on_batch: Optional[Callable[[str, int, int], None]] = None, canary_percent: float = 0.0):
    if version_policy not in VERSION_POLICIES:
      raise ValueError(f"unknown version policy {version_policy!r}; choose one of {', '.join(VERSION_POLICIES)}")
    if not 0.0 <= canary_percent <= 100.0:
      raise ValueError(f"canary percent must be between 0 and 100, got {canary_percent}")
    self.canary_percent = canary_percent
    self.root = root
    self.model_names = model_names
    self.version_policy = version_policy
    self.poll_seconds = poll_seconds
    self.max_batch_size = max_batch_size
    self.batch_timeout = batch_timeout
    self.on_batch = on_batch
    self._versions: Dict[str, Dict[int, ServedVersion]] = {}
    self._failed: Dict[str, Dict[int, str]] = {}  # versions that did not load, with the reason
    self._labels: Dict[str, Dict[str, int]] = {}  # labels in effect: each names a loaded version
    self._label_files: Dict[str, version_labels.VersionLabels] = {}  # the last good labels file of each model
    self._label_problems: Dict[str, str] = {}  # the last problem logged per model (each is logged once)
    self._lock = threading.Lock()
    self._stopped = threading.Event()
    self._polled = threading.Event()  # the first poll (loading what was there at start) is done
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
    try:
      self.poll()
    finally:
      self._polled.set()
    self._watcher = threading.Thread(target=self._watch, name="modelfab-version-watcher", daemon=True)
    self._watcher.start()

  def readiness(self) -> Tuple[bool, Dict[str, object]]:
    """(ready, detail): ready once the first poll is done and every model has a version AVAILABLE (what a
    Kubernetes readiness probe should wait for); detail: model -> available versions, or why it is not ready."""
    if not self._polled.is_set():
      return False, {"loading": "the models present at start are still loading"}
    if self._stopped.is_set():
      return False, {"stopping": "the server is shutting down"}
    detail, ready = {}, True
    names = self.names()
    if not names:
      return False, {"models": f"no model under {self.root}"}
    with self._lock:
      for name in names:
        versions = sorted(self._versions.get(name, {}), reverse=True)
        detail[name] = versions or "no version AVAILABLE"
        ready = ready and bool(versions)
    return ready, detail

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
    """Loads new versions that the policy or the labels want, moves labels, retires versions nobody wants."""
    for name in self.names():
      model_dir = os.path.join(self.root, name)
      on_disk = model_files.version_dirs(model_dir)
      labels = self._read_labels(name, model_dir)
      pinned = version_labels.pinned_versions(labels)
      wanted = set(on_disk[:1] if self.version_policy == "latest" else on_disk) | (pinned & set(on_disk))
      with self._lock:
        loaded = set(self._versions.get(name, {}))
        failed = set(self._failed.get(name, {}))
      for version in sorted(wanted - loaded - failed):
        self._load(name, version)
      with self._lock:
        current = self._versions.setdefault(name, {})
        effective = self._move_labels(name, labels, current)
        keep = set(effective.values()) | (pinned & set(current))
        if self.version_policy == "latest" and current:
          keep.add(max(current))
        else:
          keep |= set(current) & set(on_disk)
        retired = [current.pop(v) for v in list(current) if v not in keep]
      for version in retired:
        version.batcher.stop()  # its queued requests were already answered; new ones go elsewhere

  def _read_labels(self, name: str, model_dir: str) -> version_labels.VersionLabels:
    try:
      labels = version_labels.read_labels(model_dir)
    except LabelError as e:
      self._report(name, f"{e}; serving the last good labels")
      return self._label_files.get(name, version_labels.VersionLabels())
    self._label_files[name] = labels
    return labels

  def _move_labels(self, name: str, labels: version_labels.VersionLabels, current) -> Dict[str, int]:
    """Under the lock: the labels now in effect for `name`, each on a loaded version."""
    before = self._labels.get(name, {})
    effective = {}
    for label, version in labels.labels.items():
      if version in current:
        effective[label] = version
        if before.get(label) != version:
          logging.info("%s: label %s -> version %d", name, label, version)
        continue
      reason = self._failed.get(name, {}).get(version, "not on disk")
      kept = before.get(label)
      self._report(name, f"label {label} -> version {version}: that version is not served ({reason}); "
                         + (f"{label} stays on version {kept}" if kept in current else f"{label} is unset"))
      if kept in current:
        effective[label] = kept
    self._labels[name] = effective
    return effective

  def _report(self, name: str, problem: str) -> None:
    if self._label_problems.get(name) != problem:
      self._label_problems[name] = problem
      logging.error("%s: %s", name, problem)

  def _load(self, name: str, version: int) -> None:
    path = os.path.join(self.root, name, str(version))
    started = time.time()
    try:
      model = model_loader.load_model(path)
      model.serving_fn(examples=as_tensor(warmup_examples(model.metadata)))  # warm up before taking traffic
    except Exception as e:  # pylint: disable=broad-except
      logging.error("cannot load %s: %s", path, e)
      with self._lock:
        self._failed.setdefault(name, {})[version] = str(e)
      return
    serving_fn = model.serving_fn
    batcher = Batcher(lambda examples: {k: v.numpy() for k, v in serving_fn(examples=as_tensor(examples)).items()},
                      self.max_batch_size, self.batch_timeout,
                      on_batch=(lambda size, n=name, v=version: self.on_batch(n, v, size)) if self.on_batch else None)
    with self._lock:
      self._versions.setdefault(name, {})[version] = ServedVersion(name, version, model, batcher,
                                                                   outliers.scorer(path))
    logging.info("serving %s version %d (loaded in %.1fs)", name, version, time.time() - started)

  def get(self, name: str, version: Optional[int] = None) -> ServedVersion:
    """The served version (see `route`); LookupError naming what is missing."""
    return self.route(name, version)[0]

  def route(self, name: str, version: Optional[int] = None, label: Optional[str] = None,
            routing_key: Optional[str] = None) -> Tuple[ServedVersion, str]:
    """(served version, label that chose it or "") for a request naming a version, a label, or neither; an
    unversioned request goes to stable (or the newest version), or to the canary for `canary_percent` of keys."""
    with self._lock:
      versions = self._versions.get(name)
      labels = self._labels.get(name, {})
      if not versions:
        raise LookupError(f"Servable not found for request: Latest({name})" if version is None else
                          f"Servable not found for request: Specific({name}, {version})")
      if label is not None:
        if label not in labels:
          raise LookupError(f"Unrecognized servable version label: {label} (model {name} has "
                            f"{', '.join(sorted(labels)) or 'no labels'})")
        return versions[labels[label]], label
      if version is not None:
        if version not in versions:
          raise LookupError(f"Servable not found for request: Specific({name}, {version})")
        return versions[version], ""
      if version_labels.CANARY in labels and self._to_canary(routing_key):
        return versions[labels[version_labels.CANARY]], version_labels.CANARY
      if version_labels.STABLE in labels:
        return versions[labels[version_labels.STABLE]], version_labels.STABLE
      return versions[max(versions)], ""

  def _to_canary(self, routing_key: Optional[str]) -> bool:
    if self.canary_percent <= 0:
      return False
    if routing_key:
      return routing_bucket(routing_key) < self.canary_percent * 100
    return random.random() * 100 < self.canary_percent

  def labels(self, name: str) -> Dict[str, int]:
    """The labels in effect for `name` (label -> loaded version)."""
    with self._lock:
      return dict(self._labels.get(name, {}))

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


def routing_bucket(routing_key: str) -> int:
  """The key's place in 0..9999: keys below `canary_percent * 100` go to the canary."""
  return int.from_bytes(hashlib.sha256(routing_key.encode("utf-8")).digest()[:8], "big") % 10_000


def as_tensor(examples: List[bytes]):
  """Serialized examples as the string tensor `serving_default` takes."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.constant(examples, dtype=tf.string)
