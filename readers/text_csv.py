"""Reading labelled text from CSV files and checking it before any work is done (no TFX imports).

Quoted fields may hold commas and newlines; files must be UTF-8 (a BOM is accepted). Errors name the file and the
data row (1 = the first row after the header) or the column.
"""
from __future__ import annotations

import csv
import os
from typing import List, Tuple

from core.errors import DataError
from core.features import RAW_LABEL_KEY, TEXT_KEY


def list_csv_files(data: str) -> List[str]:
  """`data` itself when it is a file, else the sorted *.csv files in the folder `data`."""
  if not os.path.exists(data):
    raise DataError(f"data path does not exist: {data}")
  if os.path.isfile(data):
    return [data]
  files = sorted(os.path.join(data, n) for n in os.listdir(data) if n.lower().endswith(".csv"))
  if not files:
    raise DataError(f"{data}: no .csv files in this folder")
  return files


def read_text_csv(path: str, text_column: str = TEXT_KEY, label_column: str = RAW_LABEL_KEY) -> List[Tuple[str, str]]:
  """(text, label) rows of one CSV file with a header row; raises DataError naming the file and row or column.

  Accepted: a UTF-8 BOM, CRLF line ends, quoted commas and newlines, extra columns. Refused: an empty file, a header
  without the two columns or with a duplicate column name, a row with more or fewer fields than the header, an empty
  text or label, NUL bytes, text that is not UTF-8.
  """
  try:
    with open(path, newline="", encoding="utf-8-sig") as f:
      reader = csv.reader(f)
      header = next(reader, None)
      if header is None:
        raise DataError(f"{path}: empty file; expected a header row with columns '{text_column}' and "
                        f"'{label_column}'")
      header = [h.strip() for h in header]
      duplicates = sorted({h for h in header if header.count(h) > 1})
      if duplicates:
        raise DataError(f"{path}: header names column(s) {duplicates} more than once")
      missing = [c for c in (text_column, label_column) if c not in header]
      if missing:
        raise DataError(f"{path}: missing column(s) {missing}; the header (line 1) has {header}")
      text_index, label_index = header.index(text_column), header.index(label_column)
      rows = []
      for row_number, fields in enumerate(reader, start=1):
        where = f"{path}: row {row_number} (line {reader.line_num})"
        if not fields:
          continue  # a blank line
        if len(fields) != len(header):
          raise DataError(f"{where} has {len(fields)} field(s), expected {len(header)} as in the header (an unquoted comma or quote?)")
        text, label = fields[text_index], fields[label_index]
        if not text.strip():
          raise DataError(f"{where}: empty text in column '{text_column}'")
        if not label.strip():
          raise DataError(f"{where}: empty label in column '{label_column}'")
        rows.append((text, label.strip()))
  except UnicodeDecodeError as e:
    raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from e
  except csv.Error as e:
    raise DataError(f"{path}: malformed CSV ({e})") from e
  except OSError as e:
    raise DataError(f"{path}: cannot read ({e.strerror})") from e
  if not rows:
    raise DataError(f"{path}: no data rows after the header")
  return rows


def check_text_data(data: str, text_column: str = TEXT_KEY, label_column: str = RAW_LABEL_KEY) -> List[str]:
  """Reads every CSV file under `data`; returns the sorted class names (at least two, else DataError)."""
  labels = set()
  for path in list_csv_files(data):
    labels.update(label for _, label in read_text_csv(path, text_column, label_column))
  by_case = {}
  for label in sorted(labels):
    by_case.setdefault(label.casefold(), []).append(label)
  clashes = [names for names in by_case.values() if len(names) > 1]
  if clashes:
    raise DataError(f"{data}: labels {clashes[0]} differ only in case; they would be different classes. "
                    "Use one spelling")
  if len(labels) < 2:
    raise DataError(f"{data}: the label column '{label_column}' has a single class {sorted(labels)}; "
                    "a classifier needs at least two")
  return sorted(labels)
