"""Checks the input data before the pipeline starts, and counts its classes (the Evaluator needs the number)."""
from __future__ import annotations

import os
from typing import List, Optional

from readers import image_folder, text_csv, tfrecords
from core.errors import CheckpointError, DataError
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
      raise CheckpointError("the text-bert preset needs a BERT checkpoint directory "
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
    return config.num_classes or tfrecords.count_tfrecord_classes(config.data)
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
    return tfrecords.count_records(config.data)
  return None


def _line_count(path: str) -> int:
  with open(path, "rb") as f:
    return sum(1 for _ in f)
