"""Request limits: each refused before the work it protects, with a message naming the limit and its flag."""
import io

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


def test_a_decompression_bomb_is_refused_from_its_header():
  bomb = _png(20_000, 20_000)
  assert len(bomb) < 500_000  # small on the wire, 400 million pixels decoded
  assert limits.image_pixels(bomb)[0] == 400_000_000
  examples = predict.serialized_examples([{"image": _png(28, 28)}, {"image": bomb}])
  with pytest.raises(RequestRefused, match=r"example 1: a 400,000,000-pixel image, over the limit of 16,777,216 .*"
                                           r"--max-image-pixels"):
    limits.check_examples(examples, "image", RequestLimits())
  limits.check_examples(examples[:1], "image", RequestLimits())
  limits.check_examples(examples, None, RequestLimits())  # a text model's bytes are not images
  with pytest.raises(RequestRefused, match="a 5000 x 4000 image"):
    limits.check_image_pixels([_png(5000, 4000)], RequestLimits())
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
