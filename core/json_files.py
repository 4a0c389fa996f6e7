"""The JSON files modelfab writes beside models and in artifacts, read back."""
from __future__ import annotations

import json
import os
from typing import Any, Optional


def read_json(path: str, *more: str) -> Optional[Any]:
  """The JSON document at `os.path.join(path, *more)`, or None when it is missing or unreadable (a version or an
  artifact made before that file existed)."""
  try:
    with open(os.path.join(path, *more), encoding="utf-8") as f:
      return json.load(f)
  except (OSError, ValueError):
    return None
