"""Span patterns: which folders are spans, which are complete, what --spans chooses, and the errors."""
import pytest
import tensorflow as tf

from conftest import tfrecord_example, write_image
from core.errors import DataError, UsageError
from readers import spans


def _span(root, number, complete=True, name="span-{}", classes=("a", "b")):
  folder = root / name.format(number)
  for label in classes:
    for i in range(2):
      write_image(folder / label / f"{i}.png", seed=number * 10 + i)
  if complete:
    (folder / "_SUCCESS").write_text("")
  return folder


def test_spans_are_numbered_folders_and_complete_when_marked(tmp_path):
  for number in (1, 2, 10):
    _span(tmp_path, number)
  _span(tmp_path, 11, complete=False)
  (tmp_path / "span-x").mkdir()  # not digits: not a span
  (tmp_path / "span-3.txt").write_text("")  # not a folder
  listed = spans.list_spans(str(tmp_path / "span-{SPAN}"))
  assert [(s.number, s.complete) for s in listed] == [(1, True), (2, True), (10, True), (11, False)]
  assert listed[2].path == str(tmp_path / "span-10")


def test_selection_latest_all_rolling_and_range(tmp_path):
  for number in (1, 2, 3, 4):
    _span(tmp_path, number)
  _span(tmp_path, 5, complete=False)
  pattern = str(tmp_path / "span-{SPAN}")
  chosen = lambda which: [s.number for s in spans.select_spans(pattern, which)]
  notes = []
  assert [s.number for s in spans.select_spans(pattern, None, notes)] == [4]
  assert notes == [f"span 5 ({tmp_path / 'span-5'}) has no _SUCCESS yet: still being written, not read"]
  assert chosen("all") == [1, 2, 3, 4]
  assert chosen("2") == [3, 4] and chosen("9") == [1, 2, 3, 4]  # a rolling window takes what there is
  assert chosen("2-3") == [2, 3]


def test_a_range_needs_every_span_there_and_complete(tmp_path):
  _span(tmp_path, 1)
  _span(tmp_path, 3, complete=False)
  _span(tmp_path, 4)
  pattern = str(tmp_path / "span-{SPAN}")
  with pytest.raises(DataError, match="--spans 1-2: span 2 of .* does not exist"):
    spans.select_spans(pattern, "1-2")
  with pytest.raises(DataError, match=r"--spans 3-4: span 3 \(.*span-3\) is not complete \(no _SUCCESS\)"):
    spans.select_spans(pattern, "3-4")


def test_no_span_no_complete_span_and_an_empty_span_are_errors(tmp_path):
  pattern = str(tmp_path / "span-{SPAN}")
  with pytest.raises(DataError, match="no folder matches"):
    spans.select_spans(pattern)
  _span(tmp_path, 1, complete=False)
  with pytest.raises(DataError, match="no complete span among .*span-1 .*once its folder holds _SUCCESS"):
    spans.select_spans(pattern)
  (tmp_path / "span-2").mkdir()
  (tmp_path / "span-2" / "_SUCCESS").write_text("")
  with pytest.raises(DataError, match=r"span-2: span 2 is empty \(only its _SUCCESS marker\)"):
    spans.select_spans(pattern)


@pytest.mark.parametrize("pattern, message", [
    ("data/{SPAN}/x-{SPAN}", "exactly once"),
    ("data/*/span-{SPAN}", "no other wildcard"),
    ("gs://bucket/span-{SPAN}", "local folders"),
])
def test_malformed_patterns_are_usage_errors(pattern, message):
  with pytest.raises(UsageError, match=message):
    spans.list_spans(pattern)


@pytest.mark.parametrize("value, expected", [(None, "latest"), ("ALL", "all"), ("3", "3"), ("2-05", "2-5")])
def test_parse_selection(value, expected):
  assert spans.parse_selection(value) == expected


@pytest.mark.parametrize("value", ["0", "-1", "5-2", "newest", "1-"])
def test_bad_selections_name_the_flag(value):
  with pytest.raises(UsageError, match="--spans"):
    spans.parse_selection(value)


def test_the_token_may_sit_above_the_data_folder(tmp_path):
  _span(tmp_path, 7, name="day-{}/images")
  (tmp_path / "day-7" / "images" / "_SUCCESS").write_text("")
  pattern = str(tmp_path / "day-{SPAN}" / "images")
  assert [s.path for s in spans.select_spans(pattern)] == [str(tmp_path / "day-7" / "images")]
  assert spans.pattern_root(pattern) == (str(tmp_path), "day-*/images")


def test_describe():
  assert spans.describe([5]) == "5" and spans.describe([5, 3, 4]) == "3-5" and spans.describe([1, 4]) == "1,4"


def test_read_span_inputs_of_each_format(tmp_path):
  folder = _span(tmp_path, 1)
  values, labels = spans.read_span_inputs(str(folder), "image_folder", "image", "text", "label")
  assert labels == ["a", "a", "b", "b"] and values[0] == (folder / "a" / "0.png").read_bytes()
  csv_span = tmp_path / "csv-1"
  csv_span.mkdir()
  (csv_span / "part.csv").write_text("review,stars\ngood film,pos\nawful,neg\n")
  assert spans.read_span_inputs(str(csv_span), "text_csv", "text", "review", "stars") == (
      [b"good film", b"awful"], ["pos", "neg"])
  records = tmp_path / "rec-1"
  records.mkdir()
  with tf.io.TFRecordWriter(str(records / "empty.gz"), options="GZIP"):
    pass  # read as gzip: no records
  with tf.io.TFRecordWriter(str(records / "part.tfrecord")) as writer:
    for label in (b"x", b"y", b"x"):
      writer.write(tfrecord_example(label, image=b"img-" + label))
  (records / "_SUCCESS").write_text("")  # not read as records
  values, labels = spans.read_span_inputs(str(records), "tfrecord", "image", "text", "label", limit=2)
  assert labels == ["x", "y"] and values == [b"img-x", b"img-y"]  # evenly spaced: records 0 and 1 of 3


def test_the_next_span_keeps_the_digits_width_and_the_folder_below_the_token(tmp_path):
  assert spans.next_span_folder(str(tmp_path / "span-{SPAN}")) == (1, str(tmp_path / "span-1"))
  _span(tmp_path, 7, name="day-{:04d}")
  assert spans.next_span_folder(str(tmp_path / "day-{SPAN}")) == (8, str(tmp_path / "day-0008"))
  (tmp_path / "s-3" / "images").mkdir(parents=True)
  assert spans.next_span_folder(str(tmp_path / "s-{SPAN}" / "images")) == (4, str(tmp_path / "s-4" / "images"))


@pytest.mark.parametrize("data_format", ["image_folder", "text_csv", "tfrecord"])
def test_a_written_span_reads_back_as_the_same_examples_and_is_complete(tmp_path, data_format):
  images = [write_image(tmp_path / f"{i}.png", seed=i).read_bytes() for i in range(4)]
  inputs = images if data_format != "text_csv" else [b"good, really", b"bad", "caf\u00e9 \"ok\"".encode(), b"meh"]
  labels = ["a", "b", "a", "b"]
  key = "text" if data_format == "text_csv" else "image"
  folder = spans.write_span(str(tmp_path / "span-1"), data_format, inputs, labels, ["r/1", "r2", "r3", "r4"], key,
                            "review", "stars", provenance={"source": "test"})
  [span] = spans.select_spans(str(tmp_path / "span-{SPAN}"))
  assert span.complete and span.path == folder
  values, read_labels = spans.read_span_inputs(folder, data_format, key, "review", "stars")
  assert sorted(zip(values, read_labels)) == sorted(zip(inputs, labels))
  assert spans.provenance(folder) == {"source": "test"}
  with pytest.raises(DataError, match="already exists"):
    spans.write_span(folder, data_format, inputs, labels, ["x"] * 4, key, "review", "stars")


def test_a_span_of_bad_images_or_labels_writes_nothing(tmp_path):
  png = write_image(tmp_path / "ok.png").read_bytes()
  with pytest.raises(DataError, match="not a PNG or JPEG"):
    spans.write_span(str(tmp_path / "span-1"), "image_folder", [png, b"GIF89a..."], ["a", "b"], ["1", "2"], "image",
                     "text", "label")
  with pytest.raises(DataError, match="cannot name a class folder"):
    spans.write_span(str(tmp_path / "span-1"), "image_folder", [png], ["../up"], ["1"], "image", "text", "label")
  assert not (tmp_path / "span-1").exists()
