"""Server-side batching: concurrent requests merge into one model call, each gets its own rows back."""
import threading
import time

import numpy as np
import pytest

from serving.batching import Batcher


def _double(examples):
  if b"bad" in examples:
    raise ValueError("bad example")
  values = np.array([int(e) for e in examples])
  return {"value": values * 2}


def test_concurrent_requests_share_batches_and_get_their_own_rows():
  sizes, requests = [], 16
  all_queued = threading.Event()

  def first_waits_for_the_rest(examples):
    # The first model calls (the lone request, run in its caller's thread, and the worker's first batch) return
    # only once every request has been submitted, so all the others wait in the queue and the next batch must merge
    # them: no reliance on thread timing.
    if not sizes and not all_queued.is_set():
      waited = 0.0
      # (all_queued: the other blocked call saw every request submitted, and its own has since been answered)
      inflight = lambda: batcher._inflight  # pylint: disable=protected-access
      while inflight() < requests and not all_queued.is_set() and waited < 30:
        time.sleep(0.01)
        waited += 0.01
      all_queued.set()
    return _double(examples)

  batcher = Batcher(first_waits_for_the_rest, max_batch_size=64, batch_timeout=0.05, on_batch=sizes.append)
  results = {}

  def call(i):
    results[i] = batcher.submit([str(i).encode(), str(i + 1000).encode()])["value"].tolist()

  threads = [threading.Thread(target=call, args=(i,)) for i in range(requests)]
  for t in threads:
    t.start()
  for t in threads:
    t.join(timeout=60)
  batcher.stop()
  assert results == {i: [2 * i, 2 * (i + 1000)] for i in range(requests)}
  # 16 requests in at most 3 model calls: the lone first one, the worker's first batch (the requests that came
  # within its timeout), then every other request merged into one batch.
  assert sum(sizes) == 2 * requests and len(sizes) <= 3


def test_a_lone_request_runs_in_the_callers_thread_without_waiting():
  threads = []
  batcher = Batcher(lambda examples: threads.append(threading.current_thread()) or _double(examples),
                    max_batch_size=8, batch_timeout=5.0)
  started = time.perf_counter()
  assert batcher.submit([b"3"])["value"].tolist() == [6]
  assert time.perf_counter() - started < 1.0 and threads == [threading.current_thread()]
  batcher.stop()


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
