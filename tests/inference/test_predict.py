"""Finding the pushed model to load."""
import pytest

from inference import predict


def test_resolves_newest_version_or_the_given_version(tmp_path):
  for version in ("100", "20", "notaversion"):
    (tmp_path / version).mkdir()
    (tmp_path / version / "saved_model.pb").write_bytes(b"")
  (tmp_path / "300").mkdir()  # a version folder without a model is skipped
  assert predict.resolve_model_dir(str(tmp_path)) == str(tmp_path / "100")
  assert predict.resolve_model_dir(str(tmp_path / "20")) == str(tmp_path / "20")


def test_missing_model_is_named(tmp_path):
  with pytest.raises(predict.ModelError, match="no SavedModel"):
    predict.resolve_model_dir(str(tmp_path))
  with pytest.raises(predict.ModelError, match="no such model directory"):
    predict.resolve_model_dir(str(tmp_path / "x"))


def test_serialized_examples_round_trip():
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  [record] = predict.serialized_examples([{"image": b"\x89PNG", "label": b"7"}])
  example = tf.train.Example.FromString(record)
  assert example.features.feature["image"].bytes_list.value == [b"\x89PNG"]
