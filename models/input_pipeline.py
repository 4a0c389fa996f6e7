"""tf.data input for training and the Tuner's trials: the one input function for every task.

It reads the raw tf.Examples ExampleGen wrote and applies the Transform graph inside tf.data (Transform analyzes
only and materializes nothing: writing, gzipping and parsing back 12 KB of float pixels per 32x32 RGB image cost
more than decoding the PNG once). What happens across epochs follows one rule, `fits_in_memory`:

- cache: when the transformed examples of the split take at most `cache_budget_bytes()` (a quarter of the memory
  available when training starts, or MODELFAB_INPUT_CACHE_MB), the first pass transforms them once and keeps the
  tensors in memory; later epochs read memory only.
- stream: otherwise every epoch reads the files and transforms again, in parallel and prefetched; memory stays at
  a few batches whatever the data size.
"""
from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

import numpy as np
import tensorflow as tf
import tensorflow_transform as tft

from core import features

_SHUFFLE_SEED = 42
SHUFFLE_BUFFER = 10_000
TRANSFORM_BATCH = 128  # examples per call of the Transform graph
CACHE_ENV = "MODELFAB_INPUT_CACHE_MB"
CACHE_SHARE_OF_AVAILABLE_MEMORY = 0.25


def _record_files(file_pattern) -> List[str]:
  patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  if not files:
    raise FileNotFoundError(f"no example files match {patterns}")
  return files


def count_examples(file_pattern) -> int:
  """Counts the records in gzipped TFRecord files without parsing them, a few thousand at a time (one reduce step
  per record took 1.0 s for 50,000 records, 0.3 s this way)."""
  dataset = tf.data.TFRecordDataset(_record_files(file_pattern), compression_type="GZIP").batch(4096)
  return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, batch: n + tf.size(batch, out_type=tf.int64)))


def transformed_bytes_per_example(tf_transform_output: tft.TFTransformOutput) -> Optional[int]:
  """Bytes one transformed example takes in memory (fixed-shape features), or None when a feature's size varies."""
  total = 0
  for spec in tf_transform_output.transformed_feature_spec().values():
    if not isinstance(spec, tf.io.FixedLenFeature):
      return None
    total += int(np.prod(spec.shape or [1])) * (spec.dtype.size if spec.dtype != tf.string else 64)
  return total


def input_cache_mb_from_env() -> float:
  """MODELFAB_INPUT_CACHE_MB as a number of MiB; ValueError naming the variable when it is not one (or negative)."""
  value = os.environ.get(CACHE_ENV, "")
  try:
    mib = float(value)
  except ValueError:
    mib = -1.0
  if not mib >= 0 or mib == float("inf"):
    raise ValueError(f"{CACHE_ENV} must be a number of MiB (0 or more), got {value!r}")
  return mib


def cache_budget_bytes() -> int:
  """What the input may keep in memory: MODELFAB_INPUT_CACHE_MB, else a quarter of the memory available now."""
  if os.environ.get(CACHE_ENV):
    return int(input_cache_mb_from_env() * 2**20)
  import psutil  # pylint: disable=g-import-not-at-top

  return int(psutil.virtual_memory().available * CACHE_SHARE_OF_AVAILABLE_MEMORY)


def fits_in_memory(num_examples: int, tf_transform_output: tft.TFTransformOutput,
                   budget_bytes: Optional[int] = None) -> bool:
  """The cache-or-stream rule: cache when `num_examples` transformed examples fit in the budget."""
  per_example = transformed_bytes_per_example(tf_transform_output)
  budget = cache_budget_bytes() if budget_bytes is None else budget_bytes
  return per_example is not None and num_examples * per_example <= budget


def count_and_choose_cache(train_files, eval_files, tf_transform_output: tft.TFTransformOutput) -> Tuple[int, bool]:
  """(training examples, whether both splits are cached): what the Trainer and the Tuner's trials decide once."""
  num_train = count_examples(train_files)
  return num_train, fits_in_memory(num_train + count_examples(eval_files), tf_transform_output)


def make_dataset(file_pattern, tf_transform_output: tft.TFTransformOutput, batch_size: int,
                 training: bool, num_workers: int = 1, cache: Optional[bool] = None) -> tf.data.Dataset:
  """Batches of (transformed features, integer label) from ExampleGen's gzipped raw tf.Examples.

  `cache`: keep the transformed examples in memory after the first pass (None: `fits_in_memory` decides). For
  training the dataset is shuffled and repeated (the Trainer sets steps_per_epoch); for evaluation it is one
  ordered pass. `num_workers`: workers of a multi-worker cluster, which each read a shard.
  """
  files = _record_files(file_pattern)
  if cache is None:
    cache = fits_in_memory(count_examples(files), tf_transform_output)
  raw_spec = tf_transform_output.raw_feature_spec()
  dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE)
  if len(files) < num_workers:
    # Multi-worker training shards by file by default and fails with fewer files than workers (ExampleGen often
    # writes one): shard by example instead.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)

  transform_layer = tf_transform_output.transform_features_layer()  # loaded once, outside tf.data's functions

  def transform(records):
    return transform_layer(tf.io.parse_example(records, raw_spec))

  if cache:  # transform once, keep single examples in memory, shuffle and batch them each epoch
    dataset = dataset.batch(TRANSFORM_BATCH).map(transform, num_parallel_calls=tf.data.AUTOTUNE).unbatch().cache()
    if training:
      dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=_SHUFFLE_SEED, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=training)
  else:  # shuffle the small serialized records, transform each batch anew every epoch
    if training:
      dataset = dataset.shuffle(SHUFFLE_BUFFER, seed=_SHUFFLE_SEED, reshuffle_each_iteration=True).repeat()
    dataset = dataset.batch(batch_size, drop_remainder=training).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
  dataset = dataset.map(_split_label, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
  return dataset.with_options(without_autotune_model())


def without_autotune_model() -> tf.data.Options:
  """tf.data options that turn off the autotuning model (AUTOTUNE then means one call per core, and prefetch
  buffers still grow on demand).

  Why: deleting an iterator whose autotuning thread is waiting out its optimization period can lose the wake-up
  (TF 2.16 `Model::OptimizeLoop` re-checks `IsCancelled()` before the cancellation manager sets it) and then blocks
  for the rest of that period, up to 60 s, with no CPU used. Keras deletes the training iterator at the end of
  `fit` and the validation iterator every epoch; measured: 20 s added to a 22 s fit in 2 of 4 pipeline runs.
  """
  options = tf.data.Options()
  options.autotune.enabled = False
  return options


def _split_label(transformed: Dict[str, tf.Tensor]) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
  transformed = dict(transformed)
  label = transformed.pop(features.TRANSFORMED_LABEL_KEY)
  return transformed, label
