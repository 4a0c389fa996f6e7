"""Why a pushed BERT text model answered what it did: integrated gradients on the word embeddings, merged from
WordPieces back to the whitespace-separated words of the input, from the SavedModel alone.

The model's `token_embeddings` signature gives the input's word embeddings and a baseline's (the same sequence with
every token but [CLS] and [SEP] replaced by [PAD]); `explain_embeddings` maps word embeddings (plus mask and segment
ids) to probabilities (models/text_bert.py). A token's attribution is the sum over its embedding's dimensions; a
word's is the sum over its WordPieces. Which pieces belong to which word is found by tokenizing each word alone with
the model's own Transform graph (`examples_to_tensors`), so it always matches what serving reads. Words past the
model's max_seq_length are not read by it and get 0. The deletion check removes words (their tokens set to the
baseline's), most-attributed first, against a random order.
"""
from __future__ import annotations

import html
import os
from typing import Dict, List, Sequence

import numpy as np

from core import features
from core.errors import UsageError
from inference import attribution
from models.bert_tokenization import INPUT_MASK, INPUT_WORD_IDS, SEGMENT_IDS



def word_piece_counts(explainable: attribution.Explainable, words: Sequence[str]) -> List[int]:
  """How many WordPieces each word becomes, each tokenized alone by the model's own tokenizer."""
  if not words:
    return []
  mask = explainable.tensors([w.encode("utf-8") for w in words])[INPUT_MASK]
  return [int(count) - 2 for count in mask.sum(axis=1)]  # less [CLS] and [SEP]


def token_words(piece_counts: Sequence[int], tokens: int, length: int) -> np.ndarray:
  """For each of `length` positions of a sequence of `tokens` tokens ([CLS] ... [SEP], then padding), the index of
  the word its piece came from; -1 for [CLS], [SEP], padding and pieces past the truncation."""
  owner = np.full(length, -1)
  word_of_piece = np.repeat(np.arange(len(piece_counts)), piece_counts)[:max(tokens - 2, 0)]
  owner[1:1 + len(word_of_piece)] = word_of_piece
  return owner


def explain_text(explainable: attribution.Explainable, text: str, steps: int = attribution.DEFAULT_STEPS,
                 seed: int = 0) -> Dict:
  """One text's explanation: label, score, baseline score, approximation error, one attribution per
  whitespace-separated word ({"words": [...], "scores": [...]}), and the deletion check over words."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if steps < 1:
    raise UsageError(f"--steps must be at least 1, got {steps}")
  signatures = explainable.model.signatures
  tensors = explainable.tensors([text.encode("utf-8")])
  ids, mask, segments = (tensors[k].astype(np.int32) for k in (INPUT_WORD_IDS, INPUT_MASK, SEGMENT_IDS))
  embedded = signatures[features.TOKEN_EMBEDDINGS_SIGNATURE](input_word_ids=tf.constant(ids))
  inputs, baseline = (embedded[k].numpy() for k in (features.EMBEDDINGS, features.BASELINE_EMBEDDINGS))

  def probabilities(batch):
    count = tf.shape(batch)[0]
    return signatures[features.EXPLAIN_EMBEDDINGS_SIGNATURE](
        embeddings=batch, input_mask=tf.tile(mask, [count, 1]),
        segment_ids=tf.tile(segments, [count, 1]))[features.PROBABILITIES]

  scores = probabilities(np.concatenate([inputs, baseline])).numpy()
  target = int(scores[0].argmax())
  per_token = attribution.integrated_gradients(lambda batch: probabilities(batch)[:, target], inputs, [baseline],
                                               steps).sum(axis=-1)
  words = text.split()
  owner = token_words(word_piece_counts(explainable, words), int(mask.sum()), ids.shape[1])
  word_scores = [float(per_token[owner == w].sum()) for w in range(len(words))]

  orders = [np.argsort(-np.asarray(word_scores), kind="stable"), np.random.default_rng(seed).permutation(len(words))]
  counts = attribution.deletion_counts(len(words))
  batch = np.repeat(inputs, len(orders) * len(counts), axis=0)  # both curves in one model call
  for row, (order, count) in enumerate((o, c) for o in orders for c in counts):
    removed = np.isin(owner, order[:count])
    batch[row, removed] = baseline[0, removed]
  attributed, shuffled = ([float(p) for p in curve] for curve in
                          probabilities(batch).numpy()[:, target].reshape(len(orders), len(counts)))
  score, baseline_score = float(scores[0, target]), float(scores[1, target])
  return {"label": explainable.label(target), "score": score, "method": attribution.INTEGRATED_GRADIENTS,
          "baseline_score": baseline_score,
          "approximation_error": attribution.completeness_error(float(per_token.sum()), score, baseline_score),
          "attributions": {"words": words, "scores": word_scores},
          "deletion": attribution.deletion_summary(attributed, shuffled)}


def explain_texts(model_path: str, texts: Sequence[str], steps: int = attribution.DEFAULT_STEPS,
                  method: str = attribution.INTEGRATED_GRADIENTS) -> List[Dict]:
  """`explain_text` for each text, with "input" set to it; UsageError for a method that explains only images."""
  explainable = attribution.load_explainable(model_path, features.TEXT_KEY)
  attribution.check_method(explainable, method)
  return [{"input": text, **explain_text(explainable, text, steps, seed=i)} for i, text in enumerate(texts)]


def top_words(attributions: Dict, count: int = 3) -> List[str]:
  """The `count` words with the highest attribution, highest first."""
  order = np.argsort(-np.asarray(attributions["scores"], dtype=np.float64), kind="stable")[:count]
  return [attributions["words"][i] for i in order]


def highlighted_words(attributions: Dict) -> str:
  """HTML of the words with a background by attribution: green for the class, red against it, by |score| / max."""
  scores = np.asarray(attributions["scores"], dtype=np.float64)
  peak = float(np.abs(scores).max()) if scores.size else 0.0
  spans = []
  for word, value in zip(attributions["words"], scores):
    strength = abs(value) / peak if peak else 0.0
    colour = "0,150,60" if value >= 0 else "210,40,40"
    spans.append(f'<span title="{value:.4f}" style="background: rgba({colour},{strength:.2f}); padding: 1px 2px">'
                 f"{html.escape(word)}</span>")
  return " ".join(spans)


def write_highlights(path: str, explained: Sequence[Dict]) -> None:
  """One HTML page: per text its label, score and words highlighted by attribution."""
  rows = "\n".join(f"<tr><td>{html.escape(str(e['label']))}</td><td>{e['score']:.3f}</td>"
                   f"<td>{highlighted_words(e['attributions'])}</td></tr>" for e in explained)
  os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
  with open(path, "w", encoding="utf-8") as f:
    f.write('<!doctype html><html><head><meta charset="utf-8"><title>modelfab explanations</title></head><body>'
            "<p>Integrated gradients on the word embeddings: green words raised the predicted class's probability, "
            "red ones lowered it.</p><table><tr><th>label</th><th>score</th><th>words</th></tr>\n"
            f"{rows}\n</table></body></html>\n")
