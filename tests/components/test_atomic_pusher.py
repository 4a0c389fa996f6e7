"""The Pusher's executor with a push label: the version lands whole, then gets its label; a canary push keeps
`stable` on the version that served before; a label cannot go to a remote destination."""
import json
import os

import pytest
import tensorflow as tf
from tfx.proto import pusher_pb2
from tfx.types import standard_artifacts
from tfx.utils import json_utils, proto_utils

from components import atomic_pusher
from core import model_files, version_labels
from core.errors import PushError


def _inputs(tmp_path):
  model = standard_artifacts.Model()
  model.uri = str(tmp_path / "model")
  tf.saved_model.save(tf.Module(), os.path.join(model.uri, "Format-Serving"))
  blessings = []
  for kind, key in ((standard_artifacts.ModelBlessing, "blessed"), (standard_artifacts.InfraBlessing, "blessed")):
    blessing = kind()
    blessing.uri = str(tmp_path / kind.TYPE_NAME)
    blessing.set_int_custom_property(key, 1)
    blessings.append(blessing)
  (tmp_path / "InfraBlessing").mkdir()
  (tmp_path / "InfraBlessing" / "INFRA_BLESSED").write_text("")
  return {"model": [model], "model_blessing": [blessings[0]], "infra_blessing": [blessings[1]]}


def _push(tmp_path, base, label):
  pushed = standard_artifacts.PushedModel()
  pushed.uri = str(tmp_path / f"pushed-{len(os.listdir(tmp_path))}")
  destination = pusher_pb2.PushDestination(filesystem=pusher_pb2.PushDestination.Filesystem(base_directory=base))
  properties = {"push_destination": proto_utils.proto_to_json(destination),
                "custom_config": json_utils.dumps({atomic_pusher.PUSH_LABEL_KEY: label}) if label else None}
  atomic_pusher.Executor().Do(_inputs(tmp_path / pushed.uri.rsplit("-", 1)[-1]), {"pushed_model": [pushed]},
                              properties)
  return int(pushed.get_string_custom_property("pushed_version"))


def test_a_canary_push_takes_no_default_traffic_and_a_stable_push_takes_it(tmp_path):
  base = str(tmp_path / "serving" / "m")
  first = _push(tmp_path, base, None)
  assert version_labels.read_labels(base).labels == {}
  canary = _push(tmp_path, base, "canary")
  assert model_files.version_dirs(base) == [canary, first]
  assert version_labels.read_labels(base).labels == {"stable": first, "canary": canary}
  newest = _push(tmp_path, base, "stable")
  labels = version_labels.read_labels(base)
  assert labels.labels == {"stable": newest, "canary": canary} and labels.stable_history == [first]
  assert json.loads((tmp_path / "serving" / "m" / version_labels.LABELS_FILE).read_text())["labels"]["stable"] == newest


def test_a_label_for_a_remote_destination_is_refused_before_pushing(tmp_path):
  with pytest.raises(PushError, match="version labels need a local serving folder"):
    _push(tmp_path, "gs://bucket/serving/m", "canary")
