"""The fingerprint of the project code that Transform, the Trainer and the Tuner run.

Module code is referenced by dotted name (no module wheel is built), so TFX would not notice that code changed. The
fingerprint goes into their `custom_config`, which is part of the cache key: a change to any project module they
import, directly or through others (in `models/`, `core/` or elsewhere), re-runs them. Imports are read from the
source (every `import` statement, top-level or inside a function), so nothing is imported here.
"""
from __future__ import annotations

import ast
import hashlib
import pathlib
from typing import Iterable, List, Optional, Set

from models import tasks

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# What TFX runs by name: every task's preprocessing_fn (Transform), models.trainer.run_fn, models.tuner.tuner_fn.
ENTRY_MODULES = ("models.trainer", "models.tuner") + tuple(f"models.{task}" for task in tasks.TASKS)


def _module_file(root: pathlib.Path, dotted: str) -> Optional[pathlib.Path]:
  path = root.joinpath(*dotted.split("."))
  for candidate in (path.with_suffix(".py"), path / "__init__.py"):
    if candidate.is_file():
      return candidate
  return None


def _imported_modules(path: pathlib.Path) -> Iterable[str]:
  """Dotted names that `path` imports, and for `from package import name` also `package.name`."""
  for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
    if isinstance(node, ast.Import):
      yield from (alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.module
      yield from (f"{node.module}.{alias.name}" for alias in node.names)


def project_modules(entries: Iterable[str] = ENTRY_MODULES, root: Optional[pathlib.Path] = None) -> List[pathlib.Path]:
  """The files of `entries` and of every project module they import, transitively, with their packages'
  `__init__.py` (which run first), sorted."""
  root = root or REPO_ROOT
  seen: Set[pathlib.Path] = set()
  pending = list(entries)
  while pending:
    dotted = pending.pop()
    parts = dotted.split(".")
    for depth in range(1, len(parts) + 1):  # the packages' __init__ files, then the module itself
      path = _module_file(root, ".".join(parts[:depth]))
      if path is None or path in seen:
        continue
      seen.add(path)
      pending.extend(_imported_modules(path))
  return sorted(seen)


def code_fingerprint(root: Optional[pathlib.Path] = None) -> str:
  """A hash of the project modules that Transform, the Trainer and the Tuner run (`project_modules`) in the tree at
  `root` (default: this repository)."""
  root = root or REPO_ROOT
  digest = hashlib.sha256()
  for path in project_modules(root=root):
    digest.update(path.relative_to(root).as_posix().encode())
    digest.update(path.read_bytes())
  return digest.hexdigest()[:16]
