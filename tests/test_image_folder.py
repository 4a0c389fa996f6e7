"""The ImageFolder reader: what it accepts and the errors that name the bad path."""
import pytest

from components import image_folder
from components.image_folder import DataError
from conftest import write_image


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
