"""The precision choice: what `auto` picks on each kind of hardware, refusals, the Keras policy and the float32
copy that is exported after mixed-precision training."""
import numpy as np
import pytest
import tensorflow as tf

from core.errors import UsageError
from models import precision

PLAIN_CPU = {"avx2", "fma"}
AMX_CPU = {"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"}


@pytest.mark.parametrize("requested, flags, gpus, tpu, expected, reason", [
    ("auto", AMX_CPU, [], False, "bfloat16", "natively (amx_bf16, avx512_bf16)"),
    ("auto", {"avx512_bf16"}, [], False, "bfloat16", "natively (avx512_bf16)"),
    ("auto", PLAIN_CPU, [], False, "float32", "no native bfloat16"),
    ("auto", PLAIN_CPU, [(9, 0)], False, "float16", "tensor cores (compute capability 9.0)"),
    ("auto", AMX_CPU, [(6, 1)], False, "float32", "no tensor cores"),  # the GPU trains, not the CPU
    ("auto", PLAIN_CPU, [], True, "bfloat16", "TPU"),
    (None, PLAIN_CPU, [], False, "float32", "auto: "),
    ("float32", AMX_CPU, [(9, 0)], False, "float32", "asked for"),
    ("float16", PLAIN_CPU, [(7, 0)], False, "float16", "scales the loss"),
    ("bfloat16", AMX_CPU, [], False, "bfloat16", "asked for"),
])
def test_auto_picks_what_the_hardware_runs_natively(requested, flags, gpus, tpu, expected, reason):
  choice = precision.choose(requested, flags=flags, gpus=gpus, tpu=tpu)
  assert choice.precision == expected and reason in choice.reason and not choice.warning
  assert choice.keras_policy == {"float32": "float32", "bfloat16": "mixed_bfloat16",
                                 "float16": "mixed_float16"}[expected]


def test_bfloat16_without_native_support_is_allowed_with_a_warning():
  choice = precision.choose("bfloat16", flags=PLAIN_CPU, gpus=[])
  assert choice.precision == "bfloat16" and "emulated" in choice.warning and "amx_bf16" in choice.warning


def test_float16_without_a_gpu_and_unknown_values_are_usage_errors():
  with pytest.raises(UsageError, match="float16 needs a GPU"):
    precision.choose("float16", flags=AMX_CPU, gpus=[])
  with pytest.raises(UsageError, match="unknown precision 'half'; choose one of auto, float32, bfloat16, float16"):
    precision.choose("half", flags=PLAIN_CPU, gpus=[])


def test_cpu_flags_come_from_cpuinfo_and_auto_follows_this_machine(tmp_path):
  cpuinfo = tmp_path / "cpuinfo"
  cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\nflags\t\t: fpu avx2 amx_bf16\n")
  assert precision.cpu_flags(str(cpuinfo)) == {"fpu", "avx2", "amx_bf16"}
  assert precision.cpu_flags(str(tmp_path / "absent")) == frozenset()
  here = precision.choose("auto", gpus=[])  # the real /proc/cpuinfo
  native = bool(set(precision.BFLOAT16_CPU_FLAGS) & precision.cpu_flags())
  assert here.precision == ("bfloat16" if native else "float32")


def _model():
  inputs = tf.keras.Input((4,))
  hidden = tf.keras.layers.Dense(8, activation="relu")(inputs)
  return tf.keras.Model(inputs, tf.keras.layers.Dense(3, activation="softmax", dtype="float32")(hidden))


def test_keras_policy_is_set_for_the_build_and_restored_after():
  before = tf.keras.mixed_precision.global_policy().name
  with pytest.raises(RuntimeError):
    with precision.keras_policy(precision.Choice("bfloat16", "test")):
      model = _model()
      raise RuntimeError("a failing build")
  assert tf.keras.mixed_precision.global_policy().name == before
  assert model.layers[1].compute_dtype == "bfloat16" and model.layers[1].variable_dtype == "float32"
  assert model.layers[2].compute_dtype == "float32"  # the softmax stays float32


def test_float32_copy_has_the_weights_and_computes_in_float32():
  with precision.keras_policy(precision.Choice("bfloat16", "test")):
    mixed = _model()
  x = np.random.default_rng(0).normal(size=(16, 4)).astype("float32")
  copy = precision.float32_copy(_model, mixed)
  assert {layer.compute_dtype for layer in copy.layers[1:]} == {"float32"}
  for a, b in zip(copy.get_weights(), mixed.get_weights()):
    np.testing.assert_array_equal(a, b)
  np.testing.assert_allclose(copy(x).numpy(), mixed(x).numpy(), atol=0.02)  # bfloat16 keeps 8 bits of mantissa
  assert (copy(x).numpy().argmax(1) == mixed(x).numpy().argmax(1)).mean() >= 0.9
  with pytest.raises(ValueError, match="other weights"):
    precision.float32_copy(lambda: tf.keras.Sequential([tf.keras.Input((4,)), tf.keras.layers.Dense(3)]), mixed)
