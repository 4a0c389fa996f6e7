"""ONNX export: the model's `serving_tensors` signature (uint8 pixels, or token ids and masks, in; probabilities
out; the Transform's arithmetic folded in) as model.onnx, for runtimes outside TensorFlow, checked with onnxruntime
against the SavedModel on every eval example.

The library behind the OnnxExporter component (components/onnx_exporter.py). The conversion is tf2onnx's
(`tf_loader.from_saved_model`, then `from_graph_def`, opset 17). The check feeds both models the same tensors of the
whole eval split: the ONNX model is blessed only when it gives the same label on every example and its largest
probability difference is within `tolerance`. A conversion that fails is a report with the reason, not an error: the
SavedModel is pushed without the .onnx, as with a .tflite the Quantizer does not bless.

Files written: model.onnx, model.onnx.json (modelfab's model metadata), labels.txt, vocab.txt for text, and
`onnx_export.json` (the verdict, the agreement, the largest difference, sizes, latency).
"""
from __future__ import annotations

import json
import os
import time
from typing import Dict

from core import features, json_files, model_files, names

REPORT_FILE = names.ONNX_REPORT_FILE
OPSET = 17
DEFAULT_TOLERANCE = 1e-4


def convert(saved_model_dir: str) -> bytes:
  """The ONNX model (serialized) of the SavedModel's `serving_tensors` signature."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tf2onnx import convert as tf2onnx_convert  # pylint: disable=g-import-not-at-top
  from tf2onnx import tf_loader  # pylint: disable=g-import-not-at-top

  graph_def, inputs, outputs, _, tensors_to_rename = tf_loader.from_saved_model(
      saved_model_dir, None, None, signatures=[features.TENSORS_SIGNATURE], return_initialized_tables=True,
      return_tensors_to_rename=True)
  with tf.device("/cpu:0"):
    model_proto, _ = tf2onnx_convert.from_graph_def(graph_def, input_names=inputs, output_names=outputs,
                                                    opset=OPSET, tensors_to_rename=tensors_to_rename)
  return model_proto.SerializeToString()


def export(model_dir: str, examples_uri: str, out_dir: str, tolerance: float = DEFAULT_TOLERANCE) -> Dict:
  """Converts and checks; writes the files into `out_dir`; returns the report (also onnx_export.json)."""
  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from inference import compression, model_loader  # pylint: disable=g-import-not-at-top
  from inference.model_check import read_split_records  # pylint: disable=g-import-not-at-top
  from inference.onnx_runner import OnnxRunner  # pylint: disable=g-import-not-at-top

  loaded = model_loader.load_model(model_dir)  # checks it loads; registers text ops
  report: Dict = {"blessed": False, "reason": "", "tolerance": tolerance, "opset": OPSET}
  started = time.time()
  try:
    onnx_bytes = convert(model_dir)
  except Exception as e:  # pylint: disable=broad-except  # tf2onnx raises many kinds; each is a reported failure
    return _refused(out_dir, report, "tf2onnx could not convert the serving_tensors signature", e)
  report["convert_seconds"] = time.time() - started
  path = os.path.join(out_dir, model_files.ONNX_FILE)
  with open(path, "wb") as f:
    f.write(onnx_bytes)
  compression.write_tensor_model_metadata(path, model_dir, loaded.metadata)
  try:
    runner = OnnxRunner(path)
  except Exception as e:  # pylint: disable=broad-except
    return _refused(out_dir, report, "onnxruntime cannot load the converted model", e)

  model = tf.saved_model.load(model_dir)
  records = read_split_records(examples_uri, "eval", 10**9)
  tensors, float_probabilities, _ = compression.tensors_and_predictions(model, records)
  try:
    onnx_probabilities = runner(tensors)
  except Exception as e:  # pylint: disable=broad-except
    return _refused(out_dir, report, "onnxruntime failed on the eval examples", e)
  agreement = float((float_probabilities.argmax(1) == onnx_probabilities.argmax(1)).mean())
  difference = float(np.abs(float_probabilities - onnx_probabilities).max())
  tensors_fn = model.signatures[features.TENSORS_SIGNATURE]
  report.update({
      "eval_examples": len(records), "label_agreement": agreement, "max_probability_difference": difference,
      "bytes": os.path.getsize(path),
      "latency_ms": {"savedmodel": compression.per_example_latency_ms(
                         lambda batch: tensors_fn(**{k: tf.constant(v) for k, v in batch.items()}), tensors,
                         compression.LATENCY_EXAMPLES),
                     "onnx": compression.per_example_latency_ms(runner, tensors, compression.LATENCY_EXAMPLES)}})
  report["blessed"] = agreement == 1.0 and difference <= tolerance
  if not report["blessed"]:
    report["reason"] = (f"the ONNX model disagrees with the SavedModel: the same label on {agreement:.2%} of "
                        f"{len(records)} eval examples, probabilities up to {difference:.2e} apart "
                        f"(allowed: {tolerance:.0e})")
  _write_report(out_dir, report)
  return report


def _refused(out_dir: str, report: Dict, what: str, error: Exception) -> Dict:
  """The report of an export that failed at `what`, written; the SavedModel is pushed without the .onnx."""
  report["reason"] = f"{what}: {_first_line(error)}"
  _write_report(out_dir, report)
  return report


def _first_line(error: Exception) -> str:
  text = str(error).strip()
  return text.splitlines()[0][:300] if text else type(error).__name__


def _write_report(out_dir: str, report: Dict) -> None:
  with open(os.path.join(out_dir, REPORT_FILE), "w") as f:
    json.dump(report, f, indent=2)


def read_report(uri: str):
  """The onnx_export.json in an OnnxModel artifact folder, or None."""
  return json_files.read_json(uri, REPORT_FILE)



