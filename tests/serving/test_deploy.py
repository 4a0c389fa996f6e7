"""`modelfab deploy`: Kubernetes manifests valid against the Kubernetes OpenAPI schemas (offline), probes on the
server's own endpoints; a Grafana dashboard whose every query names a metric the server exports; the serving
Dockerfile stage. Bad input: exit 2 and nothing written."""
import json
import re

import pytest
import yaml
from prometheus_client import generate_latest

from cli import main as cli
from pipelines import config
from serving import grafana
from serving.metrics import GRACE_SECONDS, HEALTH_PATH, METRICS_PATH, READY_PATH, Metrics

K8S_VERSION = "1.30.0"


@pytest.fixture
def output(tmp_path):
  folder = tmp_path / "out" / "serving" / "digits-cnn" / "1764770000"
  folder.mkdir(parents=True)
  (folder / "saved_model.pb").write_bytes(b"")
  return tmp_path / "out"


@pytest.mark.parametrize("extra", [[], ["--storage-uri", "gs://bucket/serving/digits-cnn", "--no-grpc",
                                        "--namespace", "ml", "--replicas", "3", "--max-replicas", "6"]])
def test_manifests_validate_offline_and_probe_the_servers_endpoints(output, tmp_path, capsys, extra):
  import kubernetes_validate  # pylint: disable=g-import-not-at-top

  folder = tmp_path / "manifests"
  assert cli.main(["deploy", "kubernetes", "--output", str(output), "--model", "digits-cnn", "--image",
                   "registry/modelfab-serve:0.1.0", "-o", str(folder)] + extra) == 0
  documents = {path.stem: yaml.safe_load(path.read_text()) for path in folder.glob("*.yaml")}
  assert set(documents) == {"deployment", "service", "horizontalpodautoscaler", "servicemonitor"}
  for name in ("deployment", "service", "horizontalpodautoscaler"):
    kubernetes_validate.validate(documents[name], K8S_VERSION, strict=True)  # raises on any schema error
  pod = documents["deployment"]["spec"]["template"]
  [container] = pod["spec"]["containers"]
  assert container["readinessProbe"]["httpGet"]["path"] == READY_PATH
  assert container["livenessProbe"]["httpGet"]["path"] == HEALTH_PATH
  assert container["command"][:3] == ["modelfab", "serve", "--output"] and "digits-cnn" in container["command"]
  assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
  assert pod["spec"]["terminationGracePeriodSeconds"] > GRACE_SECONDS
  assert pod["metadata"]["annotations"]["prometheus.io/path"] == METRICS_PATH
  assert set(container["resources"]) == {"requests", "limits"}
  ports = {p["name"] for p in documents["service"]["spec"]["ports"]}
  assert ports == ({"http"} if "--no-grpc" in extra else {"http", "grpc"})
  monitor = documents["servicemonitor"]  # a CRD: no schema in Kubernetes' own, so checked here
  assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
  assert monitor["spec"]["selector"]["matchLabels"] == documents["service"]["metadata"]["labels"]
  assert monitor["spec"]["endpoints"] == [{"port": "http", "path": METRICS_PATH, "interval": "15s"}]
  if extra:
    assert pod["spec"]["initContainers"][0]["command"][-2] == "gs://bucket/serving/digits-cnn"
    assert documents["horizontalpodautoscaler"]["spec"]["maxReplicas"] == 6
    assert {d["metadata"]["namespace"] for d in documents.values()} == {"ml"}


@pytest.mark.parametrize("argv,message", [
    (["--model", "nope"], "no such model"),
    (["--model", "digits-cnn", "--replicas", "0"], "--replicas and --min-replicas must be at least 1"),
    (["--model", "digits-cnn", "--replicas", "4", "--max-replicas", "2"], "need --min-replicas <= --replicas"),
    (["--model", "digits-cnn", "--target-cpu-percent", "0"], "--target-cpu-percent"),
])
def test_bad_deploy_settings_exit_2_and_write_nothing(output, tmp_path, capsys, argv, message):
  folder = tmp_path / "manifests"
  assert cli.main(["deploy", "kubernetes", "--output", str(output), "--image", "x", "-o", str(folder)] + argv) == 2
  assert message in capsys.readouterr().err and not folder.exists()


def _exported_metrics():
  """Metric name -> its label names, as `modelfab serve` exports them (samples of every family)."""
  metrics = Metrics()
  metrics.requests.labels("m", "1", "stable", "classify", "200").inc()
  metrics.latency.labels("m", "classify").observe(0.01)
  metrics.batch_size.labels("m").observe(2)
  metrics.predicted.labels("m", "3").inc()
  metrics.score.labels("m").observe(0.9)
  metrics.log_errors.labels("queue full").inc()
  exported = {}
  for family in metrics.registry.collect():
    for sample in family.samples:
      exported.setdefault(sample.name, set()).update(sample.labels)
  assert generate_latest(metrics.registry)  # the page the server serves renders
  return exported


def test_every_dashboard_query_names_an_exported_metric_and_its_labels(tmp_path, capsys):
  path = tmp_path / "dashboard.json"
  assert cli.main(["deploy", "grafana", "-o", str(path)]) == 0
  board = json.loads(path.read_text())
  exported = _exported_metrics()
  queries = grafana.queries(board)
  assert len(board["panels"]) == 8 and len(queries) >= 10
  for query in queries:
    names = re.findall(r"\b(modelfab_[a-z_]+)\b", query)
    assert names, query
    for name in names:
      assert name in exported, f"{name} in {query!r} is not exported"
      grouped = re.findall(r"by \(([^)]*)\)", query)
      for labels in grouped:
        for label in (l.strip() for l in labels.split(",")):
          assert label in exported[name] or label == "le" and name.endswith("_bucket"), (label, query)
  names = {t["name"]: t for t in board["templating"]["list"]}
  assert names["datasource"]["type"] == "datasource" and names["datasource"]["query"] == "prometheus"
  assert {p["datasource"] for p in board["panels"]} == {"${datasource}"}


def test_the_dockerfile_serves_by_default_as_a_non_root_user_with_a_healthcheck():
  text = (config.REPO_ROOT / "Dockerfile").read_text().replace("\\\n", " ")
  stages = re.split(r"^FROM ", text, flags=re.M)[1:]
  assert [s.split("\n", 1)[0] for s in stages] == ["gcr.io/tfx-oss-public/tfx:1.16.0 AS pipeline", "pipeline AS serve"]
  serve = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in stages[-1].splitlines()[1:]
           if line and not line.startswith("#")}
  assert serve["USER"].split(":")[0] not in ("0", "root")
  assert "/healthz" in serve["HEALTHCHECK"] and "--start-period" in serve["HEALTHCHECK"]
  command = json.loads(serve["CMD"])
  assert command[:4] == ["modelfab", "serve", "--output", "/models"] and "0.0.0.0" in command
  assert serve["ENTRYPOINT"] == "[]" and serve["VOLUME"] == "/models" and "8501" in serve["EXPOSE"]
