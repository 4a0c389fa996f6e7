"""DP-SGD (models/privacy.py): the clipped, noised step; the accounting against dp-accounting; the settings' errors;
the membership-inference attack's AUC."""
import dp_accounting
import numpy as np
import pytest
import tensorflow as tf
from dp_accounting import pld

from core.errors import UsageError
from models import privacy


@pytest.mark.parametrize("count, delta", [(100, 1e-2), (1000, 1e-3), (1200, 1e-4), (1797, 1e-4), (60000, 1e-5)])
def test_default_delta_is_one_over_n_rounded_down_to_a_power_of_ten(count, delta):
  assert privacy.default_delta(count) == pytest.approx(delta)


def test_epsilon_agrees_with_dp_accounting_s_other_accountant():
  """The RDP figure modelfab reports against dp-accounting's PLD accountant on the same event: RDP is an upper
  bound, a little looser (here about 10%)."""
  rdp = privacy.epsilon(1.1, 256 / 60000, 14040, 1e-5)
  accountant = pld.PLDAccountant()
  accountant.compose(dp_accounting.SelfComposedDpEvent(
      dp_accounting.PoissonSampledDpEvent(256 / 60000, dp_accounting.GaussianDpEvent(1.1)), 14040))
  assert accountant.get_epsilon(1e-5) <= rdp <= 1.15 * accountant.get_epsilon(1e-5)
  assert 2.5 < rdp < 3.5  # the figure TensorFlow Privacy's tutorial reports for these settings: about 3
  assert privacy.epsilon(0.0, 0.01, 100, 1e-5) == float("inf")
  assert privacy.epsilon(2.0, 0.01, 200, 1e-5) < privacy.epsilon(2.0, 0.01, 400, 1e-5)


def test_the_noise_for_a_target_epsilon_is_the_smallest_that_reaches_it():
  noise = privacy.noise_for_epsilon(2.0, 0.02, 1000, 1e-4)
  assert privacy.epsilon(noise, 0.02, 1000, 1e-4) <= 2.0 < privacy.epsilon(noise * 0.99, 0.02, 1000, 1e-4)
  with pytest.raises(UsageError, match="--dp-target-epsilon 0.001: not reachable in 1000 steps"):
    privacy.noise_for_epsilon(0.001, 0.5, 1000, 1e-4)


@pytest.mark.parametrize("hp, message", [
    ({"dp_l2_clip": 1.0, "dp_noise_multiplier": -0.5}, "--dp-noise-multiplier -0.5: must be 0 or more"),
    ({"dp_l2_clip": 0.0, "dp_noise_multiplier": 1.0}, "--dp-l2-clip 0: the clip norm must be above 0"),
    ({"dp_l2_clip": 1.0, "dp_noise_multiplier": 1.0, "dp_microbatches": 5}, "--dp-microbatches 5: must divide"),
    ({"dp_l2_clip": 1.0}, "exactly one of --dp-noise-multiplier and --dp-target-epsilon"),
    ({"dp_l2_clip": 1.0, "dp_noise_multiplier": 1.0, "dp_target_epsilon": 3.0}, "exactly one of"),
    ({"dp_noise_multiplier": 1.0}, "--dp-noise-multiplier without --dp-l2-clip"),
    ({"dp_l2_clip": 1.0, "dp_noise_multiplier": 1.0, "dp_delta": 1.5}, "--dp-delta 1.5"),
])
def test_settings_that_cannot_work_name_the_flag(hp, message):
  with pytest.raises(UsageError, match=message.replace("(", r"\(")):
    privacy.check_settings({"batch_size": 32, **hp})


def test_several_replicas_and_float16_are_refused():
  with pytest.raises(UsageError, match="one replica; this strategy has 2"):
    privacy.check_combination({}, 2, "float32")
  with pytest.raises(UsageError, match="float16"):
    privacy.check_combination({}, 1, "float16")
  privacy.check_combination({}, 1, "bfloat16")


def _linear_model():
  inputs = tf.keras.Input((3,))
  outputs = tf.keras.layers.Dense(2, activation="softmax", kernel_initializer="zeros")(inputs)
  return tf.keras.Model(inputs, outputs)


def _one_step(plan, x, y):
  """The weights change of one plain-SGD (learning rate 1) step of the DP model."""
  model = privacy.private_model(_linear_model(), plan)
  model.compile(tf.keras.optimizers.SGD(1.0), tf.keras.losses.SparseCategoricalCrossentropy())
  before = [v.numpy().copy() for v in model.trainable_variables]
  model.fit(x, y, batch_size=len(x), epochs=1, verbose=0, shuffle=False)
  return [after.numpy() - b for after, b in zip(model.trainable_variables, before)]


def _plan(noise, clip, microbatches):
  return privacy.Plan(noise, clip, microbatches, 1e-5, 0.1, 1)


def test_without_noise_and_with_a_loose_clip_the_step_is_plain_sgd():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(8, 3)).astype("float32"), np.array([0, 1] * 4)
  plain = _linear_model()
  with tf.GradientTape() as tape:
    loss = tf.reduce_mean(tf.keras.losses.sparse_categorical_crossentropy(y, plain(x)))
  expected = [-g.numpy() for g in tape.gradient(loss, plain.trainable_variables)]
  for change, want in zip(_one_step(_plan(0.0, 1e6, 8), x, y), expected):
    np.testing.assert_allclose(change, want, rtol=1e-4, atol=1e-6)


def test_each_example_s_gradient_is_clipped_and_noise_is_added():
  x, y = np.full((4, 3), 100.0, "float32"), np.zeros(4, "int64")  # 4 equal examples, each gradient norm >> 0.01
  change = _one_step(_plan(0.0, 0.01, 4), x, y)
  norm = np.sqrt(sum((c ** 2).sum() for c in change))
  assert norm == pytest.approx(0.01, rel=1e-4)  # the mean of 4 equal gradients clipped to 0.01 each
  rng = np.random.default_rng(1)
  x, y = 100 * rng.normal(size=(4, 3)).astype("float32"), np.array([0, 1, 0, 1])
  change = _one_step(_plan(0.0, 0.01, 4), x, y)
  assert np.sqrt(sum((c ** 2).sum() for c in change)) <= 0.01 + 1e-6
  noisy = _one_step(_plan(10.0, 0.01, 4), x, y)
  noise_norm = np.sqrt(sum(((n - c) ** 2).sum() for n, c in zip(noisy, change)))
  assert noise_norm > 10 * 0.01 / 4  # standard deviation noise x clip / microbatches, on 8 numbers


def test_the_membership_attack_auc():
  assert privacy.membership_auc([0.1, 0.2, 0.3], [0.5, 0.6, 0.7]) == 1.0  # members have the lower losses
  assert privacy.membership_auc([0.5, 0.6], [0.1, 0.2]) == 0.0
  assert privacy.membership_auc([0.3, 0.3], [0.3, 0.3]) == 0.5
  rng = np.random.default_rng(0)
  assert abs(privacy.membership_auc(rng.random(2000), rng.random(2000)) - 0.5) < 0.03


def test_the_attack_on_a_model_that_memorized_its_training_set():
  rng = np.random.default_rng(0)
  x = rng.normal(size=(64, 20)).astype("float32")
  y = rng.integers(0, 2, 64)  # random labels: only memorizing fits them
  model = tf.keras.Sequential([tf.keras.Input((20,)), tf.keras.layers.Dense(256, activation="relu"),
                               tf.keras.layers.Dense(2, activation="softmax")])
  model.compile(tf.keras.optimizers.Adam(1e-2), tf.keras.losses.SparseCategoricalCrossentropy())
  model.fit(x[:32], y[:32], epochs=200, verbose=0)
  dataset = lambda a, b: tf.data.Dataset.from_tensor_slices((a, b)).batch(8)
  result = privacy.membership_inference(model, dataset(x[:32], y[:32]), dataset(x[32:], y[32:]))
  assert result["examples"] == 32 and result["auc"] > 0.9 and result["attack_accuracy"] > 0.8
  assert "AUC" in privacy.describe_membership(result)
