"""Safe rollout with a real `modelfab serve` (REST and gRPC) over two versions labelled stable and canary: the
canary's share, sticky routing keys, TF Serving's gRPC client, and promote / rollback under load with no failed
request. Both versions are the digits model the pipeline pushed (the second a link to the first, so `monitor`
finds its lineage); what tells them apart is the version that answers."""
import base64
import collections
import csv
import datetime
import os
import shutil
import subprocess
import sys
import threading
import time

import grpc
import pytest
from tensorflow_serving.apis import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                                     model_service_pb2_grpc, predict_pb2, prediction_service_pb2_grpc)

from conftest import DIGITS, REPO
from cli import main as cli
from core import version_labels
from inference import predict
from serving.model_server import routing_bucket
from serving.rest_api import VERSION_HEADER
from test_serve import _counter, _request

MODEL = "digits-cnn"


@pytest.fixture(scope="module")
def rollout(two_runs, tmp_path_factory, free_port, wait_for):
  """(REST port, gRPC port, output dir, stable version, canary version, pid) of a server with --canary-percent
  20."""
  output, _ = two_runs
  root = tmp_path_factory.mktemp("rollout") / "out"
  (root / "serving" / MODEL).mkdir(parents=True)
  shutil.copy(output / "metadata.sqlite", root / "metadata.sqlite")
  [pushed] = os.listdir(output / "serving" / MODEL)
  stable, canary = int(pushed), int(pushed) + 1
  for version in (stable, canary):
    os.symlink(output / "serving" / MODEL / pushed, root / "serving" / MODEL / str(version))
  assert cli.main(["label", "--output", str(root), "--model", MODEL, f"stable={stable}", f"canary={canary}"]) == 0
  port, grpc_port = free_port(), free_port()
  process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", str(root), "--port", str(port),
                              "--grpc-port", str(grpc_port), "--canary-percent", "20", "--poll-seconds", "0.5",
                              "--log-requests", "1"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
  wait_for(lambda: _request(port, "GET", f"/v1/models/{MODEL}/labels/canary")[0] == 200, 120, "modelfab serve",
           process)
  yield port, grpc_port, root, stable, canary, process.pid
  process.terminate()
  process.wait(timeout=30)


def _images(per_class, offset=60):
  return [(p, d.name) for d in sorted(DIGITS.iterdir()) for p in sorted(d.iterdir())[offset:offset + per_class]]


def _classify(port, image, path=f"/v1/models/{MODEL}:classify", key=None):
  headers = {}
  body = {"examples": [{"image": {"b64": base64.b64encode(image).decode()}}]}
  status, answer = _request(port, "POST", path, body, headers, extra_headers={"X-Modelfab-Routing-Key": key} if key else None)
  return status, answer, headers


def test_the_canary_answers_its_share_and_one_key_stays_on_one_side(rollout):
  port, _, _, stable, canary, _ = rollout
  image = _images(1)[0][0].read_bytes()
  versions = collections.Counter()
  for _ in range(500):
    status, _, headers = _classify(port, image)
    assert status == 200
    versions[int(headers[VERSION_HEADER.lower()])] += 1
  assert set(versions) == {stable, canary} and 0.12 <= versions[canary] / 500 <= 0.28, versions
  counted = {label: _counter(port, "modelfab_requests_total", model=MODEL, label=label, version=str(version),
                             api="classify", status="200") for label, version in (("canary", canary), ("stable", stable))}
  assert counted == {"canary": versions[canary], "stable": versions[stable]}  # Prometheus: by version and label
  sides = collections.Counter()
  for user in range(40):
    answered = {int(_classify(port, image, key=f"user-{user}")[2][VERSION_HEADER.lower()]) for _ in range(5)}
    assert len(answered) == 1
    sides[answered.pop()] += 1
  assert set(sides) == {stable, canary}
  status, answer, headers = _classify(port, image, f"/v1/models/{MODEL}/labels/canary:classify")
  assert status == 200 and int(headers[VERSION_HEADER.lower()]) == canary
  status, answer, _ = _classify(port, image, f"/v1/models/{MODEL}/labels/shadow:classify")
  assert status == 404 and "Unrecognized servable version label: shadow" in answer["error"]
  _, metadata = _request(port, "GET", f"/v1/models/{MODEL}/labels/stable/metadata")
  assert metadata["model_spec"]["version"] == str(stable)
  assert metadata["metadata"]["modelfab"]["labels"] == {"stable": stable, "canary": canary}


def test_a_tf_serving_grpc_client_gets_the_labels_of_modelfab_predict(rollout):
  _, grpc_port, root, stable, canary, _ = rollout
  images = _images(1)
  expected = predict.predict_images(str(root / "serving" / MODEL / str(stable)), [str(p) for p, _ in images])
  channel = grpc.insecure_channel(f"127.0.0.1:{grpc_port}")
  stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  serialized = predict.serialized_examples([{"image": p.read_bytes()} for p, _ in images])
  for spec in ({"version": stable}, {"version_label": "canary"}, {"version_label": "stable"}):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = MODEL
    if "version" in spec:
      request.model_spec.version.value = spec["version"]
    else:
      request.model_spec.version_label = spec["version_label"]
    request.inputs["examples"].CopyFrom(tf.make_tensor_proto(serialized, dtype=tf.string))
    response = stub.Predict(request, timeout=60)
    assert [l.decode() for l in tf.make_ndarray(response.outputs["label"])] == [label for label, _ in expected]
    assert response.model_spec.version.value == (canary if spec.get("version_label") == "canary" else stable)
  classify = classification_pb2.ClassificationRequest()
  classify.model_spec.name = MODEL
  for data in serialized:
    classify.input.example_list.examples.add().ParseFromString(data)
  results = stub.Classify(classify, timeout=60).result.classifications
  assert [max(r.classes, key=lambda c: c.score).label for r in results] == [label for label, _ in expected]
  metadata = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
  metadata.model_spec.name = MODEL
  signatures = get_model_metadata_pb2.SignatureDefMap()
  stub.GetModelMetadata(metadata, timeout=60).metadata["signature_def"].Unpack(signatures)
  assert set(signatures.signature_def["serving_default"].outputs) == {"label", "score", "probabilities"}
  status = get_model_status_pb2.GetModelStatusRequest()
  status.model_spec.name = MODEL
  versions = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=60).model_version_status
  assert sorted(v.version for v in versions) == [stable, canary] and {v.state for v in versions} == {30}  # AVAILABLE
  request.model_spec.version_label = "nope"
  with pytest.raises(grpc.RpcError) as error:
    stub.Predict(request, timeout=60)
  assert error.value.code() == grpc.StatusCode.NOT_FOUND and "nope" in error.value.details()


def _canary_traffic(port, root, per_class=6):
  """Held-out digits sent to the canary label, then the request ids and true labels of the logged ones."""
  ids = []
  for path, truth in _images(per_class):
    status, _, headers = _classify(port, path.read_bytes(), f"/v1/models/{MODEL}/labels/canary:classify")
    assert status == 200
    ids.append((headers["x-modelfab-request-id"], truth))
  return ids


def test_promote_refuses_a_worse_canary_then_promotion_and_rollback_fail_no_request(rollout, tmp_path, wait_for,
                                                                                   capsys):
  from serving import request_log  # pylint: disable=g-import-not-at-top

  port, _, root, stable, canary, _ = rollout
  started = time.time()  # the canary's traffic from here on is the held-out digits below, nothing else
  since = datetime.datetime.fromtimestamp(started).isoformat()
  canary_ids = _canary_traffic(port, root)
  stable_ids = []
  for path, truth in _images(2, offset=70):
    status, _, headers = _classify(port, path.read_bytes(), f"/v1/models/{MODEL}/labels/stable:classify")
    stable_ids.append((headers["x-modelfab-request-id"], truth))
  wait_for(lambda: len([r for r in request_log.read_request_logs(str(root), MODEL, started)
                        if r["modelfab_version"] == canary]) >= len(canary_ids), 30, "the canary's logged requests")
  labels = tmp_path / "labels.csv"
  with open(labels, "w", newline="") as f:  # every canary answer marked wrong: its live accuracy is 0
    writer = csv.writer(f)
    writer.writerow(["request_id", "label"])
    writer.writerows(stable_ids + [(i, "not-a-digit") for i, _ in canary_ids])
  before = (root / "serving" / MODEL / version_labels.LABELS_FILE).read_text()
  assert cli.main(["promote", "--output", str(root), "--model", MODEL, "--labels", str(labels)]) == 4
  out = capsys.readouterr()
  assert "FAIL live accuracy" in out.out and "not promoted" in out.err
  assert (root / "serving" / MODEL / version_labels.LABELS_FILE).read_text() == before

  image = _images(1)[0][0].read_bytes()
  # The load's routing key keeps it on stable's side while there is a canary, so the canary's logged traffic is the
  # held-out digits above (whose drift is judged); once `canary` is gone the key no longer matters.
  key = next(f"load-{n}" for n in range(1000) if routing_bucket(f"load-{n}") >= 2000)
  failures, answered, stop = [], [], threading.Event()

  def client():
    while not stop.is_set():
      status, _, headers = _classify(port, image, key=key)
      (answered if status == 200 else failures).append((time.time(), headers.get(VERSION_HEADER.lower()), status))

  threads = [threading.Thread(target=client) for _ in range(8)]
  for t in threads:
    t.start()
  try:
    # No labels now: the canary must load, answer, and show no drift in its traffic since this test began.
    assert cli.main(["promote", "--output", str(root), "--model", MODEL, "--since", since]) == 0
    promoted = time.time()
    wait_for(lambda: all(int(v) == canary for _, v, _ in answered[-16:]) and answered[-1][0] > promoted + 1.5,
             30, "all traffic on the promoted version")
    assert cli.main(["rollback", "--output", str(root), "--model", MODEL]) == 0
    rolled_back = time.time()
    wait_for(lambda: answered[-1][0] > rolled_back + 1.5 and all(int(v) == stable for _, v, _ in answered[-16:]),
             30, "all traffic back on the old stable version")
  finally:
    stop.set()
    for t in threads:
      t.join(timeout=60)
  assert not failures and len(answered) > 100
  late = [int(v) for t, v, _ in answered if t > rolled_back + 1.0]  # one poll (0.5 s) plus a request's time
  assert late and set(late) == {stable}
  assert "stable" in capsys.readouterr().out


def test_hostile_requests_are_refused_naming_the_limit_while_good_ones_are_answered(rollout):
  from benchmarks import hostile_requests  # pylint: disable=g-import-not-at-top

  port, grpc_port, _, _, _, pid = rollout
  result = hostile_requests.hammer(port, grpc_port, MODEL, pid, 8, _images(1)[0][0].read_bytes())
  assert set(result["refused"]) == {"decompression bomb", "50 MB body", "JSON 100,000 deep", "1,000 examples",
                                    "gRPC bomb", "gRPC 20 MB message"}, result
  assert not result["accepted"] and not result["unnamed"] and not result["good_failed"] and result["good_ok"] > 10
  assert result["peak_mib"] < 2 * result["idle_mib"]
