"""The code fingerprint in Transform's and the Trainer's custom_config covers every project module they run."""
import shutil

from pipelines import fingerprint

PACKAGES = ("core", "readers", "models", "inference", "serving", "monitoring", "reports", "components", "pipelines",
            "cli")


def copy_tree(target):
  for package in PACKAGES:
    shutil.copytree(fingerprint.REPO_ROOT / package, target / package, ignore=shutil.ignore_patterns("__pycache__"))
  return target


def test_the_trainers_modules_outside_models_are_covered():
  covered = {p.relative_to(fingerprint.REPO_ROOT).as_posix() for p in fingerprint.project_modules()}
  assert {"models/trainer.py", "models/tuner.py", "models/image_cnn.py", "models/text_bert.py",
          "models/training.py", "core/features.py", "core/model_files.py", "core/__init__.py"} <= covered
  assert not any(p.startswith(("cli/", "serving/", "reports/", "pipelines/")) for p in covered)


def test_a_change_to_a_module_the_trainer_imports_changes_the_fingerprint(tmp_path):
  root = copy_tree(tmp_path)
  before = fingerprint.code_fingerprint(root)
  assert before == fingerprint.code_fingerprint()  # the same code in another place: the same fingerprint
  with open(root / "cli" / "main.py", "a") as f:  # not run by Transform, the Trainer or the Tuner
    f.write("\n# a comment\n")
  assert fingerprint.code_fingerprint(root) == before
  with open(root / "core" / "model_files.py", "a") as f:  # imported by models/trainer.py
    f.write("\n# a comment\n")
  assert fingerprint.code_fingerprint(root) != before


def test_imports_inside_functions_count(tmp_path):
  (tmp_path / "models").mkdir()
  (tmp_path / "core").mkdir()
  (tmp_path / "models" / "entry.py").write_text("def f():\n  from core import lazy\n")
  (tmp_path / "core" / "lazy.py").write_text("X = 1\n")
  (tmp_path / "core" / "unused.py").write_text("Y = 1\n")
  found = [p.relative_to(tmp_path).as_posix() for p in fingerprint.project_modules(["models.entry"], tmp_path)]
  assert found == ["core/lazy.py", "models/entry.py"]
