"""Text classification by fine-tuning a BERT checkpoint: what differs from other tasks.

Transform tokenizes raw text with the checkpoint's own vocab.txt (models.bert_tokenization); the model is
`transformers`' TFBertModel loaded from a local Hugging Face checkpoint directory (models.bert_checkpoint), with the
pooled output -> dropout -> dense softmax classifier; AdamW with linear warm-up and decay.
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional

import tensorflow as tf
import tensorflow_text  # noqa: F401  # pylint: disable=unused-import  # registers the tokenizer ops for loading

from models import tf_setup  # noqa: F401  # pylint: disable=unused-import  # before any Keras use
from models import bert_checkpoint, bert_tokenization
from core import features

TEXT_KEY = features.TEXT_KEY
SERVING_FEATURE_KEYS = (TEXT_KEY,)
MODEL_INPUTS = (bert_tokenization.INPUT_WORD_IDS, bert_tokenization.INPUT_MASK, bert_tokenization.SEGMENT_IDS)

DEFAULT_HPARAMS: Dict[str, Any] = {
    "bert_checkpoint": None,  # a local Hugging Face-format directory (config.json, vocab.txt, weights)
    "max_seq_length": 64,
    "lower_case": None,  # None: the checkpoint's tokenizer_config.json `do_lower_case`, else True
    "epochs": 3,
    "batch_size": 16,
    "learning_rate": 5e-5,
    "warmup_fraction": 0.1,
    "weight_decay": 0.01,
    "dropout": 0.1,
    "early_stopping_patience": 2,
}
TRANSFORM_HPARAMS = ("bert_checkpoint", "max_seq_length", "lower_case")


def hparams_from(custom_config: Optional[Dict[str, Any]]) -> Dict[str, Any]:
  hp = {**DEFAULT_HPARAMS, **((custom_config or {}).get("hparams") or {})}
  if not hp["bert_checkpoint"]:
    raise bert_checkpoint.CheckpointError("the text task needs a BERT checkpoint directory (--bert-checkpoint DIR)")
  return hp


def serving_files(hp: Dict[str, Any]) -> Dict[str, str]:
  """Files shipped beside the exported model in assets.extra/: the vocabulary the tokenizer graph embeds (for
  clients that send token ids and for the monitor's unknown-token share)."""
  return {bert_checkpoint.VOCAB_FILE: os.path.join(hp["bert_checkpoint"], bert_checkpoint.VOCAB_FILE)}


def checkpoint_lower_case(checkpoint_dir: str) -> bool:
  """The checkpoint's `do_lower_case` (tokenizer_config.json), True when it does not say."""
  path = os.path.join(checkpoint_dir, "tokenizer_config.json")
  if tf.io.gfile.exists(path):
    with tf.io.gfile.GFile(path) as f:
      return bool(json.load(f).get("do_lower_case", True))
  return True


def tokenizer_lower_case(hp: Dict[str, Any]) -> bool:
  """Whether tokenization lower-cases: the --lower-case setting, else the checkpoint's own."""
  return hp["lower_case"] if hp["lower_case"] is not None else checkpoint_lower_case(hp["bert_checkpoint"])


def preprocessing_fn(inputs: Dict[str, tf.Tensor], custom_config: Optional[Dict[str, Any]] = None):
  """tf.Transform: raw text -> input_word_ids / input_mask / segment_ids; label string -> integer id."""
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top

  hp = hparams_from(custom_config)
  tokenize = bert_tokenization.BertInputs(os.path.join(hp["bert_checkpoint"], bert_checkpoint.VOCAB_FILE),
                                          int(hp["max_seq_length"]), lower_case=tokenizer_lower_case(hp))
  outputs = tokenize(inputs[TEXT_KEY])
  outputs[features.TRANSFORMED_LABEL_KEY] = tft.compute_and_apply_vocabulary(
      tf.reshape(inputs[features.RAW_LABEL_KEY], [-1]), vocab_filename=features.LABEL_VOCABULARY)
  return outputs


def build_model(hp: Dict[str, Any], num_classes: int) -> tf.keras.Model:
  """BERT encoder from the checkpoint, pooled output -> dropout -> softmax classifier (uncompiled)."""
  length = int(hp["max_seq_length"])
  inputs = {name: tf.keras.Input(shape=(length,), dtype=tf.int64, name=name) for name in MODEL_INPUTS}
  encoder = bert_checkpoint.load_bert_encoder(hp["bert_checkpoint"])
  as_int32 = {name: tf.cast(tensor, tf.int32) for name, tensor in inputs.items()}
  encoded = encoder(input_ids=as_int32[bert_tokenization.INPUT_WORD_IDS],
                    attention_mask=as_int32[bert_tokenization.INPUT_MASK],
                    token_type_ids=as_int32[bert_tokenization.SEGMENT_IDS])
  x = tf.keras.layers.Dropout(float(hp["dropout"]), name="dropout")(encoded.pooler_output)
  outputs = tf.keras.layers.Dense(num_classes, activation="softmax", dtype="float32", name="probabilities")(x)
  return tf.keras.Model(inputs, outputs, name="text_bert")


def make_optimizer(hp: Dict[str, Any], total_steps: int):
  """AdamW (decoupled weight decay) with linear warm-up then linear decay to zero."""
  from transformers import create_optimizer  # pylint: disable=g-import-not-at-top

  optimizer, _ = create_optimizer(init_lr=float(hp["learning_rate"]), num_train_steps=max(total_steps, 1),
                                  num_warmup_steps=int(float(hp["warmup_fraction"]) * total_steps),
                                  weight_decay_rate=float(hp["weight_decay"]))
  return optimizer


def tensor_inputs(tf_transform_output, hp: Dict[str, Any]):  # pylint: disable=unused-argument
  """int32 token ids, mask and segment ids [batch, max_seq_length] (tokenized with the shipped vocab.txt)."""
  from models import signatures  # pylint: disable=g-import-not-at-top

  length = int(hp["max_seq_length"])
  return signatures.TensorInputs(
      specs={name: tf.TensorSpec([None, length], tf.int32, name=name) for name in MODEL_INPUTS},
      from_examples=lambda raw, transformed: {name: tf.cast(transformed[name], tf.int32) for name in MODEL_INPUTS},
      to_model_inputs=lambda tensors: {name: tf.cast(tensors[name], tf.int64) for name in MODEL_INPUTS})


def explain_signatures(model: tf.keras.Model, hp: Dict[str, Any]) -> Dict[str, Any]:
  """What integrated gradients on the word embeddings needs (inference/explain_text.py), as two signatures:
  `token_embeddings`: int32 token ids -> their word embeddings and a baseline's (the same sequence with every token
  but [CLS] and [SEP] replaced by [PAD]); `explain_embeddings`: word embeddings, mask and segment ids ->
  probabilities, the model from the embedding lookup on (position and segment embeddings added inside), so
  gradients flow to the embeddings. {} for a model not built by `build_model`."""
  encoders = [layer for layer in model.layers if hasattr(layer, "bert")]
  if len(encoders) != 1:
    return {}
  encoder, dropout, head = encoders[0], model.get_layer("dropout"), model.get_layer("probabilities")
  tokens = bert_tokenization.read_vocab(os.path.join(hp["bert_checkpoint"], bert_checkpoint.VOCAB_FILE))
  cls_id, sep_id, pad_id = (tokens.index(t) for t in (bert_tokenization.CLS, bert_tokenization.SEP,
                                                       bert_tokenization.PAD))
  length, width = int(hp["max_seq_length"]), int(encoder.config.hidden_size)
  table = encoder.bert.embeddings.weight

  def ids_spec(name):
    return tf.TensorSpec([None, length], tf.int32, name=name)

  @tf.function(input_signature=[ids_spec(bert_tokenization.INPUT_WORD_IDS)], autograph=False)
  def token_embeddings(input_word_ids):
    special = tf.logical_or(tf.equal(input_word_ids, cls_id), tf.equal(input_word_ids, sep_id))
    baseline_ids = tf.where(special, input_word_ids, tf.fill(tf.shape(input_word_ids), pad_id))
    return {features.EMBEDDINGS: tf.cast(tf.gather(table, input_word_ids), tf.float32),
            features.BASELINE_EMBEDDINGS: tf.cast(tf.gather(table, baseline_ids), tf.float32)}

  @tf.function(input_signature=[tf.TensorSpec([None, length, width], tf.float32, name=features.EMBEDDINGS),
                                ids_spec(bert_tokenization.INPUT_MASK), ids_spec(bert_tokenization.SEGMENT_IDS)],
               autograph=False)
  def explain_embeddings(embeddings, input_mask, segment_ids):
    encoded = encoder(input_ids=None, inputs_embeds=tf.cast(embeddings, encoder.compute_dtype), attention_mask=input_mask,
                      token_type_ids=segment_ids, training=False)
    return {features.PROBABILITIES: head(dropout(encoded.pooler_output, training=False))}

  return {features.TOKEN_EMBEDDINGS_SIGNATURE: token_embeddings,
          features.EXPLAIN_EMBEDDINGS_SIGNATURE: explain_embeddings}


def search_space(space, hp: Dict[str, Any]) -> Dict[str, Any]:
  """The Tuner's search space (keras_tuner.HyperParameters `space`): learning rate, warm-up share, dropout."""
  del hp
  return {"learning_rate": space.Float("learning_rate", 1e-5, 1e-4, sampling="log", default=5e-5),
          "warmup_fraction": space.Float("warmup_fraction", 0.0, 0.2, step=0.05, default=0.1),
          "dropout": space.Float("dropout", 0.0, 0.3, step=0.1, default=0.1)}
