"""Kubernetes manifests that run `modelfab serve` on a cluster (`modelfab deploy kubernetes`).

A Deployment (the image built from this repository's Dockerfile, running `modelfab serve` as a non-root user,
REST on 8501 and optionally gRPC on 8500, liveness on /healthz, readiness on /readyz, resource requests and
limits, Prometheus scrape annotations, a termination grace period longer than the server's own), a Service, a
HorizontalPodAutoscaler on CPU, and a Prometheus Operator ServiceMonitor. The pushed model reaches the pods from a
PersistentVolumeClaim (`--pvc`) or, with `--storage-uri gs://...`, through an init container that copies that
serving folder into the pod (TensorFlow's file system, so gs:// and s3:// work).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from serving.metrics import GRACE_SECONDS, HEALTH_PATH, METRICS_PATH, READY_PATH

MODELS_DIR = "/models"  # the --output the pods serve: /models/serving/<model>/<version>


@dataclasses.dataclass
class KubernetesSettings:
  model: str
  image: str
  replicas: int = 2
  min_replicas: int = 2
  max_replicas: int = 10
  target_cpu_percent: int = 70
  grpc: bool = True
  storage_uri: Optional[str] = None  # gs://.../serving/<model>: copied in by an init container
  pvc: str = "modelfab-models"  # else: a PersistentVolumeClaim holding <model>/<version>/ folders
  namespace: Optional[str] = None
  cpu_request: str = "1"
  memory_request: str = "2Gi"
  cpu_limit: str = "2"
  memory_limit: str = "4Gi"

  def check(self) -> None:
    """ValueError naming the setting that cannot be deployed."""
    if not self.image:
      raise ValueError("--image is required: the image built from this repository's Dockerfile")
    if self.replicas < 1 or self.min_replicas < 1:
      raise ValueError(f"--replicas and --min-replicas must be at least 1, got {self.replicas} and "
                       f"{self.min_replicas}")
    if not self.min_replicas <= self.replicas <= self.max_replicas:
      raise ValueError(f"need --min-replicas <= --replicas <= --max-replicas, got {self.min_replicas} <= "
                       f"{self.replicas} <= {self.max_replicas}")
    if not 1 <= self.target_cpu_percent <= 100:
      raise ValueError(f"--target-cpu-percent must be between 1 and 100, got {self.target_cpu_percent}")

  @property
  def app(self) -> str:
    return f"modelfab-{self.model}".lower().replace("_", "-")[:63]


def manifests(settings: KubernetesSettings) -> List[Dict[str, Any]]:
  """Deployment, Service, HorizontalPodAutoscaler and ServiceMonitor, as dicts."""
  settings.check()
  app = settings.app
  meta = lambda name: {"name": name, "labels": {"app": app}, **(
      {"namespace": settings.namespace} if settings.namespace else {})}
  ports = [{"name": "http", "containerPort": 8501}] + ([{"name": "grpc", "containerPort": 8500}] if settings.grpc else [])
  command = ["modelfab", "serve", "--output", MODELS_DIR, "--model", settings.model, "--host", "0.0.0.0",
             "--port", "8501"] + (["--grpc-port", "8500"] if settings.grpc else [])
  model_dir = f"{MODELS_DIR}/serving/{settings.model}"
  container = {
      "name": "modelfab-serve", "image": settings.image, "command": command, "ports": ports,
      "readinessProbe": {"httpGet": {"path": READY_PATH, "port": "http"}, "periodSeconds": 5, "failureThreshold": 3},
      "livenessProbe": {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "initialDelaySeconds": 30,
                        "periodSeconds": 10, "failureThreshold": 3},
      "startupProbe": {"httpGet": {"path": HEALTH_PATH, "port": "http"}, "periodSeconds": 5, "failureThreshold": 36},
      "resources": {"requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
                    "limits": {"cpu": settings.cpu_limit, "memory": settings.memory_limit}},
      "volumeMounts": [{"name": "models", "mountPath": model_dir, **({} if settings.storage_uri else {"readOnly": True})}],
      "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": False},
  }
  pod_spec: Dict[str, Any] = {
      "securityContext": {"runAsNonRoot": True, "runAsUser": 1000, "runAsGroup": 1000, "fsGroup": 1000},
      "terminationGracePeriodSeconds": GRACE_SECONDS + 10,
      "containers": [container],
  }
  if settings.storage_uri:
    pod_spec["volumes"] = [{"name": "models", "emptyDir": {}}]
    pod_spec["initContainers"] = [{
        "name": "fetch-model", "image": settings.image,
        "command": ["python", "-c", "import sys, tensorflow as tf\n"
                    "def copy(src, dst):\n"
                    "  tf.io.gfile.makedirs(dst)\n"
                    "  for name in tf.io.gfile.listdir(src):\n"
                    "    s, d = src.rstrip('/') + '/' + name.rstrip('/'), dst + '/' + name.rstrip('/')\n"
                    "    copy(s, d) if tf.io.gfile.isdir(s) else tf.io.gfile.copy(s, d, overwrite=True)\n"
                    "copy(sys.argv[1], sys.argv[2])", settings.storage_uri, model_dir],
        "volumeMounts": [{"name": "models", "mountPath": model_dir}],
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}}}]
  else:
    pod_spec["volumes"] = [{"name": "models", "persistentVolumeClaim": {"claimName": settings.pvc, "readOnly": True}}]
  deployment = {
      "apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(app),
      "spec": {"replicas": settings.replicas, "selector": {"matchLabels": {"app": app}},
               "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
               "template": {"metadata": {"labels": {"app": app}, "annotations": {
                   "prometheus.io/scrape": "true", "prometheus.io/port": "8501",
                   "prometheus.io/path": METRICS_PATH}}, "spec": pod_spec}}}
  service = {
      "apiVersion": "v1", "kind": "Service", "metadata": meta(app),
      "spec": {"selector": {"app": app}, "type": "ClusterIP",
               "ports": [{"name": p["name"], "port": p["containerPort"], "targetPort": p["name"]} for p in ports]}}
  autoscaler = {
      "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": meta(app),
      "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": app},
               "minReplicas": settings.min_replicas, "maxReplicas": settings.max_replicas,
               "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                   "type": "Utilization", "averageUtilization": settings.target_cpu_percent}}}]}}
  monitor = {
      "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": meta(app),
      "spec": {"selector": {"matchLabels": {"app": app}},
               "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": "15s"}]}}
  return [deployment, service, autoscaler, monitor]


def write_manifests(documents: List[Dict[str, Any]], folder: str) -> List[str]:
  """One YAML file per manifest (<kind>.yaml, lower case) in `folder`; returns their paths."""
  import os  # pylint: disable=g-import-not-at-top

  import yaml  # pylint: disable=g-import-not-at-top

  os.makedirs(folder, exist_ok=True)
  paths = []
  for document in documents:
    path = os.path.join(folder, f"{document['kind'].lower()}.yaml")
    with open(path, "w", encoding="utf-8") as f:
      yaml.safe_dump(document, f, sort_keys=False)
    paths.append(path)
  return paths
