"""Why a pushed image model answered what it did: integrated gradients on the decoded pixels, from the SavedModel
alone (its `explain_pixels` signature: float pixels in, class probabilities out; models/signatures.py).

Integrated gradients (inference/attribution.py) of the predicted class's probability, from two baselines, a black
image and a blurred copy of the input, their attributions averaged. A deletion curve checks the
attributions: removing the most-attributed pixels first (set to black) should lower the class's probability faster
than removing pixels in a random order.
"""
from __future__ import annotations

import base64
import io
import os
from typing import Dict, List, Sequence

import numpy as np

from core import features
from core.errors import UsageError
from inference.attribution import (DEFAULT_STEPS, GRAD_CAM, INTEGRATED_GRADIENTS, XRAI, Explainable, check_method,
                                   completeness_error, deletion_counts, deletion_summary, integrated_gradients,
                                   load_explainable)


def blurred(pixels: np.ndarray) -> np.ndarray:
  """A blurred copy: down to a quarter of the side and back up (bilinear)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  size = pixels.shape[1]
  small = tf.image.resize(pixels, [max(1, size // 4)] * 2, method="area")
  return tf.image.resize(small, [size, size], method="bilinear").numpy()


def deletion_curves(explainable: Explainable, pixels: np.ndarray, orders: Sequence[np.ndarray],
                    target: int) -> List[List[float]]:
  """For each order of the pixel positions, the class's probability as those pixels (all channels) are set to black
  in that order, at 0%, 10%, ... 100% removed; every curve in one model call."""
  height, width = pixels.shape[1:3]
  counts = deletion_counts(height * width)
  batch = np.repeat(pixels, len(counts) * len(orders), axis=0)
  for row, (order, count) in enumerate((o, c) for o in orders for c in counts):
    batch[row].reshape(height * width, -1)[order[:count]] = 0.0
  scores = explainable.probabilities(batch).numpy()[:, target].reshape(len(orders), len(counts))
  return [[float(p) for p in curve] for curve in scores]


def on_file_grid(attribution: np.ndarray, height: int, width: int, keep_sum: bool = True) -> np.ndarray:
  """Attributions [H, W] resampled (bilinear) to an input file's own `height` x `width`, keeping their sum (integrated
  gradients' attributions add up to the change in score) unless `keep_sum` is False (maps of region importance)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if attribution.shape == (height, width):
    return attribution
  resized = tf.image.resize(attribution[None, :, :, None], [height, width], method="bilinear").numpy()[0, :, :, 0]
  total = resized.sum()
  return resized * (attribution.sum() / total) if keep_sum and total else resized


def grad_cam(explainable: Explainable, pixels: np.ndarray, target: int) -> np.ndarray:
  """Grad-CAM (Selvaraju et al., 2017; PAIR's `saliency`) of class `target` for one image [1, H, W, C]: the last
  convolution block's channels weighted by the mean gradient of the class's probability, ReLU, scaled to [0, 1] and
  resized to [H, W]."""
  import saliency.core as saliency  # pylint: disable=g-import-not-at-top

  signature = explainable.model.signatures[features.LAST_CONV_SIGNATURE]

  def call_model(batch, call_model_args=None, expected_keys=None):  # pylint: disable=unused-argument
    outputs = signature(pixels=batch.astype(np.float32), target=np.full([len(batch)], target, np.int32))
    return {saliency.CONVOLUTION_LAYER_VALUES: outputs[features.LAST_CONV].numpy(),
            saliency.CONVOLUTION_OUTPUT_GRADIENTS: outputs[features.LAST_CONV_GRADIENTS].numpy()}

  return saliency.GradCam().GetMask(pixels[0], call_model, should_resize=True, three_dims=False).astype(np.float32)


# saliency's settings for 224 x 224 images, scaled to the model's size: each segment's dilation radius, and the
# fewest new pixels a segment must add to be taken.
XRAI_DILATION_AT_224, XRAI_MIN_PIXEL_DIFF_AT_224 = 5, 50


def xrai(pixels: np.ndarray, attribution: np.ndarray) -> np.ndarray:
  """XRAI (Kapishnikov et al., 2019; PAIR's `saliency`) for one image [1, H, W, C] from its integrated-gradients
  `attribution` [H, W, C]: Felzenszwalb segments at several scales, added greedily by attribution density; each
  pixel gets the density of the region it joined in, so the most important regions are the highest."""
  import saliency.core as saliency  # pylint: disable=g-import-not-at-top
  from saliency.core import xrai as xrai_lib  # pylint: disable=g-import-not-at-top

  image = pixels[0].astype(np.float64)
  dilation = int(round(XRAI_DILATION_AT_224 * image.shape[0] / 224))
  segments = xrai_lib._get_segments_felzenszwalb(image, dilation_rad=dilation)  # pylint: disable=protected-access

  def no_model(*args, **kwargs):  # the attribution is given: XRAI calls no model
    raise AssertionError("XRAI was given its attribution")

  parameters = saliency.XRAIParameters()
  parameters.experimental_params["min_pixel_diff"] = max(
      1, int(round(XRAI_MIN_PIXEL_DIFF_AT_224 * image.shape[0] * image.shape[1] / 224 ** 2)))
  found = saliency.XRAI().GetMaskWithDetails(image, no_model, segments=segments, base_attribution=attribution,
                                             extra_parameters=parameters)
  return np.asarray(found.attribution_mask, dtype=np.float32)


def explain_image(explainable: Explainable, encoded: bytes, steps: int = DEFAULT_STEPS, seed: int = 0,
                  method: str = INTEGRATED_GRADIENTS) -> Dict:
  """One image file's explanation by `method`: label, score, the attributions on the file's own grid, and the
  deletion check (areas under the attributed and the random curves); for integrated gradients and XRAI (which
  ranks regions by integrated gradients), the baseline score and the approximation error, None for Grad-CAM."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  if steps < 1:
    raise UsageError(f"--steps must be at least 1, got {steps}")
  pixels = explainable.pixels([encoded])
  baselines = [np.zeros_like(pixels), blurred(pixels)]
  probabilities = explainable.probabilities(np.concatenate([pixels] + baselines)).numpy()
  target = int(probabilities[0].argmax())
  baseline_score = error = None
  if method == GRAD_CAM:
    found = grad_cam(explainable, pixels, target)
  else:
    score = lambda batch: explainable.probabilities(batch)[:, target]  # noqa: E731
    attribution = integrated_gradients(score, pixels, baselines, steps)
    baseline_score = float(probabilities[1:, target].mean())
    error = completeness_error(float(attribution.sum()), float(probabilities[0, target]), baseline_score)
    found = xrai(pixels, attribution) if method == XRAI else attribution.sum(axis=-1)
  by_position = found.reshape(-1)
  attributed, shuffled = deletion_curves(explainable, pixels, [
      np.argsort(-by_position, kind="stable"), np.random.default_rng(seed).permutation(by_position.size)], target)
  probabilities = probabilities[0]
  with Image.open(io.BytesIO(encoded)) as image:
    width, height = image.size
  return {"label": explainable.label(target), "score": float(probabilities[target]), "method": method,
          "baseline_score": baseline_score, "approximation_error": error,
          "attributions": on_file_grid(found, height, width, keep_sum=method == INTEGRATED_GRADIENTS).tolist(),
          "deletion": deletion_summary(attributed, shuffled)}


def explain_image_files(model_path: str, paths: Sequence[str], steps: int = DEFAULT_STEPS,
                        method: str = INTEGRATED_GRADIENTS) -> List[Dict]:
  """`explain_image` for each file, with "input" set to its path; UsageError naming a file that is unreadable."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  explainable = load_explainable(model_path, features.IMAGE_KEY)
  check_method(explainable, method)
  found = []
  for path in paths:
    try:
      with open(path, "rb") as f:
        encoded = f.read()
      found.append({"input": path, **explain_image(explainable, encoded, steps, method=method)})
    except (OSError, tf.errors.InvalidArgumentError) as e:
      raise UsageError(f"{path}: not a readable image ({getattr(e, 'message', e)})".splitlines()[0]) from e
    except ValueError as e:  # PIL: not an image
      raise UsageError(f"{path}: not a readable image ({e})") from e
  return found


def choose_examples(true_labels: Sequence[str], predicted: Sequence[str], count: int) -> List[int]:
  """Up to `count` indices: every misclassified example first (up to half of `count`), then the rest stratified by
  true class (round robin over the classes, in their order of appearance)."""
  wrong = [i for i, (t, p) in enumerate(zip(true_labels, predicted)) if t != p][:max(1, count // 2)]
  chosen, taken = list(wrong), set(wrong)
  by_class: Dict[str, List[int]] = {}
  for i, label in enumerate(true_labels):
    if i not in taken:
      by_class.setdefault(label, []).append(i)
  queues = list(by_class.values())
  while len(chosen) < count and any(queues):
    for queue in queues:
      if queue and len(chosen) < count:
        chosen.append(queue.pop(0))
  return chosen


def explain_split(model_dir: str, records: Sequence[bytes], count: int, steps: int = DEFAULT_STEPS) -> Dict:
  """Explains `count` of the serialized raw eval tf.Examples `records` with the model at `model_dir` (chosen by
  `choose_examples`): per example its true and predicted label, score, approximation error and deletion areas
  (and for CNNs, Grad-CAM's map and deletion verdict); in all, how many beat random deletion and the median
  approximation error."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  explainable = load_explainable(model_dir)
  parsed = [tf.train.Example.FromString(r).features.feature for r in records]
  raw = [f[explainable.modality].bytes_list.value[0] for f in parsed]
  true_labels = [f[features.RAW_LABEL_KEY].bytes_list.value[0].decode("utf-8") if f[features.RAW_LABEL_KEY].bytes_list
                 .value else str(f[features.RAW_LABEL_KEY].int64_list.value[0]) for f in parsed]
  serve = explainable.model.signatures[features.SERVING_SIGNATURE]  # the model already loaded, not a second copy
  predicted = [label.decode("utf-8") for start in range(0, len(records), 256) for label in serve(
      **{features.SERVING_INPUT: tf.constant(list(records[start:start + 256]))})[features.PREDICTED_LABEL].numpy()]
  regions = features.LAST_CONV_SIGNATURE in explainable.model.signatures
  rows = []
  for index in choose_examples(true_labels, predicted, count):
    explained = explain_raw(explainable, raw[index], steps, seed=index)
    deletion = explained["deletion"]
    shown = ({"image_b64": base64.b64encode(raw[index]).decode("ascii")} if explainable.modality == features.IMAGE_KEY
             else {"text": raw[index].decode("utf-8")})  # for the report
    rows.append({"index": index, "true_label": true_labels[index], "label": explained["label"],
                 "score": explained["score"], "approximation_error": explained["approximation_error"],
                 "attributed_area": deletion["attributed_area"], "random_area": deletion["random_area"],
                 "beats_random": deletion["attributed_area"] < deletion["random_area"],
                 "attributed_curve": deletion["attributed"], "random_curve": deletion["random"],
                 "attributions": explained["attributions"], **shown})
    if regions:  # Grad-CAM beside integrated gradients: where in the last convolution's grid the class was seen
      cam = explain_image(explainable, raw[index], steps, seed=index, method=GRAD_CAM)
      rows[-1].update({"grad_cam": np.round(cam["attributions"], 4).tolist(),
                       "grad_cam_beats_random": cam["deletion"]["attributed_area"] < cam["deletion"]["random_area"]})
  errors = [row["approximation_error"] for row in rows]
  per_class = {}  # one correctly classified explained example per class, for the activation maps
  for row in rows:
    if row["true_label"] == row["label"]:
      per_class.setdefault(row["true_label"], row["index"])
  maps = (activation_maps(explainable, {label: raw[i] for label, i in per_class.items()})
          if explainable.modality == features.IMAGE_KEY else {})
  return {**maps, "modality": explainable.modality, "method": INTEGRATED_GRADIENTS, "steps": steps,
          "explained": len(rows),
          "misclassified": sum(row["true_label"] != row["label"] for row in rows),
          "beats_random": sum(row["beats_random"] for row in rows),
          **({"grad_cam_beats_random": sum(row["grad_cam_beats_random"] for row in rows)} if regions else {}),
          "median_approximation_error": float(np.median(errors)) if errors else None, "examples": rows}


def explain_raw(explainable: Explainable, raw: bytes, steps: int = DEFAULT_STEPS, seed: int = 0,
                method: str = INTEGRATED_GRADIENTS) -> Dict:
  """One raw input's explanation (an encoded image, or UTF-8 text), by the model's modality; `method` must fit the
  model (`check_method`)."""
  if explainable.modality == features.TEXT_KEY:
    from inference import explain_text  # pylint: disable=g-import-not-at-top

    return explain_text.explain_text(explainable, raw.decode("utf-8"), steps, seed)
  return explain_image(explainable, raw, steps, seed, method)


TOP_CHANNELS = 4  # the most active channels of each block kept per example (besides the channels' mean)


def activation_maps(explainable: Explainable, images: Dict[str, bytes]) -> Dict:
  """{"filters": the first convolution's kernels summed over input channels [filters][k][k], "activations": per
  class label, each block's channel-mean map and its TOP_CHANNELS most active channels' maps}; {} for a model
  without the activation-maps signature (a model pushed before it existed, or not a CNN)."""
  if features.ACTIVATIONS_SIGNATURE not in explainable.model.signatures or not images:
    return {}
  labels = list(images)
  pixels = explainable.pixels([images[label] for label in labels])
  outputs = explainable.model.signatures[features.ACTIVATIONS_SIGNATURE](pixels=pixels)
  kernel = outputs.pop(features.FIRST_FILTERS).numpy().sum(axis=2)  # [k, k, filters]
  blocks = sorted(outputs, key=lambda name: int(name.split("_")[0][5:]) if name[5:6].isdigit() else 0)
  activations = {}
  for row, label in enumerate(labels):
    activations[label] = {"image_b64": base64.b64encode(images[label]).decode("ascii")}
    for block in blocks:
      maps = outputs[block].numpy()[row]  # [h, w, channels]
      top = np.argsort(-maps.mean(axis=(0, 1)))[:TOP_CHANNELS]
      activations[label][block] = {"mean": maps.mean(axis=-1).round(4).tolist(),
                                   "top_channels": [int(c) for c in top],
                                   "top": [maps[:, :, c].round(4).tolist() for c in top]}
  return {"filters": np.moveaxis(kernel, -1, 0).round(5).tolist(), "activations": activations,
          "activation_blocks": blocks}


def describe_split(report: Dict) -> str:
  """'explained 64 examples: attribution beats random in 58 (91%); median completeness error 0.3%'."""
  if report.get("reason"):
    return f"not explained: {report['reason']}"
  explained = report["explained"]
  share = f" ({report['beats_random'] / explained:.0%})" if explained else ""
  error = report.get("median_approximation_error")
  cam = report.get("grad_cam_beats_random")
  return (f"explained {explained} examples ({report['misclassified']} misclassified): attribution beats random in "
          f"{report['beats_random']}{share}" + (f"; median completeness error {error:.1%}" if error is not None
                                                  else "")
          + (f"; Grad-CAM beats random in {cam} ({cam / explained:.0%})" if cam is not None and explained else ""))


def write_overlay(path: str, encoded: bytes, attributions: Sequence[Sequence[float]]) -> None:
  """A PNG of the image in grey with the positive attributions in red over it (at the file's own size)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top

  with Image.open(io.BytesIO(encoded)) as image:
    grey = np.asarray(image.convert("L"), dtype=np.float32)
  heat = np.clip(np.asarray(attributions, dtype=np.float32), 0, None)
  heat = heat / heat.max() if heat.max() > 0 else heat
  rgb = np.stack([grey * 0.5 + 255 * 0.5 * heat, grey * 0.5, grey * 0.5], axis=-1)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)
