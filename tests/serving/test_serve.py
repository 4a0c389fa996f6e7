"""`modelfab serve`, for real: the command in a subprocess on a free loopback port, a plain HTTP client that speaks
TF Serving's documented JSON, bounded request loops."""
import base64
import http.client
import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import DIGITS, REPO
from components import atomic_pusher
from inference import predict

MODEL = "digits-cnn"


def _request(port, method, path, body=None, headers=None, extra_headers=None):
  connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
  data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
  connection.request(method, path, body=data, headers={"Content-Type": "application/json", **(extra_headers or {})})
  response = connection.getresponse()
  raw = response.read()
  if headers is not None:
    headers.update(response.getheaders())
  connection.close()
  return response.status, (json.loads(raw) if raw[:1] in (b"{", b"[") else raw.decode())


@pytest.fixture(scope="module")
def server(two_runs, tmp_path_factory, free_port, wait_for):
  """A copy of a real pushed digits model, served by `modelfab serve` (polling every 0.5 s)."""
  output, _ = two_runs
  root = tmp_path_factory.mktemp("serve") / "out"
  shutil.copytree(output / "serving", root / "serving")
  port = free_port()
  process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", str(root), "--port",
                              str(port), "--poll-seconds", "0.5", "--log-requests", "1", "--explain"], cwd=REPO,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  wait_for(lambda: _request(port, "GET", f"/v1/models/{MODEL}")[0] == 200, 120, "modelfab serve", process)
  yield port, root
  process.terminate()
  process.wait(timeout=30)


def _images(per_class=1, offset=60):
  return [(path, d.name) for d in sorted(DIGITS.iterdir()) for path in sorted(d.iterdir())[offset:offset + per_class]]


def _b64(data):
  return {"b64": base64.b64encode(data).decode()}


def test_status_and_metadata(server):
  port, root = server
  status, body = _request(port, "GET", f"/v1/models/{MODEL}")
  [version] = os.listdir(root / "serving" / MODEL)
  assert status == 200 and body["model_version_status"] == [
      {"version": version, "state": "AVAILABLE", "status": {"error_code": "OK", "error_message": ""}}]
  status, body = _request(port, "GET", f"/v1/models/{MODEL}/versions/{version}/metadata")
  signature = body["metadata"]["signature_def"]["signature_def"]["serving_default"]
  assert status == 200 and set(signature["outputs"]) == {"probabilities", "label", "score"}
  assert body["metadata"]["modelfab"]["serving_features"] == ["image"]
  card_path = body["metadata"]["modelfab"]["model_card"]
  assert card_path == f"/v1/models/{MODEL}/versions/{version}/model_card"
  headers = {}
  status, page = _request(port, "GET", card_path, headers=headers)
  assert status == 200 and f"version {version}</h1>" in page and headers["content-type"].startswith("text/html")
  status, card = _request(port, "GET", f"/v1/models/{MODEL}/model_card?format=json")
  assert status == 200 and card["model_details"]["version"]["name"] == version


def test_classify_and_predict_give_the_labels_of_modelfab_predict(server):
  port, root = server
  images = _images()
  expected = [label for label, _ in predict.predict_images(str(root / "serving" / MODEL), [str(p) for p, _ in images])]
  status, body = _request(port, "POST", f"/v1/models/{MODEL}:classify",
                          {"examples": [{"image": _b64(p.read_bytes())} for p, _ in images]})
  assert status == 200
  assert [max(result, key=lambda pair: pair[1])[0] for result in body["results"]] == expected
  serialized = predict.serialized_examples([{"image": p.read_bytes()} for p, _ in images])
  status, rows = _request(port, "POST", f"/v1/models/{MODEL}:predict", {"instances": [_b64(e) for e in serialized]})
  assert status == 200 and [row["label"] for row in rows["predictions"]] == expected
  assert abs(sum(rows["predictions"][0]["probabilities"]) - 1) < 1e-4
  status, columns = _request(port, "POST", f"/v1/models/{MODEL}:predict",
                             {"inputs": {"examples": [_b64(e) for e in serialized]}})
  assert status == 200 and columns["outputs"]["label"] == expected


@pytest.mark.parametrize("path,body,code,message", [
    (f"/v1/models/nope:predict", {"instances": []}, 404, "Servable not found for request: Latest(nope)"),
    (f"/v1/models/{MODEL}/versions/1:predict", {"instances": []}, 404, f"Specific({MODEL}, 1)"),
    (f"/v1/models/{MODEL}:predict", b"{not json", 400, "JSON Parse error"),
    (f"/v1/models/{MODEL}:classify", {"examples": [{"image": _b64(b"not an image")}]}, 400,
     "the model refused the input"),
    (f"/v1/models/{MODEL}:classify", {"examples": [{"picture": _b64(b"x")}]}, 400, "unknown ['picture']"),
    (f"/v1/models/{MODEL}:predict", {"instances": ["plain string"]}, 400, "expected {\"b64\": ...}"),
])
def test_errors_have_tf_serving_shapes(server, path, body, code, message):
  status, answer = _request(server[0], "POST", path, body)
  assert status == code and message in answer["error"], answer


def test_explain_answers_what_classify_does_with_attributions_and_limits(server):
  port, _ = server
  images = _images(offset=70)[:3]
  body = {"examples": [{"image": _b64(p.read_bytes())} for p, _ in images]}
  before = _counter(port, "modelfab_requests_total", model=MODEL, api="explain", status="200")
  status, classified = _request(port, "POST", f"/v1/models/{MODEL}:classify", body)
  status, explained = _request(port, "POST", f"/v1/models/{MODEL}:explain", {**body, "steps": 16})
  assert status == 200 and explained["results"] == classified["results"]
  tops = [max(result, key=lambda pair: pair[1])[0] for result in classified["results"]]
  assert [e["label"] for e in explained["explanations"]] == tops
  for e in explained["explanations"]:
    assert len(e["attributions"]) == 8 and {len(row) for row in e["attributions"]} == {8}  # the PNG's own grid
    assert e["method"] == "integrated-gradients" and "input" not in e and e["approximation_error"] < 0.2
  assert _counter(port, "modelfab_requests_total", model=MODEL, api="explain", status="200") == before + 1
  status, answer = _request(port, "POST", f"/v1/models/{MODEL}:explain", {**body, "steps": 10_000})
  assert status == 400 and "'steps' must be a whole number from 1 to 64" in answer["error"]
  status, answer = _request(port, "POST", f"/v1/models/{MODEL}:explain", {"examples": body["examples"] * 3})
  assert status == 400 and "at most 8 examples per :explain request, got 9" in answer["error"]


def test_explain_is_off_unless_asked_for(two_runs, tmp_path):
  from fastapi.testclient import TestClient  # pylint: disable=g-import-not-at-top

  from serving import serve  # pylint: disable=g-import-not-at-top

  output, _ = two_runs
  server, app, logger, _ = serve.make_server(str(output))
  server.start()
  try:
    image = _images()[0][0].read_bytes()
    answer = TestClient(app).post(f"/v1/models/{MODEL}:explain", json={"examples": [{"image": _b64(image)}]})
    assert answer.status_code == 404 and "modelfab serve --explain" in answer.json()["error"]
  finally:
    server.stop()
    logger.close()


def _counter(port, name, **labels):
  _, text = _request(port, "GET", "/monitoring/prometheus/metrics")
  total = 0.0
  for family in text_string_to_metric_families(text):
    for sample in family.samples:
      if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
        total += sample.value
  return total


def test_load_while_a_new_version_is_pushed_drops_nothing_and_metrics_count_it(server, wait_for):
  port, root = server
  base = root / "serving" / MODEL
  [old] = os.listdir(base)
  before = _counter(port, "modelfab_requests_total", model=MODEL, api="classify", status="200")
  batches_before = _counter(port, "modelfab_batch_size_count", model=MODEL)
  body = {"examples": [{"image": _b64(_images()[3][0].read_bytes())}]}
  failures, done = [], []
  pushed = threading.Event()

  def client(n):
    for i in range(25):
      if n == 0 and i == 12:
        atomic_pusher.push_atomically(str(base / old), str(base))  # a new version, half-way through the load
        pushed.set()
      status, answer = _request(port, "POST", f"/v1/models/{MODEL}:classify", body)
      (done if status == 200 else failures).append((status, answer))

  threads = [threading.Thread(target=client, args=(n,)) for n in range(16)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=300)
  assert pushed.is_set() and not failures and len(done) == 16 * 25
  def versions_once_changed():
    versions = [s["version"] for s in _request(port, "GET", f"/v1/models/{MODEL}")[1]["model_version_status"]]
    return versions if versions != [old] else None

  versions = wait_for(versions_once_changed, 30, "the new version taking over")
  assert len(versions) == 1 and int(versions[0]) > int(old)  # the new version took over
  assert _counter(port, "modelfab_requests_total", model=MODEL, api="classify", status="200") - before == 400
  assert _counter(port, "modelfab_batch_size_count", model=MODEL) - batches_before < 400  # requests were batched


def test_logged_requests_carry_features_prediction_version_and_id(server, wait_for):
  from serving import request_log  # pylint: disable=g-import-not-at-top

  port, root = server
  image = _images()[5][0].read_bytes()
  headers = {}
  status, body = _request(port, "POST", f"/v1/models/{MODEL}:classify", {"examples": [{"image": _b64(image)}]},
                          headers)
  request_id = headers["x-modelfab-request-id"]
  assert status == 200 and len(request_id) == 32
  [row] = wait_for(lambda: [r for r in request_log.read_request_logs(str(root), MODEL)
                            if r["modelfab_request_id"] == request_id.encode()], 30, "the logged request", interval=0.2)
  assert row["image"] == image
  assert row["modelfab_label"].decode() == max(body["results"][0], key=lambda pair: pair[1])[0]
  assert str(row["modelfab_version"]) in os.listdir(root / "serving" / MODEL)
  assert abs(row["modelfab_time_ms"] / 1000 - time.time()) < 60


def test_an_unwritable_log_folder_never_fails_a_request(tmp_path):
  import numpy as np  # pylint: disable=g-import-not-at-top
  from serving import request_log  # pylint: disable=g-import-not-at-top

  (tmp_path / "out").write_text("a file where the output dir should be")
  errors = []
  logger = request_log.RequestLogger(str(tmp_path / "out"), 1.0, on_error=errors.append)
  example = predict.serialized_examples([{"image": b"x"}])
  logger.log(MODEL, 1, "id", example, {"label": np.array([b"3"]), "score": np.array([0.9])})
  logger.close()
  assert errors == ["write"]


def test_sigterm_finishes_requests_in_flight_then_exits_within_the_grace_period(two_runs, tmp_path, free_port,
                                                                              wait_for):
  """What Kubernetes does to a pod: probes while it loads and serves, then SIGTERM with requests in flight."""
  import signal  # pylint: disable=g-import-not-at-top

  output, _ = two_runs
  shutil.copytree(output / "serving", tmp_path / "serving")
  port = free_port()
  process = subprocess.Popen([sys.executable, "-m", "cli.main", "serve", "--output", str(tmp_path), "--port",
                              str(port), "--explain"], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True)
  try:
    wait_for(lambda: _request(port, "GET", "/healthz")[0] == 200, 120, "liveness", process)
    wait_for(lambda: _request(port, "GET", "/readyz")[0] == 200, 120, "readiness", process)
    _, ready = _request(port, "GET", "/readyz")
    assert ready["ready"] and ready["models"][MODEL] == [int(os.listdir(tmp_path / "serving" / MODEL)[0])]
    body = {"examples": [{"image": _b64(p.read_bytes())} for p, _ in _images()[:8]], "steps": 64}
    answers = []
    slow = [threading.Thread(target=lambda: answers.append(_request(port, "POST", f"/v1/models/{MODEL}:explain",
                                                                    body)[0])) for _ in range(3)]
    for t in slow:
      t.start()
    time.sleep(1.0)  # the explanations are running (one at a time, the others waiting)
    stopped_at = time.time()
    process.send_signal(signal.SIGTERM)
    for t in slow:
      t.join(timeout=60)
    assert answers == [200, 200, 200]  # every request in flight was finished
    assert process.wait(timeout=30) == 0 and time.time() - stopped_at < 20
    with pytest.raises(OSError):
      _request(port, "GET", "/healthz")  # no longer listening
    assert "[modelfab] stopped" in process.stdout.read()
  finally:
    if process.poll() is None:
      process.kill()


PROMETHEUS = shutil.which("prometheus")


def _prometheus_query(port, query):
  import urllib.parse  # pylint: disable=g-import-not-at-top

  status, answer = _request(port, "GET", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
  assert status == 200 and answer["status"] == "success", answer
  return answer["data"]["result"]


@pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed (.ci/run installs it)")
def test_a_real_prometheus_reads_the_request_rate_and_latency_back(server, tmp_path, free_port, wait_for):
  port, _ = server
  prometheus_port = free_port()
  config = tmp_path / "prometheus.yml"
  config.write_text(f"""global:
  scrape_interval: 1s
scrape_configs:
  - job_name: modelfab
    metrics_path: /monitoring/prometheus/metrics
    static_configs:
      - targets: ["127.0.0.1:{port}"]
""")
  process = subprocess.Popen([PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{prometheus_port}"], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
  try:
    wait_for(lambda: _request(prometheus_port, "GET", "/-/ready")[0] == 200, 60, "prometheus", process)
    wait_for(lambda: _prometheus_query(prometheus_port, 'up{job="modelfab"} == 1'), 30, "the first scrape")
    body = {"examples": [{"image": _b64(_images()[2][0].read_bytes())}]}
    deadline = time.time() + 8
    sent = 0
    while time.time() < deadline:  # about 8 s of traffic, several scrapes
      assert _request(port, "POST", f"/v1/models/{MODEL}:classify", body)[0] == 200
      sent += 1
    rate = wait_for(lambda: _prometheus_query(prometheus_port, f'sum(rate(modelfab_requests_total{{model="{MODEL}",'
                                                              f'api="classify",status="200"}}[6s]))'),
                    30, "the request rate")
    assert float(rate[0]["value"][1]) > 1.0 and sent > 8
    p50 = _prometheus_query(prometheus_port, "histogram_quantile(0.5, sum by (le) (rate("
                                             f'modelfab_request_latency_seconds_bucket{{model="{MODEL}"}}[30s])))')
    p99 = _prometheus_query(prometheus_port, "histogram_quantile(0.99, sum by (le) (rate("
                                             f'modelfab_request_latency_seconds_bucket{{model="{MODEL}"}}[30s])))')
    assert 0 < float(p50[0]["value"][1]) <= float(p99[0]["value"][1]) < 5.0
  finally:
    process.terminate()
    process.wait(timeout=30)


def test_explain_on_a_text_model_gives_classify_labels_and_one_score_per_word(keyword_run):
  from fastapi.testclient import TestClient  # pylint: disable=g-import-not-at-top

  from serving import serve  # pylint: disable=g-import-not-at-top

  output, _, _ = keyword_run
  server, app, logger, _ = serve.make_server(str(output), serve.ServeSettings(explain=True))
  server.start()
  try:
    client = TestClient(app)
    texts = ["the plot was superb and the cast too", "a tedious film", "music"]
    body = {"examples": [{"text": t} for t in texts]}
    classified = client.post("/v1/models/text-bert:classify", json=body).json()
    explained = client.post("/v1/models/text-bert:explain", json={**body, "steps": 16}).json()
    assert explained["results"] == classified["results"]
    assert [e["label"] for e in explained["explanations"]] == [max(r, key=lambda p: p[1])[0]
                                                               for r in classified["results"]]
    for text, e in zip(texts, explained["explanations"]):
      assert e["attributions"]["words"] == text.split() and len(e["attributions"]["scores"]) == len(text.split())
    answer = client.post("/v1/models/text-bert:explain", json={"examples": [{"image": {"b64": "AAAA"}}]})
    assert answer.status_code == 400 and "'text'" in answer.json()["error"]
    answer = client.post("/v1/models/text-bert:explain", json={**body, "method": "grad-cam"})
    assert answer.status_code == 400 and "grad-cam explains images" in answer.json()["error"]
  finally:
    server.stop()
    logger.close()
