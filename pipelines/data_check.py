"""Checks the input data before the pipeline starts, and counts its classes (the Evaluator needs the number)."""
from __future__ import annotations

import os
from typing import List, Optional

from components import image_folder, text_csv
from components.image_folder import DataError
from pipelines.config import PipelineConfig


def check_data(config: PipelineConfig, check_checkpoint: bool = True,
               decode_check: Optional[List] = None) -> int:
  """Raises DataError (or CheckpointError) naming the bad path; returns the number of classes.

  check_checkpoint=False skips the BERT checkpoint (when compiling, it is a path inside the container image).
  decode_check: a list to which an image folder's decode check is appended, started in the background
  (image_folder.BackgroundDecodeCheck; the caller calls its `wait()`), instead of decoding every image here.
  """
  if config.task == "text_bert" and check_checkpoint:
    from models import bert_checkpoint  # pylint: disable=g-import-not-at-top

    if not config.hparams.get("bert_checkpoint"):
      raise bert_checkpoint.CheckpointError("the text-bert preset needs a BERT checkpoint directory "
                                            "(--bert-checkpoint DIR: config.json, vocab.txt, model weights)")
    bert_checkpoint.check_checkpoint_dir(config.hparams["bert_checkpoint"], config.hparams.get("max_seq_length"))
  if config.data_format == "text_csv":
    return len(text_csv.check_text_data(config.data, config.text_column, config.label_column))
  if config.data_format == "image_folder":
    if "://" in config.data:
      if not config.num_classes:
        raise DataError(f"{config.data}: remote data cannot be checked here; pass the number of classes "
                        "(--num-classes)")
      return config.num_classes
    notes = []
    try:
      files = image_folder.list_image_folder(config.data, check_decodable=decode_check is None, notes=notes)
    except DataError:
      if decode_check is None:
        raise
      image_folder.list_image_folder(config.data)  # the same error, or first a file that does not decode
      raise
    if decode_check is not None:
      decode_check.append(image_folder.BackgroundDecodeCheck([f.path for f in files]))
    for note in notes:
      print(f"[modelfab] note: {note}", flush=True)
    return len({f.label for f in files})
  if config.data_format == "tfrecord":
    return config.num_classes or count_tfrecord_classes(config.data)
  raise DataError(f"unknown data format {config.data_format!r}")


def estimate_examples(config: PipelineConfig) -> Optional[int]:
  """How many examples the data holds, cheaply (files or CSV lines, records); None for remote data."""
  if "://" in config.data:
    return None
  if config.data_format == "image_folder":
    return sum(1 for _, _, names in os.walk(config.data) for name in names
               if os.path.splitext(name)[1].lower() in image_folder.IMAGE_EXTENSIONS)
  if config.data_format == "text_csv":
    return sum(max(0, _line_count(path) - 1) for path in text_csv.list_csv_files(config.data))
  if config.data_format == "tfrecord":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    files = sorted(os.path.join(config.data, n) for n in os.listdir(config.data) if not n.startswith("."))
    return sum(int(tf.data.TFRecordDataset(f, compression_type="GZIP" if f.endswith(".gz") else "").reduce(
        0, lambda n, _: n + 1)) for f in files)
  return None


def _line_count(path: str) -> int:
  with open(path, "rb") as f:
    return sum(1 for _ in f)


def count_tfrecord_classes(data_dir: str, label_key: str = "label", image_key: str = "image") -> int:
  """Distinct values of `label_key` in the (optionally gzipped) TFRecord files under `data_dir`.

  Every record must be a tf.Example with an `image_key` bytes feature and a bytes or int64 `label_key` feature.
  """
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from google.protobuf.message import DecodeError  # pylint: disable=g-import-not-at-top

  if not os.path.isdir(data_dir):
    raise DataError(f"data path is not a folder of TFRecord files: {data_dir}")
  files = sorted(os.path.join(data_dir, n) for n in os.listdir(data_dir) if not n.startswith("."))
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
