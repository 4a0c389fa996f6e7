"""Pruning while training: real tensorflow-model-optimization, sparsity counted on the exported SavedModel."""
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from conftest import DISTRIBUTED_TRAIN
from core import features
from models import image_cnn, pruning, trainer
from inference import predict


def _train_pruned(transformed_dataset, work, strategy_name, sparsity=0.5, epochs=6):
  train_files, eval_files, transform_dir, raw = transformed_dataset
  hp = image_cnn.hparams_from({"hparams": {"epochs": epochs, "batch_size": 8, "augment": False,
                                           "prune_sparsity": sparsity}})
  model, history, tft_output = trainer.train("image_cnn", hp, train_files, eval_files, transform_dir,
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
  return _train_pruned(transformed_dataset, tmp_path_factory.mktemp("pruned"), "default")


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
