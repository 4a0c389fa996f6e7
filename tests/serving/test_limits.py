"""Request limits: each refused before the work it protects, with a message naming the limit and its flag."""
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from core.errors import BadRequest
from inference import predict
from serving import limits
from serving.limits import RequestLimits, RequestRefused


def _png(width, height):
  buffer = io.BytesIO()
  Image.new("L", (width, height)).save(buffer, format="PNG")
  return buffer.getvalue()


def _png_header(width, height):
  """A PNG's signature and IHDR chunk claiming width x height 8-bit grayscale pixels (the header is all a size
  check reads; a real 20,000 x 20,000 bomb is sent to a real server in test_rollout.py)."""
  def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

  return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
          + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))


def test_a_decompression_bomb_is_refused_from_its_header():
  bomb = _png_header(20_000, 20_000)
  assert limits.image_pixels(bomb)[0] == 400_000_000  # PIL's own bomb check fires first; the count is kept
  examples = predict.serialized_examples([{"image": _png(28, 28)}, {"image": bomb}])
  with pytest.raises(RequestRefused, match=r"example 1: a 400,000,000-pixel image, over the limit of 16,777,216 .*"
                                           r"--max-image-pixels"):
    limits.check_examples(examples, "image", RequestLimits())
  limits.check_examples(examples[:1], "image", RequestLimits())
  limits.check_examples(examples, None, RequestLimits())  # a text model's bytes are not images
  with pytest.raises(RequestRefused, match="a 5000 x 4000 image"):
    limits.check_image_pixels([_png_header(5000, 4000)], RequestLimits())
  with pytest.raises(RequestRefused, match="a 100 x 60 image, over the limit of 5,000"):
    limits.check_image_pixels([_png(100, 60)], RequestLimits(max_image_pixels=5000))  # a real, decodable image
  assert limits.image_pixels(b"not an image") is None  # left to the model, which refuses it


def test_deep_json_large_bodies_and_many_examples_are_refused():
  with pytest.raises(RequestRefused, match="nested deeper than the limit of 32 levels"):
    limits.parse_json(b"[" * 100_000 + b"]" * 100_000, RequestLimits())
  with pytest.raises(RequestRefused, match="nested deeper than the limit of 3"):
    limits.parse_json(b'{"a": [[{"b": 1}]]}', RequestLimits(max_json_depth=3))
  assert limits.parse_json(b'{"a": [[1]]}', RequestLimits(max_json_depth=3)) == {"a": [[1]]}
  with pytest.raises(BadRequest, match="JSON Parse error"):
    limits.parse_json(b"{nope", RequestLimits())
  with pytest.raises(RequestRefused, match="over the limit of 1 MiB") as refused:
    limits.check_body_size(2 * limits.MIB, RequestLimits(max_body_bytes=limits.MIB))
  assert refused.value.status == 413
  with pytest.raises(RequestRefused, match="300 examples in one request, over the limit of 256") as refused:
    limits.check_example_count(300, RequestLimits())
  assert refused.value.status == 400


def test_garbage_instead_of_a_tf_example_is_a_bad_request():
  with pytest.raises(BadRequest, match="example 0: not a serialized tf.Example"):
    limits.check_examples([np.random.default_rng(0).bytes(64)], "image", RequestLimits())
