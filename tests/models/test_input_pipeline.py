"""The shared tf.data input: raw examples through the Transform graph, cached in memory or streamed."""
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from core import features
from models import input_pipeline


def test_counts_records(transformed_dataset):
  train_files, eval_files, _, raw = transformed_dataset
  assert input_pipeline.count_examples(train_files) + input_pipeline.count_examples(eval_files) == len(raw)


def test_counts_records_across_files_and_counting_batches(tmp_path):
  sizes = {"a.gz": 4096 + 7, "b.gz": 3}  # more than one counting batch in a file, and a second file
  for name, size in sizes.items():
    with tf.io.TFRecordWriter(str(tmp_path / name), options="GZIP") as writer:
      for i in range(size):
        writer.write(str(i).encode())
  assert input_pipeline.count_examples(str(tmp_path / "*.gz")) == sum(sizes.values())


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


def test_cache_rule_compares_transformed_size_with_the_budget(transformed_dataset, monkeypatch):
  output = tft.TFTransformOutput(transformed_dataset[2])
  per_example = input_pipeline.transformed_bytes_per_example(output)
  assert per_example == 8 * 8 * 1 * 4 + 8  # float32 pixels + the int64 label
  assert input_pipeline.fits_in_memory(1000, output, budget_bytes=1000 * per_example)
  assert not input_pipeline.fits_in_memory(1001, output, budget_bytes=1000 * per_example)
  monkeypatch.setenv(input_pipeline.CACHE_ENV, "0.5")
  assert input_pipeline.cache_budget_bytes() == 2**19
  assert input_pipeline.fits_in_memory(1985, output) and not input_pipeline.fits_in_memory(1986, output)


def test_cached_and_streamed_input_give_the_same_examples(transformed_dataset):
  train_files, eval_files, transform_dir, _ = transformed_dataset
  output = tft.TFTransformOutput(transform_dir)
  cached, streamed = ([(x["image_xf"].numpy(), y.numpy())
                       for x, y in input_pipeline.make_dataset(eval_files, output, 4, training=False, cache=cache)]
                      for cache in (True, False))
  assert len(cached) == len(streamed) == 4
  for (x1, y1), (x2, y2) in zip(cached, streamed):
    assert (y1 == y2).all() and abs(x1 - x2).max() < 1e-6
  assert abs(float(cached[0][0].mean())) < 3  # normalized by the Transform's mean/std, not raw 0..255 pixels
  for cache in (True, False):  # training: full batches, every epoch reshuffled
    batches = [y.numpy().tolist() for _, y in input_pipeline.make_dataset(train_files, output, 48, training=True,
                                                                            cache=cache).take(2)]
    assert len(batches[0]) == 48 and batches[0] != batches[1] and sorted(batches[0]) == sorted(batches[1])


@pytest.mark.parametrize("value", ["abc", "-1", "nan", "inf"])
def test_a_bad_cache_budget_is_named(monkeypatch, value):
  monkeypatch.setenv(input_pipeline.CACHE_ENV, value)
  with pytest.raises(ValueError, match=f"MODELFAB_INPUT_CACHE_MB must be a number of MiB .*{value}"):
    input_pipeline.cache_budget_bytes()


@pytest.mark.parametrize("cache", [True, False])
def test_input_runs_without_the_autotuning_thread(transformed_dataset, cache):
  """Keras deletes its iterators at the end of fit and after each validation pass; with tf.data's autotuning thread
  that deletion could block up to 60 s (input_pipeline.without_autotune_model). Both input paths turn it off and
  still give full batches."""
  train_files, _, transform_dir, _ = transformed_dataset
  dataset = input_pipeline.make_dataset(train_files, tft.TFTransformOutput(transform_dir), 10, training=True,
                                        cache=cache)
  assert dataset.options().autotune.enabled is False
  assert [x["image_xf"].shape[0] for x, _ in dataset.take(3)] == [10, 10, 10]
