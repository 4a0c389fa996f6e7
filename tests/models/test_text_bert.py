"""The text task: tokenization inside tf.Transform, the BERT classifier, its optimizer."""
import csv
import functools

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform.beam as tft_beam
from tensorflow_transform.tf_metadata import dataset_metadata, schema_utils

from conftest import REPO, review_vocab, write_tiny_checkpoint
from models import bert_checkpoint, bert_tokenization, precision, text_bert
from core import features


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
  path = tmp_path_factory.mktemp("bert") / "tiny"
  write_tiny_checkpoint(path, vocab=review_vocab())
  return str(path)


def _reviews(count):
  with open(REPO / "data" / "reviews" / "reviews.csv", encoding="utf-8") as f:
    return list(csv.DictReader(f))[:count]


def test_transform_tokenizes_like_the_graph_tokenizer(checkpoint, tmp_path):
  rows = _reviews(6)
  raw = [{"text": r["text"].encode(), "label": r["label"].encode()} for r in rows]
  spec = {"text": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  config = {"hparams": {"bert_checkpoint": checkpoint, "max_seq_length": 24}}
  with tft_beam.Context(temp_dir=str(tmp_path), force_tf_compat_v1=False):
    (transformed, _), _ = ((raw, metadata) | tft_beam.AnalyzeAndTransformDataset(
        functools.partial(text_bert.preprocessing_fn, custom_config=config), output_record_batches=False))
  expected = bert_tokenization.BertInputs(f"{checkpoint}/vocab.txt", 24)(tf.constant([r["text"] for r in rows]))
  for i, row in enumerate(transformed):
    for key in text_bert.MODEL_INPUTS:
      assert row[key].tolist() == expected[key][i].numpy().tolist()
    assert row[bert_tokenization.INPUT_WORD_IDS][0] == review_vocab().index("[CLS]")
  assert sorted({row[features.TRANSFORMED_LABEL_KEY] for row in transformed}) == [0, 1]


def test_tiny_bert_fine_tunes_in_bfloat16_loss_falls(checkpoint):
  """transformers' TF BERT under Keras' mixed_bfloat16 policy (the float32 path runs in tests/e2e)."""
  hp = text_bert.hparams_from({"hparams": {"bert_checkpoint": checkpoint, "max_seq_length": 24,
                                           "learning_rate": 5e-3}})
  rows = _reviews(32)
  inputs = bert_tokenization.BertInputs(f"{checkpoint}/vocab.txt", 24)(tf.constant([r["text"] for r in rows]))
  labels = np.array([r["label"] == "positive" for r in rows], dtype=np.int64)
  with precision.keras_policy(precision.Choice("bfloat16", "test")):
    model = text_bert.build_model(hp, num_classes=2)
  assert sorted(model.input_names) == sorted(text_bert.MODEL_INPUTS)
  encoder, = [layer for layer in model.layers if "bert" in layer.name]
  assert encoder.compute_dtype == "bfloat16" and model.get_layer("probabilities").compute_dtype == "float32"
  model.compile(text_bert.make_optimizer(hp, total_steps=40), "sparse_categorical_crossentropy")
  history = model.fit({k: v.numpy() for k, v in inputs.items()}, labels, batch_size=16, epochs=20, verbose=0)
  assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
  with pytest.raises(bert_checkpoint.CheckpointError, match="--bert-checkpoint"):
    text_bert.hparams_from({"hparams": {}})
  with pytest.raises(bert_checkpoint.CheckpointError, match="missing config.json, vocab.txt"):
    text_bert.build_model(text_bert.hparams_from({"hparams": {"bert_checkpoint": str(tmp_path)}}), 2)


def test_lower_case_follows_the_checkpoint(tmp_path):
  assert text_bert.checkpoint_lower_case(str(tmp_path)) is True
  (tmp_path / "tokenizer_config.json").write_text('{"do_lower_case": false}')
  assert text_bert.checkpoint_lower_case(str(tmp_path)) is False
