"""Differentially private training (DP-SGD) and its accounting, in one place.

DP-SGD (Abadi et al. 2016): each microbatch's gradient (one example's, by default) is clipped to an L2 norm of at
most `dp_l2_clip`, the clipped gradients are summed, Gaussian noise of standard deviation `dp_l2_clip x
dp_noise_multiplier` is added, and the sum is divided by the number of microbatches before the optimizer applies it.
The per-microbatch gradients come from a forward and backward pass per microbatch, vectorized with
`tf.vectorized_map`; TensorFlow Privacy itself does not import on TensorFlow 2.16 (docs/privacy.md), so the step is
written here and the numbers come from `dp-accounting`.

Accounting: the privacy spent after `steps` steps with sampling rate q = batch size / training examples and noise
multiplier z is the epsilon, at `dp_delta`, of `steps` compositions of a Poisson-sampled Gaussian mechanism, from
dp-accounting's RDP accountant (what TensorFlow Privacy's `compute_dp_sgd_privacy` reports). Batches are shuffled
fixed-size batches, the usual approximation of Poisson sampling in DP-SGD practice.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any, Dict, Optional

from core.errors import UsageError

HPARAMS = ("dp_noise_multiplier", "dp_l2_clip", "dp_microbatches", "dp_target_epsilon", "dp_delta")
MAX_NOISE_MULTIPLIER = 100.0  # the search for --dp-target-epsilon stops here: more noise leaves nothing to learn
RDP_ORDERS = None  # dp-accounting's default orders


def enabled(hp: Dict[str, Any]) -> bool:
  """Whether the hyperparameters ask for DP-SGD (a clip norm, with a noise multiplier or a target epsilon)."""
  return hp.get("dp_l2_clip") is not None


def default_delta(num_examples: int) -> float:
  """1/N rounded down to a power of ten (1,200 examples -> 1e-4)."""
  return 10.0 ** -math.ceil(math.log10(max(num_examples, 1)))


def epsilon(noise_multiplier: float, sampling_rate: float, steps: int, delta: float) -> float:
  """The epsilon at `delta` of `steps` DP-SGD steps (dp-accounting, RDP accountant); inf without noise."""
  import dp_accounting  # pylint: disable=g-import-not-at-top
  from dp_accounting import rdp  # pylint: disable=g-import-not-at-top

  if noise_multiplier <= 0:
    return math.inf
  if steps <= 0:
    return 0.0
  event = dp_accounting.SelfComposedDpEvent(
      dp_accounting.PoissonSampledDpEvent(min(sampling_rate, 1.0), dp_accounting.GaussianDpEvent(noise_multiplier)),
      int(steps))
  accountant = rdp.RdpAccountant() if RDP_ORDERS is None else rdp.RdpAccountant(RDP_ORDERS)
  accountant.compose(event)
  return float(accountant.get_epsilon(delta))


def noise_for_epsilon(target: float, sampling_rate: float, steps: int, delta: float) -> float:
  """The smallest noise multiplier (to 0.1%) whose epsilon after `steps` steps is at most `target`; UsageError
  naming --dp-target-epsilon when even MAX_NOISE_MULTIPLIER spends more."""
  if epsilon(MAX_NOISE_MULTIPLIER, sampling_rate, steps, delta) > target:
    raise UsageError(f"--dp-target-epsilon {target:g}: not reachable in {steps} steps (sampling rate "
                     f"{sampling_rate:.4g}, delta {delta:g}) even with a noise multiplier of {MAX_NOISE_MULTIPLIER:g}; "
                     "allow a larger epsilon, or train fewer epochs or with smaller batches")
  low, high = 0.0, MAX_NOISE_MULTIPLIER
  while high - low > 1e-3 * high:
    middle = (low + high) / 2
    if middle > 0 and epsilon(middle, sampling_rate, steps, delta) <= target:
      high = middle
    else:
      low = middle
  return high


def check_settings(hp: Dict[str, Any]) -> None:
  """UsageError naming the flag for DP settings that cannot work (before anything is written)."""
  noise, clip = hp.get("dp_noise_multiplier"), hp.get("dp_l2_clip")
  target, micro = hp.get("dp_target_epsilon"), hp.get("dp_microbatches")
  if not enabled(hp):
    given = [f"--{name.replace('_', '-')}" for name in HPARAMS if hp.get(name) is not None]
    if given:
      raise UsageError(f"{', '.join(given)} without --dp-l2-clip: DP-SGD needs a clip norm")
    return
  if clip <= 0:
    raise UsageError(f"--dp-l2-clip {clip:g}: the clip norm must be above 0")
  if (noise is None) == (target is None):
    raise UsageError("DP-SGD needs exactly one of --dp-noise-multiplier and --dp-target-epsilon")
  if noise is not None and noise < 0:
    raise UsageError(f"--dp-noise-multiplier {noise:g}: must be 0 or more")
  if target is not None and target <= 0:
    raise UsageError(f"--dp-target-epsilon {target:g}: must be above 0")
  delta = hp.get("dp_delta")
  if delta is not None and not 0 < delta < 1:
    raise UsageError(f"--dp-delta {delta:g}: must be between 0 and 1")
  batch = int(hp.get("batch_size") or 0)
  if micro is not None and (micro <= 0 or batch % int(micro)):
    raise UsageError(f"--dp-microbatches {micro}: must divide the batch size {batch}")


def check_combination(hp: Dict[str, Any], replicas: int, training_precision: str) -> None:
  """UsageError for what DP-SGD does not train with here: several replicas (each would add its own noise to a
  gradient that is then averaged: less noise than accounted for) and float16 (its loss scaling would scale the
  clip norm); the Tuner is refused with the settings (pipelines/config.py)."""
  if replicas > 1:
    raise UsageError(f"DP-SGD trains on one replica; this strategy has {replicas}: use --strategy default")
  if training_precision == "float16":
    raise UsageError("DP-SGD does not train in float16 (loss scaling would scale the clip norm): use --precision "
                     "float32 or bfloat16")


@dataclasses.dataclass(frozen=True)
class Plan:
  """What DP-SGD trains with: resolved before training from the settings and the data size."""
  noise_multiplier: float
  l2_clip: float
  microbatches: int
  delta: float
  sampling_rate: float
  planned_steps: int
  target_epsilon: Optional[float] = None


def plan(hp: Dict[str, Any], num_train: int, batch_size: int, planned_steps: int) -> Plan:
  """The DP-SGD settings for a run on `num_train` examples: the noise from --dp-target-epsilon when asked for."""
  check_settings({**hp, "batch_size": batch_size})
  delta = float(hp.get("dp_delta") or default_delta(num_train))
  sampling_rate = min(1.0, batch_size / max(num_train, 1))
  noise = hp.get("dp_noise_multiplier")
  target = hp.get("dp_target_epsilon")
  if target is not None:
    noise = noise_for_epsilon(float(target), sampling_rate, planned_steps, delta)
  return Plan(float(noise), float(hp["dp_l2_clip"]), int(hp.get("dp_microbatches") or batch_size), delta,
              sampling_rate, planned_steps, float(target) if target is not None else None)


def report(dp_plan: Plan, steps: int) -> Dict[str, Any]:
  """What a trained model records about its privacy: the settings, the real number of steps and the epsilon."""
  spent = epsilon(dp_plan.noise_multiplier, dp_plan.sampling_rate, steps, dp_plan.delta)
  return {"epsilon": spent, "delta": dp_plan.delta, "noise_multiplier": dp_plan.noise_multiplier,
          "l2_clip": dp_plan.l2_clip, "microbatches": dp_plan.microbatches, "sampling_rate": dp_plan.sampling_rate,
          "steps": int(steps), "target_epsilon": dp_plan.target_epsilon, "accountant": "RDP (dp-accounting)"}


def describe(privacy: Dict[str, Any]) -> str:
  """One line: 'epsilon 2.59 at delta 1e-05 (DP-SGD: noise 1.1, clip 1, 1,800 steps, sampling rate 0.0213)'."""
  return (f"epsilon {privacy['epsilon']:.3g} at delta {privacy['delta']:g} (DP-SGD: noise "
          f"{privacy['noise_multiplier']:.4g}, clip {privacy['l2_clip']:g}, {privacy['steps']:,} steps, sampling rate "
          f"{privacy['sampling_rate']:.4g}, {privacy['accountant']})")


def private_model(model, dp_plan: Plan):
  """`model` (functional, uncompiled) as a Keras model of the same layers whose `fit` steps are DP-SGD: clipped
  per-microbatch gradients plus Gaussian noise. Compile it as usual; the optimizer applies the noised gradients."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  class DPSGDModel(tf.keras.Model):
    """The functional model's graph with a DP-SGD `train_step`."""

    def train_step(self, data):
      x, y, _ = tf.keras.utils.unpack_x_y_sample_weight(data)
      micro = dp_plan.microbatches
      variables = self.trainable_variables

      def microbatch_gradient(batch):
        """The mean loss's gradient and the predictions of one microbatch: its own forward and backward pass."""
        features_batch, labels = batch
        with tf.GradientTape() as tape:
          predictions = self(features_batch, training=True)
          loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(labels, predictions))
          if self.losses:  # regularization
            loss += tf.add_n(self.losses)
        gradients = tape.gradient(loss, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return [tf.cast(g, tf.float32) for g in gradients], predictions

      split = lambda t: tf.reshape(t, tf.concat([[micro, -1], tf.shape(t)[1:]], axis=0))
      # One pass per microbatch, vectorized: the cost grows with the batch, not with its square (a jacobian of the
      # microbatch losses back through the whole batch costs microbatches x batch).
      per_microbatch, predictions = tf.vectorized_map(
          microbatch_gradient, (tf.nest.map_structure(split, x), split(y)))
      squared = tf.add_n([tf.reduce_sum(tf.reshape(g, [micro, -1]) ** 2, axis=1) for g in per_microbatch])
      scale = tf.minimum(1.0, dp_plan.l2_clip / tf.maximum(tf.sqrt(squared), 1e-12))  # each microbatch's clip
      gradients = []
      for g, variable in zip(per_microbatch, variables):
        clipped = tf.tensordot(scale, g, axes=1)  # the sum over microbatches of scale x gradient
        noise = tf.random.normal(tf.shape(clipped), stddev=dp_plan.l2_clip * dp_plan.noise_multiplier)
        gradients.append(tf.cast((clipped + noise) / micro, variable.dtype))
      self.optimizer.apply_gradients(zip(gradients, variables))
      y_pred = tf.reshape(predictions, tf.concat([[-1], tf.shape(predictions)[2:]], axis=0))
      self.compute_loss(x, y, y_pred)  # the running loss Keras reports (no gradient taken from it)
      return self.compute_metrics(x, y, y_pred, None)

  return DPSGDModel(inputs=model.inputs, outputs=model.outputs, name=model.name)


MEMBERSHIP_EXAMPLES = 1000  # train and eval examples each that the membership-inference attack scores


def membership_auc(member_losses, non_member_losses) -> float:
  """The ROC AUC of the loss-threshold attack: the chance that a random training example (member) has a lower loss
  than a random held-out one (ties count half). 0.5: the model does not tell them apart."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  from scipy import stats  # pylint: disable=g-import-not-at-top

  members, others = np.asarray(member_losses, float), np.asarray(non_member_losses, float)
  ranks = stats.rankdata(np.concatenate([-members, -others]))  # a lower loss ranks as "more likely a member"
  return float((ranks[:len(members)].sum() - len(members) * (len(members) + 1) / 2) / (len(members) * len(others)))


def membership_inference(model, train_dataset, eval_dataset, limit: int = MEMBERSHIP_EXAMPLES) -> Dict[str, Any]:
  """The loss-threshold membership-inference attack (Yeom et al. 2018) on up to `limit` training and as many eval
  examples: their per-example losses under `model`, the attack's AUC, and its best accuracy on balanced sets.
  The datasets yield (features, label) batches in order, without augmentation."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def losses(dataset):
    values = []
    for features_batch, labels in dataset:
      probabilities = model(features_batch, training=False)
      values.extend(tf.keras.losses.sparse_categorical_crossentropy(labels, probabilities).numpy().tolist())
      if len(values) >= limit:
        break
    return np.asarray(values[:limit])

  members, others = losses(train_dataset), losses(eval_dataset)
  count = min(len(members), len(others))
  members, others = members[:count], others[:count]
  if count == 0:
    return {"auc": None, "examples": 0, "attack": "loss threshold"}
  thresholds = np.concatenate([members, others])
  best = max(((members <= t).sum() + (others > t).sum()) / (2 * count) for t in thresholds)
  return {"auc": membership_auc(members, others), "attack_accuracy": float(best), "examples": int(count),
          "attack": "loss threshold", "train_loss": float(members.mean()), "eval_loss": float(others.mean())}


def describe_membership(result: Dict[str, Any]) -> str:
  """'AUC 0.53 (loss-threshold attack on 500 train vs 500 eval examples; 0.5 = chance)'."""
  if result.get("auc") is None:
    return "not measured (no examples)"
  return (f"AUC {result['auc']:.3f} (loss-threshold attack on {result['examples']} train vs {result['examples']} "
          f"eval examples; 0.5 = chance, best attack accuracy {result['attack_accuracy']:.3f})")
