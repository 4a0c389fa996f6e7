"""TextCsvExampleGen's executor on real Beam, and its column configuration as the component stores it."""
import apache_beam as beam
import pytest
import tensorflow as tf

from components import text_csv_example_gen
from core.errors import DataError


def _read(root, exec_properties):
  out = root.parent / "examples"
  with beam.Pipeline() as pipeline:
    _ = (pipeline | text_csv_example_gen._CsvToExample({"input_base": str(root), **exec_properties}, "*.csv")  # pylint: disable=protected-access
         | beam.Map(lambda e: e.SerializeToString())
         | beam.io.WriteToTFRecord(str(out / "part")))
  records = tf.data.TFRecordDataset(tf.io.gfile.glob(str(out / "part*")))
  examples = [tf.train.Example.FromString(r.numpy()) for r in records]
  return sorted((e.features.feature["text"].bytes_list.value[0].decode(),
                 e.features.feature["label"].bytes_list.value[0].decode()) for e in examples)


def test_rows_become_examples_with_configured_columns(tmp_path):
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "a.csv").write_text('review,stars\n"fine, really",5\n"multi\nline",1\n', encoding="utf-8")
  component = text_csv_example_gen.TextCsvExampleGen(input_base=str(tmp_path / "data"), text_column="review",
                                                     label_column="stars")
  exec_properties = {"custom_config": component.exec_properties["custom_config"]}
  assert _read(tmp_path / "data", exec_properties) == [("fine, really", "5"), ("multi\nline", "1")]


def test_bad_file_fails_before_beam_runs(tmp_path):
  (tmp_path / "data").mkdir()
  (tmp_path / "data" / "a.csv").write_text("text,label\n,1\n")
  with pytest.raises(DataError, match=r"a.csv: row 1 .*empty text"):
    _read(tmp_path / "data", {})


def test_only_the_chosen_spans_are_read(tmp_path):
  for span, text in ((1, "old"), (2, "kept"), (3, "newest")):
    (tmp_path / "data" / f"span-{span}").mkdir(parents=True)
    (tmp_path / "data" / f"span-{span}" / "part.csv").write_text(f"text,label\n{text},x\n")
  component = text_csv_example_gen.TextCsvExampleGen(input_base=str(tmp_path / "data"),
                                                     spans=[(2, "span-2"), (3, "span-3")])
  exec_properties = {"custom_config": component.exec_properties["custom_config"]}
  assert _read(tmp_path / "data", exec_properties) == [("kept", "x"), ("newest", "x")]
