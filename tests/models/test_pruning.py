"""Pruning while training: real tensorflow-model-optimization, sparsity counted on the exported SavedModel."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import DISTRIBUTED_TRAIN
from core import features, model_files
from models import image_cnn, pruning, trainer
from inference import predict


def _train_pruned(transformed_dataset, work, strategy_name, sparsity=0.5, epochs=6, precision="float32"):
  train_files, eval_files, transform_dir, raw = transformed_dataset
  hp = image_cnn.hparams_from({"hparams": {"epochs": epochs, "batch_size": 8, "augment": False,
                                           "prune_sparsity": sparsity, "precision": precision}})
  model, history, tft_output, _ = trainer.train("image_cnn", hp, train_files, eval_files, transform_dir,
                                             log_dir=str(work / "logs"), backup_dir=str(work / "backup"),
                                             strategy_name=strategy_name)
  export_dir = work / "export"
  trainer.export(model, tft_output, image_cnn.SERVING_FEATURE_KEYS, str(export_dir), "image_cnn", hp)
  return history, export_dir, raw


def _exported_kernels(export_dir):
  """Every conv/dense kernel variable of the exported SavedModel (read back from disk, not from Python objects)."""
  loaded = tf.saved_model.load(str(export_dir))
  return {v.name: v.numpy() for v in loaded.variables if "kernel" in v.name and len(v.shape) >= 2}


@pytest.fixture(scope="module")
def pruned(transformed_dataset, tmp_path_factory):
  """Pruned while training in bfloat16 (emulated on CPUs without it: slower, same arithmetic)."""
  return _train_pruned(transformed_dataset, tmp_path_factory.mktemp("pruned"), "default", epochs=3,
                       precision="bfloat16")


def _graph_dtypes(export_dir):
  """Every dtype named in the SavedModel's graphs (its functions included)."""
  from tensorflow.core.protobuf import saved_model_pb2  # pylint: disable=g-import-not-at-top

  saved = saved_model_pb2.SavedModel.FromString((export_dir / "saved_model.pb").read_bytes())
  graph = saved.meta_graphs[0].graph_def
  nodes = list(graph.node) + [n for f in graph.library.function for n in f.node_def]
  return {tf.dtypes.as_dtype(v.type).name for n in nodes for v in n.attr.values() if v.type} | {
      tf.dtypes.as_dtype(t).name for n in nodes for v in n.attr.values() for t in v.list.type}


def test_exported_kernels_are_as_sparse_as_asked_and_the_model_still_predicts(pruned):
  history, export_dir, raw = pruned
  kernels = _exported_kernels(export_dir)
  assert len(kernels) == 5  # 2 blocks x 2 convs + the classifier
  for name, kernel in kernels.items():
    assert abs(np.mean(kernel == 0) - 0.5) < 0.02, name
  assert history.history["val_accuracy"][-1] >= 0.85
  outputs = predict.predict_serialized(str(export_dir), predict.serialized_examples(
      [{"image": r["image"]} for r in raw[:20]]))
  labels = [label.decode() for label in outputs[features.PREDICTED_LABEL]]
  assert np.mean([a == r["label"].decode() for a, r in zip(labels, raw[:20])]) >= 0.85


def test_export_has_every_signature_and_no_pruning_wrappers(pruned):
  _, export_dir, _ = pruned
  loaded = tf.saved_model.load(str(export_dir))
  assert {"serving_default", features.TRANSFORM_FEATURES_SIGNATURE, features.TENSORS_SIGNATURE} <= set(
      loaded.signatures)
  assert not [v.name for v in loaded.variables if "prune" in v.name or v.name.startswith("mask")]


def test_a_model_trained_in_bfloat16_is_exported_in_float32_and_says_so(pruned):
  _, export_dir, _ = pruned
  assert "float32" in _graph_dtypes(export_dir) and "bfloat16" not in _graph_dtypes(export_dir)
  metadata = model_files.read_metadata(str(export_dir))
  assert (metadata.training_precision, metadata.training_precision_reason) == ("bfloat16", "asked for")


@pytest.mark.e2e
def test_pruning_under_mirrored_strategy_on_two_logical_cpus(transformed_dataset, tmp_path):
  train_files, eval_files, transform_dir, _ = transformed_dataset
  process = subprocess.run(
      [sys.executable, str(DISTRIBUTED_TRAIN), "--out", str(tmp_path / "out"),
       "--strategy", "mirrored", "--logical-cpus", "2", "--epochs", "3", "--prune-sparsity", "0.7",
       "--export-dir", str(tmp_path / "export"), "--data", json.dumps([train_files, eval_files, transform_dir])],
      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=400, check=False)
  assert process.returncode == 0, process.stdout[-3000:]
  assert json.loads((tmp_path / "out" / "result.json").read_text())["replicas"] == 2
  kernels = _exported_kernels(tmp_path / "export")
  assert abs(pruning.overall_sparsity(kernels.values()) - 0.7) < 0.02


def test_schedule_reaches_the_target_two_thirds_into_the_run():
  assert pruning.pruning_epochs(20) == 14
  assert pruning.pruning_epochs(1) == 1
  assert pruning.overall_sparsity([np.array([[0, 1], [0, 0]])]) == 0.75
