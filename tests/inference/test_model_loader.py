"""The one model loader: version resolution (temp copies skipped), metadata, modality, clear errors."""
import pytest

from inference import model_loader

from core import model_files


def test_versions_skip_hidden_temp_copies_and_incomplete_dirs(tmp_path):
  for name in ("100", "20", ".push-300-1", "400"):
    (tmp_path / name).mkdir()
  for name in ("100", "20", ".push-300-1"):
    (tmp_path / name / "saved_model.pb").write_bytes(b"")
  assert model_files.version_dirs(str(tmp_path)) == [100, 20]
  assert model_loader.resolve_model_dir(str(tmp_path)) == str(tmp_path / "100")


def test_metadata_round_trip_and_modality(tmp_path):
  model_files.write_metadata(str(tmp_path), model_files.ModelMetadata("text_bert", ["text"], ["neg", "pos"]))
  metadata = model_files.read_metadata(str(tmp_path))
  assert metadata.modality == "text" and metadata.labels == ["neg", "pos"]
  assert model_files.read_metadata(str(tmp_path / "none")).modality is None  # older models: unknown, not an error
  (tmp_path / model_files.METADATA_FILE).write_text("{broken")
  with pytest.raises(model_loader.ModelError, match="unreadable model metadata"):
    model_files.read_metadata(str(tmp_path))


def test_a_file_or_a_folder_without_saved_model_is_named(tmp_path):
  (tmp_path / "f").write_text("x")
  with pytest.raises(model_loader.ModelError, match="f: not a model directory"):
    model_loader.resolve_model_dir(str(tmp_path / "f"))
  with pytest.raises(model_loader.ModelError, match="no SavedModel here"):
    model_loader.load_model(str(tmp_path))
