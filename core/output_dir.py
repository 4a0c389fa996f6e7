"""The output dir a run owns: created and checked writable before TFX starts, and locked for one run at a time.

Two runs writing one ML Metadata store and one serving dir at once would each read back the other's run. A run
holds an exclusive `flock` on `<output>/.modelfab.lock` from start to summary. A second run stops at once naming the
holder, or with `wait=True` waits for it. The kernel drops the lock when its process ends, even when killed, so a
stale lock cannot block a later run. Readers (`modelfab runs`, `report`) take no lock: they open ML Metadata read-only.
"""
from __future__ import annotations

import contextlib
import datetime
import errno
import fcntl
import os
import sys
import time
from typing import Iterator

from core.errors import OutputBusy, OutputNotWritable
from core.layout import OutputLayout


def prepare(output: str) -> None:
  """Creates `output` and checks that a file can be written in it; OutputNotWritable otherwise."""
  try:
    os.makedirs(output, exist_ok=True)
    probe = os.path.join(output, f".write-check-{os.getpid()}")
    with open(probe, "w") as f:
      f.write("ok")
      f.flush()
      os.fsync(f.fileno())
    os.remove(probe)
  except OSError as e:
    cause = {errno.ENOSPC: "no space left on the device", errno.EROFS: "read-only file system",
             errno.EACCES: "permission denied"}.get(e.errno, e.strerror or str(e))
    raise OutputNotWritable(f"output dir {output} is not writable: {cause}") from e


def run_in_progress(output: str) -> bool:
  """Whether the process that last took the output dir's lock is still alive (read without locking, so a reader
  never makes a starting run fail as busy)."""
  try:
    with open(OutputLayout(output).lock_path, encoding="utf-8") as f:
      holder = f.read(4096)
  except OSError:
    return False
  if not holder.startswith("pid "):
    return False
  try:
    pid = int(holder[4:].split(",", 1)[0])
    os.kill(pid, 0)
  except (ValueError, ProcessLookupError):
    return False
  except PermissionError:
    return True
  return True


@contextlib.contextmanager
def locked(output: str, wait: bool = False) -> Iterator[None]:
  """Holds the output dir's run lock; raises OutputBusy at once (or waits, with `wait`) when another run has it."""
  path = OutputLayout(output).lock_path
  fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as e:
      holder = os.pread(fd, 4096, 0).decode("utf-8", "replace").strip() or "another process"
      if not wait:
        raise OutputBusy(f"{output} is in use by another modelfab run ({holder}); wait for it to finish, "
                         "pass --wait, or use another --output") from e
      print(f"[modelfab] waiting for the run using {output} ({holder}) to finish ...", flush=True)
      started = time.time()
      fcntl.flock(fd, fcntl.LOCK_EX)
      print(f"[modelfab] output dir free after {time.time() - started:.0f}s", flush=True)
    os.ftruncate(fd, 0)
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    os.pwrite(fd, f"pid {os.getpid()}, started {stamp}: modelfab {' '.join(sys.argv[1:])}".encode(), 0)
    yield
  finally:
    try:
      os.ftruncate(fd, 0)  # the run is over: readers see no holder
    except OSError:
      pass
    os.close(fd)  # releases the lock
