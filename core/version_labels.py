"""Version labels of a pushed model (stable, canary, ...), in one small file per model in its serving folder.

    <output>/serving/<model>/version_labels.json
    {"labels": {"stable": 1764770000, "canary": 1764773600}, "stable_history": [1764700000], "updated": ...}

TF Serving routes requests by such labels (`/v1/models/<m>/labels/<label>`, `version_labels` in its model config);
`modelfab serve` reads this file on every poll. The file is replaced atomically (written beside, then renamed), and
changes are serialised by a lock file, so a reader sees the old labels or the new ones, never half a file.
`stable_history` holds the versions `stable` pointed to before, newest last, for `rollback`.
A label names an existing version; a damaged file is a LabelError naming it (the server keeps its last good labels).
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import re
import time
from typing import Dict, Iterator, List, Optional, Set

from core import model_files
from core.errors import LabelError

LABELS_FILE = "version_labels.json"
LOCK_FILE = ".version_labels.lock"
STABLE = "stable"
CANARY = "canary"
LABEL_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
HISTORY_LIMIT = 50


@dataclasses.dataclass
class VersionLabels:
  labels: Dict[str, int] = dataclasses.field(default_factory=dict)
  stable_history: List[int] = dataclasses.field(default_factory=list)
  updated: float = 0.0

  def to_json(self) -> Dict[str, object]:
    return {"labels": dict(sorted(self.labels.items())), "stable_history": list(self.stable_history),
            "updated": self.updated}


def pinned_versions(labels: VersionLabels) -> Set[int]:
  """The versions a server keeps loaded whatever its version policy: every labelled one, and the stable version
  before the current one (so a rollback switches to a loaded version)."""
  return set(labels.labels.values()) | set(labels.stable_history[-1:])


def labels_path(model_dir: str) -> str:
  return os.path.join(model_dir, LABELS_FILE)


def read_labels(model_dir: str) -> VersionLabels:
  """The labels of the model at `model_dir` (none when the file is absent); LabelError when it is damaged."""
  path = labels_path(model_dir)
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except FileNotFoundError:
    return VersionLabels()
  except (OSError, ValueError) as e:
    raise LabelError(f"{path}: damaged version labels file ({e}); fix or remove it") from e
  try:
    labels = {str(k): int(v) for k, v in data["labels"].items()}
    history = [int(v) for v in data.get("stable_history", [])]
    bad = [k for k in labels if not LABEL_PATTERN.match(k)]
    if bad or isinstance(data["labels"], list):
      raise ValueError(f"invalid label name(s) {bad}")
  except (KeyError, TypeError, ValueError, AttributeError) as e:
    raise LabelError(f"{path}: damaged version labels file ({e}); fix or remove it") from e
  return VersionLabels(labels, history, float(data.get("updated", 0.0)))


def write_labels(model_dir: str, labels: VersionLabels) -> None:
  """Replaces the labels file atomically (a temporary file beside it, flushed, then renamed over it)."""
  path = labels_path(model_dir)
  temp = f"{path}.{os.getpid()}.tmp"
  labels.updated = time.time()
  try:
    with open(temp, "w", encoding="utf-8") as f:
      json.dump(labels.to_json(), f, indent=2)
      f.write("\n")
      f.flush()
      os.fsync(f.fileno())
    os.replace(temp, path)
  except OSError as e:
    with contextlib.suppress(OSError):
      os.remove(temp)
    raise LabelError(f"cannot write {path}: {e.strerror or e}") from e


@contextlib.contextmanager
def _locked(model_dir: str) -> Iterator[None]:
  try:
    handle = open(os.path.join(model_dir, LOCK_FILE), "a", encoding="utf-8")
  except OSError as e:
    raise LabelError(f"cannot change the labels of {model_dir}: {e.strerror or e}") from e
  with handle:
    fcntl.flock(handle, fcntl.LOCK_EX)
    yield


def check_label_name(label: str) -> None:
  if not LABEL_PATTERN.match(label):
    raise LabelError(f"invalid label {label!r}: lower-case letters, digits, '-' and '_', starting with a letter")


def _check_version(model_dir: str, version: int) -> None:
  versions = model_files.version_dirs(model_dir)
  if version not in versions:
    raise LabelError(f"{model_dir} has no version {version} (versions: "
                     f"{', '.join(map(str, versions)) or 'none'})")
  try:
    model_files.read_metadata(os.path.join(model_dir, str(version)))
  except Exception as e:  # pylint: disable=broad-except
    raise LabelError(f"version {version} of {model_dir} cannot be labelled: {e}") from e


def _move_stable(labels: VersionLabels, version: int) -> None:
  old = labels.labels.get(STABLE)
  if old is not None and old != version:
    labels.stable_history = (labels.stable_history + [old])[-HISTORY_LIMIT:]
  labels.labels[STABLE] = version


def set_labels(model_dir: str, assignments: Dict[str, int], remove: Optional[List[str]] = None) -> VersionLabels:
  """Points each label of `assignments` at its version and removes the labels in `remove`; all or nothing.
  LabelError for an unknown version or label, or an invalid name."""
  for label in list(assignments) + list(remove or []):
    check_label_name(label)
  with _locked(model_dir):
    labels = read_labels(model_dir)
    for label in remove or []:
      if label not in labels.labels:
        raise LabelError(f"{model_dir} has no label {label!r} (labels: {', '.join(sorted(labels.labels)) or 'none'})")
    for version in assignments.values():
      _check_version(model_dir, version)
    for label in remove or []:
      del labels.labels[label]
    for label, version in assignments.items():
      if label == STABLE:
        _move_stable(labels, version)
      else:
        labels.labels[label] = version
    write_labels(model_dir, labels)
    return labels


def promote(model_dir: str) -> VersionLabels:
  """`stable` moves to the canary's version and `canary` is removed; the old stable goes on the history."""
  with _locked(model_dir):
    labels = read_labels(model_dir)
    if CANARY not in labels.labels:
      raise LabelError(f"{model_dir} has no canary to promote (labels: "
                       f"{', '.join(f'{k}={v}' for k, v in sorted(labels.labels.items())) or 'none'})")
    _check_version(model_dir, labels.labels[CANARY])
    _move_stable(labels, labels.labels.pop(CANARY))
    write_labels(model_dir, labels)
    return labels


def rollback(model_dir: str) -> VersionLabels:
  """`stable` moves back to the version it pointed to before the last move (skipping versions since deleted)."""
  with _locked(model_dir):
    labels = read_labels(model_dir)
    on_disk = set(model_files.version_dirs(model_dir))
    while labels.stable_history and labels.stable_history[-1] not in on_disk:
      labels.stable_history.pop()
    if not labels.stable_history:
      raise LabelError(f"{model_dir}: no earlier stable version to roll back to")
    labels.labels[STABLE] = labels.stable_history.pop()
    write_labels(model_dir, labels)
    return labels


def label_new_push(model_dir: str, version: int, label: str) -> VersionLabels:
  """Labels a version the Pusher just pushed. With a label other than stable, `stable` is first pinned to the
  version that was serving before (the newest other one), so the new version takes no default traffic."""
  check_label_name(label)
  with _locked(model_dir):
    labels = read_labels(model_dir)
    if label == STABLE:
      _move_stable(labels, version)
    else:
      if STABLE not in labels.labels:
        earlier = [v for v in model_files.version_dirs(model_dir) if v != version]
        if earlier:
          labels.labels[STABLE] = earlier[0]
      labels.labels[label] = version
    write_labels(model_dir, labels)
    return labels


def list_versions(model_dir: str) -> List[Dict[str, object]]:
  """Every pushed version with its labels and push time, newest first."""
  labels = read_labels(model_dir)
  rows = []
  for version in model_files.version_dirs(model_dir):
    pushed = os.path.getmtime(os.path.join(model_dir, str(version)))
    rows.append({"version": version, "labels": sorted(k for k, v in labels.labels.items() if v == version),
                 "pushed": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(pushed))})
  return rows
