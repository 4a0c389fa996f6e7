"""The Tuner's `tuner_fn`: a KerasTuner search over the task's `search_space`, with the Trainer's own input
pipeline, model builder, optimizer and strategy.

`custom_config["tune"]` holds `trials`, `algorithm` (random, bayesian, hyperband) and `max_minutes`. The search
stops at whichever budget is spent first (a trial that started finishes). Trials stop early on a stalled
validation loss and at once on a NaN loss. The best hyperparameters go to the Trainer through TFX's
`hyperparameters` channel; `hparams_with_best` applies them. With MODELFAB_TUNER_LOG_DIR set (the Tuner component
sets it), every trial writes TensorBoard logs with its hyperparameters there (the HParams dashboard).
"""
from __future__ import annotations

import os
import time


import tensorflow as tf
import tensorflow_transform as tft

from core import names
from models import tf_setup  # before any Keras use
from models import input_pipeline, strategy, tasks, training

OBJECTIVE = "val_accuracy"


def _closing_hparams_callback(logdir: str, hparams, trial_id: str):
  """TensorBoard's HParams Keras callback that also closes its event file when the trial's fit ends.

  The stock callback only drops its writer, so the trial's hparams summary reaches disk whenever garbage collection
  gets to it, and it writes under whatever `tf.summary.record_if` is in force: a Keras TensorBoard callback whose
  fit was interrupted leaves its "every N steps" condition behind (seen in CI: empty event files for the trials).
  """
  from tensorboard.plugins.hparams import api as hparams_api  # pylint: disable=g-import-not-at-top

  class ClosingHParams(hparams_api.KerasCallback):  # pylint: disable=missing-class-docstring

    def on_train_begin(self, logs=None):
      with tf.summary.record_if(True):  # whatever a caller's summary context says (Keras' own epoch logs do this)
        super().on_train_begin(logs)

    def on_train_end(self, logs=None):
      writer = self._get_writer()
      with tf.summary.record_if(True):
        super().on_train_end(logs)
      writer.close()

  return ClosingHParams(writer=logdir, hparams=hparams, trial_id=trial_id)


def _budgeted(tuner_class, max_trials: int, max_minutes: float):
  """`tuner_class` that starts no trial once `max_trials` have run or `max_minutes` have passed, and whose trials'
  TensorBoard logs are complete on disk when the trial ends."""
  from keras_tuner.src.engine import tuner_utils  # pylint: disable=g-import-not-at-top
  from tensorboard.plugins.hparams import api as hparams_api  # pylint: disable=g-import-not-at-top

  deadline = time.time() + 60 * max_minutes

  class Budgeted(tuner_class):  # pylint: disable=missing-class-docstring

    def on_trial_end(self, trial):
      super().on_trial_end(trial)
      if len(self.oracle.trials) >= max_trials or time.time() >= deadline:
        self.oracle.max_trials = len(self.oracle.trials)  # the oracle stops at max_trials

    def _configure_tensorboard_dir(self, callbacks, trial, execution=0):
      for callback in list(callbacks):  # KerasTuner's own version, with the closing HParams callback
        if callback.__class__.__name__ == "TensorBoard":
          callback.log_dir = self._get_tensorboard_dir(callback.log_dir, trial.trial_id, execution)
          hparams = tuner_utils.convert_hyperparams_to_hparams(trial.hyperparameters, hparams_api)
          callbacks.append(_closing_hparams_callback(callback.log_dir, hparams, trial.trial_id))

  return Budgeted


def make_hypermodel(task, hp, fn_args, tf_transform_output, num_classes: int, replicas: int):
  """A KerasTuner HyperModel: each trial builds and fits the task's model as the Trainer does."""
  import keras_tuner  # pylint: disable=g-import-not-at-top

  tf_setup.keras_tuner_on_tf_keras()
  num_train, cache = input_pipeline.count_and_choose_cache(fn_args.train_files, fn_args.eval_files,
                                                           tf_transform_output)
  epochs = int(hp["epochs"])
  choice = training.precision_choice(hp)  # every trial trains as the Trainer will

  def batch_and_steps(trial_hp):
    batch_size = int(trial_hp["batch_size"]) * replicas
    return batch_size, max(1, num_train // batch_size)

  class TaskHyperModel(keras_tuner.HyperModel):  # pylint: disable=missing-class-docstring

    def build(self, space):
      trial_hp = training.trial_hparams(task, hp, space)
      return training.compiled_model(task, trial_hp, num_classes, batch_and_steps(trial_hp)[1], epochs, choice)

    def fit(self, space, model, *args, callbacks=None, **kwargs):
      trial_hp = training.trial_hparams(task, hp, space)
      batch_size, steps = batch_and_steps(trial_hp)
      train_ds = input_pipeline.make_dataset(fn_args.train_files, tf_transform_output, batch_size, training=True,
                                             cache=cache)
      eval_ds = input_pipeline.make_dataset(fn_args.eval_files, tf_transform_output, batch_size, training=False,
                                            cache=cache)
      stop = [tf.keras.callbacks.TerminateOnNaN(),
              tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=int(hp["early_stopping_patience"]))]
      return model.fit(train_ds, steps_per_epoch=steps, validation_data=eval_ds, verbose=0,
                       epochs=kwargs.get("epochs", epochs), initial_epoch=kwargs.get("initial_epoch", 0),
                       callbacks=list(callbacks or []) + stop)

  return TaskHyperModel()


def tuner_fn(fn_args):
  """TFX Tuner entry point: the KerasTuner tuner and the arguments of its search."""
  import keras_tuner  # pylint: disable=g-import-not-at-top
  from tfx.components.tuner.component import TunerFnResult  # pylint: disable=g-import-not-at-top

  tf_setup.keras_tuner_on_tf_keras()
  config = dict(fn_args.custom_config or {})
  task = tasks.get_task(config.get("task", "image_cnn"))
  hp = task.hparams_from(config)
  tune = config.get("tune") or {}
  algorithm = tune.get("algorithm", "random")
  if algorithm not in names.TUNE_ALGORITHMS:
    raise ValueError(f"unknown tuning algorithm {algorithm!r}; choose one of {', '.join(names.TUNE_ALGORITHMS)}")
  max_trials, max_minutes = int(tune.get("trials", 10)), float(tune.get("max_minutes", 30))
  tf.keras.utils.set_random_seed(int(hp.get("seed", 42)))
  tf_transform_output = tft.TFTransformOutput(fn_args.transform_graph_path)
  num_classes = training.check_every_class_trained(tf_transform_output, config.get("num_classes"))
  dist = strategy.get_strategy(config.get("strategy", "auto"), config.get("tpu_address"))
  common = dict(hypermodel=make_hypermodel(task, hp, fn_args, tf_transform_output, num_classes,
                                           dist.num_replicas_in_sync),
                objective=keras_tuner.Objective(OBJECTIVE, direction="max"), distribution_strategy=dist,
                directory=fn_args.working_dir, project_name="modelfab", overwrite=True, seed=int(hp.get("seed", 42)))
  if algorithm == "hyperband":
    tuner_class, extra = keras_tuner.Hyperband, {"max_epochs": int(hp["epochs"]), "factor": 3,
                                                 "hyperband_iterations": 1}
  else:
    tuner_class = keras_tuner.RandomSearch if algorithm == "random" else keras_tuner.BayesianOptimization
    extra = {"max_trials": max_trials}
  tuner = _budgeted(tuner_class, max_trials, max_minutes)(**common, **extra)
  log_dir = os.environ.get(names.TUNER_LOG_DIR_ENV)
  callbacks = [tf.keras.callbacks.TensorBoard(log_dir=log_dir)] if log_dir else []
  return TunerFnResult(tuner=tuner, fit_kwargs={"callbacks": callbacks, "verbose": 0})
