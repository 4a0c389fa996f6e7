"""The shared tf.data input from Transform's output."""
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from models import features, input_pipeline


def test_counts_records(transformed_dataset):
  train_files, eval_files, _, raw = transformed_dataset
  assert input_pipeline.count_examples(train_files) + input_pipeline.count_examples(eval_files) == len(raw)


def test_training_batches_are_full_shuffled_and_repeat(transformed_dataset):
  train_files, _, transform_dir, _ = transformed_dataset
  output = tft.TFTransformOutput(transform_dir)
  dataset = input_pipeline.make_dataset(train_files, output, batch_size=10, training=True)
  batches = list(dataset.take(12))  # 48 examples: more than one pass
  assert all(x["image_xf"].shape == (10, 8, 8, 1) for x, _ in batches)
  assert all(y.dtype == tf.int64 and y.shape == (10,) for _, y in batches)
  assert features.TRANSFORMED_LABEL_KEY not in batches[0][0]


def test_eval_is_one_ordered_pass(transformed_dataset):
  _, eval_files, transform_dir, _ = transformed_dataset
  output = tft.TFTransformOutput(transform_dir)
  first = [y.numpy().tolist() for _, y in input_pipeline.make_dataset(eval_files, output, 5, training=False)]
  second = [y.numpy().tolist() for _, y in input_pipeline.make_dataset(eval_files, output, 5, training=False)]
  assert first == second and sum(len(b) for b in first) == input_pipeline.count_examples(eval_files)


def test_missing_files_are_named(tmp_path, transformed_dataset):
  output = tft.TFTransformOutput(transformed_dataset[2])
  with pytest.raises(FileNotFoundError, match="nothing-here"):
    input_pipeline.make_dataset([str(tmp_path / "nothing-here" / "*")], output, 4, training=True)
