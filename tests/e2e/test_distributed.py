"""Distributed training really exercised: MultiWorkerMirroredStrategy with 2 worker processes on 127.0.0.1, and
MirroredStrategy on 2 logical CPU devices for the CNN and the tiny BERT. Each run is a subprocess
(tests/distributed_train.py), since devices and the cluster are fixed when TensorFlow starts."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import DISTRIBUTED_TRAIN, free_ports, review_vocab, write_tiny_checkpoint

pytestmark = pytest.mark.e2e  # whole pipeline runs or processes working together

SCRIPT = DISTRIBUTED_TRAIN


def _start(out, *args, env=None):
  return subprocess.Popen([sys.executable, str(SCRIPT), "--out", str(out), *map(str, args)],
                          env={**os.environ, **(env or {})}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)


def _finish(process, timeout=400):
  try:
    output, _ = process.communicate(timeout=timeout)
  except subprocess.TimeoutExpired:
    process.kill()
    raise
  assert process.returncode == 0, output[-3000:]


def _weights(out):
  with np.load(out / "weights.npz") as data:
    return [data[k] for k in sorted(data.files, key=lambda k: int(k.split("_")[1]))]


def _result(out):
  return json.loads((out / "result.json").read_text())


def test_multi_worker_two_processes_end_identical_and_export_once(transformed_dataset, tmp_path):
  train_files, eval_files, transform_dir, _ = transformed_dataset
  data = json.dumps([train_files, eval_files, transform_dir])
  ports = free_ports(2)
  cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
  export_dir = tmp_path / "export"
  processes = []
  for index in range(2):
    scratch = tmp_path / f"tmp{index}"
    scratch.mkdir()
    tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
    processes.append(_start(tmp_path / f"w{index}", "--strategy", "multi_worker", "--data", data,
                            "--export-dir", export_dir, env={"TF_CONFIG": tf_config, "TMPDIR": str(scratch)}))
  for process in processes:
    _finish(process)
  first, second = (_result(tmp_path / f"w{i}") for i in range(2))
  assert first["replicas"] == second["replicas"] == 2
  assert first["steps"] == second["steps"] >= 4
  for a, b in zip(_weights(tmp_path / "w0"), _weights(tmp_path / "w1")):
    np.testing.assert_array_equal(a, b)  # synchronous all-reduce: both workers hold the same model
  assert first["loss"][-1] < first["loss"][0]
  saved_models = sorted(p.parent for p in tmp_path.rglob("saved_model.pb"))
  assert saved_models == [export_dir]  # the chief's export only
  assert not list((tmp_path / "tmp1").glob("modelfab-worker-export-*"))  # the worker's scratch copy is removed


def test_mirrored_on_two_logical_cpus_trains_the_cnn(transformed_dataset, tmp_path):
  train_files, eval_files, transform_dir, _ = transformed_dataset
  process = _start(tmp_path / "out", "--strategy", "mirrored", "--logical-cpus", 2, "--epochs", 3,
                   "--data", json.dumps([train_files, eval_files, transform_dir]))
  _finish(process)
  result = _result(tmp_path / "out")
  assert result["replicas"] == 2
  assert result["loss"][-1] < result["loss"][0]


def test_mirrored_on_two_logical_cpus_trains_the_tiny_bert(tmp_path):
  checkpoint = tmp_path / "bert"
  write_tiny_checkpoint(checkpoint, vocab=review_vocab())
  process = _start(tmp_path / "out", "--task", "text_bert", "--strategy", "mirrored", "--logical-cpus", 2,
                   "--epochs", 6, "--checkpoint", checkpoint)
  _finish(process)
  result = _result(tmp_path / "out")
  assert result["replicas"] == 2
  assert result["loss"][-1] < result["loss"][0]
