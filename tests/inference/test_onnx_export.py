"""ONNX export: tf2onnx converts the `serving_tensors` signature, onnxruntime runs it, and it is blessed only when
it gives the SavedModel's labels on every eval example within the probability tolerance; `predict` takes the file."""
import json

import numpy as np
import pytest

from cli import main as cli
from conftest import DIGITS
from inference import model_loader, onnx_export, predict
from test_compression import _write_split


@pytest.fixture(scope="module")
def exported(trained_image_model, tmp_path_factory):
  _, _, export_dir, raw, _ = trained_image_model
  examples = tmp_path_factory.mktemp("onnx") / "examples"
  _write_split(examples, "train", raw[:48])
  _write_split(examples, "eval", raw[48:])
  out = tmp_path_factory.mktemp("onnx-out")
  return export_dir, examples, out, onnx_export.export(str(export_dir), str(examples), str(out)), raw


def test_the_onnx_model_agrees_with_the_savedmodel_on_every_eval_example(exported):
  _, _, out, report, raw = exported
  assert report["blessed"] and report["reason"] == "", report
  assert report["label_agreement"] == 1.0 and report["max_probability_difference"] <= 1e-4
  assert report["eval_examples"] == len(raw) - 48
  assert json.loads((out / onnx_export.REPORT_FILE).read_text()) == report
  assert (out / "labels.txt").is_file() and (out / "model.onnx.json").is_file()


def test_predict_takes_the_onnx_file_like_a_tflite(exported, capsys):
  export_dir, _, out, _, raw = exported
  loaded = model_loader.load_model(str(out / "model.onnx"))
  assert loaded.is_tensor_model and loaded.metadata.task == "image_cnn"
  assert loaded.serving_fn.input_specs == {"pixels": ((8, 8, 1), np.uint8)}
  encoded = [r["image"] for r in raw]
  onnx_labels = [label for label, _ in predict._tflite_labels_and_scores(  # pylint: disable=protected-access
      loaded, predict.tflite_image_tensors(loaded, encoded))]
  saved_labels = [l.decode() for l in predict.predict_serialized(
      str(export_dir), predict.serialized_examples([{"image": e} for e in encoded]))["label"]]
  assert onnx_labels == saved_labels
  image = sorted((DIGITS / "3").iterdir())[0]
  assert cli.main(["predict", "--model", str(out / "model.onnx"), str(image)]) == 0
  assert str(image) in capsys.readouterr().out


def test_a_model_without_the_tensor_signature_is_reported_not_raised(tmp_path, exported):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  _, examples, _, _, _ = exported
  module = tf.Module()
  module.f = tf.function(lambda examples: {"probabilities": tf.zeros([tf.shape(examples)[0], 2])},
                         input_signature=[tf.TensorSpec([None], tf.string)])
  model_dir = tmp_path / "model"
  tf.saved_model.save(module, str(model_dir), signatures={"serving_default": module.f})
  out = tmp_path / "out"
  out.mkdir()
  report = onnx_export.export(str(model_dir), str(examples), str(out))
  assert not report["blessed"] and "could not convert the serving_tensors signature" in report["reason"]
  assert not (out / "model.onnx").exists()


def test_a_damaged_onnx_file_is_a_model_error(tmp_path, capsys):
  bad = tmp_path / "model.onnx"
  bad.write_bytes(b"not onnx")
  assert cli.main(["predict", "--model", str(bad), str(sorted((DIGITS / "3").iterdir())[0])]) == 2
  assert "not an ONNX model onnxruntime can load" in capsys.readouterr().err
