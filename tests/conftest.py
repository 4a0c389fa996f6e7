"""Shared test fixtures: small image trees made on the fly, a subset of the embedded digits."""
import io
import os
import pathlib
import shutil

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]
DIGITS = REPO / "data" / "digits"


def write_image(path: pathlib.Path, size=(8, 8), mode="L", fmt="PNG", seed=0) -> pathlib.Path:
  """A random image file of the given mode and format."""
  rng = np.random.default_rng(seed)
  shape = size[::-1] + ((3,) if mode == "RGB" else ())
  pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(pixels, mode=mode).save(path, format=fmt)
  return path


def png_bytes(pixels: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG")
  return buffer.getvalue()


def copy_digits_subset(target: pathlib.Path, per_class: int) -> pathlib.Path:
  """The first `per_class` embedded digit PNGs of each class, in the same ImageFolder layout."""
  for class_dir in sorted(DIGITS.iterdir()):
    out = target / class_dir.name
    out.mkdir(parents=True, exist_ok=True)
    for image in sorted(class_dir.iterdir())[:per_class]:
      shutil.copy(image, out / image.name)
  return target


@pytest.fixture
def digits_subset(tmp_path):
  return copy_digits_subset(tmp_path / "digits", per_class=5)
