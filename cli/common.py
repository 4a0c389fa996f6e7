"""What the command groups share: the flags every command takes, and the checks of an output dir."""
from __future__ import annotations

import argparse
import os
from typing import List

from core.errors import UsageError
from core.layout import OutputLayout

DEFAULT_OUTPUT = "modelfab-output"


def common_flags() -> argparse.ArgumentParser:
  """The parent parser of every command: `--verbose`."""
  common = argparse.ArgumentParser(add_help=False)
  common.add_argument("--verbose", action="store_true",
                      help="library logs (TensorFlow, TFX, Beam) on the terminal instead of the log file")
  return common


def add_output_flag(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--output", default=DEFAULT_OUTPUT, help="the output dir of `modelfab run` (%(default)s)")


def metadata_path(output: str) -> str:
  """The output dir's ML Metadata store; UsageError when there is none yet."""
  path = OutputLayout(output).metadata_path
  if not os.path.isfile(path):
    raise UsageError(f"{path}: no ML Metadata store; run `modelfab run --output {output}` first")
  return path


def pushed_models(output: str) -> List[str]:
  """The model names under the output dir's serving folder; UsageError when nothing was pushed."""
  root = OutputLayout(output).serving_root
  models = sorted(os.listdir(root)) if os.path.isdir(root) else []
  if not models:
    raise UsageError(f"{root}: no pushed models; run `modelfab run --output {output}` first")
  return models


def check_model_name(output: str, name: str, models: List[str]) -> None:
  if name not in models:
    raise UsageError(f"{OutputLayout(output).serving_dir(name)}: no such model (have: {', '.join(models)})")


def check_port(port: int) -> None:
  if not 1 <= port <= 65535:
    raise UsageError(f"--port must be between 1 and 65535, got {port}")


def add_model_flag(parser: argparse.ArgumentParser) -> None:
  parser.add_argument("--model", required=True,
                      help="a pushed model: <serving dir>/<model name> (newest version) or one version directory")


def check_image_files(paths: List[str]) -> None:
  """UsageError (or DataError) naming the first path that is not a readable image file; no TensorFlow needed."""
  from readers.image_folder import check_image_file  # pylint: disable=g-import-not-at-top

  for path in paths:
    if not os.path.isfile(path):
      raise UsageError(f"{path}: no such image file")
    check_image_file(path)


def read_texts(args: argparse.Namespace) -> List[str]:
  """The texts of `--text` (repeatable) and `--text-file` (one per non-empty line); UsageError naming an unreadable
  file."""
  texts = list(args.text)
  if args.text_file:
    try:
      with open(args.text_file, encoding="utf-8") as f:
        texts += [line.rstrip("\n") for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as e:
      raise UsageError(f"{args.text_file}: cannot read as UTF-8 text ({e})") from e
  return texts
