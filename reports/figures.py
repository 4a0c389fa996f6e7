"""The report's figures, drawn with matplotlib (Agg) as PNG bytes: confusion matrix, per-class scores, training
curves, examples per class."""
from __future__ import annotations

import dataclasses
import io
from typing import Dict, List, Optional


@dataclasses.dataclass
class Figure:
  name: str  # file name stem
  title: str
  png: bytes


def _png(fig) -> bytes:
  buffer = io.BytesIO()
  fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  plt.close(fig)
  return buffer.getvalue()


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top

  return plt


def plot_confusion_matrix(matrix, class_names: List[str]) -> Figure:
  import numpy as np  # pylint: disable=g-import-not-at-top

  plt = _pyplot()
  size = max(4.0, 0.45 * len(class_names) + 2)
  fig, ax = plt.subplots(figsize=(size, size * 0.85))
  image = ax.imshow(matrix, cmap="Blues")
  fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="examples")
  ticks = range(len(class_names))
  ax.set_xticks(ticks, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0)
  ax.set_yticks(ticks, class_names)
  ax.set_xlabel("predicted class")
  ax.set_ylabel("actual class")
  high = matrix.max() if matrix.size else 0
  for (i, j), value in np.ndenumerate(matrix):
    if value:
      ax.text(j, i, f"{value:.0f}", ha="center", va="center", fontsize=8,
              color="white" if value > high / 2 else "black")
  ax.set_title("Confusion matrix (eval split)")
  return Figure("confusion_matrix", "Confusion matrix", _png(fig))


def plot_per_class(per_class: Dict[str, List[float]], class_names: List[str]) -> Figure:
  import numpy as np  # pylint: disable=g-import-not-at-top

  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(max(6.0, 0.6 * len(class_names) + 2), 3.6))
  x = np.arange(len(class_names))
  width = 0.8 / max(1, len(per_class))
  for k, (metric, values) in enumerate(per_class.items()):
    ax.bar(x + (k - (len(per_class) - 1) / 2) * width, values, width, label=metric)
  ax.set_xticks(x, class_names, rotation=45 if max(map(len, class_names)) > 3 else 0)
  ax.set_ylim(0, 1.05)
  ax.set_ylabel("score")
  ax.legend(loc="lower right", fontsize=8)
  ax.set_title("Per-class precision, recall and F1 (eval split)")
  return Figure("per_class", "Per-class precision, recall and F1", _png(fig))


def plot_training_curves(curves) -> Optional[Figure]:
  """Loss, accuracy and learning rate per epoch (train vs validation)."""
  panels = [("epoch_loss", "loss"), ("epoch_accuracy", "accuracy"), ("epoch_learning_rate", "learning rate")]
  panels = [(tag, label) for tag, label in panels if any(tag in c for c in curves.values())]
  if not panels:
    return None
  plt = _pyplot()
  fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.3), squeeze=False)
  for ax, (tag, label) in zip(axes[0], panels):
    for run, style in (("train", "-o"), ("validation", "--s")):
      points = curves.get(run, {}).get(tag)
      if points:
        ax.plot([s + 1 for s, _ in points], [v for _, v in points], style, markersize=3, label=run)
    ax.set_xlabel("epoch")
    ax.set_title(label)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
  fig.tight_layout()
  return Figure("training_curves", "Training curves", _png(fig))


def plot_label_counts(counts_by_split: Dict[str, Dict[str, int]]) -> Optional[Figure]:
  import numpy as np  # pylint: disable=g-import-not-at-top

  labels = sorted({label for counts in counts_by_split.values() for label in counts}, key=natural_key)
  if not labels:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(max(5.0, 0.5 * len(labels) + 2), 3.0))
  x = np.arange(len(labels))
  width = 0.8 / len(counts_by_split)
  for k, (split, counts) in enumerate(sorted(counts_by_split.items())):
    ax.bar(x + (k - (len(counts_by_split) - 1) / 2) * width, [counts.get(l, 0) for l in labels], width, label=split)
  ax.set_xticks(x, labels, rotation=45 if max(map(len, labels)) > 3 else 0)
  ax.set_ylabel("examples")
  ax.legend(fontsize=8)
  ax.set_title("Examples per class")
  return Figure("label_counts", "Examples per class", _png(fig))


def plot_explanations(rows: List[Dict], per_row: int = 8, key: str = "attributions") -> Optional[Figure]:
  """The explained eval images with their integrated-gradients attributions over them (red: towards the predicted
  class, blue: against), misclassified ones first; each titled `true -> predicted`. With `key="grad_cam"`, their
  Grad-CAM maps instead (red: where the last convolution saw the class)."""
  import base64  # pylint: disable=g-import-not-at-top

  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  rows = [row for row in rows if "image_b64" in row and key in row][:4 * per_row]
  if not rows:
    return None
  plt = _pyplot()
  lines = (len(rows) + per_row - 1) // per_row
  fig, axes = plt.subplots(lines, per_row, figsize=(1.4 * per_row, 1.6 * lines), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, row in zip(axes.ravel(), rows):
    with Image.open(io.BytesIO(base64.b64decode(row["image_b64"]))) as image:
      grey = np.asarray(image.convert("L"))
    ax.imshow(grey, cmap="gray")
    attributions = np.asarray(row[key], dtype=float)
    limit = float(np.abs(attributions).max()) or 1.0
    ax.imshow(attributions, cmap="bwr", vmin=-limit, vmax=limit, alpha=0.55,
              extent=(-0.5, grey.shape[1] - 0.5, grey.shape[0] - 0.5, -0.5))
    wrong = row["true_label"] != row["label"]
    ax.set_title(f"{row['true_label']} -> {row['label']}", fontsize=8, color="red" if wrong else "black")
  method = "Grad-CAM (last convolution)" if key == "grad_cam" else "Integrated gradients"
  fig.suptitle(f"{method} on eval images (true -> predicted; misclassified in red)", fontsize=9)
  name = "grad_cam" if key == "grad_cam" else "explanations"
  return Figure(name, f"{method} on eval images", _png(fig))


def plot_deletion_curves(rows: List[Dict], unit: str = "pixels") -> Optional[Figure]:
  """The mean deletion curves: the predicted class's probability as the most-attributed pixels (or words) are
  removed first, against removing them in a random order."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  if not rows:
    return None
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(5, 3.2))
  for key, label in (("attributed_curve", "most attributed first"), ("random_curve", "random order")):
    curve = np.mean([row[key] for row in rows], axis=0)
    ax.plot(np.linspace(0, 100, len(curve)), curve, marker="o", label=label)
  ax.set_xlabel(f"{unit} removed (%)")
  ax.set_ylabel("probability of the predicted class")
  ax.set_title(f"Deletion curves, mean of {len(rows)} eval {'images' if unit == 'pixels' else 'texts'}")
  ax.legend()
  return Figure("deletion_curves", "Deletion curves", _png(fig))


def plot_filters(filters: List) -> Optional[Figure]:
  """The first convolution's kernels (summed over input channels), one small square each."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  if not filters:
    return None
  plt = _pyplot()
  per_row = 16
  lines = (len(filters) + per_row - 1) // per_row
  fig, axes = plt.subplots(lines, per_row, figsize=(0.7 * per_row, 0.8 * lines + 0.4), squeeze=False)
  for ax in axes.ravel():
    ax.axis("off")
  for ax, kernel in zip(axes.ravel(), filters):
    kernel = np.asarray(kernel, dtype=float)
    limit = float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap="bwr", vmin=-limit, vmax=limit)
  fig.suptitle(f"The first convolution's {len(filters)} filters (summed over input channels)", fontsize=9)
  return Figure("filters", "First-layer filters", _png(fig))


def plot_activation_maps(activations: Dict[str, Dict], blocks: List[str]) -> Optional[Figure]:
  """For one eval image per class: the image, then each convolution block's mean activation over its channels."""
  import base64  # pylint: disable=g-import-not-at-top

  import numpy as np  # pylint: disable=g-import-not-at-top
  from PIL import Image  # pylint: disable=g-import-not-at-top

  if not activations or not blocks:
    return None
  labels = sorted(activations, key=natural_key)
  plt = _pyplot()
  fig, axes = plt.subplots(len(labels), len(blocks) + 1, figsize=(1.3 * (len(blocks) + 1), 1.3 * len(labels)),
                           squeeze=False)
  for line, label in zip(axes, labels):
    with Image.open(io.BytesIO(base64.b64decode(activations[label]["image_b64"]))) as image:
      line[0].imshow(np.asarray(image.convert("L")), cmap="gray")
    line[0].set_ylabel(label, rotation=0, labelpad=12, fontsize=8)
    for ax, block in zip(line[1:], blocks):
      ax.imshow(np.asarray(activations[label][block]["mean"], dtype=float), cmap="viridis")
    for ax in line:
      ax.set_xticks([])
      ax.set_yticks([])
  for ax, title in zip(axes[0], ["input"] + [b.split("_")[0] for b in blocks]):
    ax.set_title(title, fontsize=8)
  fig.tight_layout(rect=(0, 0, 1, 0.96))
  fig.suptitle("Activation maps: each block's mean over its channels, one eval image per class", fontsize=9)
  return Figure("activation_maps", "Activation maps", _png(fig))


def natural_key(name: str):
  """Sort key that puts numeric class names in numeric order ("2" before "10"), then the others by name."""
  return (0, int(name), "") if name.isdigit() else (1, 0, name)
