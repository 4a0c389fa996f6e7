"""Compression: a pushed-to-be model as a .tflite file, judged on the whole eval split against the float model.

The library behind the Quantizer component (components/quantizer.py). `compress` converts the model's
`serving_tensors` signature (uint8 pixels or int32 token ids in, the Transform's arithmetic folded inside;
models/signatures.py) with the TFLite converter:
- dynamic: weights stored as int8, activations float;
- float16: weights stored as float16;
- int8: full-integer post-training quantization, calibrated on a representative sample of the training split.

The judgement uses TFMA's metrics (the Evaluator's own metric config: accuracy, macro precision/recall/F1, the
confusion matrix) over every eval example, for the float model (`serving_default` on raw examples) and the .tflite
model (the TFLite interpreter on the same examples' tensors), side by side. The compressed model is blessed only
when its accuracy is within `max_accuracy_drop` of the float model's. TFX's Evaluator itself cannot do this: its
TFLite extractor feeds raw tf.Example features by name, and raw features here are encoded images and strings.

Files written: model.tflite, model.tflite.json (modelfab's model metadata), labels.txt, vocab.txt for text,
`compression.json` (sizes, sparsity, latency, metrics of both, the verdict) and TFMA's output in `evaluation/`.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import time
from typing import Dict, List

from core import features, model_files, names
from inference import eval_metrics, model_loader
from inference.model_check import read_split_records

EVALUATION_DIR = "evaluation"
FLOAT_MODEL, COMPRESSED_MODEL = "float", "compressed"  # model names in TFMA's output
REPRESENTATIVE_EXAMPLES = 200
LATENCY_EXAMPLES = 100


def convert(saved_model_dir: str, mode: str, representative: List[Dict]) -> bytes:
  """The .tflite flatbuffer of the model's `serving_tensors` signature, quantized as `mode` says."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir,
                                                       signature_keys=[features.TENSORS_SIGNATURE])
  converter.optimizations = [tf.lite.Optimize.DEFAULT]
  if mode == "float16":
    converter.target_spec.supported_types = [tf.float16]
  elif mode == "int8":
    converter.representative_dataset = lambda: iter(representative)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
  elif mode != "dynamic":
    raise ValueError(f"unknown quantization {mode!r}; choose one of {', '.join(names.QUANTIZE_MODES)}")
  return converter.convert()


def _batches(records: List[bytes], size: int = 256):
  for start in range(0, len(records), size):
    yield records[start:start + size]


def tensors_and_predictions(model, records: List[bytes], tensors_only: bool = False):
  """For raw `records`: the tensors the .tflite model takes, the float model's probabilities, the integer labels
  (with `tensors_only`, the tensors alone: records need no label)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  tensors, probabilities, labels = {}, [], []
  for batch in _batches(records):
    examples = tf.constant(batch)
    for name, value in model.signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE](examples=examples).items():
      tensors.setdefault(name, []).append(value.numpy())
    if tensors_only:
      continue
    outputs = model.signatures[features.SERVING_SIGNATURE](examples=examples)
    probabilities.append(outputs[features.PROBABILITIES].numpy())
    transformed = model.signatures[features.TRANSFORM_FEATURES_SIGNATURE](examples=examples)
    labels.append(transformed[features.TRANSFORMED_LABEL_KEY].numpy().reshape(-1))
  tensors = {k: np.concatenate(v) for k, v in tensors.items()}
  if tensors_only:
    return tensors, None, None
  return tensors, np.concatenate(probabilities), np.concatenate(labels)


def judge(labels, float_probabilities, compressed_probabilities, num_classes: int, output_dir: str):
  """TFMA's metrics (the Evaluator's config) for both models on the same examples: {model name: metrics}."""
  import pandas as pd  # pylint: disable=g-import-not-at-top
  import tensorflow_model_analysis as tfma  # pylint: disable=g-import-not-at-top

  from models import evaluation  # pylint: disable=g-import-not-at-top

  eval_config = evaluation.make_comparison_eval_config((FLOAT_MODEL, COMPRESSED_MODEL))
  data = pd.DataFrame({"label": labels.astype("int64"), FLOAT_MODEL: list(float_probabilities),
                       COMPRESSED_MODEL: list(compressed_probabilities)})
  tfma.analyze_raw_data(data, eval_config, output_path=output_dir)
  return {name: eval_metrics.read_metrics(output_dir, model_name=name, num_classes=num_classes)
          for name in (FLOAT_MODEL, COMPRESSED_MODEL)}


def per_example_latency_ms(call, inputs: Dict, count: int) -> float:
  """Median milliseconds of `call` on one example at a time, over the first `count` examples (after a warm-up)."""
  import numpy as np  # pylint: disable=g-import-not-at-top

  count = min(count, len(next(iter(inputs.values()))))
  call({k: v[:1] for k, v in inputs.items()})
  times = []
  for i in range(count):
    started = time.perf_counter()
    call({k: v[i:i + 1] for k, v in inputs.items()})
    times.append((time.perf_counter() - started) * 1000)
  return float(np.median(times))


def directory_sizes(path: str) -> Dict[str, int]:
  """Bytes of a file or a directory tree ("bytes"), and of its files gzip-compressed ("gzip_bytes")."""
  files = [path] if os.path.isfile(path) else [os.path.join(d, n) for d, _, names in os.walk(path) for n in names]
  total = sum(os.path.getsize(f) for f in files)
  zipped = 0
  for f in files:
    with open(f, "rb") as handle:
      zipped += len(gzip.compress(handle.read(), compresslevel=9))
  return {"bytes": total, "gzip_bytes": zipped}


def kernel_sparsity(model) -> float:
  """Share of exact zeros over the model's weight matrices and conv kernels (2+ dimensions)."""
  from models import pruning  # pylint: disable=g-import-not-at-top

  return pruning.overall_sparsity(v.numpy() for v in model.variables if len(v.shape) >= 2
                                  and "embeddings" not in v.name)


def write_tflite_files(out_dir: str, tflite_bytes: bytes, model_dir: str, metadata) -> None:
  """model.tflite, model.tflite.json, labels.txt, and the float model's vocab.txt (text) when it ships one."""
  path = os.path.join(out_dir, model_files.TFLITE_FILE)
  with open(path, "wb") as f:
    f.write(tflite_bytes)
  write_tensor_model_metadata(path, model_dir, metadata)


def write_tensor_model_metadata(path: str, model_dir: str, metadata) -> None:
  """Beside a .tflite or .onnx file: <file>.json (the model's metadata), labels.txt, and the float model's vocab.txt
  (text) when it ships one."""
  out_dir = os.path.dirname(path)
  with open(path + model_files.TFLITE_METADATA_SUFFIX, "w") as f:
    json.dump(metadata.to_json(), f, indent=2)
  with open(os.path.join(out_dir, model_files.LABELS_FILE), "w", encoding="utf-8") as f:
    f.write("".join(label + "\n" for label in metadata.labels))
  vocab = os.path.join(model_dir, model_files.ASSETS_EXTRA_DIR, model_files.VOCAB_FILE)
  if os.path.isfile(vocab):
    shutil.copy(vocab, os.path.join(out_dir, model_files.VOCAB_FILE))


def compress(model_dir: str, examples_uri: str, out_dir: str, mode: str, max_accuracy_drop: float) -> Dict:
  """Converts, evaluates and judges; writes the files into `out_dir`; returns the report (also compression.json)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from inference.tflite_runner import TFLiteRunner  # pylint: disable=g-import-not-at-top

  loaded = model_loader.load_model(model_dir)  # checks it loads; registers text ops
  model = tf.saved_model.load(model_dir)
  train = read_split_records(examples_uri, "train", REPRESENTATIVE_EXAMPLES)
  train_tensors, _, _ = tensors_and_predictions(model, train, tensors_only=True)
  representative = [{k: v[i:i + 1] for k, v in train_tensors.items()} for i in range(len(train))]
  started = time.time()
  tflite_bytes = convert(model_dir, mode, representative)
  convert_seconds = time.time() - started
  write_tflite_files(out_dir, tflite_bytes, model_dir, loaded.metadata)
  runner = TFLiteRunner(os.path.join(out_dir, model_files.TFLITE_FILE))

  eval_records = read_split_records(examples_uri, "eval", 10**9)
  tensors, float_probabilities, labels = tensors_and_predictions(model, eval_records)
  compressed_probabilities = runner(tensors)
  num_classes = float_probabilities.shape[1]
  metrics = judge(labels, float_probabilities, compressed_probabilities, num_classes,
                  os.path.join(out_dir, EVALUATION_DIR))
  agreement = float((float_probabilities.argmax(1) == compressed_probabilities.argmax(1)).mean())

  tensors_fn = model.signatures[features.TENSORS_SIGNATURE]
  float_latency = per_example_latency_ms(lambda batch: tensors_fn(**{k: tf.constant(v) for k, v in batch.items()}),
                                         tensors, LATENCY_EXAMPLES)
  tflite_latency = per_example_latency_ms(runner, tensors, LATENCY_EXAMPLES)

  accuracy = names.ACCURACY
  drop = metrics[FLOAT_MODEL][accuracy] - metrics[COMPRESSED_MODEL][accuracy]
  blessed = drop <= max_accuracy_drop + 1e-9
  reason = "" if blessed else (f"{mode} .tflite accuracy {metrics[COMPRESSED_MODEL][accuracy]:.4f} is "
                               f"{drop * 100:.2f} points below the float model's "
                               f"{metrics[FLOAT_MODEL][accuracy]:.4f} (allowed: {max_accuracy_drop * 100:.2f})")
  saved_model_sizes = directory_sizes(model_dir)
  weights_sizes = directory_sizes(os.path.join(model_dir, "variables"))  # the weights alone, no graph or assets
  tflite_sizes = directory_sizes(os.path.join(out_dir, model_files.TFLITE_FILE))
  report = {
      "mode": mode, "blessed": blessed, "reason": reason, "max_accuracy_drop": max_accuracy_drop,
      "accuracy_drop": drop, "label_agreement": agreement, "eval_examples": len(eval_records),
      "convert_seconds": convert_seconds,
      "float": {"bytes": saved_model_sizes["bytes"], "gzip_bytes": saved_model_sizes["gzip_bytes"],
                "weights_bytes": weights_sizes["bytes"], "weights_gzip_bytes": weights_sizes["gzip_bytes"],
                "sparsity": kernel_sparsity(model), "latency_ms": float_latency, "metrics": metrics[FLOAT_MODEL]},
      "compressed": {"bytes": tflite_sizes["bytes"], "gzip_bytes": tflite_sizes["gzip_bytes"],
                     "latency_ms": tflite_latency, "metrics": metrics[COMPRESSED_MODEL]},
  }
  with open(os.path.join(out_dir, names.COMPRESSION_REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2)
  return report
