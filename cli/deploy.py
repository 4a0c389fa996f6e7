"""`modelfab deploy kubernetes` (manifests that run `modelfab serve` on a cluster) and `modelfab deploy grafana` (a
dashboard for the server's Prometheus metrics). Nothing is applied: the files are written for `kubectl apply -f`
and Grafana's import."""
from __future__ import annotations

import argparse
import json
import os

from cli import common
from core.errors import UsageError


def register(sub, common_flags: argparse.ArgumentParser) -> None:
  deploy = sub.add_parser("deploy", parents=[common_flags],
                          help="write Kubernetes manifests or a Grafana dashboard for `modelfab serve`")
  targets = deploy.add_subparsers(dest="target", required=True)
  k8s = targets.add_parser("kubernetes", parents=[common_flags],
                           help="a Deployment, Service, HorizontalPodAutoscaler and ServiceMonitor for a pushed model")
  common.add_output_flag(k8s)
  k8s.add_argument("--model", required=True, help="a model under <output>/serving")
  k8s.add_argument("--image", required=True, help="the image built from this repository's Dockerfile")
  k8s.add_argument("--replicas", type=int, default=2, help="pods at the start (default: %(default)s)")
  k8s.add_argument("--min-replicas", type=int, help="the autoscaler's floor (default: --replicas)")
  k8s.add_argument("--max-replicas", type=int, help="the autoscaler's ceiling (default: 5 x --replicas)")
  k8s.add_argument("--target-cpu-percent", type=int, default=70, help="the autoscaler's CPU target (default: 70)")
  k8s.add_argument("--storage-uri", help="where the pods copy the model from (gs://.../serving/<model>); default: "
                                         "a PersistentVolumeClaim (--pvc) holding <version>/ folders")
  k8s.add_argument("--pvc", default="modelfab-models", help="the PersistentVolumeClaim (default: %(default)s)")
  k8s.add_argument("--namespace", help="the manifests' namespace (default: kubectl's)")
  k8s.add_argument("--no-grpc", action="store_true", help="REST only (default: REST on 8501 and gRPC on 8500)")
  k8s.add_argument("-o", "--manifests", default="manifests", metavar="DIR",
                   help="folder for the YAML files (default: %(default)s)")
  k8s.set_defaults(handler=cmd_kubernetes)

  grafana = targets.add_parser("grafana", parents=[common_flags], help="a Grafana dashboard (JSON) for the metrics")
  grafana.add_argument("-o", "--dashboard", default="dashboard.json", metavar="FILE",
                       help="the dashboard file (default: %(default)s)")
  grafana.add_argument("--title", default="modelfab serve", help="the dashboard title (default: %(default)s)")
  grafana.set_defaults(handler=cmd_grafana)


def cmd_kubernetes(args: argparse.Namespace) -> int:
  common.check_model_name(args.output, args.model, common.pushed_models(args.output))
  from serving import kubernetes  # pylint: disable=g-import-not-at-top

  settings = kubernetes.KubernetesSettings(
      model=args.model, image=args.image, replicas=args.replicas,
      min_replicas=args.min_replicas if args.min_replicas is not None else args.replicas,
      max_replicas=args.max_replicas if args.max_replicas is not None else max(5 * args.replicas, 1),
      target_cpu_percent=args.target_cpu_percent, grpc=not args.no_grpc, storage_uri=args.storage_uri,
      pvc=args.pvc, namespace=args.namespace)
  try:
    documents = kubernetes.manifests(settings)  # every check before anything is written
  except ValueError as e:
    raise UsageError(str(e)) from e
  try:
    paths = kubernetes.write_manifests(documents, args.manifests)
  except OSError as e:
    raise UsageError(f"-o {args.manifests}: {e.strerror or e}") from e
  for path in paths:
    print(f"wrote {path}")
  print(f"apply: kubectl apply -f {args.manifests}/ (the ServiceMonitor needs the Prometheus Operator; the pods "
        "also carry prometheus.io/scrape annotations)")
  return 0


def cmd_grafana(args: argparse.Namespace) -> int:
  from serving import grafana  # pylint: disable=g-import-not-at-top

  board = grafana.dashboard(args.title)
  folder = os.path.dirname(os.path.abspath(args.dashboard))
  if not os.path.isdir(folder):
    raise UsageError(f"-o {args.dashboard}: no such folder {folder}")
  try:
    with open(args.dashboard, "w", encoding="utf-8") as f:
      json.dump(board, f, indent=2)
  except OSError as e:
    raise UsageError(f"-o {args.dashboard}: {e.strerror or e}") from e
  print(f"wrote {args.dashboard} ({len(board['panels'])} panels; import it in Grafana and choose the Prometheus "
        "datasource that scrapes modelfab serve)")
  return 0
