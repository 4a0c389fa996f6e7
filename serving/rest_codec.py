"""TF Serving's REST formats, read and written: no web framework here.

Requests: predict in row (`{"instances": [...]}`) or columnar (`{"inputs": ...}`) format, the signature's one input
`examples` holding serialized tf.Examples as `{"b64": ...}`; classify as feature maps (`{"examples": [{"image":
{"b64": ...}}, {"text": "..."}]}`) that become tf.Examples here. Responses: `predictions`, `outputs` or `results`.
Anything else is a BadRequest whose message says what was expected.
"""
from __future__ import annotations

import base64
import binascii
from typing import Any, Dict, List

import numpy as np

from core import features
from core.errors import BadRequest
from inference.predict import serialized_examples
from serving.limits import RequestLimits, parse_json


def _b64(value: Any, where: str) -> bytes:
  if isinstance(value, dict) and set(value) == {"b64"}:
    try:
      return base64.b64decode(value["b64"], validate=True)
    except (binascii.Error, TypeError) as e:
      raise BadRequest(f"{where}: invalid base64 ({e})") from e
  raise BadRequest(f"{where}: expected {{\"b64\": ...}} holding a serialized tf.Example")


def examples_from_predict(body: Dict[str, Any]) -> tuple:
  """(serialized examples, "row" | "columnar") from a predict request body."""
  if "instances" in body:
    instances = body["instances"]
    if not isinstance(instances, list) or not instances:
      raise BadRequest("'instances' must be a non-empty list")
    return [_b64(i[features.SERVING_INPUT] if isinstance(i, dict) and features.SERVING_INPUT in i else i,
                 f"instances[{n}]")
            for n, i in enumerate(instances)], "row"
  if "inputs" in body:
    inputs = body["inputs"]
    if isinstance(inputs, dict):
      if set(inputs) != {features.SERVING_INPUT}:
        raise BadRequest(f"unknown input(s) {sorted(set(inputs) - {features.SERVING_INPUT})}; the signature takes "
                         f"'{features.SERVING_INPUT}'")
      inputs = inputs[features.SERVING_INPUT]
    if not isinstance(inputs, list) or not inputs:
      raise BadRequest("'inputs' must be a non-empty list of {\"b64\": ...} values")
    return [_b64(i, f"inputs[{n}]") for n, i in enumerate(inputs)], "columnar"
  raise BadRequest("the request needs 'instances' (row format) or 'inputs' (columnar format)")


def examples_from_classify(body: Dict[str, Any], feature_keys: List[str]) -> List[bytes]:
  """Serialized tf.Examples built from classify's feature maps (`{"image": {"b64": ...}}` or `{"text": "..."}`)."""
  examples = body.get("examples")
  if not isinstance(examples, list) or not examples:
    raise BadRequest("'examples' must be a non-empty list of feature maps")
  feature_maps = []
  for n, example in enumerate(examples):
    if not isinstance(example, dict):
      raise BadRequest(f"examples[{n}]: expected a feature map")
    unknown = sorted(set(example) - set(feature_keys)) if feature_keys else []
    missing = sorted(set(feature_keys) - set(example))
    if unknown or missing:
      raise BadRequest(f"examples[{n}]: the model reads feature(s) {feature_keys}; "
                       f"{'unknown ' + str(unknown) if unknown else ''}{' ' if unknown and missing else ''}"
                       f"{'missing ' + str(missing) if missing else ''}")
    feature_map = {}
    for key, value in example.items():
      if isinstance(value, str):
        data = value.encode("utf-8")
      elif isinstance(value, dict):
        data = _b64(value, f"examples[{n}].{key}") if set(value) == {"b64"} else None
      else:
        data = None
      if data is None:
        raise BadRequest(f"examples[{n}].{key}: expected a string or {{\"b64\": ...}}")
      feature_map[key] = data
    feature_maps.append(feature_map)
  return serialized_examples(feature_maps)


def jsonable(value: np.ndarray) -> Any:
  if value.dtype.kind in ("S", "O"):
    return [v.decode("utf-8", "replace") if isinstance(v, bytes) else v for v in value.tolist()]
  return value.tolist()


def parse_body(raw: bytes, limits: RequestLimits = RequestLimits()) -> Dict[str, Any]:
  """The request body as a JSON object (no deeper than `limits` allow); BadRequest otherwise."""
  body = parse_json(raw, limits)
  if not isinstance(body, dict):
    raise BadRequest("the request body must be a JSON object")
  return body


def encode_outputs(outputs: Dict[str, np.ndarray], layout: str, vocabulary: List[str]) -> Dict[str, Any]:
  """The response body for `serving_default`'s outputs, in the request's format: "row" (`predictions`),
  "columnar" (`outputs`) or "classify" (`results`: [label, score] pairs for every class when the model's labels
  are known, else the top one)."""
  count = len(outputs[features.PROBABILITIES])
  if layout == "row":
    return {"predictions": [{k: jsonable(v[i:i + 1])[0] for k, v in outputs.items()} for i in range(count)]}
  if layout == "columnar":
    return {"outputs": {k: jsonable(v) for k, v in outputs.items()}}
  labels = [l.decode("utf-8", "replace") for l in outputs[features.PREDICTED_LABEL]]
  return {"results": [
      [[label, float(p)] for label, p in zip(vocabulary, row)] if vocabulary else
      [[labels[i], float(outputs[features.PREDICTED_SCORE][i])]]
      for i, row in enumerate(outputs[features.PROBABILITIES])]}
