"""ImageExampleGen: a TFX ExampleGen for an ImageFolder tree (`<input_base>/<class>/<image>`).

Each image becomes one tf.Example holding the encoded bytes as they are on disk (`image`), the class-folder name
(`label`) and the path relative to the data root (`filename`). Decoding and resizing happen later, in Transform, so
the same graph serves raw bytes at prediction time. The whole tree is checked (see `image_folder.list_image_folder`)
before Beam starts, so a corrupt file or a one-class folder stops the run with the file's name and nothing written.
"""
from __future__ import annotations

import contextlib
import fnmatch
import os
import zlib
from typing import Any, Dict, Iterable, List

import apache_beam as beam
import tensorflow as tf
from tfx.components.example_gen import base_example_gen_executor, write_split
from tfx.components.example_gen import utils as example_gen_utils
from tfx.components.example_gen.component import FileBasedExampleGen
from tfx.components.util import examples_utils
from tfx.dsl.components.base import executor_spec
from tfx.proto import example_gen_pb2
from tfx.types import artifact_utils, standard_component_specs
from tfx.utils import proto_utils

from components import span_inputs
from core import features
from readers import image_folder


def _bytes_feature(value: bytes) -> tf.train.Feature:
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def make_example(image_file: image_folder.ImageFile) -> tf.train.Example:
  """Reads one image file into a tf.Example (encoded bytes, label, relative file name)."""
  with open(image_file.path, "rb") as f:
    encoded = f.read()
  return tf.train.Example(features=tf.train.Features(feature={
      features.IMAGE_KEY: _bytes_feature(encoded),
      features.RAW_LABEL_KEY: _bytes_feature(image_file.label.encode("utf-8")),
      features.FILENAME_KEY: _bytes_feature(image_file.relative_path.encode("utf-8")),
  }))


def shuffled_order(relative_paths: Iterable[str]) -> List[str]:
  """The order examples are written in: by CRC-32 of the relative path (ties by path), a fixed pseudo-random
  permutation, the same on every run and whatever the listing order.

  Listed in class order, a 10,000-example shuffle buffer over 40,000 training images sees two or three classes at
  a time; TFX's ExampleGen reshuffles before writing, but with Beam in one process that Reshuffle keeps the order it
  is given (measured: the written records were in class order) and cost 1 s at 20,000 images."""
  return sorted(relative_paths, key=lambda path: (zlib.crc32(path.encode("utf-8")), path))


def read_images(chunk: str, root: str):
  """The serialized tf.Examples of the images named in `chunk` (relative paths under `root`, NUL-separated), in
  that order.

  Serialized here, deterministically, as TFX's split would hash them: the same examples fall in the same split as
  when Example objects were passed on, and each is serialized once, for both the split key and the writer."""
  for relative_path in chunk.split("\0"):
    label = relative_path.split("/")[-2]  # <class>/<image>, or <span folder>/<class>/<image>
    example = make_example(image_folder.ImageFile(os.path.join(root, relative_path), relative_path, label))
    yield example.SerializeToString(deterministic=True)


FILES_PER_CHUNK = 1000  # paths per Beam element: a few long strings pickle fast (50,000 path tuples took 0.27 s)


@beam.ptransform_fn
@beam.typehints.with_input_types(beam.Pipeline)
@beam.typehints.with_output_types(bytes)
def _ImageFolderToExample(pipeline: beam.Pipeline, exec_properties: Dict[str, Any],  # pylint: disable=invalid-name
                          split_pattern: str) -> beam.pvalue.PCollection:
  """Lists and checks the image tree, then reads the files matching `split_pattern` into serialized tf.Examples,
  in `shuffled_order`.

  Beam gets the paths as a few NUL-joined strings: pickled as a list of 20,000 paths they cost a second."""
  root = exec_properties[standard_component_specs.INPUT_BASE_KEY]
  spans = span_inputs.selected_spans(exec_properties)
  if spans:  # every image of each span; the pattern only globs them for TFX's input fingerprint
    relative_paths = [f"{folder}/{f.relative_path}" for _, folder in spans
                      for f in image_folder.list_image_folder(os.path.join(root, folder))]
  else:
    relative_paths = [f.relative_path for f in image_folder.list_image_folder(root)
                      if fnmatch.fnmatch(f.relative_path, split_pattern)]
  if not relative_paths:
    raise image_folder.DataError(f"{root}: no image matches the split pattern {split_pattern!r}")
  order = shuffled_order(relative_paths)
  chunks = ["\0".join(order[i:i + FILES_PER_CHUNK]) for i in range(0, len(order), FILES_PER_CHUNK)]
  return (pipeline
          | "ListImages" >> beam.Create(chunks, reshuffle=False)
          | "ReadImages" >> beam.FlatMap(read_images, os.path.abspath(root)))


@contextlib.contextmanager
def gzip_written_at_level(level: int):
  """Within it, Beam writes `.gz` files at zlib `level` (TFX's ExampleGen writes gzipped TFRecords, and Beam has no
  option for the level: it uses zlib's default, 6). Still gzip, so every reader is unchanged; Beam's other
  compressions are untouched."""
  from apache_beam.io import filesystem  # pylint: disable=g-import-not-at-top

  default = filesystem.CompressedFile._initialize_compressor  # pylint: disable=protected-access

  def initialize_compressor(compressed_file):
    if compressed_file._compression_type == filesystem.CompressionTypes.GZIP:  # pylint: disable=protected-access
      compressed_file._compressor = zlib.compressobj(  # pylint: disable=protected-access
          level, zlib.DEFLATED, compressed_file._gzip_mask)  # pylint: disable=protected-access
    else:
      default(compressed_file)

  filesystem.CompressedFile._initialize_compressor = initialize_compressor  # pylint: disable=protected-access
  try:
    yield
  finally:
    filesystem.CompressedFile._initialize_compressor = default  # pylint: disable=protected-access


# Encoded images do not compress: measured on 20,000 32x32 PNGs (48 MB of records), zlib level 6 took 1.4 s and
# saved 3.5%, level 1 took 1.3 s, level 0 (stored) 0.13 s. Every later read then skips inflating them too.
IMAGE_RECORDS_GZIP_LEVEL = 0


class Executor(base_example_gen_executor.BaseExampleGenExecutor):
  """ExampleGen executor for ImageFolder trees. It writes each split in `shuffled_order`, without TFX's Reshuffle,
  and its gzipped TFRecords are stored, not deflated (in this process: multi-processing Beam workers keep Beam's
  level)."""

  def GetInputSourceToExamplePTransform(self) -> beam.PTransform:
    return _ImageFolderToExample

  def Do(self, input_dict, output_dict, exec_properties):
    """TFX's ExampleGen `Do` (splits by hash as configured, records the split names and formats), with each split
    written as it was read instead of through `write_split.WriteSplit`, which reshuffles first."""
    self._log_startup(input_dict, output_dict, exec_properties)
    input_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.INPUT_CONFIG_KEY],
                                             example_gen_pb2.Input())
    output_config = proto_utils.json_to_proto(exec_properties[standard_component_specs.OUTPUT_CONFIG_KEY],
                                              example_gen_pb2.Output())
    examples = output_dict[standard_component_specs.EXAMPLES_KEY]
    artifact_utils.get_single_instance(examples).split_names = artifact_utils.encode_split_names(
        example_gen_utils.generate_output_split_names(input_config, output_config))
    with gzip_written_at_level(IMAGE_RECORDS_GZIP_LEVEL), self._make_beam_pipeline() as pipeline:
      for split_name, split in self.GenerateExamplesByBeam(pipeline, exec_properties).items():
        _ = split | f"WriteSplit[{split_name}]" >> beam.io.WriteToTFRecord(
            os.path.join(artifact_utils.get_split_uri(examples, split_name), write_split.DEFAULT_TF_RECORD_FILE_NAME),
            file_name_suffix=".gz")
    payload_format = exec_properties.get(standard_component_specs.OUTPUT_DATA_FORMAT_KEY)
    file_format = exec_properties.get(standard_component_specs.OUTPUT_FILE_FORMAT_KEY)
    span_inputs.record_spans(output_dict, exec_properties)
    for artifact in examples:  # as TFX's Do records them
      if payload_format:
        examples_utils.set_payload_format(artifact, payload_format)
      if file_format:
        examples_utils.set_file_format(artifact, write_split.to_file_format_str(file_format))


class ImageExampleGen(FileBasedExampleGen):
  """FileBasedExampleGen over `<input_base>/<class>/<image>`; the default input pattern is `*/*`."""

  EXECUTOR_SPEC = executor_spec.BeamExecutorSpec(Executor)
