"""Labelled text from CSV: quoting, UTF-8, and errors that name the file and row or column."""
import pytest

from readers import text_csv
from core.errors import DataError


def _write(path, content, encoding="utf-8"):
  path.write_bytes(content.encode(encoding))
  return path


def test_quoted_commas_newlines_and_utf8(tmp_path):
  path = _write(tmp_path / "reviews.csv",
                'text,label\n"Great, truly great",pos\n"Two\nlines ""quoted""",neg\nCafé naïve 中文 😀,pos\n')
  assert text_csv.read_text_csv(str(path)) == [
      ("Great, truly great", "pos"), ('Two\nlines "quoted"', "neg"), ("Café naïve 中文 😀", "pos")]


def test_configurable_columns_and_bom(tmp_path):
  path = _write(tmp_path / "r.csv", "\ufeffid,review,sentiment\n1,good,1\n2,bad,0\n")
  assert text_csv.read_text_csv(str(path), "review", "sentiment") == [("good", "1"), ("bad", "0")]


def test_missing_column_is_named(tmp_path):
  path = _write(tmp_path / "r.csv", "review,label\nx,1\n")
  with pytest.raises(DataError, match=r"r.csv: missing column\(s\) \['text'\]"):
    text_csv.read_text_csv(str(path))


def test_empty_text_names_file_and_row(tmp_path):
  path = _write(tmp_path / "r.csv", 'text,label\ngood,1\n"  ",0\n')
  with pytest.raises(DataError, match=r"r.csv: row 2 \(line 3\): empty text"):
    text_csv.read_text_csv(str(path))


def test_short_row_and_non_utf8_are_named(tmp_path):
  with pytest.raises(DataError, match=r"row 1 .* has 1 field\(s\), expected 2"):
    text_csv.read_text_csv(str(_write(tmp_path / "a.csv", "text,label\nlonely\n")))
  with pytest.raises(DataError, match="b.csv: not UTF-8"):
    text_csv.read_text_csv(str(_write(tmp_path / "b.csv", "text,label\ncafé,1\n", encoding="latin-1")))


def test_single_class_and_missing_data_are_refused(tmp_path):
  _write(tmp_path / "a.csv", "text,label\ngood,pos\nfine,pos\n")
  with pytest.raises(DataError, match="single class"):
    text_csv.check_text_data(str(tmp_path))
  with pytest.raises(DataError, match="does not exist"):
    text_csv.check_text_data(str(tmp_path / "nope"))
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match="no .csv files"):
    text_csv.check_text_data(str(tmp_path / "empty"))


def test_classes_across_files(tmp_path):
  _write(tmp_path / "a.csv", "text,label\ngood,pos\n")
  _write(tmp_path / "b.csv", "text,label\nbad,neg\n")
  assert text_csv.check_text_data(str(tmp_path)) == ["neg", "pos"]
