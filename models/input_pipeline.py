"""tf.data input from Transform's output examples: the one input function for every task."""
from __future__ import annotations

from typing import Dict, List, Tuple

import tensorflow as tf
import tensorflow_transform as tft

from models import features

_SHUFFLE_SEED = 42


def _record_files(file_pattern) -> List[str]:
  patterns = [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
  files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
  if not files:
    raise FileNotFoundError(f"no transformed example files match {patterns}")
  return files


def count_examples(file_pattern) -> int:
  """Counts the records in gzipped TFRecord files without parsing them."""
  dataset = tf.data.TFRecordDataset(_record_files(file_pattern), compression_type="GZIP")
  return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))


def make_dataset(file_pattern, tf_transform_output: tft.TFTransformOutput, batch_size: int,
                 training: bool, num_workers: int = 1) -> tf.data.Dataset:
  """Batches of (transformed features, integer label) from Transform's gzipped tf.Example output.

  The serialized records are cached in memory after the first pass, so later epochs read no file. For training the
  dataset is shuffled and repeated (the Trainer sets steps_per_epoch); for evaluation it is one ordered pass.
  `num_workers`: workers of a multi-worker cluster, which each read a shard.
  """
  feature_spec = tf_transform_output.transformed_feature_spec()
  files = _record_files(file_pattern)
  dataset = tf.data.TFRecordDataset(files, compression_type="GZIP", num_parallel_reads=tf.data.AUTOTUNE).cache()
  if len(files) < num_workers:
    # Multi-worker training shards by file by default and fails with fewer files than workers (Transform often
    # writes one): shard by example instead.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    dataset = dataset.with_options(options)
  if training:
    dataset = dataset.shuffle(10_000, seed=_SHUFFLE_SEED, reshuffle_each_iteration=True).repeat()
  dataset = dataset.batch(batch_size, drop_remainder=training)
  dataset = dataset.map(lambda records: _split_label(tf.io.parse_example(records, feature_spec)),
                        num_parallel_calls=tf.data.AUTOTUNE)
  return dataset.prefetch(tf.data.AUTOTUNE)


def _split_label(parsed: Dict[str, tf.Tensor]) -> Tuple[Dict[str, tf.Tensor], tf.Tensor]:
  label = parsed.pop(features.TRANSFORMED_LABEL_KEY)
  return parsed, label
