"""The drift gate's check: a new span against a blessed model's training split, on real TFDV comparators."""
import numpy as np
import pytest
import tensorflow as tf

from components import drift_gate
from conftest import png_bytes
from core.errors import DriftFound


def _images(count, invert=False, seed=0):
  rng = np.random.default_rng(seed)
  images = []
  for i in range(count):
    pixels = rng.integers(0, 90, (8, 8)).astype(np.uint8)
    pixels[: 4 if i % 2 else 8] += 100
    images.append(png_bytes(255 - pixels if invert else pixels))
  return images


def _baseline(tmp_path, images, labels):
  """An Examples artifact folder whose train split holds `images` with `labels`, as an ExampleGen writes it."""
  split = tmp_path / "examples" / "Split-train"
  split.mkdir(parents=True)
  with tf.io.TFRecordWriter(str(split / "data_tfrecord-00000-of-00001.gz"), options="GZIP") as writer:
    for image, label in zip(images, labels):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
          "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label.encode()]))})).SerializeToString())
  return {"examples": str(tmp_path / "examples"), "model_dir": "", "version": "17"}


def _span_folder(tmp_path, images, labels):
  folder = tmp_path / "span-2"
  for i, (image, label) in enumerate(zip(images, labels)):
    (folder / label).mkdir(parents=True, exist_ok=True)
    (folder / label / f"{i}.png").write_bytes(image)
  return str(folder)


def _check(tmp_path, span_images, span_labels=None, allow=False):
  labels = ["a", "b"] * 60
  baseline = _baseline(tmp_path, _images(120), labels)
  folder = _span_folder(tmp_path, span_images, span_labels or labels)
  return drift_gate.check_span(2, folder, "image_folder", "image", "text", "label", baseline, 0.2, 0.2, allow)


def test_a_span_like_the_training_data_passes(tmp_path):
  report = _check(tmp_path, _images(120, seed=1))
  assert report["verdict"] == "within the limits against the data version 17 was trained on"
  assert {c["feature"] for c in report["checks"]} >= {"brightness", "contrast", "label"}
  assert not any(c["alert"] for c in report["checks"])


def test_inverted_images_stop_the_run_naming_the_feature_and_distance(tmp_path):
  with pytest.raises(DriftFound, match=r"span 2 \(.*span-2\) drifted from the data version 17 was trained on: "
                                       r"brightness jensen_shannon \d\.\d{3} > 0\.2.*--allow-drift"):
    _check(tmp_path, _images(120, invert=True, seed=1))


def test_a_shifted_class_balance_is_drift_of_the_label(tmp_path):
  with pytest.raises(DriftFound, match=r"label l_infinity 0\.400 > 0\.2"):
    _check(tmp_path, _images(120, seed=1), span_labels=["a"] * 108 + ["b"] * 12)


def test_allowed_drift_is_recorded_not_raised(tmp_path):
  report = _check(tmp_path, _images(120, invert=True, seed=1), allow=True)
  assert report["drifted"] and report["allowed"]
  assert "brightness" in report["verdict"] and report["verdict"].endswith("trained anyway (--allow-drift)")


def test_without_a_blessed_model_there_is_nothing_to_compare(tmp_path):
  report = drift_gate.check_span(1, str(tmp_path), "image_folder", "image", "text", "label", {}, 0.2, 0.2, False)
  assert report["checks"] == [] and report["verdict"] == "no blessed model yet: nothing to compare"


def test_text_spans_compare_length_and_labels(tmp_path):
  """Texts: word counts (and, with a vocabulary beside the model, unknown words) and labels."""
  rng = np.random.default_rng(0)
  short = [" ".join(["good"] * int(n)) for n in rng.integers(3, 8, 120)]
  split = tmp_path / "examples" / "Split-train"
  split.mkdir(parents=True)
  with tf.io.TFRecordWriter(str(split / "part")) as writer:
    for i, text in enumerate(short):
      writer.write(tf.train.Example(features=tf.train.Features(feature={
          "text": tf.train.Feature(bytes_list=tf.train.BytesList(value=[text.encode()])),
          "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[b"pos" if i % 2 else b"neg"]))})
      ).SerializeToString())
  baseline = {"examples": str(tmp_path / "examples"), "model_dir": "", "version": "3"}
  span = tmp_path / "span-9"
  span.mkdir()
  rows = [f'"{" ".join(["long"] * int(n))}",{"pos" if i % 2 else "neg"}' for i, n in enumerate(rng.integers(40, 60, 120))]
  (span / "part.csv").write_text("text,label\n" + "\n".join(rows) + "\n")
  with pytest.raises(DriftFound, match=r"span 9 .*: words jensen_shannon"):
    drift_gate.check_span(9, str(span), "text_csv", "text", "text", "label", baseline, 0.2, 0.2, False)
  (span / "part.csv").write_text("text,label\n" + "\n".join(f"{t},{'pos' if i % 2 else 'neg'}"
                                                           for i, t in enumerate(short[::-1])) + "\n")
  report = drift_gate.check_span(9, str(span), "text_csv", "text", "text", "label", baseline, 0.2, 0.2, False)
  assert {c["feature"] for c in report["checks"]} == {"words", "label"} and not report["drifted"]
