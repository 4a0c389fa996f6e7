"""TFRecordExampleGen: TFX's ImportExampleGen (folders of TFRecord files of tf.Examples) that also reads spans.

Without spans it is ImportExampleGen. With spans (components/span_inputs.py) it reads every record file of each
chosen span folder (`readers.tfrecords.record_files`: not hidden files, not the `_SUCCESS` marker; `.gz` files as
gzip) and records the spans on its Examples artifact.
"""
from __future__ import annotations

from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen.import_example_gen import executor as import_executor
from tfx.components.example_gen.import_example_gen.component import ImportExampleGen
from tfx.dsl.components.base import executor_spec

from components import span_inputs
from readers import tfrecords


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _SpanRecords(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],  # pylint: disable=invalid-name
                 split_pattern: str) -> beam.pvalue.PCollection:
  """The records of every file of the chosen spans (`split_pattern` only globs them for TFX's fingerprint)."""
  del split_pattern
  files = [path for _, folder in span_inputs.span_folders(exec_properties) for path in tfrecords.record_files(folder)]
  return (pipeline
          | "SpanFiles" >> beam.Create(files, reshuffle=False)
          | "ReadSpanRecords" >> beam.io.ReadAllFromTFRecord())  # compression from each file's extension


class Executor(import_executor.Executor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    import_records = super().GetInputSourceToExamplePTransform()

    @beam.ptransform_fn
    def read_records(pipeline, exec_properties: Dict[str, Any], split_pattern: str):
      if not span_inputs.selected_spans(exec_properties):
        return pipeline | import_records(exec_properties, split_pattern)  # pylint: disable=no-value-for-parameter
      return (pipeline | _SpanRecords(exec_properties, split_pattern)  # pylint: disable=no-value-for-parameter
              | "ToTFExample" >> beam.Map(tf.train.Example.FromString))

    return read_records

  def Do(self, input_dict, output_dict, exec_properties):
    super().Do(input_dict, output_dict, exec_properties)
    span_inputs.record_spans(output_dict, exec_properties)


class TFRecordExampleGen(ImportExampleGen):
  """ImportExampleGen with `spans`: (number, folder relative to `input_base`) of each span to read."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, input_base: str, spans=(), **kwargs):
    super().__init__(input_base=input_base, **kwargs)
    custom_config = span_inputs.make_custom_config(spans)
    if custom_config is not None:
      from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top
      from tfx.types import standard_component_specs  # pylint: disable=g-import-not-at-top

      self.exec_properties[standard_component_specs.CUSTOM_CONFIG_KEY] = proto_utils.proto_to_json(custom_config)
