"""Loads a model and calls `serving_default` on raw examples, as a server would: the check before the Pusher.

Run in a fresh process (`python -m inference.model_check MODEL_DIR EXAMPLES_FILE`), so it catches what the training
process hides: ops registered only there, files outside the model directory, a graph that does not load. EXAMPLES_FILE
holds serialized raw tf.Examples as a TFRecord file. Exit status 0 when the model answers sensibly; otherwise 1 and
the reason as the last line of standard error.
"""
from __future__ import annotations

import os
import sys
from typing import List

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def read_split_records(examples_uri: str, split: str, limit: int) -> List[bytes]:
  """Up to `limit` serialized raw tf.Examples from split `split` of an Examples artifact at `examples_uri`."""
  import glob  # pylint: disable=g-import-not-at-top

  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  records = []
  for path in sorted(glob.glob(os.path.join(examples_uri, f"Split-{split}", "*"))):
    for record in tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else ""):
      records.append(record.numpy())
      if len(records) >= limit:
        return records
  return records


def check_serving(model_dir: str, examples: List[bytes]) -> None:
  """Raises ModelError with the reason unless `serving_default` returns one row of finite probabilities summing to
  1, a label and a score for each example."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  from core import features  # pylint: disable=g-import-not-at-top

  from core.errors import ModelError  # pylint: disable=g-import-not-at-top
  from inference.model_loader import load_model  # pylint: disable=g-import-not-at-top
  from inference.predict import predict_serialized  # pylint: disable=g-import-not-at-top

  model = load_model(model_dir)
  outputs = predict_serialized(model, examples)
  missing = [k for k in features.SERVING_OUTPUTS if k not in outputs]
  if missing:
    raise ModelError(f"{model_dir}: serving_default does not return {missing}")
  probabilities = outputs[features.PROBABILITIES]
  if probabilities.shape[0] != len(examples) or len(outputs[features.PREDICTED_LABEL]) != len(examples):
    raise ModelError(f"{model_dir}: {len(examples)} examples in, {probabilities.shape[0]} predictions out")
  if not np.all(np.isfinite(probabilities)):
    raise ModelError(f"{model_dir}: serving_default returns non-finite probabilities (NaN or inf)")
  if not np.allclose(probabilities.sum(axis=-1), 1.0, atol=1e-3):
    raise ModelError(f"{model_dir}: serving_default's probabilities do not sum to 1")
  answered = {label.decode("utf-8") for label in outputs[features.PREDICTED_LABEL]}
  if model.metadata.labels and not answered <= set(model.metadata.labels):
    raise ModelError(f"{model_dir}: serving_default returns labels outside the model's classes")
  check_explain_signature(model.path, examples, probabilities)


def check_explain_signature(model_dir: str, examples: List[bytes], probabilities) -> None:
  """Where the model has explain signatures (`explain_pixels` for images, `token_embeddings` and
  `explain_embeddings` for text; inference/explain.py): ModelError unless they answer what serving_default answered
  on the same examples and their gradients are finite."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from core import features  # pylint: disable=g-import-not-at-top
  from core.errors import ModelError  # pylint: disable=g-import-not-at-top

  saved = tf.saved_model.load(model_dir)
  if features.EXPLAIN_SIGNATURE in saved.signatures:
    name = features.EXPLAIN_SIGNATURE
  elif features.EXPLAIN_EMBEDDINGS_SIGNATURE in saved.signatures:
    name = features.EXPLAIN_EMBEDDINGS_SIGNATURE
  else:
    return
  tensors = saved.signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE](examples=tf.constant(examples))
  if name == features.EXPLAIN_SIGNATURE:
    inputs = {key: tf.cast(value, tf.float32) for key, value in tensors.items()}
    watched = list(inputs.values())
  else:
    from models.bert_tokenization import INPUT_MASK, INPUT_WORD_IDS, SEGMENT_IDS  # pylint: disable=g-import-not-at-top

    ids = tf.cast(tensors[INPUT_WORD_IDS], tf.int32)
    embedded = saved.signatures[features.TOKEN_EMBEDDINGS_SIGNATURE](**{INPUT_WORD_IDS: ids})[features.EMBEDDINGS]
    inputs = {features.EMBEDDINGS: embedded, INPUT_MASK: tf.cast(tensors[INPUT_MASK], tf.int32),
              SEGMENT_IDS: tf.cast(tensors[SEGMENT_IDS], tf.int32)}
    watched = [embedded]
  with tf.GradientTape() as tape:
    tape.watch(watched)
    explained = saved.signatures[name](**inputs)[features.PROBABILITIES]
    top = tf.reduce_sum(tf.reduce_max(explained, axis=-1))
  gradients = tape.gradient(top, watched)
  if not np.allclose(explained.numpy(), probabilities, atol=1e-4):
    raise ModelError(f"{model_dir}: {name} does not answer what serving_default answers")
  if any(g is None or not np.all(np.isfinite(g.numpy())) for g in gradients):
    raise ModelError(f"{model_dir}: {name} gives no finite gradients to explain with")


def main(argv: List[str]) -> int:
  if len(argv) != 3:
    print("usage: python -m inference.model_check MODEL_DIR EXAMPLES_FILE", file=sys.stderr)
    return 2
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from core.errors import ModelError  # pylint: disable=g-import-not-at-top

  examples = [r.numpy() for r in tf.data.TFRecordDataset(argv[2])]
  try:
    check_serving(argv[1], examples)
  except ModelError as e:
    print(str(e), file=sys.stderr)
    return 1
  print(f"serving_default answered {len(examples)} raw examples")
  return 0


if __name__ == "__main__":
  from core.process_exit import exit_without_teardown  # pylint: disable=g-import-not-at-top

  exit_without_teardown(main(sys.argv))
