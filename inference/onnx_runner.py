"""Runs a model.onnx (the `serving_tensors` signature converted by inference/onnx_export.py) with onnxruntime, in
batches, from NumPy arrays: the same interface as TFLiteRunner, so `modelfab predict` takes either file."""
from __future__ import annotations

from typing import Dict

import numpy as np

_DTYPES = {"tensor(uint8)": np.uint8, "tensor(int32)": np.int32, "tensor(int64)": np.int64,
           "tensor(float)": np.float32}


class OnnxRunner:
  """`runner(inputs)`: dict of arrays [batch, ...] -> probabilities [batch, classes], float32."""

  def __init__(self, path: str, num_threads: int = 1):
    import onnxruntime  # pylint: disable=g-import-not-at-top

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = num_threads
    options.log_severity_level = 3
    self.path = path
    self.session = onnxruntime.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    self.inputs = {i.name: i for i in self.session.get_inputs()}

  @property
  def input_specs(self) -> Dict[str, tuple]:
    """name -> (shape without the batch dimension, NumPy dtype)."""
    return {name: (tuple(int(d) for d in i.shape[1:]), _DTYPES[i.type]) for name, i in self.inputs.items()}

  def __call__(self, inputs: Dict[str, np.ndarray], batch_size: int = 64) -> np.ndarray:
    count = len(next(iter(inputs.values())))
    specs = self.input_specs
    chunks = []
    for start in range(0, count, batch_size):
      feed = {name: np.ascontiguousarray(inputs[name][start:start + batch_size], dtype=specs[name][1])
              for name in self.inputs}
      chunks.append(np.asarray(self.session.run(None, feed)[0], dtype=np.float32))
    return np.concatenate(chunks) if chunks else np.zeros((0, 0), np.float32)
