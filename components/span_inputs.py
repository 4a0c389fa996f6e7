"""The spans an ExampleGen reads (readers/spans.py), carried in its `custom_config`, and recorded on its output.

TFX's FileBasedExampleGen resolves `{SPAN}` to one span per execution. modelfab trains on a window of spans (the
latest N, or a range), so the pipeline resolves the spans before it starts and hands the ExampleGen the list:
`{"spans": [[number, folder relative to input_base], ...]}` beside the ExampleGen's other settings. Its input
pattern then globs every span's files (`span-*/*/*`), so TFX's input fingerprint changes, and the ExampleGen runs
again instead of coming from the cache, whenever any span's files change. The Examples artifact records the span
numbers read (SPANS_PROPERTY) and TFX's `span` property holds the newest.
"""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple

from google.protobuf import json_format, struct_pb2
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from core.names import SPANS_PROPERTY

SPANS_KEY = "spans"


def make_custom_config(spans: Sequence[Tuple[int, str]] = (), **settings) -> Optional[example_gen_pb2.CustomConfig]:
  """An ExampleGen custom_config holding `settings` (strings) and the `spans` to read, or None when both are
  empty."""
  if not spans and not settings:
    return None
  fields = struct_pb2.Struct()
  fields.update({**settings, **({SPANS_KEY: [[int(n), str(d)] for n, d in spans]} if spans else {})})
  config = example_gen_pb2.CustomConfig()
  config.custom_config.Pack(fields)
  return config


def read_custom_config(exec_properties: Dict[str, Any]) -> Dict[str, Any]:
  """What `make_custom_config` packed ({} when the ExampleGen has no custom_config)."""
  raw = exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY)
  if not raw:
    return {}
  config = json_format.Parse(raw, example_gen_pb2.CustomConfig())
  fields = struct_pb2.Struct()
  config.custom_config.Unpack(fields)
  return json_format.MessageToDict(fields)


def selected_spans(exec_properties: Dict[str, Any]) -> List[Tuple[int, str]]:
  """(span number, relative folder) of each span to read; [] when the data is not in spans."""
  return [(int(n), str(d)) for n, d in read_custom_config(exec_properties).get(SPANS_KEY, [])]


def span_folders(exec_properties: Dict[str, Any]) -> List[Tuple[int, str]]:
  """(span number, absolute folder) of each span to read."""
  root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  return [(n, os.path.join(root, d)) for n, d in selected_spans(exec_properties)]


def record_spans(output_dict, exec_properties: Dict[str, Any]) -> None:
  """Marks the Examples artifact with the spans it holds (SPANS_PROPERTY, and TFX's `span` = the newest)."""
  numbers = [n for n, _ in selected_spans(exec_properties)]
  if not numbers:
    return
  for artifact in output_dict[standard_component_specs.EXAMPLES_KEY]:
    artifact.span = max(numbers)
    artifact.set_string_custom_property(SPANS_PROPERTY, ",".join(str(n) for n in numbers))

