"""Faults: a run SIGKILLed in each component, then re-run; a push killed mid-copy; a full disk; a read-only output
dir; two runs on one output dir. Nothing is lost and no half-copied version ever appears under serving/."""
import errno
import fcntl
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO, copy_digits_subset
from components import atomic_pusher
from cli import formatting
from cli import main as cli
from core import output_dir
from inference import run_summary

MODELFAB = [sys.executable, "-m", "cli.main"]
EPOCHS = 12


def _complete_versions_only(serving: pathlib.Path):
  """Every entry under serving/<model> is a hidden temp copy or a whole version; returns the versions."""
  if not serving.exists():
    return []
  versions = []
  for entry in serving.iterdir():
    if entry.name.startswith("."):
      continue
    assert entry.name.isdigit(), entry
    assert (entry / "saved_model.pb").is_file() and (entry / "variables" / "variables.index").is_file(), entry
    assert (entry / "assets.extra" / "modelfab.json").is_file(), entry
    versions.append(entry.name)
  return sorted(versions)


def _run_until(argv, pattern, after_seconds=0.0, timeout=600):
  """Starts `modelfab run`; SIGKILLs its whole process group once a line matches `pattern`. Returns the output."""
  process = subprocess.Popen(MODELFAB + argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             start_new_session=True)
  lines, deadline = [], time.time() + timeout
  for line in process.stdout:
    lines.append(line)
    if re.search(pattern, line):
      time.sleep(after_seconds)
      os.killpg(process.pid, signal.SIGKILL)
      break
    assert time.time() < deadline, "".join(lines)
  process.wait(timeout=60)
  assert process.returncode == -signal.SIGKILL, "".join(lines)[-3000:]
  return "".join(lines)


@pytest.mark.e2e
def test_sigkill_in_each_component_then_the_same_command_completes(tmp_path):
  data = copy_digits_subset(tmp_path / "my digits", per_class=20)
  (data / "3").rename(data / "drei ü")  # spaces and non-ASCII in paths and class names, through every component
  output = tmp_path / "out"
  argv = ["run", "--data", str(data), "--output", str(output), "--epochs", str(EPOCHS), "--min-accuracy", "0.3"]
  serving = output / "serving" / "digits-cnn"

  store = str(output / "metadata.sqlite")
  states = lambda: run_summary.list_runs(store)[-1].components

  _run_until(argv, r"^\[modelfab\] ImageExampleGen \.\.\.", 0.1)
  assert _complete_versions_only(serving) == []
  # On 200 images ImageExampleGen may finish before the kill lands (or the kill may land before the run is recorded):
  # an unfinished one must run again, a finished one not.
  first = states()["ImageExampleGen"] if os.path.exists(store) else "not recorded"
  assert first in ("not recorded", "interrupted", "ran"), first
  killed_in_example_gen = first != "ran"
  _run_until(argv, r"^\[modelfab\] Transform \.\.\.", 1.0)
  assert states()["ImageExampleGen"] == ("ran" if killed_in_example_gen else "cached")
  assert states()["Transform"] == "interrupted"  # killed, not running
  _run_until(argv, rf"^Epoch 4/{EPOCHS}", 0.0)  # three epochs done, each backed up
  assert states()["ImageExampleGen"] == "cached" and states()["Transform"] == "ran"
  assert states()["Trainer"] == "interrupted"
  assert formatting.format_runs(run_summary.list_runs(store)).splitlines()[-1].split()[5:8] == [
      "interrupted", "in", "Trainer"]
  fourth = _run_until(argv, r"^\[modelfab\] Pusher \.\.\.", 0.0)
  first_epoch = re.search(r"^Epoch (\d+)/", fourth, re.M)
  assert first_epoch and int(first_epoch.group(1)) >= 4, fourth  # resumed from BackupAndRestore, not epoch 1
  assert states()["Transform"] == "cached" and states()["Trainer"] == "ran"
  versions_after_kill = _complete_versions_only(serving)

  final = subprocess.run(MODELFAB + argv, cwd=REPO, capture_output=True, text=True, timeout=600)
  assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert summary.components["ImageExampleGen"] == "cached" and summary.components["Transform"] == "cached"
  assert summary.components["Trainer"] == "cached" and summary.blessed
  assert summary.pushed_to and pathlib.Path(summary.pushed_to).parent == serving
  versions = _complete_versions_only(serving)
  assert set(versions_after_kill) <= set(versions) and len(versions) >= 1  # nothing lost
  assert not [e for e in serving.iterdir() if e.name.startswith(atomic_pusher.TEMP_PREFIX)]
  from inference import predict  # pylint: disable=g-import-not-at-top

  labels = [label for label, _ in predict.predict_images(str(serving), [str(REPO / "data/digits/3/0003.png")])]
  assert labels[0] in {"0", "1", "2", "drei ü", "4", "5", "6", "7", "8", "9"}
  assert len(run_summary.list_runs(str(output / "metadata.sqlite"))) == (4 if first == "not recorded" else 5)


def _fake_model(path: pathlib.Path, megabytes: int) -> pathlib.Path:
  (path / "variables").mkdir(parents=True)
  for i in range(megabytes):
    (path / "variables" / f"shard-{i}").write_bytes(os.urandom(1 << 20))
  (path / "variables" / "variables.index").write_bytes(b"index")
  (path / "saved_model.pb").write_bytes(b"graph")
  return path


@pytest.mark.e2e
def test_push_killed_mid_copy_leaves_no_version_and_the_next_push_cleans_up(tmp_path):
  model = _fake_model(tmp_path / "model", megabytes=300)
  base = tmp_path / "serving"
  code = ("import sys; from components.atomic_pusher import push_atomically; "
          "push_atomically(sys.argv[1], sys.argv[2])")
  process = subprocess.Popen([sys.executable, "-c", code, str(model), str(base)], cwd=REPO)
  deadline = time.time() + 60
  while not (base.exists() and any(e.name.startswith(".push-") for e in base.iterdir())):
    assert time.time() < deadline and process.poll() is None
    time.sleep(0.01)
  process.kill()
  process.wait()
  assert [e.name for e in base.iterdir() if not e.name.startswith(".")] == []  # half a copy is never a version
  version, path = atomic_pusher.push_atomically(str(_fake_model(tmp_path / "small", 1)), str(base))
  assert os.listdir(base) == [version]  # the killed push's temp copy is gone
  assert (pathlib.Path(path) / "saved_model.pb").read_bytes() == b"graph"


def _mount_tmpfs(path: pathlib.Path, options: str) -> bool:
  path.mkdir(parents=True, exist_ok=True)
  return subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                        capture_output=True, check=False).returncode == 0


def test_full_disk_push_fails_cleanly_and_keeps_earlier_versions(tmp_path, monkeypatch):
  small = tmp_path / "small-disk"
  mounted = _mount_tmpfs(small, "size=3m")
  try:
    base = small / "serving"
    first, _ = atomic_pusher.push_atomically(str(_fake_model(tmp_path / "m1", 1)), str(base))
    if not mounted:  # no mount permission here: the copy fails the way a full disk fails it
      def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
      monkeypatch.setattr(atomic_pusher.shutil, "copy2", full)
    with pytest.raises(atomic_pusher.PushError, match="No space left on device; earlier versions are untouched"):
      atomic_pusher.push_atomically(str(_fake_model(tmp_path / "m2", 4)), str(base))
    assert os.listdir(base) == [first]
    assert (base / first / "saved_model.pb").read_bytes() == b"graph"
  finally:
    if mounted:
      subprocess.run(["umount", str(small)], check=False)


def test_read_only_output_dir_is_refused_before_anything_runs(tmp_path, capsys):
  read_only = tmp_path / "ro"
  if not _mount_tmpfs(read_only, "size=1m,ro"):
    pytest.skip("cannot mount a read-only tmpfs here (no mount permission); '--output is a file' covers the path")
  try:
    data = copy_digits_subset(tmp_path / "digits", per_class=2)
    assert cli.main(["run", "--data", str(data), "--output", str(read_only / "out")]) == cli.EXIT_USAGE
    assert "is not writable: read-only file system" in capsys.readouterr().err
  finally:
    subprocess.run(["umount", str(read_only)], check=False)


def test_a_second_run_on_a_busy_output_dir_stops_at_once_naming_the_holder(tmp_path, capsys):
  data = copy_digits_subset(tmp_path / "digits", per_class=2)
  output = tmp_path / "out"
  output.mkdir()
  with output_dir.locked(str(output)):
    started = time.time()
    assert cli.main(["run", "--data", str(data), "--output", str(output)]) == cli.EXIT_BUSY
    assert time.time() - started < 30
  err = capsys.readouterr().err
  assert f"{output} is in use by another modelfab run (pid {os.getpid()}" in err and "--wait" in err
  assert not (output / "metadata.sqlite").exists()


def test_wait_takes_the_lock_once_the_holder_releases_it(tmp_path, monkeypatch):
  taken, waiting, releasing = threading.Event(), threading.Event(), threading.Event()
  blocking_flock = fcntl.flock

  def flock(fd, operation):
    if operation == fcntl.LOCK_EX:  # the blocking wait of `locked(wait=True)` (a try is LOCK_EX | LOCK_NB)
      waiting.set()
    return blocking_flock(fd, operation)

  monkeypatch.setattr(fcntl, "flock", flock)

  def hold():
    with output_dir.locked(str(tmp_path)):
      taken.set()
      assert waiting.wait(60)  # the other thread is blocked on the lock
      releasing.set()  # still held: set before the lock is dropped

  holder = threading.Thread(target=hold)
  holder.start()
  assert taken.wait(60)
  with pytest.raises(output_dir.OutputBusy):
    with output_dir.locked(str(tmp_path)):
      pass
  with output_dir.locked(str(tmp_path), wait=True):
    assert releasing.is_set()
  holder.join()


@pytest.mark.e2e
def test_runs_reads_the_store_while_a_run_is_in_progress(tmp_path, capsys):
  data = copy_digits_subset(tmp_path / "digits", per_class=10)
  output = tmp_path / "out"
  process = subprocess.Popen(MODELFAB + ["run", "--data", str(data), "--output", str(output), "--epochs", "30"],
                             cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
  try:
    for line in process.stdout:
      if line.startswith("Epoch 2/"):
        break
    assert cli.main(["runs", "--output", str(output)]) == 0
    out = capsys.readouterr().out
    assert "running Trainer (ran ImageExampleGen," in out  # the run in progress, with what it executed so far
  finally:
    process.kill()
    process.wait()
  shutil.rmtree(output, ignore_errors=True)
