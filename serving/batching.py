"""Server-side batching, as TF Serving does it: concurrent requests are merged into one model call.

Each request hands its examples to the Batcher and waits. A worker thread takes what is queued, up to
`max_batch_size` examples, calls the model once, and hands each request its own rows of the result. It waits up to
`batch_timeout` seconds for more only while other requests are in flight (submitted, not yet queued). A lone
request (nothing else in flight, the worker idle) runs at once in the caller's thread: no timeout, no hand-over.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import Future
from typing import Callable, Dict, List, Optional

import numpy as np

BatchFn = Callable[[List[bytes]], Dict[str, np.ndarray]]


class Batcher:
  """Merges concurrent `submit` calls into batches for `batch_fn` (serialized examples in, arrays out)."""

  def __init__(self, batch_fn: BatchFn, max_batch_size: int = 32, batch_timeout: float = 0.002,
               on_batch: Optional[Callable[[int], None]] = None):
    self.batch_fn = batch_fn
    self.max_batch_size = max_batch_size
    self.batch_timeout = batch_timeout
    self.on_batch = on_batch
    self._queue: "queue.Queue" = queue.Queue()
    self._closed = False
    self._inflight = 0  # submit() calls not yet answered
    self._inline = 0  # of those, lone ones running in their caller's thread
    self._busy = False  # the worker is running a batch
    self._inflight_lock = threading.Lock()
    self._close_lock = threading.Lock()
    self._worker = threading.Thread(target=self._loop, name="modelfab-batcher", daemon=True)
    self._worker.start()

  def submit(self, examples: List[bytes]) -> Dict[str, np.ndarray]:
    """Runs `examples` in the next batch; returns their rows of every output (raises what the model raised)."""
    future: Future = Future()
    with self._close_lock:
      if self._closed:  # a request that picked this version just before it was retired still gets an answer
        return self.batch_fn(examples)
      with self._inflight_lock:
        self._inflight += 1
        alone = self._inflight == 1 and not self._busy
        if alone:
          self._inline += 1
      if not alone:
        self._queue.put((examples, future))
    try:
      if alone:
        outputs = self.batch_fn(examples)
        if self.on_batch:
          self.on_batch(len(examples))
        return outputs
      return future.result()
    finally:
      with self._inflight_lock:
        self._inflight -= 1
        if alone:
          self._inline -= 1

  def stop(self) -> None:
    """Answers everything already queued, then ends the worker; later submits run unbatched."""
    with self._close_lock:
      self._closed = True
      self._queue.put(None)
    self._worker.join(timeout=30)

  def _loop(self) -> None:
    stopping = False
    while not stopping:
      first = self._queue.get()
      if first is None:
        return
      with self._inflight_lock:
        self._busy = True
      pending = [first]
      size = len(first[0])
      deadline = time.monotonic() + self.batch_timeout
      while size < self.max_batch_size:
        remaining = deadline - time.monotonic()
        with self._inflight_lock:
          others_coming = self._inflight - self._inline > len(pending)
        try:
          if remaining > 0 and others_coming:
            item = self._queue.get(timeout=remaining)
          else:
            item = self._queue.get_nowait()
        except queue.Empty:
          break
        if item is None:
          stopping = True
          break
        pending.append(item)
        size += len(item[0])
      try:
        self._run(pending, size)
      finally:
        with self._inflight_lock:
          self._busy = False

  def _run(self, pending, size: int) -> None:
    examples = [e for request, _ in pending for e in request]
    try:
      outputs = self.batch_fn(examples)
    except Exception as e:  # pylint: disable=broad-except
      if len(pending) == 1:
        pending[0][1].set_exception(e)
        return
      for request, future in pending:  # one bad request must not fail the others: run each alone
        try:
          future.set_result(self.batch_fn(request))
        except Exception as single:  # pylint: disable=broad-except
          future.set_exception(single)
      return
    if self.on_batch:
      self.on_batch(size)
    start = 0
    for request, future in pending:
      future.set_result({k: v[start:start + len(request)] for k, v in outputs.items()})
      start += len(request)
