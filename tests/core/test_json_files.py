"""core.json_files: a JSON file read back, None when it is missing or not JSON."""
from core import json_files


def test_read_json_joins_the_path_and_gives_none_for_missing_or_broken_files(tmp_path):
  (tmp_path / "a.json").write_text('{"epsilon": 3.2}', encoding="utf-8")
  (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
  assert json_files.read_json(str(tmp_path), "a.json") == {"epsilon": 3.2}
  assert json_files.read_json(str(tmp_path / "a.json")) == {"epsilon": 3.2}
  assert json_files.read_json(str(tmp_path), "missing.json") is None
  assert json_files.read_json(str(tmp_path), "broken.json") is None
