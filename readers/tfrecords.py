"""Checking a folder of TFRecord files of tf.Examples (optionally gzipped) and counting its classes."""
from __future__ import annotations

import os

from core import features
from core.features import SPAN_DONE_MARKER
from core.errors import DataError


def count_tfrecord_classes(data_dir: str, label_key: str = features.RAW_LABEL_KEY,
                           image_key: str = features.IMAGE_KEY) -> int:
  """Distinct values of `label_key` in the (optionally gzipped) TFRecord files under `data_dir`.

  Every record must be a tf.Example with an `image_key` bytes feature and a bytes or int64 `label_key` feature.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from google.protobuf.message import DecodeError  # pylint: disable=g-import-not-at-top

  if not os.path.isdir(data_dir):
    raise DataError(f"data path is not a folder of TFRecord files: {data_dir}")
  files = record_files(data_dir)
  if not files:
    raise DataError(f"{data_dir}: no TFRecord files")
  labels = set()
  for path in files:
    compression = "GZIP" if path.endswith(".gz") else ""
    try:
      for index, record in enumerate(tf.data.TFRecordDataset(path, compression_type=compression)):
        try:
          example = tf.train.Example.FromString(record.numpy())
        except DecodeError as e:
          raise DataError(f"{path}: record {index} is not a tf.Example ({e})") from e
        labels.update(_check_example_features(example, path, index, label_key, image_key))
    except tf.errors.OpError as e:
      raise DataError(f"{path}: not a readable TFRecord file ({e.message})") from e
  if len(labels) < 2:
    raise DataError(f"{data_dir}: the '{label_key}' feature has {len(labels)} distinct value(s); need at least 2")
  return len(labels)


def _check_example_features(example, path: str, index: int, label_key: str, image_key: str) -> list:
  """The label values of one tf.Example; DataError naming the record when a feature is missing or mistyped."""
  features = example.features.feature
  for key, kinds in ((label_key, ("bytes_list", "int64_list")), (image_key, ("bytes_list",))):
    if key not in features:
      raise DataError(f"{path}: record {index} has no '{key}' feature (it has {sorted(features)})")
    kind = features[key].WhichOneof("kind")
    if kind not in kinds:
      raise DataError(f"{path}: record {index}: feature '{key}' is {kind or 'empty'}, expected "
                      f"{' or '.join(kinds)}")
  label = features[label_key]
  return list(label.bytes_list.value or label.int64_list.value)


def record_files(data_dir: str):
  """The TFRecord files in `data_dir` (every file not hidden, and not a span's `_SUCCESS` marker), sorted."""
  return sorted(os.path.join(data_dir, n) for n in os.listdir(data_dir)
                if not n.startswith(".") and n != SPAN_DONE_MARKER)


def count_records(data_dir: str) -> int:
  """How many records the TFRecord files in `data_dir` hold (`.gz` files are read as gzipped)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return sum(int(tf.data.TFRecordDataset(f, compression_type="GZIP" if f.endswith(".gz") else "").reduce(
      0, lambda n, _: n + 1)) for f in record_files(data_dir))
