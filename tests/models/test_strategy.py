"""The strategy factory: one string -> one tf.distribute strategy, and fast clear failures."""
import json
import socket
import time

import pytest
import tensorflow as tf

from models import strategy
from core.errors import StrategyError


def test_default_and_auto_without_gpus_are_the_default_strategy():
  assert strategy.get_strategy("default") is tf.distribute.get_strategy()
  assert not tf.config.list_logical_devices("GPU")
  assert strategy.get_strategy("auto") is tf.distribute.get_strategy()


def test_mirrored_builds_a_mirrored_strategy():
  mirrored = strategy.get_strategy("mirrored")
  assert isinstance(mirrored, tf.distribute.MirroredStrategy)
  assert mirrored.num_replicas_in_sync >= 1


def test_unknown_name_lists_choices():
  with pytest.raises(StrategyError, match="auto, default, mirrored, multi_worker, tpu"):
    strategy.get_strategy("horovod")


def test_tpu_without_address_fails_fast(monkeypatch):
  monkeypatch.delenv("TPU_NAME", raising=False)
  with pytest.raises(StrategyError, match="needs a TPU address"):
    strategy.get_strategy("tpu")


def test_tpu_at_unreachable_address_fails_fast():
  with socket.socket() as s:  # a port with nothing listening
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
  started = time.time()
  with pytest.raises(StrategyError, match=f"no TPU reachable at grpc://127.0.0.1:{port}"):
    strategy.get_strategy("tpu", tpu_address=f"grpc://127.0.0.1:{port}")
  assert time.time() - started < 30  # not a hang: refused at once


def test_tpu_local_without_device_fails():
  with pytest.raises(StrategyError, match="no TPU device"):
    strategy.get_strategy("tpu", tpu_address="local")


def test_multi_worker_rejects_a_malformed_tf_config(monkeypatch):
  monkeypatch.setenv("TF_CONFIG", "{not json")
  with pytest.raises(StrategyError, match="TF_CONFIG"):
    strategy.get_strategy("multi_worker")


@pytest.mark.parametrize("tf_config, chief", [
    (None, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 0}}, True),
    ({"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 1}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "worker", "index": 0}}, False),
    ({"cluster": {"chief": ["c:0"], "worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}, True),
])
def test_is_chief(monkeypatch, tf_config, chief):
  if tf_config is None:
    monkeypatch.delenv("TF_CONFIG", raising=False)
  else:
    monkeypatch.setenv("TF_CONFIG", json.dumps(tf_config))
  assert strategy.is_chief() is chief


def test_num_workers_counts_chief_and_workers(monkeypatch):
  monkeypatch.delenv("TF_CONFIG", raising=False)
  assert strategy.num_workers() == 1
  monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": {"chief": ["a:1"], "worker": ["b:2", "c:3"]},
                                              "task": {"type": "worker", "index": 0}}))
  assert strategy.num_workers() == 3
