"""The spans an ExampleGen reads travel in its custom_config and end up on its Examples artifact."""
import json

from tfx.types import standard_artifacts
from tfx.utils import proto_utils

from components import span_inputs
from core import names


def _exec_properties(config, root="/data"):
  return {"input_base": root, "custom_config": proto_utils.proto_to_json(config) if config else None}


def test_spans_and_settings_round_trip():
  config = span_inputs.make_custom_config([(3, "span-3"), (4, "span-4")], text_column="review")
  properties = _exec_properties(config)
  assert span_inputs.read_custom_config(properties) == {"text_column": "review",
                                                        "spans": [[3.0, "span-3"], [4.0, "span-4"]]}
  assert span_inputs.selected_spans(properties) == [(3, "span-3"), (4, "span-4")]
  assert span_inputs.span_folders(properties) == [(3, "/data/span-3"), (4, "/data/span-4")]


def test_no_spans_no_config():
  assert span_inputs.make_custom_config([]) is None
  assert span_inputs.selected_spans(_exec_properties(None)) == []


def test_the_examples_artifact_records_the_spans_and_tfx_span_is_the_newest():
  examples = standard_artifacts.Examples()
  properties = _exec_properties(span_inputs.make_custom_config([(3, "a"), (5, "b")]))
  span_inputs.record_spans({"examples": [examples]}, properties)
  assert examples.span == 5
  assert examples.get_string_custom_property(names.SPANS_PROPERTY) == "3,5"
  untouched = standard_artifacts.Examples()
  span_inputs.record_spans({"examples": [untouched]}, _exec_properties(None))
  assert not untouched.has_custom_property(names.SPANS_PROPERTY)
  assert json.loads(proto_utils.proto_to_json(span_inputs.make_custom_config([(1, "x")])))  # JSON TFX can store
