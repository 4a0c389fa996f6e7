"""Quiet output: TensorFlow's C++ lines and library logs go to the log file; modelfab's own lines stay visible."""
import subprocess
import sys

from conftest import REPO

SCRIPT = """
import logging, os, sys

from cli import console
with console.ConsoleLog(sys.argv[1], verbose=sys.argv[2] == "1"):
  os.write(2, b"E cuda_dnn.cc Unable to register cuDNN factory\\n")   # what TensorFlow's C++ code does
  logging.getLogger("apache_beam").warning("a Beam warning")
  import warnings; warnings.warn("a library warning")
  print("[modelfab] progress", flush=True)
  print("modelfab: error: the one line", file=sys.stderr, flush=True)
"""


def _run(tmp_path, verbose):
  log = tmp_path / "run.log"
  result = subprocess.run([sys.executable, "-c", SCRIPT, str(log), "1" if verbose else "0"], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=True)
  return result, log


def test_library_output_goes_to_the_log_file_and_ours_to_the_terminal(tmp_path):
  result, log = _run(tmp_path, verbose=False)
  assert result.stdout == "[modelfab] progress\n"
  assert result.stderr == "modelfab: error: the one line\n"
  text = log.read_text()
  assert "Unable to register cuDNN factory" in text and "a Beam warning" in text and "a library warning" in text


def test_verbose_leaves_everything_on_the_terminal(tmp_path):
  result, log = _run(tmp_path, verbose=True)
  assert "Unable to register cuDNN factory" in result.stderr and "a Beam warning" in result.stderr
  assert not log.exists()


def test_a_modelfab_error_shows_no_cuda_lines(tmp_path):
  result = subprocess.run([sys.executable, "-m", "cli.main", "predict", "--model", str(tmp_path / "none"),
                           "--text", "x"], cwd=REPO, capture_output=True, text=True, timeout=120)
  assert result.returncode == 2
  assert result.stderr.strip().splitlines() == [f"modelfab: error: {tmp_path / 'none'}: no such model directory"]
