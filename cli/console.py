"""Quiet terminal output: library logs go to a log file, the terminal shows modelfab's own lines.

TensorFlow's C++ code writes straight to file descriptor 2 ("Unable to register cuDNN factory", ...), and absl,
Beam, TFX and TFMA log warnings through Python's logging. Unless `--verbose`, `ConsoleLog` points descriptor 2 and
every Python log record and warning at a log file, and keeps `sys.stderr` on the terminal for modelfab's progress,
errors and summary. Child processes (Beam workers, the serving check) inherit descriptor 2, so their logs land in
the same file.
"""
from __future__ import annotations

import datetime
import logging
import os
import shutil
import sys
import tempfile
import warnings
from typing import Optional


def temporary_log_path(command: str) -> str:
  """Where a command logs before (or without) an output dir: the temp dir, one file per process."""
  folder = os.path.join(tempfile.gettempdir(), "modelfab-logs")
  os.makedirs(folder, exist_ok=True)
  stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
  return os.path.join(folder, f"{command}-{stamp}-{os.getpid()}.log")


class _FileHandler(logging.Handler):
  """Writes records to the ConsoleLog's current file (which `move_to` may change)."""

  def __init__(self, console: "ConsoleLog"):
    super().__init__(level=logging.INFO)
    self.console = console
    self.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))

  def emit(self, record):
    try:
      self.console.file.write(self.format(record) + "\n")
      self.console.file.flush()
    except (OSError, ValueError):
      pass  # logging must never fail the command (a full disk, a closed file)


class ConsoleLog:
  """Routes library output to a log file for the duration of a `with` block (a no-op when verbose)."""

  def __init__(self, path: str, verbose: bool = False):
    self.path = path
    self.verbose = verbose
    self.file = None
    self._saved_fd = None
    self._saved_stderr = None
    self._handler = None
    self._saved_levels = {}
    self._saved_filters = []

  def __enter__(self) -> "ConsoleLog":
    if self.verbose:
      return self
    self.file = open(self.path, "a", encoding="utf-8", buffering=1)
    self.file.write(f"=== modelfab {' '.join(sys.argv[1:])} (pid {os.getpid()}, "
                    f"{datetime.datetime.now().isoformat(timespec='seconds')})\n")
    sys.stderr.flush()
    self._saved_fd = os.dup(2)
    os.dup2(self.file.fileno(), 2)
    if _is_real_stderr(sys.stderr):  # under pytest's capsys, sys.stderr is a buffer: leave it
      self._saved_stderr = sys.stderr
      sys.stderr = os.fdopen(os.dup(self._saved_fd), "w", buffering=1, encoding="utf-8", errors="replace")
    self._handler = _FileHandler(self)
    root = logging.getLogger()
    root.addHandler(self._handler)
    self._saved_levels = {h: h.level for h in root.handlers if h is not self._handler}
    for handler in self._saved_levels:  # handlers installed by libraries stay, but say nothing on the terminal
      handler.setLevel(logging.CRITICAL + 1)
    logging.captureWarnings(True)
    self._saved_filters = warnings.filters[:]
    warnings.simplefilter("default")
    return self

  def terminal_fd(self) -> int:
    """The terminal's stderr (descriptor 2 before the block): for a child `modelfab` command, which routes its own
    library logs and keeps its errors and progress for the user."""
    return self._saved_fd if self._saved_fd is not None else 2

  def move_to(self, path: str) -> None:
    """Continues the log at `path` (e.g. in the output dir once it exists), keeping what was written so far."""
    if self.verbose or path == self.path:
      return
    os.makedirs(os.path.dirname(path), exist_ok=True)
    self.file.flush()
    shutil.copyfile(self.path, path)
    new_file = open(path, "a", encoding="utf-8", buffering=1)
    os.dup2(new_file.fileno(), 2)
    old, self.file, old_path, self.path = self.file, new_file, self.path, path
    old.close()
    try:
      os.remove(old_path)
    except OSError:
      pass

  def __exit__(self, *exc_info) -> None:
    if self.verbose:
      return
    logging.captureWarnings(False)
    warnings.filters[:] = self._saved_filters
    root = logging.getLogger()
    root.removeHandler(self._handler)
    for handler, level in self._saved_levels.items():
      handler.setLevel(level)
    sys.stderr.flush()
    if self._saved_stderr is not None:
      sys.stderr.close()
      sys.stderr = self._saved_stderr
    os.dup2(self._saved_fd, 2)
    os.close(self._saved_fd)
    self.file.close()


def _is_real_stderr(stream) -> bool:
  try:
    return stream.fileno() == 2
  except (AttributeError, OSError, ValueError):
    return False


def log_exception(console: Optional[ConsoleLog]) -> Optional[str]:
  """Writes the current exception's traceback to the log; returns the log's path (None when verbose)."""
  if console is None or console.verbose or console.file is None:
    return None
  import traceback  # pylint: disable=g-import-not-at-top

  traceback.print_exc(file=console.file)
  return console.path
