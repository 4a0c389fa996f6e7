"""Version labels on disk: set, promote, roll back, label a new push; all or nothing, damaged files named."""
import json
import os

import pytest

from core import version_labels
from core.errors import LabelError


def _model_dir(tmp_path, versions=(100, 200, 300)):
  for version in versions:
    (tmp_path / str(version)).mkdir(parents=True)
    (tmp_path / str(version) / "saved_model.pb").write_bytes(b"")
  return str(tmp_path)


def test_set_promote_and_roll_back_keep_the_history(tmp_path):
  model_dir = _model_dir(tmp_path)
  assert version_labels.read_labels(model_dir).labels == {}
  version_labels.set_labels(model_dir, {"stable": 100, "canary": 200})
  labels = version_labels.promote(model_dir)
  assert labels.labels == {"stable": 200} and labels.stable_history == [100]
  version_labels.set_labels(model_dir, {"canary": 300})
  assert version_labels.promote(model_dir).labels == {"stable": 300}
  assert version_labels.rollback(model_dir).labels == {"stable": 200}
  assert version_labels.rollback(model_dir).labels == {"stable": 100}
  with pytest.raises(LabelError, match="no earlier stable version"):
    version_labels.rollback(model_dir)
  on_disk = json.loads((tmp_path / version_labels.LABELS_FILE).read_text())
  assert on_disk["labels"] == {"stable": 100} and on_disk["stable_history"] == []
  assert not [n for n in os.listdir(model_dir) if n.endswith(".tmp")]


@pytest.mark.parametrize("assignments,remove,message", [
    ({"stable": 999}, [], "has no version 999"),
    ({"Stable": 100}, [], "invalid label 'Stable'"),
    ({"stable": 100, "canary": 999}, [], "has no version 999"),
    ({}, ["canary"], "has no label 'canary'"),
])
def test_bad_assignments_change_nothing(tmp_path, assignments, remove, message):
  model_dir = _model_dir(tmp_path)
  version_labels.set_labels(model_dir, {"stable": 300})
  before = (tmp_path / version_labels.LABELS_FILE).read_text()
  with pytest.raises(LabelError, match=message):
    version_labels.set_labels(model_dir, assignments, remove)
  assert (tmp_path / version_labels.LABELS_FILE).read_text() == before


def test_promote_without_a_canary_and_a_damaged_file_are_named(tmp_path):
  model_dir = _model_dir(tmp_path)
  with pytest.raises(LabelError, match="no canary to promote"):
    version_labels.promote(model_dir)
  (tmp_path / version_labels.LABELS_FILE).write_text('{"labels": {"stable": "x"}}')
  with pytest.raises(LabelError, match=f"{version_labels.LABELS_FILE}: damaged"):
    version_labels.read_labels(model_dir)


def test_rollback_skips_versions_deleted_since(tmp_path):
  model_dir = _model_dir(tmp_path)
  version_labels.set_labels(model_dir, {"stable": 100})
  version_labels.set_labels(model_dir, {"stable": 200})
  version_labels.set_labels(model_dir, {"stable": 300})
  (tmp_path / "200" / "saved_model.pb").unlink()
  assert version_labels.rollback(model_dir).labels == {"stable": 100}


def test_a_canary_push_pins_stable_to_the_version_serving_before(tmp_path):
  model_dir = _model_dir(tmp_path, (100, 200))
  assert version_labels.label_new_push(model_dir, 200, "canary").labels == {"stable": 100, "canary": 200}
  model_dir = _model_dir(tmp_path / "first", (100,))
  assert version_labels.label_new_push(model_dir, 100, "canary").labels == {"canary": 100}  # nothing to protect
  assert version_labels.label_new_push(model_dir, 100, "stable").labels == {"canary": 100, "stable": 100}


def test_list_versions_shows_each_versions_labels(tmp_path):
  model_dir = _model_dir(tmp_path)
  version_labels.set_labels(model_dir, {"stable": 100, "canary": 300, "shadow": 300})
  rows = version_labels.list_versions(model_dir)
  assert [(r["version"], r["labels"]) for r in rows] == [(300, ["canary", "shadow"]), (200, []), (100, ["stable"])]
