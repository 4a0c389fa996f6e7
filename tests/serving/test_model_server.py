"""ModelServer's versions and labels: what it loads, where unversioned, labelled and canary requests go, and what
it keeps when a labels file is damaged or a labelled version fails to load. A stand-in loader answers with the
version number, so these run without TensorFlow models (tests/serving/test_rollout.py serves real ones)."""
import collections
import os

import numpy as np
import pytest

from core import model_files, version_labels
from inference import model_loader
from serving.model_server import ModelServer

MODEL = "m"


@pytest.fixture
def root(tmp_path, monkeypatch):
  def load(path):
    if os.path.exists(os.path.join(path, "broken")):
      raise ValueError("cannot load: broken")
    version = int(os.path.basename(path))
    answer = lambda examples: {"label": np.array([str(version).encode()] * int(examples.shape[0])),
                               "score": np.ones(int(examples.shape[0]), np.float32)}
    wrapped = lambda examples: {k: _Tensor(v) for k, v in answer(examples).items()}
    return model_loader.LoadedModel(path, model_files.ModelMetadata(serving_features=["text"]), wrapped)

  monkeypatch.setattr(model_loader, "load_model", load)
  for version in (100, 200, 300):
    _push(tmp_path, version)
  return tmp_path


class _Tensor:
  def __init__(self, value):
    self.value = value

  def numpy(self):
    return self.value


def _push(root, version, broken=False):
  folder = root / MODEL / str(version)
  folder.mkdir(parents=True)
  (folder / "saved_model.pb").write_bytes(b"")
  if broken:
    (folder / "broken").write_text("")


def _server(root, **kwargs):
  server = ModelServer(str(root), **kwargs)
  server.poll()
  return server


def test_newest_serves_until_labels_route_and_pinned_versions_stay_loaded(root):
  server = _server(root)
  assert server.route(MODEL) [0].version == 300 and server.labels(MODEL) == {}
  version_labels.set_labels(str(root / MODEL), {"stable": 100})
  version_labels.set_labels(str(root / MODEL), {"stable": 200, "canary": 300})
  server.poll()
  assert server.route(MODEL)[0].version == 200 and server.route(MODEL)[1] == "stable"
  assert server.route(MODEL, label="canary")[0].version == 300
  assert server.route(MODEL, version=100)[0].version == 100  # the stable before stays loaded: rollback is instant
  with pytest.raises(LookupError, match="Unrecognized servable version label: shadow"):
    server.route(MODEL, label="shadow")
  version_labels.promote(str(root / MODEL))
  server.poll()
  assert server.route(MODEL)[0].version == 300 and [s["version"] for s in server.status(MODEL)] == ["300", "200"]
  server.stop()


def test_the_canary_share_and_sticky_routing_keys(root):
  version_labels.set_labels(str(root / MODEL), {"stable": 200, "canary": 300})
  server = _server(root, canary_percent=20)
  answered = collections.Counter(server.route(MODEL)[0].version for _ in range(2000))
  assert 0.16 < answered[300] / 2000 < 0.24
  for key in (f"user-{i}" for i in range(50)):
    assert len({server.route(MODEL, routing_key=key)[0].version for _ in range(10)}) == 1
  keyed = collections.Counter(server.route(MODEL, routing_key=f"user-{i}")[0].version for i in range(2000))
  assert 0.16 < keyed[300] / 2000 < 0.24
  assert collections.Counter(_server(root).route(MODEL)[0].version for _ in range(200)) == {200: 200}
  server.stop()


def test_a_damaged_file_or_a_broken_version_keeps_the_last_good_labels(root, caplog):
  model_dir = str(root / MODEL)
  version_labels.set_labels(model_dir, {"stable": 200})
  server = _server(root)
  (root / MODEL / version_labels.LABELS_FILE).write_text("{not json")
  server.poll()
  assert server.route(MODEL)[0].version == 200 and "damaged version labels file" in caplog.text
  _push(root, 400, broken=True)
  (root / MODEL / version_labels.LABELS_FILE).write_text('{"labels": {"stable": 400}}')
  server.poll()
  assert server.route(MODEL)[0].version == 200  # 400 failed to load: stable stays where it was
  assert "label stable -> version 400: that version is not served (cannot load: broken)" in caplog.text
  assert {s["version"]: s["state"] for s in server.status(MODEL)}["400"] == "END"
  server.stop()


def test_a_canary_percent_outside_0_to_100_is_refused(root):
  with pytest.raises(ValueError, match="between 0 and 100"):
    ModelServer(str(root), canary_percent=120)


def test_readiness_waits_for_the_first_load_and_ends_at_stop(root):
  server = ModelServer(str(root))
  assert server.readiness() == (False, {"loading": "the models present at start are still loading"})
  server.start()
  assert server.readiness() == (True, {MODEL: [300]})
  server.stop()
  assert server.readiness()[0] is False and "stopping" in server.readiness()[1]
  (root / "empty").mkdir()
  server = ModelServer(str(root), model_names=[MODEL, "empty"])
  server.start()
  assert server.readiness() == (False, {MODEL: [300], "empty": "no version AVAILABLE"})
  server.stop()


def test_a_version_pushed_with_an_outlier_profile_answers_with_outlier_scores(root):
  import json  # pylint: disable=g-import-not-at-top

  import pandas as pd  # pylint: disable=g-import-not-at-top

  from monitoring import outliers  # pylint: disable=g-import-not-at-top
  from inference import predict  # pylint: disable=g-import-not-at-top

  profile = outliers.fit_profile(pd.DataFrame({"words": [3.0, 4.0, 5.0, 4.0, 3.0, 5.0]}), "text")
  (root / MODEL / "300" / outliers.PROFILE_FILE).write_text(json.dumps(profile))
  server = _server(root, version_policy="all")
  examples = predict.serialized_examples([{"text": b"a fine film"}, {"text": " ".join(["word"] * 80).encode()}])
  outputs = server.route(MODEL)[0].predict(examples)
  assert outputs["outlier_score"][0] < 2 and outputs["outlier_score"][1] > 10
  assert "outlier_score" not in server.route(MODEL, version=200)[0].predict(examples)  # pushed without a profile
  server.stop()
