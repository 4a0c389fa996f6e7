"""Folders of TFRecord files: classes counted, bad records named."""
import gzip

import pytest
import tensorflow as tf

from conftest import tfrecord_example
from core.errors import DataError
from readers import tfrecords


def test_tfrecord_class_count_plain_and_gzipped(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")) as w:
    for label in (b"cat", b"dog"):
      w.write(tfrecord_example(label))
  with tf.io.TFRecordWriter(str(tmp_path / "part-1.tfrecord.gz"), options="GZIP") as w:
    w.write(tfrecord_example(b"bird"))
  assert tfrecords.count_tfrecord_classes(str(tmp_path)) == 3
  assert tfrecords.count_records(str(tmp_path)) == 3


def test_tfrecord_errors_name_file_and_record(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "one.tfrecord")) as w:
    w.write(tfrecord_example(b"cat"))
    w.write(tf.train.Example().SerializeToString())
  with pytest.raises(DataError, match=r"one.tfrecord: record 1 has no 'label'"):
    tfrecords.count_tfrecord_classes(str(tmp_path))
  (tmp_path / "one.tfrecord").write_bytes(gzip.compress(b"garbage"))
  with pytest.raises(DataError, match="one.tfrecord: not a readable TFRecord"):
    tfrecords.count_tfrecord_classes(str(tmp_path))


def test_tfrecord_single_class_is_refused(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "one.tfrecord")) as w:
    w.write(tfrecord_example(b"cat"))
  with pytest.raises(DataError, match="1 distinct value"):
    tfrecords.count_tfrecord_classes(str(tmp_path))
