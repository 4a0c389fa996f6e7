"""pipelines.deferred_imports: a TFX component imported without `tfx/components/__init__.py` importing all of them."""
import subprocess
import sys

import pytest

from conftest import REPO
from pipelines import deferred_imports


def _run(code: str) -> str:
  result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, timeout=300)
  assert result.returncode == 0, result.stderr[-2000:]
  return result.stdout.strip().splitlines()[-1]


@pytest.mark.e2e  # a fresh Python process imports TFX
def test_building_the_pipeline_imports_neither_the_infra_validator_nor_keras_tuner():
  """What the deferral is for: the modules only tfx/components/__init__.py brings in stay out of a pipeline build."""
  out = _run("""
import sys

from pipelines import config, pipeline
pipeline.create_pipeline(config.PipelineConfig(data="data/digits", pipeline_name="p", task="image_cnn",
                                               output="/tmp/unused"), num_classes=10)
print(sorted(m for m in ("kubernetes", "keras_tuner", "tfx.components.infra_validator") if m in sys.modules),
      "BulkInferrer" in vars(sys.modules["tfx.components"]))
""")
  assert out == "[] False"


@pytest.mark.e2e  # a fresh Python process imports TFX
def test_names_of_the_package_init_still_import_and_are_the_same_classes():
  out = _run("""
from pipelines import deferred_imports
assert deferred_imports.defer_package_init("tfx.components")
from tfx.components.trainer.component import Trainer
from tfx.components import Trainer as from_package, Tuner
print(from_package is Trainer, Tuner.__name__)
""")
  assert out == "True Tuner"


def test_a_package_imported_already_is_left_alone():
  import json  # pylint: disable=g-import-not-at-top

  assert not deferred_imports.defer_package_init("json") and sys.modules["json"] is json


def test_a_module_that_is_not_a_package_is_refused(tmp_path, monkeypatch):
  (tmp_path / "modelfab_lonely_module.py").write_text("X = 1\n")
  monkeypatch.syspath_prepend(str(tmp_path))
  with pytest.raises(ImportError, match="not a package"):
    deferred_imports.defer_package_init("modelfab_lonely_module")
  assert "modelfab_lonely_module" not in sys.modules
