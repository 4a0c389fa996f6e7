"""Magnitude pruning while training (tensorflow-model-optimization), for the tasks that allow it.

The Trainer wraps the kernels of every Conv2D and Dense layer with `prune_low_magnitude`. Sparsity follows a
polynomial schedule from 0 to the target over the first `PRUNE_SHARE` of the epochs and stays at the target for the
rest (fine-tuning with the mask fixed); early stopping only counts from then on, so the kept weights are always
fully pruned. `strip` removes the wrappers before export: the SavedModel holds plain layers with zeroed kernels.
"""
from __future__ import annotations

import math
from typing import Dict, List

import numpy as np
import tensorflow as tf

from models import tf_setup  # noqa: F401  # pylint: disable=unused-import  # before any Keras use

PRUNE_SHARE = 2 / 3  # of the epochs spent raising the sparsity; the rest fine-tune at the target
PRUNED_LAYER_TYPES = (tf.keras.layers.Conv2D, tf.keras.layers.Dense)


def pruning_epochs(epochs: int) -> int:
  """The epoch by whose end the target sparsity is reached (at least 1)."""
  return max(1, math.ceil(epochs * PRUNE_SHARE))


def prune(model: tf.keras.Model, sparsity: float, steps_per_epoch: int, epochs: int) -> tf.keras.Model:
  """A copy of functional `model` whose Conv2D/Dense kernels are pruned to `sparsity` while training.

  Build it in the strategy's scope, like the model itself.
  """
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top

  end_step = max(1, pruning_epochs(epochs) * steps_per_epoch)
  schedule = tfmot.sparsity.keras.PolynomialDecay(
      initial_sparsity=0.0, final_sparsity=float(sparsity), begin_step=0, end_step=end_step,
      frequency=max(1, min(100, end_step // 20)))

  def wrap(layer):
    if isinstance(layer, PRUNED_LAYER_TYPES):
      # The wrapper computes in its layer's dtype policy (float32 for a float32 softmax under mixed precision).
      return tfmot.sparsity.keras.prune_low_magnitude(layer, pruning_schedule=schedule, dtype=layer.dtype_policy)
    return layer.__class__.from_config(layer.get_config())

  return tf.keras.models.clone_model(model, clone_function=wrap)


def callbacks() -> List[tf.keras.callbacks.Callback]:
  """The callback that advances the pruning step (required while training a pruned model)."""
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top

  return [tfmot.sparsity.keras.UpdatePruningStep()]


def strip(model: tf.keras.Model) -> tf.keras.Model:
  """The model without pruning wrappers (same weights, zeros kept), ready to export."""
  import tensorflow_model_optimization as tfmot  # pylint: disable=g-import-not-at-top

  return tfmot.sparsity.keras.strip_pruning(model)


def kernel_sparsity(model: tf.keras.Model) -> Dict[str, float]:
  """Share of exact zeros in each Conv2D/Dense kernel of `model`, by layer name."""
  return {layer.name: float(np.mean(layer.kernel.numpy() == 0)) for layer in model.layers
          if isinstance(layer, PRUNED_LAYER_TYPES)}


def overall_sparsity(variables) -> float:
  """Share of exact zeros over the given kernels (arrays or variables) together."""
  arrays = [np.asarray(v) for v in variables]
  total = sum(a.size for a in arrays)
  return float(sum(np.count_nonzero(a == 0) for a in arrays) / total) if total else 0.0
