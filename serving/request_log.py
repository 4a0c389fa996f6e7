"""Request logging: a share of requests written as tf.Examples to rotating TFRecord files, for the monitor.

`<output>/request_logs/<model>/requests-<start>-<pid>-<id>-<n>.tfrecord` holds one tf.Example per logged example: the raw
features the client sent, plus `modelfab_request_id`, `modelfab_version`, `modelfab_time_ms` (Unix milliseconds),
`modelfab_label` and `modelfab_score`. A writer thread does the I/O from a bounded queue. A request never waits for
the log and never fails because of it: a full queue drops the record, and a write error (an unwritable folder, a full
disk) becomes one warning and a count in `modelfab_request_log_errors_total`.
"""
from __future__ import annotations

import logging
import os
import queue
import random
import threading
import time
import uuid
from typing import Callable, Dict, List, Optional

import numpy as np

from core.layout import OutputLayout

PREFIX = "modelfab_"


class RequestLogger:
  """Samples requests at `rate` (0..1) and writes them in the background."""

  def __init__(self, output: str, rate: float, records_per_file: int = 10_000, queue_size: int = 10_000,
               on_error: Optional[Callable[[str], None]] = None):
    if not 0.0 <= rate <= 1.0:
      raise ValueError(f"--log-requests must be between 0 and 1, got {rate}")
    self.root = OutputLayout(output).request_logs_root
    self.rate = rate
    self.records_per_file = records_per_file
    self.on_error = on_error or (lambda reason: None)
    self._queue: "queue.Queue" = queue.Queue(maxsize=queue_size)
    self._writers: Dict[str, tuple] = {}  # model -> (writer, path, records written, file number)
    self._warned = False
    self._started = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:6]}"  # never reused
    self._thread = threading.Thread(target=self._loop, name="modelfab-request-log", daemon=True)
    if rate > 0:
      self._thread.start()

  def log(self, model: str, version: int, request_id: str, examples: List[bytes], outputs: Dict[str, np.ndarray]):
    """Queues the request with probability `rate`; never blocks, never raises."""
    if self.rate <= 0 or random.random() >= self.rate:
      return
    try:
      self._queue.put_nowait((model, version, request_id, time.time(), examples, outputs["label"], outputs["score"]))
    except queue.Full:
      self.on_error("queue_full")

  def close(self) -> None:
    if self.rate > 0:
      self._queue.put(None)
      self._thread.join(timeout=30)

  def _loop(self) -> None:
    while True:
      item = self._queue.get()
      if item is None:
        break
      try:
        self._write(*item)
      except Exception as e:  # pylint: disable=broad-except
        self.on_error("write")
        if not self._warned:
          logging.warning("request logging to %s failed (%s); requests are still served", self.root, e)
          print(f"[modelfab] warning: request logging to {self.root} failed ({e}); serving goes on", flush=True)
          self._warned = True
    for writer, *_ in self._writers.values():
      writer.close()

  def _write(self, model, version, request_id, when, examples, labels, scores) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    writer, path, count, number = self._writers.get(model, (None, None, 0, 0))
    if writer is None or count >= self.records_per_file:
      if writer is not None:
        writer.close()
      folder = os.path.join(self.root, model)
      os.makedirs(folder, exist_ok=True)
      number += 1
      path = os.path.join(folder, f"requests-{self._started}-{number}.tfrecord")
      writer, count = tf.io.TFRecordWriter(path), 0
    for serialized, label, score in zip(examples, labels, scores):
      example = tf.train.Example.FromString(serialized)
      extra = example.features.feature
      extra[PREFIX + "request_id"].bytes_list.value.append(request_id.encode())
      extra[PREFIX + "version"].int64_list.value.append(int(version))
      extra[PREFIX + "time_ms"].int64_list.value.append(int(when * 1000))  # float32 would round to 128 s
      extra[PREFIX + "label"].bytes_list.value.append(bytes(label))
      extra[PREFIX + "score"].float_list.value.append(float(score))
      writer.write(example.SerializeToString())
      count += 1
    writer.flush()
    self._writers[model] = (writer, path, count, number)


def read_request_logs(output: str, model: str, since: float = 0.0) -> List[Dict[str, object]]:
  """The logged examples of `model` at or after `since` (Unix seconds), as dicts of plain values, oldest first."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  folder = OutputLayout(output).request_logs_dir(model)
  if not os.path.isdir(folder):
    return []
  rows = []
  for name in sorted(os.listdir(folder)):
    if not name.endswith(".tfrecord"):
      continue
    try:
      for record in tf.data.TFRecordDataset(os.path.join(folder, name)):
        feature = tf.train.Example.FromString(record.numpy()).features.feature
        row = {key: (list(value.bytes_list.value) or list(value.int64_list.value) or list(value.float_list.value))[0]
               for key, value in feature.items()}
        if row.get(PREFIX + "time_ms", 0) >= since * 1000:
          rows.append(row)
    except tf.errors.DataLossError:
      continue  # the file a running server is writing may end mid-record; what came before is kept
  return sorted(rows, key=lambda r: r.get(PREFIX + "time_ms", 0))
