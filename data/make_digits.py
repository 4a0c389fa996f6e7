"""Writes scikit-learn's 1,797 handwritten digits (UCI, 8x8) as PNG files, one folder per class.

Run once: `python data/make_digits.py` (needs scikit-learn, a dev dependency). The PNGs are committed.
Pixel values 0..16 are scaled to 0..255 grayscale.
"""
import pathlib

import numpy as np
from PIL import Image
from sklearn.datasets import load_digits


def write_digits(out_dir: pathlib.Path) -> int:
  digits = load_digits()
  for index, (image, label) in enumerate(zip(digits.images, digits.target)):
    pixels = np.round(image * 255.0 / 16.0).astype(np.uint8)
    class_dir = out_dir / str(label)
    class_dir.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, mode="L").save(class_dir / f"{index:04d}.png")
  return len(digits.images)


if __name__ == "__main__":
  target = pathlib.Path(__file__).resolve().parent / "digits"
  print(f"wrote {write_digits(target)} images to {target}")
