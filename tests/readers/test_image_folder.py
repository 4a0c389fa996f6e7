"""The ImageFolder reader: what it accepts and the errors that name the bad path."""
import pytest

from readers import image_folder
from core.errors import DataError
from conftest import REPO, write_image


def test_lists_grayscale_rgb_png_and_jpeg_with_labels(tmp_path):
  write_image(tmp_path / "cat" / "a.png", mode="L")
  write_image(tmp_path / "cat" / "b.jpg", mode="RGB", fmt="JPEG", size=(20, 12))
  write_image(tmp_path / "dog" / "c.jpeg", mode="RGB", fmt="JPEG")
  write_image(tmp_path / "dog" / "d.png", mode="RGB")
  files = image_folder.list_image_folder(str(tmp_path))
  assert [(f.label, f.relative_path) for f in files] == [
      ("cat", "cat/a.png"), ("cat", "cat/b.jpg"), ("dog", "dog/c.jpeg"), ("dog", "dog/d.png")]
  assert all(f.path.startswith(str(tmp_path)) for f in files)


def test_corrupt_file_is_named(tmp_path):
  write_image(tmp_path / "a" / "ok.png")
  bad = tmp_path / "b" / "broken.png"
  bad.parent.mkdir()
  bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
  with pytest.raises(DataError, match="broken.png"):
    image_folder.list_image_folder(str(tmp_path))


def test_truncated_png_is_named(tmp_path):
  write_image(tmp_path / "a" / "ok.png")
  good = write_image(tmp_path / "b" / "cut.png", size=(64, 64), mode="RGB")
  good.write_bytes(good.read_bytes()[:200])
  with pytest.raises(DataError, match="cut.png"):
    image_folder.list_image_folder(str(tmp_path))


def test_non_image_file_is_named(tmp_path):
  write_image(tmp_path / "a" / "ok.png")
  write_image(tmp_path / "b" / "ok.png")
  (tmp_path / "b" / "notes.txt").write_text("hello")
  with pytest.raises(DataError, match="notes.txt"):
    image_folder.list_image_folder(str(tmp_path))


def test_empty_class_folder_is_named(tmp_path):
  write_image(tmp_path / "a" / "ok.png")
  (tmp_path / "empty").mkdir()
  with pytest.raises(DataError, match=r"empty.*class folder is empty"):
    image_folder.list_image_folder(str(tmp_path))


def test_single_class_is_refused(tmp_path):
  write_image(tmp_path / "only" / "ok.png")
  with pytest.raises(DataError, match="only one class"):
    image_folder.list_image_folder(str(tmp_path))


def test_missing_path_and_empty_root(tmp_path):
  with pytest.raises(DataError, match="does not exist"):
    image_folder.list_image_folder(str(tmp_path / "nope"))
  with pytest.raises(DataError, match="no class folders"):
    image_folder.list_image_folder(str(tmp_path))


def test_image_in_root_is_refused(tmp_path):
  write_image(tmp_path / "a" / "ok.png")
  write_image(tmp_path / "b" / "ok.png")
  write_image(tmp_path / "stray.png")
  with pytest.raises(DataError, match="stray.png"):
    image_folder.list_image_folder(str(tmp_path))


def test_a_second_listing_decodes_only_files_changed_since_the_first(tmp_path, monkeypatch):
  for name in ("a/1.png", "a/2.png", "b/3.png", "b/4.png"):
    write_image(tmp_path / name, seed=len(name))
  decoded = []
  check = image_folder.check_image_file
  monkeypatch.setattr(image_folder, "check_image_file", lambda path: decoded.append(path) or check(path))
  image_folder.list_image_folder(str(tmp_path))
  assert len(decoded) == 4
  image_folder.list_image_folder(str(tmp_path))  # what ImageExampleGen does after `modelfab run` checked
  assert len(decoded) == 4
  (tmp_path / "b" / "4.png").write_bytes(b"\x89PNG\r\n\x1a\n now broken")
  with pytest.raises(DataError, match="4.png"):
    image_folder.list_image_folder(str(tmp_path))
  assert len(decoded) == 5


_CHILD_CHECK = """
import sys

from readers import image_folder
check = image_folder.BackgroundDecodeCheck(sys.argv[1:])
assert check._process is not None, "expected a forked child (no TensorFlow loaded here)"
try:
  check.wait()
except image_folder.DataError as e:
  print("DataError:", e)
  raise SystemExit(3)
print("verified", sorted(image_folder._VERIFIED) == sorted(sys.argv[1:]))
"""


def _run_background_check(paths):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top

  return subprocess.run([sys.executable, "-c", _CHILD_CHECK, *map(str, paths)], capture_output=True, text=True,
                        cwd=REPO, check=False, timeout=120)


def test_background_check_in_a_forked_process_records_what_decoded(tmp_path):
  paths = [write_image(tmp_path / "a" / f"{i}.png", seed=i) for i in range(3)]
  result = _run_background_check(paths)
  assert result.returncode == 0, result.stderr
  assert "verified True" in result.stdout  # ImageExampleGen in that process will not decode them again


def test_background_check_names_the_file_that_does_not_decode(tmp_path):
  good = write_image(tmp_path / "a" / "ok.png")
  bad = tmp_path / "a" / "truncated.png"
  bad.write_bytes(good.read_bytes()[:40])
  result = _run_background_check([good, bad])
  assert result.returncode == 3
  assert "truncated.png" in result.stdout and "corrupt" in result.stdout


def test_background_check_decodes_at_wait_where_tensorflow_is_loaded(tmp_path, monkeypatch):
  import sys  # pylint: disable=g-import-not-at-top

  monkeypatch.setitem(sys.modules, "tensorflow", sys.modules.get("tensorflow") or object())
  bad = tmp_path / "a" / "bad.png"
  bad.parent.mkdir()
  bad.write_bytes(b"not an image")
  check = image_folder.BackgroundDecodeCheck([str(bad)])
  assert check._process is None  # pylint: disable=protected-access  # no fork of a process running TensorFlow
  with pytest.raises(DataError, match="bad.png"):
    check.wait()
