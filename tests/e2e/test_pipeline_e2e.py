"""End to end: `modelfab run` on a subset of the embedded digits, real TFX components on real Beam.

One module-scoped run (blessed and pushed) serves several tests; then an unchanged re-run (all from cache) and a run
with a changed hyperparameter (new model, compared with the previous blessed one).
"""
import json
import os
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf

from conftest import DIGITS, copy_digits_subset
from core import features
from cli import main as cli
from inference import run_summary
from inference import predict

pytestmark = pytest.mark.e2e  # whole pipeline runs or processes working together

PER_CLASS = 50
EPOCHS = 15


def _run(data, output, *extra):
  return cli.main(["run", "--data", str(data), "--output", str(output), "--epochs", str(EPOCHS),
                   "--min-accuracy", "0.8", *extra])


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
  root = tmp_path_factory.mktemp("e2e")
  data = copy_digits_subset(root / "digits", PER_CLASS)
  output = root / "out"
  assert _run(data, output) == 0
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  return data, output, summary


def _held_out_images(count_per_class=3):
  """Embedded digits that were not in the training subset."""
  return [(path, class_dir.name) for class_dir in sorted(DIGITS.iterdir())
          for path in sorted(class_dir.iterdir())[PER_CLASS:PER_CLASS + count_per_class]]


def test_first_run_executes_every_component_blesses_and_pushes(first_run):
  _, output, summary = first_run
  assert set(summary.components) == {"ImageExampleGen", "StatisticsGen", "SchemaGen", "ExampleValidator",
                                     "AnomaliesGate", "Transform", "Trainer", "ServingCheck", "baseline_resolver",
                                     "Evaluator", "Explainer", "Quantizer", "OnnxExporter", "Pusher"}
  assert summary.executed() == [n for n in summary.components if n != "baseline_resolver"]
  assert summary.blessed is True
  assert summary.metrics["sparse_categorical_accuracy"] >= 0.8
  explained = summary.explanations  # the Explainer's sample of the eval split, read back through ML Metadata
  assert explained["explained"] > 0 and explained["beats_random"] >= 0.8 * explained["explained"]
  assert explained["median_approximation_error"] < 0.05
  with open(os.path.join(summary.output_uri("Explainer", "explanations"), "explanations.json"), encoding="utf-8") as f:
    report = json.load(f)
  assert len(report["filters"]) == 32 and len(report["filters"][0]) == 3  # the first conv's 32 3x3 kernels
  assert report["activation_blocks"] == ["block0_relu1", "block1_relu1"]
  assert len(report["activations"]) >= 5  # one correctly explained example per class
  assert 0 < summary.metrics["macro_f1_score"] <= 1 and "precision/class_9" in summary.metrics
  pushed = pathlib.Path(summary.pushed_to)
  assert pushed.parent == output / "serving" / "digits-cnn" and pushed.name.isdigit()
  assert (pushed / "saved_model.pb").is_file()
  profile = json.loads((pushed / "outlier_profile.json").read_text())  # the train split's, for outlier scores
  assert profile["modality"] == "image" and profile["examples"] > 300 and "brightness" in profile["features"]
  assert summary.serving_check_failure is None
  assert summary.baseline_model is None


def test_pushed_model_labels_held_out_images(first_run):
  _, output, _ = first_run
  model_dir = predict.resolve_model_dir(str(output / "serving" / "digits-cnn"))
  images = _held_out_images()
  predictions = predict.predict_images(model_dir, [str(p) for p, _ in images])
  correct = sum(label == truth for (label, _), (_, truth) in zip(predictions, images))
  assert correct >= 0.8 * len(images), predictions
  assert all(0.0 <= score <= 1.0 for _, score in predictions)


def test_int8_tflite_is_pushed_beside_the_savedmodel_and_predicts_like_it(first_run, capsys):
  _, output, summary = first_run
  compression = summary.compression
  assert compression["mode"] == "int8" and compression["blessed"] and compression["pushed"]
  assert compression["eval_examples"] == summary.metrics["example_count"]  # the whole eval split
  pushed = pathlib.Path(summary.pushed_to)
  assert {"model.tflite", "model.tflite.json", "labels.txt", "saved_model.pb"} <= {p.name for p in pushed.iterdir()}
  images = [str(p) for p, _ in _held_out_images()]
  assert cli.main(["predict", "--model", str(pushed / "model.tflite"), *images]) == 0
  from_tflite = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
  assert cli.main(["predict", "--model", str(pushed), *images]) == 0
  from_saved_model = [line.split("\t")[1] for line in capsys.readouterr().out.splitlines()]
  assert len(from_tflite) == len(images)
  assert np.mean([a == b for a, b in zip(from_tflite, from_saved_model)]) >= 0.95
  run = run_summary.list_runs(str(output / "metadata.sqlite"))[-1].to_json()
  assert run["compression"]["compressed"]["bytes"] == (pushed / "model.tflite").stat().st_size


def test_serving_signature_takes_raw_bytes_and_evaluator_signature_transforms(first_run):
  _, output, _ = first_run
  model = tf.saved_model.load(predict.resolve_model_dir(str(output / "serving" / "digits-cnn")))
  images = _held_out_images(1)
  raw = predict.serialized_examples([{"image": path.read_bytes()} for path, _ in images])  # PNG bytes, as on disk
  serving = model.signatures["serving_default"]
  assert [spec.dtype for spec in serving.structured_input_signature[1].values()] == [tf.string]
  outputs = serving(examples=tf.constant(raw))
  probabilities = outputs[features.PROBABILITIES].numpy()
  assert probabilities.shape == (10, 10)
  np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
  np.testing.assert_allclose(outputs[features.PREDICTED_SCORE].numpy(), probabilities.max(axis=1), atol=1e-6)
  labels = [label.decode() for label in outputs[features.PREDICTED_LABEL].numpy()]
  assert sum(label == truth for label, (_, truth) in zip(labels, images)) >= 8, labels
  path, truth = images[0]
  labelled = predict.serialized_examples([{"image": path.read_bytes(), "label": truth.encode(),
                                           "filename": b"x.png"}])
  transformed = model.signatures[features.TRANSFORM_FEATURES_SIGNATURE](examples=tf.constant(labelled))
  assert transformed["image_xf"].shape == (1, 8, 8, 1)
  assert transformed[features.TRANSFORMED_LABEL_KEY].dtype == tf.int64


def test_predict_command_prints_label_and_probability(first_run, capsys):
  _, output, _ = first_run
  images = _held_out_images(1)
  assert cli.main(["predict", "--model", str(output / "serving" / "digits-cnn"), *(str(p) for p, _ in images)]) == 0
  rows = [line.split("\t") for line in capsys.readouterr().out.strip().splitlines()]
  assert [row[0] for row in rows] == [str(p) for p, _ in images]
  assert sum(row[1] == truth for row, (_, truth) in zip(rows, images)) >= 8, rows
  assert all(0.0 < float(row[2]) <= 1.0 for row in rows)


def test_unchanged_rerun_takes_every_component_from_cache(first_run):
  data, output, first = first_run
  assert _run(data, output) == 0
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert summary.run_id != first.run_id
  assert summary.executed() == []
  assert {state for name, state in summary.components.items() if name != "baseline_resolver"} == {"cached"}
  assert len(os.listdir(output / "serving" / "digits-cnn")) == 1  # nothing pushed again


def test_changed_hyperparameter_retrains_and_compares_with_previous_blessed(first_run):
  data, output, first = first_run
  assert _run(data, output, "--learning-rate", "0.002") == 0
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert summary.components["ImageExampleGen"] == "cached" and summary.components["Transform"] == "cached"
  assert summary.components["Trainer"] == "ran" and summary.components["Evaluator"] == "ran"
  assert summary.baseline_model is not None
  assert summary.baseline_model.startswith(str(output / "pipeline" / "Trainer" / "model"))


def test_tfrecord_input_runs_through_import_example_gen(tmp_path):
  """CIFAR-10-style TFRecords of tf.Example (encoded image bytes + label) instead of an image folder."""
  records = tmp_path / "records"
  records.mkdir()
  with tf.io.TFRecordWriter(str(records / "digits.tfrecord")) as writer:
    for class_dir in sorted(DIGITS.iterdir()):
      for path in sorted(class_dir.iterdir())[:12]:
        writer.write(predict.serialized_examples([{"image": path.read_bytes(),
                                                   "label": class_dir.name.encode()}])[0])
  output = tmp_path / "out"
  assert cli.main(["run", "--data-format", "tfrecord", "--data", str(records), "--output", str(output),
                   "--epochs", "2", "--min-accuracy", "0"]) == 0
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert "TFRecordExampleGen" in summary.components and summary.blessed
  model_dir = predict.resolve_model_dir(str(output / "serving" / "digits-cnn"))
  predictions = predict.predict_images(model_dir, [str(p) for p, _ in _held_out_images(1)])
  assert {label for label, _ in predictions} <= {str(i) for i in range(10)}


SCHEMA_WITHOUT_NINE = """
feature { name: "image" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature { name: "filename" type: BYTES presence { min_fraction: 1.0 min_count: 1 } shape { dim { size: 1 } } }
feature { name: "label" type: BYTES domain: "label" presence { min_fraction: 1.0 min_count: 1 }
          shape { dim { size: 1 } } }
string_domain { name: "label" value: "0" value: "1" value: "2" value: "3" value: "4" value: "5" value: "6"
                value: "7" value: "8" }
"""


def test_anomalies_against_a_curated_schema_stop_the_run_before_transform(tmp_path, capsys):
  data = copy_digits_subset(tmp_path / "digits", per_class=4)  # has class "9", which the schema does not allow
  schema = tmp_path / "schema.pbtxt"
  schema.write_text(SCHEMA_WITHOUT_NINE)
  output = tmp_path / "out"
  assert cli.main(["run", "--data", str(data), "--output", str(output), "--schema", str(schema)]) == cli.EXIT_FAILED
  err = capsys.readouterr().err
  assert "data does not match the schema" in err and "feature 'label'" in err
  assert not (output / "pipeline" / "Transform").exists() and not (output / "serving").exists()


def test_a_change_to_a_module_outside_models_that_the_trainer_runs_retrains(first_run, tmp_path, monkeypatch):
  """The cache key covers every project module Transform and the Trainer import: a copy of the code with one
  line added to core/model_files.py (imported by models/trainer.py) re-runs them; the data stays cached."""
  from pipelines import fingerprint  # pylint: disable=g-import-not-at-top

  data, output, _ = first_run
  for package in ("core", "models"):
    shutil.copytree(fingerprint.REPO_ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
  with open(tmp_path / "core" / "model_files.py", "a", encoding="utf-8") as f:
    f.write("\n# changed\n")
  monkeypatch.setattr(fingerprint, "REPO_ROOT", tmp_path)
  assert _run(data, output) == 0
  summary = run_summary.latest_run_summary(str(output / "metadata.sqlite"), "digits-cnn")
  assert summary.components["ImageExampleGen"] == "cached" and summary.components["StatisticsGen"] == "cached"
  assert summary.components["Transform"] == "ran" and summary.components["Trainer"] == "ran"
