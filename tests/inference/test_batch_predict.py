"""Batch inference on Beam's RunInference with a real exported model: the labels `predict` gives, PredictionLogs TF
Serving's tools read, a bad record named by its position while the rest are predicted, and the input checks."""
import json

import pytest
import tensorflow as tf

from conftest import tfrecord_example
from core.errors import DataError, ModelError, UsageError
from inference import batch_predict, model_loader, predict


@pytest.fixture
def image_folder(trained_image_model, tmp_path):
  _, _, _, raw, _ = trained_image_model
  folder = tmp_path / "incoming"
  for i, example in enumerate(raw[:40]):
    path = folder / example["label"].decode() / f"{i:03d}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(example["image"])
  (folder / "top" / "broken.png").write_bytes(b"not an image")
  return folder


def test_json_lines_hold_predict_s_labels_and_name_the_bad_image(trained_image_model, image_folder, tmp_path):
  _, _, export_dir, _, _ = trained_image_model
  output = tmp_path / "predictions.jsonl"
  result = batch_predict.predict_batch(str(export_dir), str(image_folder), str(output))
  rows = {row["id"]: row for row in map(json.loads, output.read_text().splitlines())}
  assert (result.predicted, result.failed) == (40, 1) and len(rows) == 41
  assert "Unknown image file format" in rows["top/broken.png"]["error"]
  assert result.first_errors == [rows["top/broken.png"]]
  good = sorted(p for p in image_folder.glob("*/*.png") if p.name != "broken.png")
  expected = predict.predict_images(model_loader.load_model(str(export_dir)), [str(p) for p in good])
  for path, (label, score) in zip(good, expected):
    row = rows[f"{path.parent.name}/{path.name}"]
    assert row["label"] == label and row["score"] == pytest.approx(score, abs=1e-5)
  assert sum(row.get("label") == row["id"].split("/")[0] for row in rows.values()) >= 36  # it really classifies


def test_prediction_logs_and_a_separate_error_list(trained_image_model, image_folder, tmp_path):
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top

  _, _, export_dir, _, _ = trained_image_model
  output = tmp_path / "predictions.tfrecord.gz"
  result = batch_predict.predict_batch(str(export_dir), str(image_folder), str(output))
  logs = [prediction_log_pb2.PredictionLog.FromString(r.numpy())
          for r in tf.data.TFRecordDataset(str(output), compression_type="GZIP")]
  assert len(logs) == result.predicted == 40
  response = logs[0].predict_log.response
  assert tf.make_ndarray(response.outputs["probabilities"]).shape == (1, 2)
  assert tf.make_ndarray(response.outputs["label"])[0] in (b"top", b"bottom")
  request_example = tf.make_ndarray(logs[0].predict_log.request.inputs["examples"])[0]
  assert tf.train.Example.FromString(request_example).features.feature["image"].bytes_list.value[0][:4] == b"\x89PNG"
  errors = [json.loads(line) for line in open(result.errors_file, encoding="utf-8")]
  assert [e["id"] for e in errors] == ["top/broken.png"]


def test_tfrecords_of_examples_and_records_that_are_not_examples(trained_image_model, tmp_path):
  _, _, export_dir, raw, _ = trained_image_model
  (tmp_path / "records").mkdir()
  with tf.io.TFRecordWriter(str(tmp_path / "records" / "part-0")) as writer:
    for example in raw[:5]:
      writer.write(tfrecord_example(example["label"], example["image"]))
    writer.write(b"\xff\xfe not a tf.Example")
  output = tmp_path / "out.jsonl"
  result = batch_predict.predict_batch(str(export_dir), str(tmp_path / "records"), str(output))
  rows = [json.loads(line) for line in output.read_text().splitlines()]
  assert (result.predicted, result.failed) == (5, 1)
  assert [r["id"] for r in rows if "error" in r] == ["part-0:record 5"]


def test_inputs_and_formats(tmp_path):
  (tmp_path / "imgs" / "a").mkdir(parents=True)
  (tmp_path / "imgs" / "a" / "x.PNG").write_bytes(b"")
  (tmp_path / "texts").mkdir()
  (tmp_path / "texts" / "t.csv").write_text("review\nfine\n\"two\nlines\"\n")
  (tmp_path / "empty").mkdir()
  assert batch_predict.detect_format(str(tmp_path / "imgs")) == "image_folder"
  assert batch_predict.detect_format(str(tmp_path / "texts")) == "text_csv"
  assert batch_predict.detect_format(str(tmp_path / "texts" / "t.csv")) == "text_csv"
  with pytest.raises(DataError, match="holds no files"):
    batch_predict.detect_format(str(tmp_path / "empty"))
  with pytest.raises(DataError, match="no such file or folder"):
    batch_predict.detect_format(str(tmp_path / "missing"))
  sources, total = batch_predict.list_sources(str(tmp_path / "texts"), "text_csv")
  assert total == 3  # lines: a row spanning two lines is counted twice in the estimate
  rows = list(batch_predict.read_source(sources[0], str(tmp_path / "texts"), "text_csv", "review"))
  assert [r[0] for r in rows] == ["t.csv:row 1", "t.csv:row 2"]
  assert tf.train.Example.FromString(rows[1][1]).features.feature["text"].bytes_list.value[0] == b"two\nlines"
  with pytest.raises(DataError, match=r"t.csv: no 'text' column .*--text-column"):
    list(batch_predict.read_source(sources[0], str(tmp_path / "texts"), "text_csv", "text"))


def test_models_and_output_files_that_cannot_be_used(tmp_path, trained_image_model):
  _, _, export_dir, _, _ = trained_image_model
  with pytest.raises(UsageError, match="runs the SavedModel"):
    batch_predict.check_model(str(tmp_path / "model.tflite"))
  with pytest.raises(ModelError, match="no such model directory"):
    batch_predict.check_model(str(tmp_path / "nothing"))
  with pytest.raises(UsageError, match="the folder .* does not exist"):
    batch_predict.check_output_file(str(tmp_path / "no" / "out.jsonl"))
  (tmp_path / "texts").mkdir()
  (tmp_path / "texts" / "t.csv").write_text("text\nhello\n")
  with pytest.raises(UsageError, match="text_csv input, but the model .* classifies images"):
    batch_predict.predict_batch(str(export_dir), str(tmp_path / "texts"), str(tmp_path / "o.jsonl"))
  assert not (tmp_path / "o.jsonl").exists()


def test_threads_per_worker():
  assert batch_predict.threads_per_worker([]) is None
  assert batch_predict.threads_per_worker(["--direct_num_workers=2"]) is None
  workers = ["--direct_running_mode=multi_processing", "--direct_num_workers=2"]
  assert batch_predict.threads_per_worker(workers) >= 1


def test_outlier_scores_join_each_prediction_when_the_version_has_a_profile(trained_image_model, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top

  import numpy as np  # pylint: disable=g-import-not-at-top

  from conftest import png_bytes  # pylint: disable=g-import-not-at-top
  from monitoring import drift, outliers  # pylint: disable=g-import-not-at-top

  _, _, export_dir, raw, _ = trained_image_model
  model_dir = tmp_path / "model"
  shutil.copytree(export_dir, model_dir)
  images = [r["image"] for r in raw]
  outliers.write_profile(str(model_dir), outliers.fit_profile(drift.derived_features(images[:48], "image", ""),
                                                              "image"))
  folder = tmp_path / "in" / "x"
  folder.mkdir(parents=True)
  for i, image in enumerate(images[48:56]):
    (folder / f"normal-{i}.png").write_bytes(image)
  (folder / "noise.png").write_bytes(png_bytes(np.random.default_rng(1).integers(0, 256, (8, 8), dtype=np.uint8)))
  output = tmp_path / "out.jsonl"
  batch_predict.predict_batch(str(model_dir), str(tmp_path / "in"), str(output),
                              outlier_scorer=outliers.scorer(str(model_dir)))
  scores = {row["id"]: row["outlier_score"] for row in map(json.loads, output.read_text().splitlines())}
  assert len(scores) == 9
  assert scores["x/noise.png"] > max(v for k, v in scores.items() if k != "x/noise.png")
