"""Importing one TFX component without running `tfx/components/__init__.py`, which imports all of them.

That file imports every TFX component to re-export it: the InfraValidator (and with it the Kubernetes client) and
the Tuner (KerasTuner, which imports Keras 3) among them, about 1 s of every `modelfab` command on a 2-core machine
(measured), though a run uses neither. Python runs a package's `__init__` before importing anything inside it, so
`defer_package_init` puts the package in place without running it, and runs it at the first use of a name only
`__init__` defines (`from tfx.components import Trainer` still works, a little later).
"""
from __future__ import annotations

import importlib.util
import sys

COMPONENTS_PACKAGE = "tfx.components"


def defer_package_init(name: str = COMPONENTS_PACKAGE) -> bool:
  """Registers package `name` (already importable, not yet imported) with its `__init__` not run yet; its submodules
  import as usual. Returns False (and changes nothing) when it was imported already."""
  if name in sys.modules:
    return False
  parent_name, _, child = name.rpartition(".")
  parent = importlib.import_module(parent_name) if parent_name else None
  spec = importlib.util.find_spec(name)
  if spec is None or spec.submodule_search_locations is None:
    raise ImportError(f"{name} is not a package")
  package = importlib.util.module_from_spec(spec)  # __path__, __spec__, __file__: enough to import submodules

  def run_init_then_get(attribute: str):
    """PEP 562: Python calls this only for names the package does not have yet."""
    if attribute.startswith("__"):  # e.g. __all__ probed by tools: not a reason to import everything
      raise AttributeError(f"module {name!r} has no attribute {attribute!r}")
    del package.__dict__["__getattr__"]
    spec.loader.exec_module(package)  # the real __init__, in the same module object
    return getattr(package, attribute)

  package.__getattr__ = run_init_then_get
  sys.modules[name] = package
  if parent is not None:
    setattr(parent, child, package)
  return True
