"""The pre-flight data check: class counts from image folders and TFRecords, errors that name the file."""
import dataclasses

import pytest
import tensorflow as tf

from conftest import tfrecord_example, write_image
from core.errors import DataError
from pipelines import config, data_check


def test_tfrecord_data_is_checked_and_its_classes_counted(tmp_path):
  with tf.io.TFRecordWriter(str(tmp_path / "part-0.tfrecord")) as w:
    for label in (b"cat", b"dog"):
      w.write(tfrecord_example(label))
  c = config.preset("digits-cnn", data=str(tmp_path), data_format="tfrecord")
  assert data_check.check_data(c) == 2
  assert data_check.estimate_examples(c) == 2


def test_image_folder_class_count(tmp_path):
  for name in ("a", "b", "c"):
    write_image(tmp_path / name / "x.png")
    write_image(tmp_path / name / "y.png")
  assert data_check.check_data(config.preset("digits-cnn", data=str(tmp_path))) == 3



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


def test_spans_are_resolved_checked_and_their_classes_counted_together(tmp_path):
  for span, classes in ((1, "ab"), (2, "bc"), (3, "ab")):
    for name in classes:
      write_image(tmp_path / f"span-{span}" / name / "x.png")
      write_image(tmp_path / f"span-{span}" / name / "y.png")
    (tmp_path / f"span-{span}" / "_SUCCESS").write_text("")
  c = config.preset("digits-cnn", data=str(tmp_path / "span-{SPAN}"), spans="2")
  resolved = data_check.resolve_spans(c)
  assert resolved.span_folders == ((2, str(tmp_path / "span-2")), (3, str(tmp_path / "span-3")))
  assert data_check.check_data(resolved) == 3  # a, b and c
  assert data_check.estimate_examples(resolved) == 8
  assert data_check.resolve_spans(config.preset("digits-cnn", data=str(tmp_path))).span_folders == ()
  (tmp_path / "span-3" / "c").mkdir()  # an empty class folder in the newest span
  with pytest.raises(DataError, match="span-3/c: class folder is empty"):
    data_check.check_data(dataclasses.replace(resolved, span_folders=resolved.span_folders[1:]))


def test_warm_start_needs_a_pushed_model(tmp_path):
  from core.errors import WarmStartError  # pylint: disable=g-import-not-at-top

  with pytest.raises(WarmStartError, match="no model of pipeline digits-cnn was pushed in"):
    data_check.warm_start_model(config.preset("digits-cnn", output=str(tmp_path), warm_start=True), 10)
  assert not list(tmp_path.iterdir())
