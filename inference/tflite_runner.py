"""Runs a .tflite model's `serving_tensors` signature with the TFLite interpreter, in batches, from NumPy arrays."""
from __future__ import annotations

from typing import Dict

import numpy as np

from core import features

SIGNATURE = features.TENSORS_SIGNATURE


class TFLiteRunner:
  """`runner(inputs)`: dict of arrays [batch, ...] -> probabilities [batch, classes], float32."""

  def __init__(self, path: str, num_threads: int = 1):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    self.path = path
    self.interpreter = tf.lite.Interpreter(model_path=path, num_threads=num_threads)
    signatures = self.interpreter.get_signature_list()
    key = SIGNATURE if SIGNATURE in signatures else next(iter(signatures), None)
    if key is None:
      raise ValueError("the model has no signature")
    self.signature = self.interpreter.get_signature_runner(key)
    self.input_details = self.signature.get_input_details()  # name -> {shape, dtype, quantization_parameters}

  @property
  def input_specs(self) -> Dict[str, tuple]:
    """name -> (shape without the batch dimension, NumPy dtype)."""
    return {name: (tuple(int(d) for d in detail["shape"][1:]), detail["dtype"])
            for name, detail in self.input_details.items()}

  def __call__(self, inputs: Dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    count = len(next(iter(inputs.values())))
    chunks = []
    for start in range(0, count, batch_size):
      batch = {name: np.ascontiguousarray(inputs[name][start:start + batch_size], dtype=detail["dtype"])
               for name, detail in self.input_details.items()}
      outputs = self.signature(**batch)
      chunks.append(np.asarray(next(iter(outputs.values())), dtype=np.float32))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
