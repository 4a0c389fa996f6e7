"""The Quantizer: real TFLite conversion of the `serving_tensors` signature, judged with TFMA against the float
model on a whole eval split; the gate refusing a damaged .tflite; what the Pusher ships."""
import json

import numpy as np
import pytest
import tensorflow as tf

from components import atomic_pusher, quantizer
from inference import compression
from conftest import png_bytes
from inference import model_loader, predict
from inference.tflite_runner import TFLiteRunner


def _write_split(examples_dir, split, rows):
  path = examples_dir / f"Split-{split}" / "data.gz"
  path.parent.mkdir(parents=True, exist_ok=True)
  with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
    for record in predict.serialized_examples(rows):
      writer.write(record)


@pytest.fixture(scope="module")
def float_model(trained_image_model, tmp_path_factory):
  """A trained, exported image model and an ExampleGen-like folder of its raw examples (train/eval splits)."""
  _, _, export_dir, raw, _ = trained_image_model
  examples = tmp_path_factory.mktemp("quantizer") / "examples"
  _write_split(examples, "train", raw[:48])
  _write_split(examples, "eval", raw[48:])
  return export_dir, examples, raw


@pytest.fixture(scope="module")
def int8(float_model, tmp_path_factory):
  export_dir, examples, _ = float_model
  out = tmp_path_factory.mktemp("int8")
  return out, compression.compress(str(export_dir), str(examples), str(out), "int8", max_accuracy_drop=0.01)


def test_int8_tflite_takes_uint8_pixels_and_agrees_with_the_savedmodel(float_model, int8):
  export_dir, _, raw = float_model
  out, report = int8
  loaded = model_loader.load_model(str(out / "model.tflite"))
  assert loaded.is_tensor_model and loaded.metadata.task == "image_cnn"
  (name, (shape, dtype)), = loaded.serving_fn.input_specs.items()
  assert (name, shape, dtype) == ("pixels", (8, 8, 1), np.uint8)
  details = loaded.serving_fn.interpreter.get_tensor_details()
  assert any(d["dtype"] == np.int8 for d in details)  # really integer inside, not float with int8 storage
  encoded = [r["image"] for r in raw]
  tflite_labels = [label for label, _ in predict._tflite_labels_and_scores(  # pylint: disable=protected-access
      loaded, predict.tflite_image_tensors(loaded, encoded))]
  saved_labels = [l.decode() for l in predict.predict_serialized(
      str(export_dir), predict.serialized_examples([{"image": e} for e in encoded]))["label"]]
  assert np.mean([a == b for a, b in zip(tflite_labels, saved_labels)]) >= 0.95
  assert report["label_agreement"] >= 0.95


def test_report_has_the_evaluators_metrics_for_both_models_and_blesses(int8):
  out, report = int8
  assert report["blessed"] and report["reason"] == ""
  for side in ("float", "compressed"):
    metrics = report[side]["metrics"]
    assert {"sparse_categorical_accuracy", "macro_precision", "macro_recall", "macro_f1_score"} <= set(metrics)
    assert metrics["example_count"] == report["eval_examples"] == 16
    assert report[side]["latency_ms"] > 0
  assert report["compressed"]["bytes"] < 0.3 * report["float"]["bytes"]
  assert report["compressed"]["bytes"] == (out / "model.tflite").stat().st_size
  assert (out / "labels.txt").read_text().split() == json.loads((out / "model.tflite.json").read_text())["labels"]
  assert json.loads((out / "compression.json").read_text())["blessed"] is True


def test_damaging_calibration_is_refused_by_the_gate(float_model, tmp_path):
  """int8 calibrated on black images only (a representative set that represents nothing) loses accuracy; the gate
  says by how much and does not bless it, and the Pusher then ships no .tflite."""
  export_dir, examples, raw = float_model
  damaged = tmp_path / "examples"
  _write_split(damaged, "train", [{"image": png_bytes(np.zeros((8, 8), np.uint8))}] * 20)
  _write_split(damaged, "eval", raw[48:])
  report = compression.compress(str(export_dir), str(damaged), str(tmp_path), "int8", max_accuracy_drop=0.01)
  assert not report["blessed"]
  assert report["accuracy_drop"] > 0.01
  assert "points below the float model's" in report["reason"]
  artifact = quantizer.TFLiteModel()
  artifact.uri = str(tmp_path)
  artifact.set_int_custom_property("blessed", 0)
  assert atomic_pusher.tflite_files({"tflite_model": [artifact]}) == []
  artifact.set_int_custom_property("blessed", 1)
  assert {p.rsplit("/", 1)[1] for p in atomic_pusher.tflite_files({"tflite_model": [artifact]})} == {
      "model.tflite", "model.tflite.json", "labels.txt"}


@pytest.mark.parametrize("mode", ["dynamic", "float16"])
def test_other_modes_convert_keep_uint8_inputs_and_agree(float_model, tmp_path, mode):
  """The conversion alone (the gate around it is the one int8 goes through, tested above)."""
  export_dir, examples, raw = float_model
  model = tf.saved_model.load(str(export_dir))
  records = predict.serialized_examples(raw[48:])
  tensors, float_probabilities, _ = compression.tensors_and_predictions(model, records)
  (tmp_path / "model.tflite").write_bytes(compression.convert(str(export_dir), mode, representative=[]))
  runner = TFLiteRunner(str(tmp_path / "model.tflite"))
  assert runner.input_specs["pixels"][1] == np.uint8
  agreement = np.mean(runner(tensors).argmax(1) == float_probabilities.argmax(1))
  assert agreement >= 0.95


def test_unknown_mode_is_refused(float_model, tmp_path):
  export_dir, examples, _ = float_model
  with pytest.raises(ValueError, match="int4"):
    compression.compress(str(export_dir), str(examples), str(tmp_path), "int4", max_accuracy_drop=0.01)
