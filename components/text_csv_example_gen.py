"""TextCsvExampleGen: labelled text from CSV files into tf.Examples with `text` and `label` bytes features.

The column names are configurable (`text_column`, `label_column`). Every file is checked (see `text_csv`) before
Beam starts, so a missing column or an empty text stops the run with the file and row named.
"""
from __future__ import annotations

import os
from typing import Any, Dict

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import standard_component_specs

from components import span_inputs
from core import features
from readers import text_csv


def make_example(text: str, label: str) -> tf.train.Example:
  return tf.train.Example(features=tf.train.Features(feature={
      features.TEXT_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode("utf-8")])),
      features.RAW_LABEL_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode("utf-8")])),
  }))


def _columns(exec_properties: Dict[str, Any]):
  settings = span_inputs.read_custom_config(exec_properties)
  return settings.get("text_column", features.TEXT_KEY), settings.get("label_column", features.RAW_LABEL_KEY)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(tf.train.Example)
def _CsvToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],  # pylint: disable=invalid-name
                  split_pattern: str) -> beam.pvalue.PCollection:
  """Reads and checks the CSV files matching `split_pattern`, then emits one tf.Example per row."""
  root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  text_column, label_column = _columns(exec_properties)
  spans = span_inputs.span_folders(exec_properties)
  if spans:  # every CSV file of each span; the pattern only globs them for TFX's input fingerprint
    files = [path for _, folder in spans for path in text_csv.list_csv_files(folder)]
  else:
    files = sorted(tf.io.gfile.glob(os.path.join(root, split_pattern)))
  if not files:
    raise text_csv.DataError(f"{root}: no file matches {split_pattern!r}")
  rows = [row for path in files for row in text_csv.read_text_csv(path, text_column, label_column)]
  return (pipeline
          | "Rows" >> beam.Create(rows, reshuffle=False)
          | "ToExample" >> beam.MapTuple(make_example))


class Executor(base_example_gen_executor.BaseExampleGenExecutor):

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _CsvToExample

  def Do(self, input_dict, output_dict, exec_properties):
    super().Do(input_dict, output_dict, exec_properties)
    span_inputs.record_spans(output_dict, exec_properties)


class TextCsvExampleGen(FileBasedExampleGen):
  """FileBasedExampleGen over CSV files with a text and a label column (default input pattern `*.csv`)."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)

  def __init__(self, input_base: str, text_column: str = features.TEXT_KEY,
               label_column: str = features.RAW_LABEL_KEY, spans=(), **kwargs):
    """spans: (number, folder relative to `input_base`) of each span to read (components/span_inputs.py)."""
    kwargs.setdefault("input_config", example_gen_pb2.Input(
        splits=[example_gen_pb2.Input.Split(name="single_split", pattern="*.csv")]))
    super().__init__(input_base=input_base, custom_config=span_inputs.make_custom_config(
        spans, text_column=text_column, label_column=label_column), **kwargs)
