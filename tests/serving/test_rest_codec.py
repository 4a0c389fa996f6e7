"""TF Serving's REST formats, read and written without a server: what each request shape becomes, what is refused."""
import base64
import json

import numpy as np
import pytest
import tensorflow as tf

from core.errors import BadRequest
from inference import predict
from serving import rest_codec


def _b64(data: bytes):
  return {"b64": base64.b64encode(data).decode()}


def test_row_and_columnar_predict_give_the_serialized_examples():
  examples = predict.serialized_examples([{"image": b"png-1"}, {"image": b"png-2"}])
  assert rest_codec.examples_from_predict({"instances": [_b64(e) for e in examples]}) == (examples, "row")
  assert rest_codec.examples_from_predict({"instances": [{"examples": _b64(e)} for e in examples]}) == \
      (examples, "row")
  assert rest_codec.examples_from_predict({"inputs": {"examples": [_b64(e) for e in examples]}}) == \
      (examples, "columnar")
  assert rest_codec.examples_from_predict({"inputs": [_b64(e) for e in examples]}) == (examples, "columnar")


@pytest.mark.parametrize("body,message", [
    ({}, "needs 'instances'"), ({"instances": []}, "non-empty list"),
    ({"instances": ["not b64"]}, "instances[0]: expected"), ({"instances": [{"b64": "%%%"}]}, "invalid base64"),
    ({"inputs": {"pixels": []}}, "unknown input(s) ['pixels']")])
def test_malformed_predict_requests_say_what_was_expected(body, message):
  with pytest.raises(BadRequest) as raised:
    rest_codec.examples_from_predict(body)
  assert message in str(raised.value)


def test_classify_feature_maps_become_tf_examples():
  [serialized] = rest_codec.examples_from_classify({"examples": [{"image": _b64(b"\x89PNG")}]}, ["image"])
  assert tf.train.Example.FromString(serialized).features.feature["image"].bytes_list.value == [b"\x89PNG"]
  [text] = rest_codec.examples_from_classify({"examples": [{"text": "grand film"}]}, ["text"])
  assert tf.train.Example.FromString(text).features.feature["text"].bytes_list.value == [b"grand film"]


@pytest.mark.parametrize("body,message", [
    ({"examples": [{"text": "x"}]}, "the model reads feature(s) ['image']; unknown ['text'] missing ['image']"),
    ({"examples": [{"image": 3}]}, "examples[0].image: expected a string"), ({"examples": []}, "non-empty list"),
    ({"examples": ["x"]}, "examples[0]: expected a feature map")])
def test_classify_names_the_feature_at_fault(body, message):
  with pytest.raises(BadRequest) as raised:
    rest_codec.examples_from_classify(body, ["image"])
  assert message in str(raised.value)


def test_bodies_must_be_json_objects():
  assert rest_codec.parse_body(b'{"instances": []}') == {"instances": []}
  with pytest.raises(BadRequest, match="JSON Parse error"):
    rest_codec.parse_body(b"{not json")
  with pytest.raises(BadRequest, match="JSON object"):
    rest_codec.parse_body(b"[1, 2]")


def test_outputs_are_written_in_the_requests_format():
  outputs = {"probabilities": np.array([[0.2, 0.8], [0.9, 0.1]], np.float32),
             "label": np.array([b"dog", b"cat"]), "score": np.array([0.8, 0.9], np.float32)}
  rows = rest_codec.encode_outputs(outputs, "row", ["cat", "dog"])["predictions"]
  assert rows[0]["label"] == "dog" and rows[1]["probabilities"] == pytest.approx([0.9, 0.1])
  columns = rest_codec.encode_outputs(outputs, "columnar", ["cat", "dog"])["outputs"]
  assert columns["label"] == ["dog", "cat"] and len(columns["probabilities"]) == 2
  results = rest_codec.encode_outputs(outputs, "classify", ["cat", "dog"])["results"]
  assert results[0] == [["cat", pytest.approx(0.2)], ["dog", pytest.approx(0.8)]]
  assert rest_codec.encode_outputs(outputs, "classify", [])["results"][1] == [["cat", pytest.approx(0.9)]]
  json.dumps(results)  # plain JSON
