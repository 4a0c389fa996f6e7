"""Server-side batching: concurrent requests merge into one model call, each gets its own rows back."""
import threading

import numpy as np
import pytest

from serving.batching import Batcher


def _double(examples):
  if b"bad" in examples:
    raise ValueError("bad example")
  values = np.array([int(e) for e in examples])
  return {"value": values * 2}


def test_concurrent_requests_share_batches_and_get_their_own_rows():
  sizes = []
  batcher = Batcher(_double, max_batch_size=64, batch_timeout=0.05, on_batch=sizes.append)
  results = {}

  def call(i):
    results[i] = batcher.submit([str(i).encode(), str(i + 1000).encode()])["value"].tolist()

  threads = [threading.Thread(target=call, args=(i,)) for i in range(16)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=30)
  batcher.stop()
  assert results == {i: [2 * i, 2 * (i + 1000)] for i in range(16)}
  assert sum(sizes) == 32 and max(sizes) > 2  # merged: fewer model calls than requests


def test_a_bad_request_fails_alone_and_stop_keeps_answering():
  batcher = Batcher(_double, max_batch_size=8, batch_timeout=0.05)
  outcome = {}

  def call(name, examples):
    try:
      outcome[name] = batcher.submit(examples)["value"].tolist()
    except ValueError as e:
      outcome[name] = str(e)

  threads = [threading.Thread(target=call, args=("good", [b"1"])), threading.Thread(target=call, args=("bad", [b"bad"]))]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=30)
  assert outcome == {"good": [2], "bad": "bad example"}
  batcher.stop()
  assert batcher.submit([b"4"])["value"].tolist() == [8]  # after stop: answered unbatched, never left waiting
  with pytest.raises(ValueError):
    batcher.submit([b"bad"])
