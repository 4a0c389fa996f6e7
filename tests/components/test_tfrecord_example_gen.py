"""TFRecordExampleGen: TFX's ImportExampleGen reading only the chosen span folders (gzipped or not)."""
import apache_beam as beam
import tensorflow as tf
from tfx.proto import example_gen_pb2

from components import tfrecord_example_gen
from conftest import tfrecord_example


def test_the_chosen_spans_records_are_read_and_the_marker_is_not(tmp_path):
  for span, compressed in ((1, False), (2, True), (3, False)):
    folder = tmp_path / "data" / f"span-{span}"
    folder.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(folder / ("part.gz" if compressed else "part")),
                              options="GZIP" if compressed else None) as writer:
      writer.write(tfrecord_example(f"label-{span}".encode()))
    (folder / "_SUCCESS").write_text("not a record")
  component = tfrecord_example_gen.TFRecordExampleGen(input_base=str(tmp_path / "data"),
                                                      spans=[(2, "span-2"), (3, "span-3")])
  properties = {**component.exec_properties, "input_base": str(tmp_path / "data"), "output_data_format": example_gen_pb2.FORMAT_TF_EXAMPLE}
  read_records = tfrecord_example_gen.Executor().GetInputSourceToExamplePTransform()
  out = tmp_path / "out"
  with beam.Pipeline() as pipeline:
    _ = (pipeline | read_records(properties, "span-*/*") | beam.Map(lambda e: e.SerializeToString())
         | beam.io.WriteToTFRecord(str(out / "part")))
  examples = [tf.train.Example.FromString(r.numpy()) for r in tf.data.TFRecordDataset(tf.io.gfile.glob(str(out / "*")))]
  assert sorted(e.features.feature["label"].bytes_list.value[0] for e in examples) == [b"label-2", b"label-3"]
