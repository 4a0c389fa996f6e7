"""Reading an ImageFolder tree (one sub-folder per class) and checking it before any work is done.

Kept free of TFX imports so the `modelfab` command can check a data folder in a fraction of a second.
"""
from __future__ import annotations

import dataclasses
import os
from typing import List

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

# Feature names of the tf.Examples the image ExampleGen writes.
IMAGE_KEY = "image"
LABEL_KEY = "label"
FILENAME_KEY = "filename"


class DataError(ValueError):
  """Input data that cannot be used; the message names the file or folder."""


@dataclasses.dataclass(frozen=True)
class ImageFile:
  path: str  # absolute path
  relative_path: str  # relative to the data root, e.g. "7/0042.png"
  label: str  # the class folder's name


def list_image_folder(root: str, check_decodable: bool = True) -> List[ImageFile]:
  """Lists the images under `root/<class>/`, sorted; raises DataError on a tree that cannot train a classifier.

  Checked: the path exists and is a folder, it has at least two class folders, no class folder is empty, every file
  is a PNG or JPEG (by extension) and, with `check_decodable`, its bytes decode as an image.
  """
  if not os.path.exists(root):
    raise DataError(f"data path does not exist: {root}")
  if not os.path.isdir(root):
    raise DataError(f"data path is not a folder of class folders: {root}")
  class_dirs = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
  stray = sorted(e.name for e in os.scandir(root) if e.is_file() and not e.name.startswith("."))
  if stray:
    raise DataError(f"{os.path.join(root, stray[0])}: files must sit in one sub-folder per class, not in the data root")
  if not class_dirs:
    raise DataError(f"{root}: no class folders found (expected {root}/<class name>/<image files>)")
  if len(class_dirs) < 2:
    raise DataError(f"{root}: only one class folder ({class_dirs[0]!r}); a classifier needs at least two classes")
  files: List[ImageFile] = []
  for label in class_dirs:
    class_dir = os.path.join(root, label)
    names = sorted(n for n in os.listdir(class_dir) if not n.startswith("."))
    if not names:
      raise DataError(f"{class_dir}: class folder is empty")
    for name in names:
      path = os.path.join(class_dir, name)
      if os.path.isdir(path):
        raise DataError(f"{path}: nested folders are not supported; put images directly in the class folder")
      if not name.lower().endswith(IMAGE_EXTENSIONS):
        raise DataError(f"{path}: not an image file (expected one of {', '.join(IMAGE_EXTENSIONS)})")
      if check_decodable:
        check_image_file(path)
      files.append(ImageFile(os.path.abspath(path), f"{label}/{name}", label))
  return files


def check_image_file(path: str) -> None:
  """Raises DataError naming `path` unless it holds a complete, decodable PNG or JPEG."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top

  try:
    with Image.open(path) as image:
      if image.format not in ("PNG", "JPEG"):
        raise DataError(f"{path}: image format {image.format} is not supported (PNG or JPEG)")
      image.load()  # decodes every pixel: catches truncated files that verify() lets through
  except DataError:
    raise
  except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
    raise DataError(f"{path}: corrupt or not an image ({e})") from e

