"""WordPiece tokenization for BERT inside the TensorFlow graph (Transform and serving), matching `transformers`.

`tensorflow_text.BertTokenizer(lower_case=True)` folds case with NFKC_Casefold, which differs from Hugging Face's
BertTokenizerFast on some text ("…" becomes "...", styled letters become plain ones). Lower-casing, NFD and dropping
combining marks by hand, then tokenizing with lower_case=False, matches it (measured: ../shared/STACK.md).
"""
from __future__ import annotations

from typing import Dict, List

import tensorflow as tf
import tensorflow_text as text

CLS, SEP, PAD, UNK = "[CLS]", "[SEP]", "[PAD]", "[UNK]"
INPUT_WORD_IDS, INPUT_MASK, SEGMENT_IDS = "input_word_ids", "input_mask", "segment_ids"


def read_vocab(vocab_path: str) -> List[str]:
  """The tokens of a BERT vocab.txt, one per line, in id order; checks the special tokens are there."""
  with tf.io.gfile.GFile(vocab_path, "r") as f:
    tokens = [line.rstrip("\n") for line in f]
  missing = [t for t in (CLS, SEP, PAD, UNK) if t not in tokens]
  if missing:
    raise ValueError(f"{vocab_path}: vocabulary lacks the special tokens {missing}")
  return tokens


def normalize_uncased(texts: tf.Tensor) -> tf.Tensor:
  """What BertTokenizerFast does for an uncased vocabulary: lower-case, NFD, strip combining marks (accents)."""
  lowered = tf.strings.lower(texts, encoding="utf-8")
  decomposed = text.normalize_utf8(lowered, "NFD")
  return tf.strings.regex_replace(decomposed, r"\p{Mn}", "")


class BertInputs(tf.Module):
  """Raw strings [batch] -> int64 input_word_ids / input_mask / segment_ids [batch, max_seq_length].

  [CLS] text [SEP], truncated to `max_seq_length`, padded with [PAD] (id 0 in BERT vocabularies).
  """

  def __init__(self, vocab_path: str, max_seq_length: int, lower_case: bool = True):
    super().__init__(name="bert_inputs")
    tokens = read_vocab(vocab_path)
    if max_seq_length < 3:
      raise ValueError(f"max_seq_length must be at least 3 ([CLS] token [SEP]), got {max_seq_length}")
    self.max_seq_length = int(max_seq_length)
    self.lower_case = lower_case
    self.cls_id, self.sep_id, self.pad_id = tokens.index(CLS), tokens.index(SEP), tokens.index(PAD)
    table = tf.lookup.StaticVocabularyTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(tokens), tf.range(len(tokens), dtype=tf.int64)),
        num_oov_buckets=1)
    self.tokenizer = text.BertTokenizer(table, token_out_type=tf.int64, unknown_token=UNK, lower_case=False)

  def __call__(self, texts: tf.Tensor) -> Dict[str, tf.Tensor]:
    texts = tf.reshape(texts, [-1])
    if self.lower_case:
      texts = normalize_uncased(texts)
    word_pieces = self.tokenizer.tokenize(texts).merge_dims(-2, -1)  # [batch, (words), (pieces)] -> [batch, (ids)]
    word_pieces = word_pieces[:, : self.max_seq_length - 2]
    ids, segments = text.combine_segments([word_pieces], start_of_sequence_id=self.cls_id,
                                          end_of_segment_id=self.sep_id)
    input_word_ids, input_mask = text.pad_model_inputs(ids, self.max_seq_length, pad_value=self.pad_id)
    segment_ids, _ = text.pad_model_inputs(segments, self.max_seq_length, pad_value=0)
    return {INPUT_WORD_IDS: tf.cast(input_word_ids, tf.int64), INPUT_MASK: tf.cast(input_mask, tf.int64),
            SEGMENT_IDS: tf.cast(segment_ids, tf.int64)}
