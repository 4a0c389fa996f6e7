"""benchmarks/RESULTS.md: the latest result of each benchmark, with its command, date, commit and machine.

A benchmark run with `--write-results` replaces its own section of RESULTS.md (between `<!-- results:KEY -->` and
`<!-- /results:KEY -->`), so the page always holds the latest measurement of each benchmark and nothing older.
"""
from __future__ import annotations

import datetime
import os
import pathlib
import platform
import re
import shutil
import subprocess
import sys
from typing import Iterable, Sequence

RESULTS_FILE = pathlib.Path(__file__).resolve().with_name("RESULTS.md")
REPO = RESULTS_FILE.parents[1]


def machine() -> str:
  """Cores, memory, CPU model and GPU (or its absence) of this machine, in one line."""
  memory = ""
  try:
    with open("/proc/meminfo", encoding="utf-8") as f:
      kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    memory = f", {kib / 2**20:.0f} GiB memory"
  except (OSError, StopIteration, ValueError):
    pass
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  gpu = "no GPU"
  if shutil.which("nvidia-smi"):
    listed = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, check=False).stdout.strip()
    gpu = listed.splitlines()[0] if listed else gpu
  return f"{os.cpu_count()} cores ({cpu}){memory}, {gpu}, Python {platform.python_version()}"


def commit() -> str:
  """The checked-out commit, with `+changes` when tracked files differ from it."""
  def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, cwd=REPO, check=False).stdout.strip()
  head = git("rev-parse", "--short", "HEAD") or "unknown"
  return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
  """A Markdown table."""
  lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
  lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in rows]
  return "\n".join(lines)


def section(key: str, title: str, command: str, body: str, date: str = "", measured_commit: str = "",
            measured_on: str = "") -> str:
  """The text of one section: its title, how it was measured, then `body`."""
  return (f"<!-- results:{key} -->\n## {title}\n\n"
          f"- command: `{command}`\n"
          f"- date: {date or datetime.date.today().isoformat()}; commit: {measured_commit or commit()}\n"
          f"- machine: {measured_on or machine()}\n\n{body.strip()}\n<!-- /results:{key} -->")


def write_section(key: str, title: str, command: str, body: str, path: pathlib.Path = RESULTS_FILE) -> None:
  """Replaces section `key` of RESULTS.md with this run's result (appends it when it is new)."""
  text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
  new = section(key, title, command, body)
  pattern = re.compile(rf"<!-- results:{re.escape(key)} -->.*?<!-- /results:{re.escape(key)} -->", re.S)
  text = pattern.sub(lambda _: new, text) if pattern.search(text) else text.rstrip() + "\n\n" + new + "\n"
  path.write_text(text, encoding="utf-8")
  print(f"wrote the '{key}' section of {path}", file=sys.stderr)
