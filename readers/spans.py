"""Data that arrives in spans: `--data 'incoming/span-{SPAN}'` names one folder per span, numbered.

TFX's ExampleGen spells a span as `{SPAN}` in an input pattern; modelfab does the same. The token stands for the
digits of one path component (`span-{SPAN}` matches `span-3` and `span-0012`, whose number is 12), and each match is
a folder holding what `--data` would hold without spans: class folders of images, CSV files, or TFRecord files.

A span is read only when it is complete: when its folder holds `_SUCCESS` (SPAN_DONE_MARKER, the marker Hadoop,
Spark and Beam's file sinks write last). A folder without it is still being written and is skipped with a note, so
a producer copies the files first and writes the marker at the end.

`--spans` chooses among the complete spans: `latest` (the default), `all`, `N` (a rolling window: the latest N) or
`A-B` (every span from A to B, each of which must be there and complete).
"""
from __future__ import annotations

import dataclasses
import glob
import os
import re
from typing import List, Optional, Tuple

from core import json_files
from core.errors import DataError, UsageError
from core.features import RAW_LABEL_KEY, SPAN_DONE_MARKER

SPAN_TOKEN = "{SPAN}"
PROVENANCE_FILE = ".modelfab-span.json"  # where a span modelfab wrote came from (hidden: the readers skip it)
SPANS_HELP = "latest (default), all, N (the latest N) or A-B (spans A to B)"


@dataclasses.dataclass(frozen=True)
class Span:
  number: int
  path: str  # the span's folder
  complete: bool  # it holds SPAN_DONE_MARKER


def has_span_token(data: str) -> bool:
  return SPAN_TOKEN in (data or "")


def _split_pattern(pattern: str):
  """(parent folder, the component with the token, what follows it) of a span pattern; UsageError when it cannot
  be one."""
  if pattern.count(SPAN_TOKEN) != 1:
    raise UsageError(f"--data {pattern}: a span pattern holds {SPAN_TOKEN} exactly once")
  if "://" in pattern:
    raise UsageError(f"--data {pattern}: spans are read from local folders")
  parts = os.path.normpath(pattern).split(os.sep)
  index = next(i for i, part in enumerate(parts) if SPAN_TOKEN in part)
  if any(c in part for part in parts for c in "*?["):
    raise UsageError(f"--data {pattern}: a span pattern has no other wildcard than {SPAN_TOKEN}")
  parent = os.sep.join(parts[:index]) or ("/" if pattern.startswith("/") else ".")
  return parent, parts[index], os.sep.join(parts[index + 1:])


def pattern_root(pattern: str) -> Tuple[str, str]:
  """(the folder above the spans, a glob of the span folders relative to it: `{SPAN}` as `*`)."""
  parent, component, rest = _split_pattern(pattern)
  folders = component.replace(SPAN_TOKEN, "*")
  return parent, os.path.join(folders, rest) if rest else folders


def list_spans(pattern: str) -> List[Span]:
  """Every folder matching `pattern`, by span number (complete or not); UsageError for a malformed pattern,
  DataError when two folders have the same number."""
  parent, component, rest = _split_pattern(pattern)
  before, after = component.split(SPAN_TOKEN)
  matcher = re.compile(re.escape(before) + r"(\d+)" + re.escape(after) + r"\Z")
  spans = {}
  for candidate in sorted(glob.glob(os.path.join(glob.escape(parent), glob.escape(before) + "*" + glob.escape(after)))):
    match = matcher.match(os.path.basename(candidate))
    path = os.path.join(candidate, rest) if rest else candidate
    if not match or not os.path.isdir(path):
      continue
    number = int(match.group(1))
    if number in spans:
      raise DataError(f"{path} and {spans[number].path} are both span {number}")
    spans[number] = Span(number, path, os.path.exists(os.path.join(path, SPAN_DONE_MARKER)))
  return [spans[n] for n in sorted(spans)]


def parse_selection(value: Optional[str]) -> str:
  """`--spans` checked and normalized; UsageError naming the flag otherwise."""
  value = (value or "latest").strip().lower()
  if value in ("latest", "all") or re.fullmatch(r"[1-9]\d*", value):
    return value
  match = re.fullmatch(r"(\d+)-(\d+)", value)
  if match and int(match.group(1)) <= int(match.group(2)):
    return f"{int(match.group(1))}-{int(match.group(2))}"
  raise UsageError(f"--spans {value!r}: expected {SPANS_HELP}")


def select_spans(pattern: str, selection: Optional[str] = None, notes: Optional[List[str]] = None) -> List[Span]:
  """The complete spans `selection` chooses, oldest first; DataError naming the pattern or the span when none
  fits, or when a span in an `A-B` range is missing, not complete, or empty. A skipped incomplete span is noted."""
  selection = parse_selection(selection)
  spans = list_spans(pattern)
  complete = [s for s in spans if s.complete]
  if not spans:
    raise DataError(f"--data {pattern}: no folder matches (a span is a folder whose name has digits where "
                    f"{SPAN_TOKEN} is)")
  if not complete:
    raise DataError(f"--data {pattern}: no complete span among {', '.join(s.path for s in spans)} (a span is read "
                    f"once its folder holds {SPAN_DONE_MARKER}, written after its files)")
  if notes is not None:
    for span in spans:
      if not span.complete and span.number > complete[0].number:
        notes.append(f"span {span.number} ({span.path}) has no {SPAN_DONE_MARKER} yet: still being written, not read")
  if selection == "latest":
    chosen = complete[-1:]
  elif selection == "all":
    chosen = complete
  elif "-" in selection:
    first, last = (int(x) for x in selection.split("-"))
    by_number = {s.number: s for s in spans}
    for number in range(first, last + 1):
      if number not in by_number:
        raise DataError(f"--spans {selection}: span {number} of {pattern} does not exist")
      if not by_number[number].complete:
        raise DataError(f"--spans {selection}: span {number} ({by_number[number].path}) is not complete (no "
                        f"{SPAN_DONE_MARKER})")
    chosen = [by_number[n] for n in range(first, last + 1)]
  else:
    chosen = complete[-int(selection):]
  for span in chosen:
    if not [n for n in os.listdir(span.path) if n != SPAN_DONE_MARKER and not n.startswith(".")]:
      raise DataError(f"{span.path}: span {span.number} is empty (only its {SPAN_DONE_MARKER} marker)")
  return chosen


def describe(numbers: List[int]) -> str:
  """'3', '3-5' or '1,4,5'."""
  numbers = sorted(numbers)
  if len(numbers) > 1 and numbers == list(range(numbers[0], numbers[-1] + 1)):
    return f"{numbers[0]}-{numbers[-1]}"
  return ",".join(str(n) for n in numbers)


def read_span_inputs(folder: str, data_format: str, input_key: str, text_column: str, label_column: str,
                     limit: int = 5000) -> Tuple[List[bytes], List[str]]:
  """(raw inputs, labels) of up to `limit` examples of one span folder, evenly spaced through it: image bytes or
  UTF-8 texts, as the ExampleGen would put them in `input_key`."""
  if data_format == "image_folder":
    from readers import image_folder  # pylint: disable=g-import-not-at-top

    files = _evenly(image_folder.list_image_folder(folder, check_decodable=False), limit)
    values = []
    for f in files:
      with open(f.path, "rb") as handle:
        values.append(handle.read())
    return values, [f.label for f in files]
  if data_format == "text_csv":
    from readers import text_csv  # pylint: disable=g-import-not-at-top

    rows = _evenly([row for path in text_csv.list_csv_files(folder)
                    for row in text_csv.read_text_csv(path, text_column, label_column)], limit)
    return [text.encode("utf-8") for text, _ in rows], [label for _, label in rows]
  if data_format == "tfrecord":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    from readers import tfrecords  # pylint: disable=g-import-not-at-top

    pairs = []
    for path in tfrecords.record_files(folder):
      for record in tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else ""):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        label = feature[RAW_LABEL_KEY]
        label_value = label.bytes_list.value[0].decode("utf-8") if label.bytes_list.value else str(
            label.int64_list.value[0])
        pairs.append((feature[input_key].bytes_list.value[0], label_value))
    pairs = _evenly(pairs, limit)
    return [v for v, _ in pairs], [l for _, l in pairs]
  raise DataError(f"unknown data format {data_format!r}")


def next_span_folder(pattern: str) -> Tuple[int, str]:
  """(number, folder) of the span after the newest one matching `pattern`, its digits as wide as the newest's
  (`span-0007` -> `span-0008`); span 1 when none exists yet. The folder is not created."""
  parent, component, rest = _split_pattern(pattern)
  existing = list_spans(pattern)
  number = existing[-1].number + 1 if existing else 1
  width = 1
  if existing:
    before, after = component.split(SPAN_TOKEN)
    name = os.path.relpath(existing[-1].path, parent).split(os.sep)[0]
    width = len(name) - len(before) - len(after)
  folder = os.path.join(parent, component.replace(SPAN_TOKEN, str(number).zfill(width)))
  return number, os.path.join(folder, rest) if rest else folder


def image_extension(data: bytes) -> str:
  """'.png' or '.jpg' by the bytes' signature; DataError for anything else (the image readers take only those)."""
  if data.startswith(b"\x89PNG\r\n\x1a\n"):
    return ".png"
  if data.startswith(b"\xff\xd8\xff"):
    return ".jpg"
  raise DataError(f"not a PNG or JPEG image (it starts with {data[:8]!r})")


def provenance(folder: str) -> dict:
  """What PROVENANCE_FILE in a span's folder says; {} when there is none or it cannot be read."""
  return json_files.read_json(folder, PROVENANCE_FILE) or {}


def write_span(folder: str, data_format: str, inputs: List[bytes], labels: List[str], ids: List[str],
               input_key: str, text_column: str, label_column: str, provenance: Optional[dict] = None) -> str:
  """Writes one span as `--data` would hold it, `_SUCCESS` last: an image per input under `<label>/<id>.<ext>`,
  `examples.csv` (text, label) or `examples.tfrecord` (tf.Examples of `input_key` and the label), plus `provenance`
  as PROVENANCE_FILE (a hidden file: the readers skip it). Refuses an existing folder. Returns the folder."""
  if os.path.exists(folder):
    raise DataError(f"{folder}: already exists; a span is written once")
  if data_format == "image_folder":  # checked before anything is written
    names = [re.sub(r"[^\w.-]", "_", key) + image_extension(value) for value, key in zip(inputs, ids)]
    for label in labels:
      if not label.strip() or label != label.strip() or "/" in label or label.startswith("."):
        raise DataError(f"label {label!r} cannot name a class folder")
  os.makedirs(folder)
  if data_format == "image_folder":
    for value, label, name in zip(inputs, labels, names):
      os.makedirs(os.path.join(folder, label), exist_ok=True)
      with open(os.path.join(folder, label, name), "wb") as f:
        f.write(value)
  elif data_format == "text_csv":
    import csv  # pylint: disable=g-import-not-at-top

    with open(os.path.join(folder, "examples.csv"), "w", newline="", encoding="utf-8") as f:
      writer = csv.writer(f)
      writer.writerow([text_column, label_column])
      writer.writerows((value.decode("utf-8"), label) for value, label in zip(inputs, labels))
  elif data_format == "tfrecord":
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    with tf.io.TFRecordWriter(os.path.join(folder, "examples.tfrecord")) as writer:
      for value, label in zip(inputs, labels):
        writer.write(tf.train.Example(features=tf.train.Features(feature={
            input_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value])),
            RAW_LABEL_KEY: tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode("utf-8")])),
        })).SerializeToString())
  else:
    raise DataError(f"unknown data format {data_format!r}")
  if provenance is not None:
    import json  # pylint: disable=g-import-not-at-top

    with open(os.path.join(folder, PROVENANCE_FILE), "w", encoding="utf-8") as f:
      json.dump(provenance, f, indent=2)
  with open(os.path.join(folder, SPAN_DONE_MARKER), "w", encoding="utf-8"):
    pass  # written last: the span is complete
  return folder


def _evenly(items: list, limit: int) -> list:
  if len(items) <= limit:
    return items
  step = len(items) / limit
  return [items[int(i * step)] for i in range(limit)]
