"""The pre-flight data check: class counts from image folders and TFRecords, errors that name the file."""
import gzip

import pytest
import tensorflow as tf

from core.errors import DataError
from conftest import write_image
from pipelines import config, data_check
from readers import tfrecords


def _example(label):
  return tf.train.Example(features=tf.train.Features(feature={
      "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"png"])),
      "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label]))})).SerializeToString()


def test_image_folder_class_count(tmp_path):
  for name in ("a", "b", "c"):
    write_image(tmp_path / name / "x.png")
    write_image(tmp_path / name / "y.png")
  assert data_check.check_data(config.preset("digits-cnn", data=str(tmp_path))) == 3


def test_tfrecord_class_count_plain_and_gzipped(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")) as w:
    for label in (b"cat", b"dog"):
      w.write(_example(label))
  with tf.io.TFRecordWriter(str(tmp_path / "part-1.tfrecord.gz"), options="GZIP") as w:
    w.write(_example(b"bird"))
  c = config.preset("digits-cnn", data=str(tmp_path), data_format="tfrecord")
  assert data_check.check_data(c) == 3


def test_tfrecord_errors_name_file_and_record(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "one.tfrecord")) as w:
    w.write(_example(b"cat"))
    w.write(tf.train.Example().SerializeToString())
  with pytest.raises(DataError, match=r"one.tfrecord: record 1 has no 'label'"):
    tfrecords.count_tfrecord_classes(str(tmp_path))
  (tmp_path / "one.tfrecord").write_bytes(gzip.compress(b"garbage"))
  with pytest.raises(DataError, match="one.tfrecord: not a readable TFRecord"):
    tfrecords.count_tfrecord_classes(str(tmp_path))


def test_tfrecord_single_class_is_refused(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "one.tfrecord")) as w:
    w.write(_example(b"cat"))
  with pytest.raises(DataError, match="1 distinct value"):
    tfrecords.count_tfrecord_classes(str(tmp_path))


def test_estimate_examples_counts_images_and_csv_rows(tmp_path):
  from pipelines import config as config_lib  # pylint: disable=g-import-not-at-top
  from pipelines.data_check import estimate_examples  # pylint: disable=g-import-not-at-top

  images = config_lib.preset("digits-cnn", output=str(tmp_path))
  assert estimate_examples(images) == 1797
  csv_file = tmp_path / "texts.csv"
  csv_file.write_text("text,label\nfine,pos\nbad,neg\nok,pos\n")
  texts = config_lib.preset("text-bert", data=str(csv_file), output=str(tmp_path))
  assert estimate_examples(texts) == 3
  assert estimate_examples(config_lib.preset("digits-cnn", data="gs://bucket/digits")) is None
