"""What every explanation shares, whatever the input: the explainable model (a pushed SavedModel with its explain
signatures), integrated gradients over any input tensor, its completeness error, and the deletion check's points
and areas. The image (inference/explain.py) and text (inference/explain_text.py) explanations build on it.

Integrated gradients (Sundararajan et al., 2017) averages the gradient of the explained class's score along the
straight path from a baseline to the input and multiplies by (input - baseline); the attributions then sum to
f(input) - f(baseline) up to the integration error (`completeness_error`, relative).
"""
from __future__ import annotations

import dataclasses
import os
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from core import features
from core.errors import ModelError, UsageError

INTEGRATED_GRADIENTS, XRAI, GRAD_CAM = "integrated-gradients", "xrai", "grad-cam"
METHODS = (INTEGRATED_GRADIENTS, XRAI, GRAD_CAM)
# Methods that need an image CNN: XRAI segments the image, Grad-CAM reads the last convolution.
IMAGE_METHODS = (XRAI, GRAD_CAM)
DEFAULT_STEPS = 64
DELETION_POINTS = 10  # the deletion curve: the probability after removing 0%, 10%, ... 100% of the pixels or words


@dataclasses.dataclass
class Explainable:
  """A loaded SavedModel that can be explained: its modality (image or text), labels and signatures; for images,
  the input grid."""
  path: str
  labels: List[str]
  modality: str
  model: object  # the tf.saved_model.load result (its signatures hold the functions used here)
  size: int = 0
  channels: int = 0

  def label(self, index: int) -> str:
    return self.labels[index] if index < len(self.labels) else str(index)

  def probabilities(self, pixels):
    """[N, H, W, C] float32 pixels (0-255) -> [N, classes] probabilities, differentiable."""
    return self.model.signatures[features.EXPLAIN_SIGNATURE](pixels=pixels)[features.PROBABILITIES]

  def tensors(self, raw: Sequence[bytes]) -> Dict[str, np.ndarray]:
    """Raw inputs (encoded images or UTF-8 texts) -> the decoded tensors serving computes from them (pixels; token
    ids, mask and segment ids), by the model's own `examples_to_tensors`."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from inference import predict  # pylint: disable=g-import-not-at-top

    examples = tf.constant(predict.serialized_examples([{self.modality: r} for r in raw]))
    tensors = self.model.signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE](examples=examples)
    return {name: tensor.numpy() for name, tensor in tensors.items()}

  def pixels(self, encoded: Sequence[bytes]) -> np.ndarray:
    """Encoded image files -> the model's float pixels, decoded and resized exactly as serving does."""
    return next(iter(self.tensors(encoded).values())).astype(np.float32)


# The signatures each modality's explanations need (models/signatures.py, models/text_bert.py).
NEEDED_SIGNATURES = {features.IMAGE_KEY: (features.EXPLAIN_SIGNATURE,),
                     features.TEXT_KEY: (features.TOKEN_EMBEDDINGS_SIGNATURE, features.EXPLAIN_EMBEDDINGS_SIGNATURE)}


def load_explainable(path: str, modality: Optional[str] = None) -> Explainable:
  """The SavedModel at `path` (or its newest version); ModelError when it cannot be explained (or takes another
  modality than `modality`), saying why."""
  from inference import model_loader  # pylint: disable=g-import-not-at-top

  if path.endswith((".tflite", ".onnx")):
    raise UsageError(f"{path}: a {os.path.splitext(path)[1]} model cannot be explained (its runtime gives no "
                     "gradients); give the SavedModel folder it was converted from")
  loaded = model_loader.load_model(path)
  if modality:
    loaded.check_modality(modality)
  modality = loaded.metadata.modality or features.IMAGE_KEY
  model = loaded.saved_model
  if not all(name in model.signatures for name in NEEDED_SIGNATURES[modality]):
    raise ModelError(f"{loaded.path}: this model was pushed without an explain signature; re-run the pipeline to "
                     "make this model explainable")
  explainable = Explainable(loaded.path, list(loaded.metadata.labels), modality, model)
  if modality == features.IMAGE_KEY:
    shape = model.signatures[features.EXPLAIN_SIGNATURE].structured_input_signature[1]["pixels"].shape
    explainable.size, explainable.channels = int(shape[1]), int(shape[3])
  return explainable


def check_method(explainable: Explainable, method: str) -> None:
  """UsageError for a method that does not fit the model; ModelError for a CNN pushed before Grad-CAM's
  signature."""
  if method not in METHODS:
    raise UsageError(f"unknown explanation method {method!r}; use one of {', '.join(METHODS)}")
  if method in IMAGE_METHODS and explainable.modality != features.IMAGE_KEY:
    needs = "segments of an image" if method == XRAI else "a convolution"
    raise UsageError(f"{method} explains images (it needs {needs}); explain text models with {INTEGRATED_GRADIENTS}")
  if method == GRAD_CAM and features.LAST_CONV_SIGNATURE not in explainable.model.signatures:
    raise ModelError(f"{explainable.path}: this model was pushed without Grad-CAM's signature (or has no "
                     "convolution blocks); re-run the pipeline to make this model explainable with grad-cam")


CHUNK_VALUES = 2 ** 20  # input values per model call along the path: bounded memory for big inputs or many steps


def integrated_gradients(score: Callable, inputs: np.ndarray, baselines: Sequence[np.ndarray],
                         steps: int) -> np.ndarray:
  """Attributions (the shape of one input) of `score` (a batch [n, ...] -> the explained class's scores [n]) for
  `inputs` [1, ...], averaged over `baselines` (each the same shape), with the trapezoidal rule over `steps`
  intervals. Every baseline's path goes through the model in as few calls as CHUNK_VALUES allows (one for a small
  image): the model calls' fixed cost, not their arithmetic, is most of the time on small inputs."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32).reshape([-1] + [1] * (inputs.ndim - 1))
  path = np.concatenate([b + alphas * (inputs - b) for b in baselines]).astype(np.float32)
  rows = max(1, CHUNK_VALUES // max(1, int(np.prod(inputs.shape[1:]))))
  gradients = []
  for start in range(0, len(path), rows):
    chunk = tf.constant(path[start:start + rows])
    with tf.GradientTape() as tape:
      tape.watch(chunk)
      scores = score(chunk)
    gradients.append(tape.gradient(scores, chunk).numpy())
  gradients = np.concatenate(gradients).reshape((len(baselines), steps + 1) + inputs.shape[1:])
  average = ((gradients[:, :-1] + gradients[:, 1:]) / 2.0).mean(axis=1)  # [baselines, ...]
  return np.mean([(inputs[0] - b[0]) * g for b, g in zip(baselines, average)], axis=0).astype(np.float32)


def completeness_error(attribution_sum: float, score: float, baseline_score: float) -> float:
  """|sum of attributions - (f(input) - f(baseline))| / |f(input) - f(baseline)| (0 when they are equal)."""
  change = score - baseline_score
  return abs(attribution_sum - change) / abs(change) if abs(change) > 1e-6 else 0.0


def deletion_counts(total: int) -> np.ndarray:
  """How many of `total` pixels or words are removed at each point of a deletion curve: 0%, 10%, ... 100%."""
  return np.linspace(0, total, DELETION_POINTS + 1).round().astype(int)


def deletion_summary(attributed: List[float], shuffled: List[float]) -> Dict:
  return {"attributed": attributed, "random": shuffled, "attributed_area": curve_area(attributed),
          "random_area": curve_area(shuffled)}


def curve_area(curve: Sequence[float]) -> float:
  """Area under a deletion curve on [0, 1] (trapezoidal)."""
  points = np.asarray(curve, dtype=np.float64)
  return float(((points[:-1] + points[1:]) / 2).sum() / (len(points) - 1))
