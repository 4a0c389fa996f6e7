"""What the Trainer (models/trainer.py) and the Tuner (models/tuner.py) share, as TFX's penguin example shares
`penguin_utils_base.py`: the optimizer, the compiled model, the class check, and hyperparameters from a search.
Neither of them imports the other."""
from __future__ import annotations

from typing import Any, Dict, List, Optional

import tensorflow as tf
import tensorflow_transform as tft
from absl import logging

from core import features
from core.errors import DataError
from models import precision, privacy, pruning, tf_setup  # noqa: F401  # pylint: disable=unused-import  # tf_setup: first


def learning_rate_schedule(hp: Dict[str, Any], total_steps: int) -> tf.keras.optimizers.schedules.LearningRateSchedule:
  """Cosine decay from `learning_rate` to 1% of it over the whole run."""
  return tf.keras.optimizers.schedules.CosineDecay(float(hp["learning_rate"]), max(total_steps, 1), alpha=0.01)


def make_optimizer(hp: Dict[str, Any], total_steps: int) -> tf.keras.optimizers.Optimizer:
  """Adam on the cosine schedule (the default for tasks without their own `make_optimizer`)."""
  return tf.keras.optimizers.Adam(learning_rate_schedule(hp, total_steps))


def check_every_class_trained(tf_transform_output: tft.TFTransformOutput, expected_classes: Optional[int]) -> int:
  """The number of classes in the training split; DataError when the data has classes that are not in it."""
  num_classes = tf_transform_output.vocabulary_size_by_name(features.LABEL_VOCABULARY)
  if expected_classes and num_classes < expected_classes:
    trained = sorted(v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)
                     for v in tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY))
    raise DataError(f"only {num_classes} of the {expected_classes} classes have training examples ({trained}); "
                    "the examples of the others all fell into the eval split. Add examples to them or lower "
                    "--eval-percent")
  return num_classes


def compiled_model(task, hp: Dict[str, Any], num_classes: int, steps_per_epoch: int, epochs: int,
                   choice: precision.Choice, dp_plan: Optional[privacy.Plan] = None):
  """The task's model (pruned when asked) in the precision `choice`, compiled with its optimizer, the loss and
  accuracy; build it in the strategy's scope. With `dp_plan`, its training steps are DP-SGD (models.privacy).
  Shared by the Trainer and the Tuner's trials."""
  with precision.keras_policy(choice):  # layers keep the policy they were built under
    model = task.build_model(hp, num_classes)
    if hp.get("prune_sparsity"):
      model = pruning.prune(model, float(hp["prune_sparsity"]), steps_per_epoch, epochs)
    if dp_plan is not None:
      model = privacy.private_model(model, dp_plan)
  optimizer = getattr(task, "make_optimizer", make_optimizer)(hp, steps_per_epoch * epochs)
  model.compile(optimizer=optimizer, loss=tf.keras.losses.SparseCategoricalCrossentropy(),
                metrics=[tf.keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
  return model


def precision_choice(hp: Dict[str, Any]) -> precision.Choice:
  """The precision the hyperparameters ask for (auto when unset), chosen for this machine; warns when it is slow."""
  choice = precision.choose(hp.get("precision"))
  if choice.warning:
    logging.warning("precision %s: %s", choice.precision, choice.warning)
  return choice


def trial_hparams(task, hp: Dict[str, Any], space) -> Dict[str, Any]:
  """`hp` with the task's searched hyperparameters taken from `space` (a keras_tuner.HyperParameters)."""
  return {**hp, **task.search_space(space, hp)}


def hparams_with_best(task, hp: Dict[str, Any], best_config: Dict[str, Any]) -> Dict[str, Any]:
  """`hp` with the values of a Tuner's best_hyperparameters config applied."""
  import keras_tuner  # pylint: disable=g-import-not-at-top

  return trial_hparams(task, hp, keras_tuner.HyperParameters.from_config(best_config))


def warm_start(model: tf.keras.Model, saved_model_dir: str, labels: Optional[List[str]] = None) -> int:
  """Sets `model`'s weights to those of the pushed SavedModel at `saved_model_dir` (modelfab's export keeps the
  model's variables, in order, as its `variables`); returns how many were set. WarmStartError naming the first
  variable that differs when the architectures do not match.

  labels: this run's class names by class id. Transform numbers classes by frequency, so the same classes may have
  other ids on new data: the output layer's columns are then reordered to follow the names (the saved model's
  labels are in its metadata)."""
  from core import model_files  # pylint: disable=g-import-not-at-top
  from core.errors import WarmStartError  # pylint: disable=g-import-not-at-top

  try:
    saved = tf.saved_model.load(saved_model_dir).variables
  except (OSError, ValueError, AttributeError, tf.errors.OpError) as e:
    raise WarmStartError(f"--warm-start: cannot read the weights of {saved_model_dir} ({e})") from e
  own = model.variables
  if len(saved) != len(own):
    raise WarmStartError(f"--warm-start: the model at {saved_model_dir} has {len(saved)} variables, this one "
                         f"{len(own)}: not the same architecture (change the settings back, or train without "
                         "--warm-start)")
  for mine, theirs in zip(own, saved):
    if mine.shape != theirs.shape or _base_name(mine) != _base_name(theirs):
      raise WarmStartError(f"--warm-start: variable {_base_name(mine)} {mine.shape} does not match "
                           f"{_base_name(theirs)} {theirs.shape} of {saved_model_dir}: not the same architecture")
  order = None
  saved_labels = model_files.read_metadata(saved_model_dir).labels
  if labels is not None and saved_labels and list(labels) != list(saved_labels):
    if sorted(labels) != sorted(saved_labels):
      raise WarmStartError(f"--warm-start: {saved_model_dir} was trained on classes {sorted(saved_labels)}, this "
                           f"data has {sorted(labels)}")
    order = [saved_labels.index(label) for label in labels]
  output_weights = {id(w) for w in model.layers[-1].weights}
  for mine, theirs in zip(own, saved):
    value = tf.cast(theirs, mine.dtype)
    if order is not None and id(mine) in output_weights:
      value = tf.gather(value, order, axis=-1)  # column i: the class this run calls i
    mine.assign(value)
  return len(own)


def _base_name(variable) -> str:
  """`conv2d_1/kernel:0` -> `kernel`: layer names get numbered by how many models the process built."""
  return variable.name.split("/")[-1].split(":")[0]
