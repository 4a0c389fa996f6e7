"""ImageExampleGen's executor on real Beam: encoded bytes, label and file name in each tf.Example."""
import apache_beam as beam
import pytest
import tensorflow as tf

from components import image_example_gen
from core.errors import DataError
from conftest import write_image


def _read_examples(root, pattern="*/*"):
  out = root.parent / "examples"
  with beam.Pipeline() as pipeline:
    examples = pipeline | image_example_gen._ImageFolderToExample({"input_base": str(root)}, pattern)  # pylint: disable=protected-access
    _ = examples | beam.io.WriteToTFRecord(str(out / "part"), file_name_suffix=".tfrecord")  # already serialized
  records = tf.data.TFRecordDataset(tf.io.gfile.glob(str(out / "part*")))
  parsed = [tf.train.Example.FromString(r.numpy()) for r in records]
  return {e.features.feature["filename"].bytes_list.value[0].decode(): e for e in parsed}


def test_examples_keep_encoded_bytes_label_and_filename(tmp_path):
  gray = write_image(tmp_path / "data" / "zero" / "g.png", mode="L")
  rgb = write_image(tmp_path / "data" / "one" / "c.jpg", mode="RGB", fmt="JPEG", size=(30, 20))
  write_image(tmp_path / "data" / "zero" / "h.png", mode="L", seed=1)  # each class needs 2 images
  write_image(tmp_path / "data" / "one" / "d.png", mode="L", seed=2)
  examples = _read_examples(tmp_path / "data")
  assert sorted(examples) == ["one/c.jpg", "one/d.png", "zero/g.png", "zero/h.png"]
  feature = examples["zero/g.png"].features.feature
  assert feature["image"].bytes_list.value[0] == gray.read_bytes()
  assert feature["label"].bytes_list.value[0] == b"zero"
  decoded = tf.io.decode_image(examples["one/c.jpg"].features.feature["image"].bytes_list.value[0])
  assert decoded.shape == (20, 30, 3)
  assert examples["one/c.jpg"].features.feature["image"].bytes_list.value[0] == rgb.read_bytes()


def test_records_are_the_deterministic_serialization_tfx_splits_by(tmp_path):
  """The bytes passed on are what TFX's split hashed when Example objects were passed on (the same examples land in
  the same split as before), and they parse back to the same Example."""
  from readers import image_folder  # pylint: disable=g-import-not-at-top
  from tfx.components.example_gen import base_example_gen_executor  # pylint: disable=g-import-not-at-top
  from tfx.proto import example_gen_pb2  # pylint: disable=g-import-not-at-top

  image = write_image(tmp_path / "data" / "é" / "a.png", mode="RGB")
  write_image(tmp_path / "data" / "é" / "b.png", seed=1)
  records = list(image_example_gen.read_images("é/a.png\0é/b.png", str(tmp_path / "data")))
  example = image_example_gen.make_example(image_folder.ImageFile(str(image), "é/a.png", "é"))
  config = example_gen_pb2.SplitConfig(splits=[example_gen_pb2.SplitConfig.Split(name="train", hash_buckets=8),
                                               example_gen_pb2.SplitConfig.Split(name="eval", hash_buckets=2)])
  key = base_example_gen_executor._GeneratePartitionKey  # pylint: disable=protected-access
  assert key(records[0], config) == key(example, config)
  assert tf.train.Example.FromString(records[0]) == example


def test_shuffled_order_is_fixed_and_mixes_classes():
  paths = [f"class_{c}/{n:04d}.png" for c in range(10) for n in range(100)]  # listed in class order
  order = image_example_gen.shuffled_order(paths)
  assert sorted(order) == sorted(paths)
  assert order == image_example_gen.shuffled_order(reversed(paths))  # whatever the listing order
  assert {p.split("/")[0] for p in order[:100]} == {f"class_{c}" for c in range(10)}  # the first tenth: every class


def test_split_pattern_selects_files(tmp_path):
  for name in ("a/x.png", "a/z.png", "b/y.png", "b/w.png"):
    write_image(tmp_path / "data" / name)
  assert sorted(_read_examples(tmp_path / "data", "a/*")) == ["a/x.png", "a/z.png"]


def test_corrupt_file_fails_before_beam_runs(tmp_path):
  write_image(tmp_path / "a" / "x.png")
  (tmp_path / "b").mkdir()
  (tmp_path / "b" / "bad.png").write_bytes(b"garbage")
  with pytest.raises(DataError, match="bad.png"):
    _read_examples(tmp_path)


def test_component_uses_image_executor():
  component = image_example_gen.ImageExampleGen(input_base="/data")
  assert component.executor_spec.executor_class is image_example_gen.Executor


def test_executor_writes_readable_gzip_without_deflating_images(tmp_path):
  import gzip
  import json

  from apache_beam.io import filesystem
  from tfx.types import artifact_utils, standard_artifacts

  from PIL import Image
  from tfx.proto import example_gen_pb2

  for n in range(12):  # PNGs of raw pixels (compress_level=0): gzip at Beam's level would shrink them a lot
    path = tmp_path / "data" / ("a" if n % 2 else "b") / f"{n}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (32, 32), (20 * n, 0, 0)).save(path, compress_level=0)
  examples = standard_artifacts.Examples()
  examples.uri = str(tmp_path / "examples")
  image_example_gen.Executor().Do({}, {"examples": [examples]}, {
      "input_base": str(tmp_path / "data"),
      "input_config": json.dumps({"splits": [{"name": "x", "pattern": "*/*"}]}),
      "output_config": json.dumps({"split_config": {"splits": [{"name": "train", "hash_buckets": 1}]}}),
      "output_data_format": example_gen_pb2.PayloadFormat.FORMAT_TF_EXAMPLE,
      "output_file_format": example_gen_pb2.FileFormat.FORMAT_TFRECORDS_GZIP})
  assert artifact_utils.decode_split_names(examples.split_names) == ["train"]
  files = tf.io.gfile.glob(str(tmp_path / "examples" / "Split-train" / "*.gz"))
  records = [r.numpy() for r in tf.data.TFRecordDataset(files, compression_type="GZIP")]
  assert len(records) == 12
  written = [tf.train.Example.FromString(r).features.feature["filename"].bytes_list.value[0].decode() for r in records]
  assert written == image_example_gen.shuffled_order(written)  # in that order, not TFX's reshuffle's
  payload = sum(len(gzip.decompress(open(f, "rb").read())) for f in files)
  assert sum(tf.io.gfile.stat(f).length for f in files) > payload  # stored: the gzip file is larger than its data
  # Outside the executor, Beam deflates again.
  with filesystem.CompressedFile(open(tmp_path / "after.gz", "wb"), filesystem.CompressionTypes.GZIP) as out:
    out.write(b"a" * 100_000)
  assert (tmp_path / "after.gz").stat().st_size < 1_000


def test_spans_are_read_with_their_folder_in_the_file_name_and_the_class_as_label(tmp_path):
  from components import span_inputs  # pylint: disable=g-import-not-at-top
  from tfx.utils import proto_utils  # pylint: disable=g-import-not-at-top

  for span in (1, 2, 3):
    for label in ("cat", "dog"):
      for i in range(2):
        write_image(tmp_path / "data" / f"span-{span}" / label / f"{i}.png", seed=span * 10 + i)
    (tmp_path / "data" / f"span-{span}" / "_SUCCESS").write_text("")
  config = proto_utils.proto_to_json(span_inputs.make_custom_config([(2, "span-2"), (3, "span-3")]))
  out = tmp_path / "examples"
  with beam.Pipeline() as pipeline:
    examples = pipeline | image_example_gen._ImageFolderToExample(  # pylint: disable=protected-access
        {"input_base": str(tmp_path / "data"), "custom_config": config}, "span-*/*/*")
    _ = examples | beam.io.WriteToTFRecord(str(out / "part"))
  parsed = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(tf.io.gfile.glob(str(out / "*")))]
  read = sorted((e.features.feature["filename"].bytes_list.value[0].decode(),
                 e.features.feature["label"].bytes_list.value[0].decode()) for e in parsed)
  assert read == [(f"span-{s}/{label}/{i}.png", label) for s in (2, 3) for label in ("cat", "dog") for i in (0, 1)]
