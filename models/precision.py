"""The one place the training precision is chosen, from a single string, as models.strategy chooses the strategy.

`auto` picks what the hardware runs natively: bfloat16 on CPUs with AMX or AVX512-BF16 (and on TPUs), float16 with
loss scaling on GPUs with tensor cores (compute capability 7.0 or newer), float32 elsewhere. Under bfloat16 and
float16, Keras' mixed policies keep the variables, the softmax and the loss in float32; the exported model is a
float32 copy (`float32_copy`), so its signatures, the Evaluator, the Quantizer and serving see what they always saw.
"""
from __future__ import annotations

import contextlib
import dataclasses
from typing import Callable, Iterable, Optional, Sequence

from core import names
from core.errors import UsageError

KERAS_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
BFLOAT16_CPU_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bfloat16 arithmetic
TENSOR_CORE_CAPABILITY = (7, 0)  # GPUs from here on gain from float16 (Volta and newer)
BFLOAT16_GPU_CAPABILITY = (8, 0)  # and compute in bfloat16 natively from here on (Ampere and newer)
# Measured on a 2-core AMD EPYC without either flag (benchmarks/RESULTS.md, "Training precision"): CIFAR-size CNNs
# trained 6-10x slower under mixed_bfloat16 than in float32, MiniLM 12% slower: every bfloat16 operation is emulated.
EMULATED_BFLOAT16_SLOWDOWN = "6-10x slower than float32 for a CNN on such a CPU (measured)"


@dataclasses.dataclass(frozen=True)
class Choice:
  """The precision a run trains in and why: `precision` is one of names.PRECISIONS other than auto."""
  precision: str
  reason: str
  warning: str = ""  # set when the choice will be slow on this hardware (an explicit bfloat16 on a plain CPU)

  @property
  def keras_policy(self) -> str:
    return KERAS_POLICIES[self.precision]

  @property
  def mixed(self) -> bool:
    return self.precision != "float32"


def cpu_flags(cpuinfo: str = "/proc/cpuinfo") -> frozenset:
  """The CPU's feature flags (Linux); empty where /proc/cpuinfo cannot be read."""
  try:
    with open(cpuinfo, encoding="utf-8") as f:
      for line in f:
        if line.startswith("flags"):
          return frozenset(line.split(":", 1)[1].split())
  except OSError:
    pass
  return frozenset()


def gpu_capabilities() -> list:
  """(major, minor) compute capability of each local GPU TensorFlow sees."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  found = []
  for gpu in tf.config.list_physical_devices("GPU"):
    capability = tf.config.experimental.get_device_details(gpu).get("compute_capability")
    found.append(tuple(capability) if capability else (0, 0))
  return found


def choose(requested: Optional[str], flags: Optional[Iterable[str]] = None,
           gpus: Optional[Sequence[tuple]] = None, tpu: bool = False) -> Choice:
  """The precision for `requested` (auto when None) on this hardware: `flags` (CPU flags), `gpus` (compute
  capabilities) and `tpu` describe it; the first two are read from the machine when not given.

  UsageError for an unknown value, and for float16 without a GPU (CPUs have no fast float16 arithmetic).
  """
  requested = (requested or "auto").lower()
  if requested not in names.PRECISIONS:
    raise UsageError(f"unknown precision {requested!r}; choose one of {', '.join(names.PRECISIONS)}")
  flags = cpu_flags() if flags is None else frozenset(flags)
  gpus = gpu_capabilities() if gpus is None else list(gpus)
  native_bf16 = sorted(set(BFLOAT16_CPU_FLAGS) & flags)
  tensor_core_gpus = [c for c in gpus if tuple(c) >= TENSOR_CORE_CAPABILITY]
  if requested == "float32":
    return Choice("float32", "asked for")
  if requested == "float16":
    if not gpus:
      raise UsageError("--precision float16 needs a GPU: CPUs have no fast float16 arithmetic (use bfloat16 on "
                       "CPUs with AMX or AVX512-BF16, or float32)")
    return Choice("float16", "asked for; Keras scales the loss")
  if requested == "bfloat16":
    if native_bf16 or tpu or any(tuple(c) >= BFLOAT16_GPU_CAPABILITY for c in gpus):
      return Choice("bfloat16", "asked for")
    return Choice("bfloat16", "asked for", warning=(
        "no native bfloat16 here (no GPU of compute capability 8.0+, and this CPU lacks "
        f"{' and '.join(BFLOAT16_CPU_FLAGS)}): bfloat16 training is emulated, {EMULATED_BFLOAT16_SLOWDOWN}"))
  if tpu:
    return Choice("bfloat16", "auto: a TPU computes in bfloat16 natively")
  if tensor_core_gpus:
    major, minor = tensor_core_gpus[0]
    return Choice("float16", f"auto: a GPU with tensor cores (compute capability {major}.{minor}); Keras scales "
                             "the loss")
  if gpus:
    return Choice("float32", "auto: the GPU has no tensor cores (compute capability below 7.0)")
  if native_bf16:
    return Choice("bfloat16", f"auto: the CPU computes in bfloat16 natively ({', '.join(native_bf16)})")
  return Choice("float32", f"auto: the CPU has no native bfloat16 ({' or '.join(BFLOAT16_CPU_FLAGS)})")


@contextlib.contextmanager
def keras_policy(choice: Choice):
  """Sets Keras' global dtype policy for `choice` (models built inside use it) and restores the previous one."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  previous = tf.keras.mixed_precision.global_policy()
  tf.keras.mixed_precision.set_global_policy(choice.keras_policy)
  try:
    yield
  finally:
    tf.keras.mixed_precision.set_global_policy(previous)


def float32_copy(build: Callable[[], "tf.keras.Model"], model) -> "tf.keras.Model":  # noqa: F821
  """The same network built by `build` under the float32 policy, with `model`'s weights: what is exported after
  mixed-precision training (the variables were float32 all along, so nothing is rounded)."""
  with keras_policy(Choice("float32", "export")):
    copy = build()
  trained = model.get_weights()
  if [w.shape for w in copy.get_weights()] != [w.shape for w in trained]:
    raise ValueError(f"the float32 copy of {model.name} has other weights than the trained model")
  copy.set_weights(trained)
  return copy
