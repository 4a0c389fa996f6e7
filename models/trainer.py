"""The Trainer's `run_fn`, shared by every task: strategy, input, callbacks, training, export.

`fn_args.custom_config` carries `task` (a module in models/, see models.tasks), `hparams` (overrides of the task's
defaults), `strategy` and `tpu_address`. The task module supplies the model; everything else is here.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from core import features, model_files
from models import tf_setup  # noqa: F401  # pylint: disable=unused-import  # before any Keras use
from models import input_pipeline, precision, privacy, pruning, signatures, strategy, tasks, training


def backup_dir_for(model_run_dir: str, train_files: List[str], custom_config: Dict[str, Any]) -> str:
  """A checkpoint folder that a retried Trainer (new execution, same inputs) finds again, so BackupAndRestore resumes."""
  key = hashlib.sha256(json.dumps([sorted(train_files), custom_config], sort_keys=True, default=str).encode())
  trainer_dir = os.path.dirname(os.path.dirname(model_run_dir.rstrip("/")))  # <root>/Trainer/model_run/<id>
  return os.path.join(trainer_dir, "backup", key.hexdigest()[:16])


LOG_EVERY_STEPS = 10  # batch-level TensorBoard scalars (loss, accuracy, learning rate) every this many steps


class TrainingLogger(tf.keras.callbacks.TensorBoard):
  """Keras' TensorBoard callback, plus the learning rate in the per-N-steps scalars (Keras logs it per epoch only)."""

  def _implements_train_batch_hooks(self):
    return True  # Keras calls batch hooks only when profiling; the per-N-steps scalars are written in them

  def on_train_begin(self, logs=None):
    super().on_train_begin(logs)
    self._steps_done = int(self._train_step.numpy())  # the counter Keras' record_if(step % update_freq) reads

  def on_train_batch_end(self, batch, logs=None):
    # Only steps whose scalars are recorded do any work: the learning rate and the summary calls are eager ops,
    # which on a 2-core machine cost about as much as a small model's training step.
    self._steps_done += 1
    if self._steps_done % self.update_freq and not self._should_write_train_graph:
      return
    if isinstance(logs, dict):
      logs = self._collect_learning_rate(dict(logs))
    super().on_train_batch_end(batch, logs)


def make_callbacks(hp: Dict[str, Any], log_dir: str, backup_dir: str) -> List[tf.keras.callbacks.Callback]:
  """TensorBoard logs (per epoch and every LOG_EVERY_STEPS steps, model graph), early stopping, backup/restore;
  with pruning, the pruning step, and early stopping only once the target sparsity is reached."""
  pruned = bool(hp.get("prune_sparsity"))
  callbacks = [
      TrainingLogger(log_dir=log_dir, update_freq=int(hp.get("log_every_steps", LOG_EVERY_STEPS)), write_graph=True),
      tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(hp["early_stopping_patience"]),
                                       restore_best_weights=True,
                                       start_from_epoch=pruning.pruning_epochs(int(hp["epochs"])) if pruned else 0),
      tf.keras.callbacks.BackupAndRestore(backup_dir),
  ]
  return callbacks + (pruning.callbacks() if pruned else [])


def train(task_name: str, hp: Dict[str, Any], train_files, eval_files, transform_output_dir: str,
          log_dir: str, backup_dir: str, strategy_name: str = "auto", tpu_address=None,
          expected_classes: Optional[int] = None, warm_start_from: Optional[str] = None):
  """Builds, compiles and fits the task's model; returns (model, history, TFTransformOutput, privacy): privacy is
  {"dp": what DP-SGD spent (models.privacy.report; None without it), "membership_inference": the attack's result}.
  warm_start_from: a pushed SavedModel of the same architecture whose weights the model starts from."""
  task = tasks.get_task(task_name)
  tf.keras.utils.set_random_seed(int(hp.get("seed", 42)))  # same weights init, shuffles and augmentation each run
  tf_transform_output = tft.TFTransformOutput(transform_output_dir)
  num_classes = training.check_every_class_trained(tf_transform_output, expected_classes)
  dist = strategy.get_strategy(strategy_name, tpu_address)
  batch_size = int(hp["batch_size"]) * dist.num_replicas_in_sync
  num_train, cache = input_pipeline.count_and_choose_cache(train_files, eval_files, tf_transform_output)
  steps_per_epoch = max(1, num_train // batch_size)
  epochs = int(hp["epochs"])
  workers = strategy.num_workers() if isinstance(dist, tf.distribute.MultiWorkerMirroredStrategy) else 1
  train_ds, eval_ds = (input_pipeline.make_dataset(files, tf_transform_output, batch_size, training=training,
                                                   num_workers=workers, cache=cache)
                       for files, training in ((train_files, True), (eval_files, False)))
  choice = training.precision_choice(hp)
  dp_plan = None
  if privacy.enabled(hp):
    privacy.check_combination(hp, dist.num_replicas_in_sync * workers, choice.precision)
    dp_plan = privacy.plan(hp, num_train, batch_size, steps_per_epoch * epochs)
    print(f"[modelfab] DP-SGD: noise multiplier {dp_plan.noise_multiplier:.4g}"
          + (f" (for epsilon {dp_plan.target_epsilon:g})" if dp_plan.target_epsilon is not None else "")
          + f", clip {dp_plan.l2_clip:g}, {dp_plan.microbatches} microbatches per batch of {batch_size}, delta "
          f"{dp_plan.delta:g}, sampling rate {dp_plan.sampling_rate:.4g}", flush=True)
  with dist.scope():
    model = training.compiled_model(task, hp, num_classes, steps_per_epoch, epochs, choice, dp_plan)
  if warm_start_from:
    count = training.warm_start(model, warm_start_from, class_names(tf_transform_output))
    print(f"[modelfab] warm start: {count} variables from {warm_start_from}", flush=True)
  logging.info("training %s: %d classes, %d examples, %d steps/epoch x %d epochs, strategy %s (%d replicas), "
               "input %s", task_name, num_classes, num_train, steps_per_epoch, epochs, strategy_name,
               dist.num_replicas_in_sync, "cached in memory" if cache else "streamed")
  print(f"[modelfab] precision {choice.precision} ({choice.reason})"
        + (f"; warning: {choice.warning}" if choice.warning else ""), flush=True)
  fit_started = time.time()
  history = model.fit(train_ds, epochs=epochs, steps_per_epoch=steps_per_epoch, validation_data=eval_ds,
                      callbacks=make_callbacks(hp, log_dir, backup_dir), verbose=2)
  fit_seconds = time.time() - fit_started
  trained_epochs = len(history.epoch)
  print(f"[modelfab] fit {fit_seconds:.1f}s, {steps_per_epoch * batch_size * trained_epochs / fit_seconds:.0f} "
        f"examples/s ({trained_epochs} epochs of {steps_per_epoch} steps)", flush=True)
  privacy_spent = privacy.report(dp_plan, int(model.optimizer.iterations)) if dp_plan else None
  if privacy_spent:
    print(f"[modelfab] privacy spent: {privacy.describe(privacy_spent)}", flush=True)
  if hp.get("prune_sparsity"):
    with dist.scope():
      model = pruning.strip(model)
    logging.info("pruned kernels: %s", pruning.kernel_sparsity(model))
  if choice.mixed:  # export computes in float32, as it always did
    with dist.scope():
      model = precision.float32_copy(lambda: task.build_model(hp, num_classes), model)
  membership = privacy.membership_inference(
      model, *(input_pipeline.make_dataset(files, tf_transform_output, batch_size, training=False)
               for files in (train_files, eval_files)))
  print(f"[modelfab] membership inference: {privacy.describe_membership(membership)}", flush=True)
  return model, history, tf_transform_output, {"dp": privacy_spent, "membership_inference": membership}


def class_names(tf_transform_output: tft.TFTransformOutput) -> List[str]:
  """The class names by class id (Transform's label vocabulary)."""
  return [v.decode("utf-8") if isinstance(v, bytes) else str(v)
          for v in tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY)]


def serving_root(model: tf.keras.Model):
  """The object a SavedModel is saved from: the model's `variables` and the loaded Transform graph (its tables and
  vocabulary files), which is all the signatures use. Not the optimizer (Adam's two slots per weight, which
  serving never reads, were two thirds of the size), nor the Keras objects (the model, and the Transform layer,
  also a Keras model): saving those traces every layer's call again, which nothing reads back. A cold export at
  32x32 took 5.8 s, 1.3 s now (with the signatures' AutoGraph off); loading it, 0.9-1.0 s, 0.24 s now."""
  root = tf.__internal__.tracking.AutoTrackable()  # unlike tf.Module, it can hold an attribute named `variables`
  root.variables = list(model.variables)
  # What the Transform layer itself tracks for this purpose (tensorflow_transform/output_wrapper.py).
  root.transform_graph = model.tft_layer._saved_model_loader_tracked_dict  # pylint: disable=protected-access
  return root


def export(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput, serving_feature_keys,
           export_dir: str, task_name: Optional[str] = None, hp: Optional[Dict[str, Any]] = None,
           privacy_measured: Optional[Dict[str, Any]] = None) -> None:
  """Saves the model with its signatures (models.signatures) and modelfab's metadata (task, serving features,
  labels) beside it; under multi-worker training only the chief's copy is kept.

  With `task_name` and its hyperparameters `hp`, the task's optional hooks add the decoded-tensor signatures
  (`tensor_inputs`), the explain signatures of tasks without pixel inputs (`explain_signatures`), files shipped in
  assets.extra (`serving_files`, e.g. vocab.txt) and the tokenizer's casing.
  """
  task = tasks.get_task(task_name) if task_name and hp is not None else None
  trained_in = precision.choose(hp.get("precision")) if hp is not None else None  # as train() chose it
  tensor_inputs = task.tensor_inputs(tf_transform_output, hp) if hasattr(task, "tensor_inputs") else None
  sigs = signatures.make_serving_signatures(model, tf_transform_output, serving_feature_keys, tensor_inputs)
  if hasattr(task, "explain_signatures"):  # e.g. the text task's word embeddings -> probabilities
    sigs.update(task.explain_signatures(model, hp))
  root = serving_root(model)
  if strategy.is_chief():
    tf.saved_model.save(root, export_dir, signatures=sigs)
    model_files.write_metadata(export_dir, model_files.ModelMetadata(
        task=task_name, serving_features=list(serving_feature_keys), labels=class_names(tf_transform_output),
        lower_case=task.tokenizer_lower_case(hp) if hasattr(task, "tokenizer_lower_case") else None,
        training_precision=trained_in.precision if trained_in else None,
        training_precision_reason=trained_in.reason if trained_in else None,
        privacy=(privacy_measured or {}).get("dp"),
        membership_inference=(privacy_measured or {}).get("membership_inference")))
    extra_files = task.serving_files(hp) if hasattr(task, "serving_files") else {}
    for name, source in extra_files.items():  # e.g. the text task's vocab.txt
      tf.io.gfile.copy(source, os.path.join(export_dir, model_files.ASSETS_EXTRA_DIR, name), overwrite=True)
    return
  scratch = tempfile.mkdtemp(prefix="modelfab-worker-export-")  # every worker must save (collective ops)
  try:
    tf.saved_model.save(root, scratch, signatures=sigs)
  finally:
    shutil.rmtree(scratch, ignore_errors=True)


def run_fn(fn_args) -> None:
  """TFX Trainer entry point."""
  config = dict(fn_args.custom_config or {})
  task_name = config.get("task", "image_cnn")
  task = tasks.get_task(task_name)
  hp = task.hparams_from(config)
  if fn_args.hyperparameters:  # the Tuner's best (or an earlier run's, imported)
    hp = training.hparams_with_best(task, hp, fn_args.hyperparameters)
    logging.info("hyperparameters from the Tuner: %s", hp)
  started = time.time()
  model, _, tf_transform_output, privacy_measured = train(
      task_name, hp, fn_args.train_files, fn_args.eval_files, fn_args.transform_output,
      log_dir=fn_args.model_run_dir,
      backup_dir=backup_dir_for(fn_args.model_run_dir, fn_args.train_files, config),
      strategy_name=config.get("strategy", "auto"), tpu_address=config.get("tpu_address"),
      expected_classes=config.get("num_classes"), warm_start_from=config.get("warm_start_from"))
  trained = time.time()
  export(model, tf_transform_output, task.SERVING_FEATURE_KEYS, fn_args.serving_model_dir, task_name, hp,
         privacy_measured)
  print(f"[modelfab] trained in {trained - started:.1f}s, exported in {time.time() - trained:.1f}s", flush=True)
