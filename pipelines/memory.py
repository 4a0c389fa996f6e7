"""Giving memory back to the system between pipeline components.

LocalDagRunner runs every component in the `modelfab run` process. What a component frees (the Trainer's input
cache, Beam's buffers) stays in the C allocator's heap unless it is trimmed, so the process would carry the biggest
component's memory into the rest of the run, next to the ServingCheck's own process.
"""
from __future__ import annotations

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
