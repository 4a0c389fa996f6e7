"""The one place a tf.distribute strategy is chosen, from a single string (like tensorflow/models' distribute_utils)."""
from __future__ import annotations

import json
import os
import socket
from typing import Optional
from urllib.parse import urlparse

import tensorflow as tf

from core import names
from core.errors import StrategyError


def get_strategy(name: str = "auto", tpu_address: Optional[str] = None) -> tf.distribute.Strategy:
  """Returns the strategy named `name`.

  auto: MirroredStrategy when this machine has 2 or more GPUs, else the default strategy.
  default: the default (no-op) strategy: one device.
  mirrored: synchronous data parallelism over the local GPUs; without GPUs, over the logical CPU devices (one
    unless the CPU was split with tf.config.set_logical_device_configuration).
  multi_worker: MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG environment variable.
  tpu: TPUStrategy on `tpu_address` (grpc://host:port, a TPU name, or "local" on a TPU VM); fails fast when no TPU
    is reachable.
  """
  name = (name or "auto").lower().replace("-", "_")
  if name == "auto":
    gpus = tf.config.list_logical_devices("GPU")
    return tf.distribute.MirroredStrategy() if len(gpus) >= 2 else tf.distribute.get_strategy()
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    if tf.config.list_logical_devices("GPU"):
      return tf.distribute.MirroredStrategy()
    return tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
  if name == "multi_worker":
    _check_tf_config()
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    return _tpu_strategy(tpu_address)
  raise StrategyError(f"unknown strategy {name!r}; choose one of {', '.join(names.STRATEGIES)}")


def _check_tf_config() -> None:
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    return  # a one-worker cluster: MultiWorkerMirroredStrategy runs locally
  try:
    config = json.loads(raw)
    config["cluster"]["worker"]  # pylint: disable=pointless-statement
  except (ValueError, KeyError, TypeError) as e:
    raise StrategyError(f"TF_CONFIG is not a valid cluster spec with a 'worker' list: {raw!r}") from e


def _tpu_strategy(tpu_address: Optional[str]) -> tf.distribute.Strategy:
  address = tpu_address or os.environ.get("TPU_NAME")
  if not address:
    raise StrategyError("strategy 'tpu' needs a TPU address: set tpu_address (grpc://host:port, a TPU name, or "
                        "'local' on a TPU VM) or the TPU_NAME environment variable")
  if address == "local" and not any(n.startswith("accel") for n in _listdir("/dev")):
    raise StrategyError("strategy 'tpu' with address 'local': no TPU device (/dev/accel*) on this machine")
  if address.startswith("grpc://"):
    parsed = urlparse(address)
    try:
      socket.create_connection((parsed.hostname, parsed.port or 8470), timeout=5).close()
    except OSError as e:
      raise StrategyError(f"strategy 'tpu': no TPU reachable at {address} ({e})") from e
  try:
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
  except Exception as e:  # pylint: disable=broad-except  # resolver errors come in many types
    raise StrategyError(f"strategy 'tpu': cannot connect to TPU {address!r}: {e}") from e
  return tf.distribute.TPUStrategy(resolver)


def _listdir(path: str):
  try:
    return os.listdir(path)
  except OSError:
    return []


def num_workers() -> int:
  """Worker processes in the TF_CONFIG cluster (chief included); 1 without TF_CONFIG."""
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    return 1
  cluster = json.loads(raw).get("cluster", {})
  return max(1, len(cluster.get("chief", [])) + len(cluster.get("worker", [])))


def is_chief() -> bool:
  """True on the process that should export the model: the chief, or worker 0 when the cluster has no chief."""
  raw = os.environ.get("TF_CONFIG")
  if not raw:
    return True
  config = json.loads(raw)
  task = config.get("task", {})
  task_type, task_id = task.get("type"), task.get("index", 0)
  if task_type in (None, "chief"):
    return True
  has_chief = bool(config.get("cluster", {}).get("chief"))
  return task_type == "worker" and task_id == 0 and not has_chief
