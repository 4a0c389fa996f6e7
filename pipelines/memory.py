"""Giving memory back to the system between pipeline components.

LocalDagRunner runs every component in the `modelfab run` process. What a component frees (the Trainer's input
cache, Beam's buffers) stays in the C allocator's heap unless it is trimmed, so the process would carry the biggest
component's memory into the rest of the run, next to the ServingCheck's own process.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import gc


def release_memory(collect_garbage: bool = False) -> bool:
  """Returns freed C heap pages to the system (glibc's malloc_trim; a millisecond); True if trimmed.

  collect_garbage: first run Python's full garbage collection, for memory that only reference cycles still hold
  (0.25 s in a fresh `modelfab run` process, seconds in a long-lived one).
  """
  if collect_garbage:
    gc.collect()
  try:
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    return bool(libc.malloc_trim(0))
  except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to trim
    return False


@contextlib.contextmanager
def imports_kept_out_of_collection():
  """Automatic garbage collection is off inside (where `modelfab run` imports TensorFlow, TFX, Beam and TFMA and
  builds the pipeline). After it, the first time in a process, everything then alive is moved out of the
  collector's reach for good (`gc.freeze`): the million objects those imports create live as long as the process,
  and every full collection walked them all. Measured in a run on 20,000 images: full collections took 3.0 s (9
  of them during the imports, 1.3 s; the one after the Trainer, 0.6 s), 0.4 s with this. Later entries (tests that
  run several pipelines in one process) only pause collection, so no run's garbage is frozen.
  """
  enabled = gc.isenabled()
  gc.disable()
  try:
    yield
  finally:
    if gc.get_freeze_count() == 0:
      gc.freeze()
    if enabled:
      gc.enable()
