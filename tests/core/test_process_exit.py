"""core.process_exit: a fast exit that keeps what a normal exit does."""
import subprocess
import sys

from conftest import REPO


def test_exit_without_teardown_still_joins_threads_runs_exit_handlers_and_flushes_output(tmp_path):
  """`exit_without_teardown` (the `modelfab` command's and the serving check's exit) keeps what a normal exit does:
  other threads finish, exit handlers run, buffered output is written, and the status is the one given."""
  script = f"""
import atexit, sys, threading, time

from core import process_exit
out = {str(tmp_path)!r}
def late_write():
  time.sleep(0.5)
  open(out + "/thread-done", "w").close()
threading.Thread(target=late_write).start()
atexit.register(lambda: open(out + "/handler-ran", "w").close())
print("no newline at the end", end="")
process_exit.exit_without_teardown(7)
print("never")
"""
  result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=60)
  assert result.returncode == 7 and result.stdout == "no newline at the end"
  assert (tmp_path / "thread-done").exists() and (tmp_path / "handler-ran").exists()


def test_the_command_exits_through_it():
  from cli import main as cli  # pylint: disable=g-import-not-at-top
  from core import process_exit  # pylint: disable=g-import-not-at-top

  assert cli.exit_without_teardown is process_exit.exit_without_teardown
