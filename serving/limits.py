"""Limits that keep hostile or careless requests from knocking the server over, for REST and gRPC alike.

Each is checked before the expensive step it protects: the body size from Content-Length and while reading (never
reading past it), JSON depth while parsing, the number of examples before the model runs, and an image's pixel count
from its header, before anything decodes it (a 388 KB PNG can hold 20,000 x 20,000 pixels). A refused request gets
`RequestRefused` with the HTTP status (413 for size, 400 otherwise) and a message naming the limit and its setting.
"""
from __future__ import annotations

import dataclasses
import io
import json
import re
import warnings
from typing import Any, List, Optional, Tuple

from core.errors import BadRequest

MIB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class RequestLimits:
  max_body_bytes: int = 16 * MIB  # --max-body-mb
  max_examples: int = 256  # --max-examples per request
  max_json_depth: int = 32  # --max-json-depth
  max_image_pixels: int = 4096 * 4096  # --max-image-pixels, decoded pixels per image (width x height)


class RequestRefused(BadRequest):
  """A request over a limit; `status` is the HTTP status to answer with."""

  def __init__(self, message: str, status: int = 400):
    super().__init__(message)
    self.status = status


def check_body_size(size: int, limits: RequestLimits) -> None:
  if size > limits.max_body_bytes:
    raise RequestRefused(f"request body over the limit of {limits.max_body_bytes / MIB:g} MiB (--max-body-mb)", 413)


def parse_json(raw: bytes, limits: RequestLimits) -> Any:
  """The JSON value of `raw`, refused when nested deeper than the limit (checked without recursion)."""
  try:
    value = json.loads(raw)
  except RecursionError as e:
    raise _too_deep(limits) from e
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    raise BadRequest(f"JSON Parse error: {e}") from e
  stack = [(value, 1)]
  while stack:
    node, depth = stack.pop()
    if depth > limits.max_json_depth:
      raise _too_deep(limits)
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
  return value


def _too_deep(limits: RequestLimits) -> RequestRefused:
  return RequestRefused(f"JSON nested deeper than the limit of {limits.max_json_depth} levels (--max-json-depth)")


def check_example_count(count: int, limits: RequestLimits) -> None:
  if count > limits.max_examples:
    raise RequestRefused(f"{count} examples in one request, over the limit of {limits.max_examples} "
                         "(--max-examples)")


def image_pixels(data: bytes) -> Optional[Tuple[int, str]]:
  """(pixels, "W x H") read from an image's header without decoding it; None when the format is not recognised."""
  from PIL import Image, UnidentifiedImageError  # pylint: disable=g-import-not-at-top

  with warnings.catch_warnings():
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    try:
      with Image.open(io.BytesIO(data)) as image:  # reads the header only
        return image.size[0] * image.size[1], f"{image.size[0]} x {image.size[1]}"
    except Image.DecompressionBombError as e:  # PIL's own check (over 2 x its MAX_IMAGE_PIXELS) fired first
      found = re.search(r"\((\d+) pixels\)", str(e))
      pixels = int(found.group(1)) if found else 2 * (Image.MAX_IMAGE_PIXELS or 0) + 1
      return pixels, f"{pixels:,}-pixel"
    except (UnidentifiedImageError, OSError, ValueError):
      return None


def check_image_pixels(images: List[bytes], limits: RequestLimits) -> None:
  for n, data in enumerate(images):
    found = image_pixels(data)
    if found and found[0] > limits.max_image_pixels:
      raise RequestRefused(f"example {n}: a {found[1]} image, over the limit of {limits.max_image_pixels:,} "
                           "decoded pixels (--max-image-pixels)")


def check_examples(examples: List[bytes], image_key: Optional[str], limits: RequestLimits) -> None:
  """The count, and the pixels of each image under `image_key` (None for text models), of serialized tf.Examples."""
  check_example_count(len(examples), limits)
  if not image_key:
    return
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  images = []
  for n, serialized in enumerate(examples):
    try:
      feature = tf.train.Example.FromString(serialized).features.feature.get(image_key)
    except Exception as e:  # pylint: disable=broad-except
      raise BadRequest(f"example {n}: not a serialized tf.Example ({e})") from e
    if feature is not None:
      images.extend(feature.bytes_list.value[:1])
  check_image_pixels(images, limits)
