"""Batch inference: a pushed SavedModel over a whole folder of images, CSV files or TFRecords of tf.Examples, on Beam
(`modelfab predict --batch`, and the pipeline's BatchInference step after the Pusher).

The Beam pipeline: the input listed in a few elements (chunks of image paths, CSV files, TFRecord files) -> each
worker reads them into (id, serialized raw tf.Example) -> Beam's RunInference with a model handler that loads the
model once per worker and calls `serving_default` on batches of BATCH_SIZE -> JSON Lines (`{"id", "label",
"score"}`) or TFRecords of TF Serving `PredictionLog`s (`.tfrecord` / `.tfrecord.gz`), one file.

A record the model cannot take (an image that does not decode, a record that is not a tf.Example) fails its whole
batch inside TensorFlow; the handler then calls the model on that batch's examples one at a time, so only the bad
ones fail. Each is written as `{"id", "error"}` (JSON Lines) or to `<output>.errors.jsonl` (TFRecords); the rest are
predicted. Ids name the position: the image's path under the input folder, `file.csv:row N`, `file:record N`.
"""
from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from core import features, model_files, names
from core.errors import DataError, UsageError

BATCH_SIZE = 256
PATHS_PER_CHUNK = 1000  # image paths per Beam element (a few long strings pickle fast)
PREDICTION_LOG_SUFFIXES = (".tfrecord", ".tfrecord.gz")
PROGRESS_SECONDS = 10.0


# One Beam element: (ids, serialized raw tf.Examples) of up to BATCH_SIZE examples. A plain tuple: Beam's coders
# keep it a tuple between workers.
Batch = Tuple[Tuple[str, ...], Tuple[bytes, ...]]


@dataclasses.dataclass
class BatchResult:
  output_file: str
  predicted: int
  failed: int
  seconds: float
  errors_file: Optional[str] = None  # TFRecord output: where the failures are listed
  first_errors: List[Dict[str, str]] = dataclasses.field(default_factory=list)

  @property
  def examples_per_second(self) -> float:
    return (self.predicted + self.failed) / self.seconds if self.seconds else 0.0


def detect_format(input_path: str) -> str:
  """image_folder, text_csv or tfrecord, from what `input_path` holds; DataError naming it when none fits."""
  from readers import image_folder  # pylint: disable=g-import-not-at-top

  if not os.path.exists(input_path):
    raise DataError(f"{input_path}: no such file or folder")
  if os.path.isfile(input_path):
    return "text_csv" if input_path.lower().endswith(".csv") else "tfrecord"
  names = [n for _, _, files in os.walk(input_path) for n in files if not n.startswith(".")]
  if any(n.lower().endswith(image_folder.IMAGE_EXTENSIONS) for n in names):
    return "image_folder"
  if any(n.lower().endswith(".csv") for n in names):
    return "text_csv"
  if names:
    return "tfrecord"
  raise DataError(f"{input_path}: the folder holds no files")


def list_sources(input_path: str, input_format: str) -> Tuple[List[str], int]:
  """(Beam elements, the number of examples they hold): NUL-joined chunks of image paths relative to the folder,
  or the CSV / TFRecord files. DataError naming the input when it holds nothing to predict."""
  from readers import image_folder, text_csv, tfrecords  # pylint: disable=g-import-not-at-top

  if input_format == "image_folder":
    paths = sorted(os.path.relpath(os.path.join(folder, n), input_path)
                   for folder, _, files in os.walk(input_path) for n in files
                   if n.lower().endswith(image_folder.IMAGE_EXTENSIONS) and not n.startswith("."))
    if not paths:
      raise DataError(f"{input_path}: no image files (.png, .jpg, .jpeg) in this folder")
    return ["\0".join(paths[i:i + PATHS_PER_CHUNK]) for i in range(0, len(paths), PATHS_PER_CHUNK)], len(paths)
  if input_format == "text_csv":
    files = text_csv.list_csv_files(input_path)
    return files, sum(max(0, _line_count(f) - 1) for f in files)
  if input_format == "tfrecord":
    files = [input_path] if os.path.isfile(input_path) else tfrecords.record_files(input_path)
    if not files:
      raise DataError(f"{input_path}: no TFRecord files")
    return files, None
  raise UsageError(f"unknown input format {input_format!r}; choose one of {', '.join(names.DATA_FORMATS)}")


def _line_count(path: str) -> int:
  with open(path, "rb") as f:
    return sum(1 for _ in f)


def _example(key: str, value: bytes) -> bytes:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.train.Example(features=tf.train.Features(feature={
      key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))})).SerializeToString()


def read_source(source: str, input_path: str, input_format: str, text_column: str) -> Iterable[Tuple[str, bytes]]:
  """(id, serialized raw tf.Example) of every example in one Beam element of `list_sources`."""
  if input_format == "image_folder":
    for relative_path in source.split("\0"):
      with open(os.path.join(input_path, relative_path), "rb") as f:
        yield relative_path, _example(features.IMAGE_KEY, f.read())
  elif input_format == "text_csv":
    import csv  # pylint: disable=g-import-not-at-top

    name = os.path.relpath(source, input_path) if os.path.isdir(input_path) else os.path.basename(source)
    with open(source, newline="", encoding="utf-8-sig") as f:
      reader = csv.DictReader(f)
      if text_column not in (reader.fieldnames or []):
        raise DataError(f"{source}: no '{text_column}' column (the header has {reader.fieldnames}); "
                        "give --text-column")
      for row_number, row in enumerate(reader, start=1):
        yield f"{name}:row {row_number}", _example(features.TEXT_KEY, (row[text_column] or "").encode("utf-8"))
  else:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    name = os.path.relpath(source, input_path) if os.path.isdir(input_path) else os.path.basename(source)
    dataset = tf.data.TFRecordDataset(source, compression_type="GZIP" if source.endswith(".gz") else "")
    for index, record in enumerate(dataset.as_numpy_iterator()):
      yield f"{name}:record {index}", record


def read_batches(source: str, input_path: str, input_format: str, text_column: str) -> Iterable[Batch]:
  """`read_source`'s examples in batches of up to BATCH_SIZE: one Beam element per model call, so Beam's cost per
  element is paid once per batch, not once per example (measured: benchmarks/RESULTS.md, batch inference)."""
  ids, examples = [], []
  for example_id, example in read_source(source, input_path, input_format, text_column):
    ids.append(example_id)
    examples.append(example)
    if len(ids) == BATCH_SIZE:
      yield tuple(ids), tuple(examples)
      ids, examples = [], []
  if ids:
    yield tuple(ids), tuple(examples)


class _Progress:
  """Prints how many examples this worker has predicted, at most every PROGRESS_SECONDS (workers share stdout)."""

  def __init__(self, total: Optional[int]):
    self.total, self.done, self.last = total, 0, time.time()

  def add(self, count: int) -> None:
    self.done += count
    if time.time() - self.last >= PROGRESS_SECONDS:
      self.last = time.time()
      of = f" (of {self.total:,} in all)" if self.total else ""
      print(f"[modelfab] batch inference: worker {os.getpid()} has predicted {self.done:,}{of}", flush=True)


def make_model_handler(model_dir: str, total: Optional[int], threads: Optional[int] = None,
                       outlier_scorer: Optional[Callable[[List[bytes]], Sequence[float]]] = None,
                       input_key: str = features.IMAGE_KEY):
  """Beam's ModelHandler for a pushed SavedModel: loads it once per worker; its elements are Batches, and
  `run_inference` gives each one's (id, example, result) triples, result being {"label", "score",
  "probabilities"} or {"error"}. `threads`: TensorFlow's threads
  in each worker process (None: TensorFlow's default, all cores). `outlier_scorer`: maps the raw `input_key` values
  of the predicted examples to outlier scores (monitoring.outliers), added as "outlier_score"."""
  from apache_beam.ml.inference import base  # pylint: disable=g-import-not-at-top

  return type("SavedModelHandler", (_SavedModelHandler, base.ModelHandler), {})(
      model_dir, total, threads, outlier_scorer, input_key)


def threads_per_worker(beam_args: Sequence[str]) -> Optional[int]:
  """The cores each worker process gets when the DirectRunner runs several (multi_processing): TensorFlow in each
  worker would otherwise start a thread per core of the machine. None when Beam runs in this process."""
  options = dict(arg.lstrip("-").split("=", 1) for arg in beam_args if "=" in arg)
  if options.get("direct_running_mode") != "multi_processing":
    return None
  workers = int(options.get("direct_num_workers", "0") or 0) or os.cpu_count() or 1
  return max(1, (os.cpu_count() or 1) // workers)


class _SavedModelHandler:
  """The methods of the handler `make_model_handler` makes (a mixin, so Apache Beam is imported only when used)."""

  def __init__(self, model_dir: str, total: Optional[int], threads: Optional[int], outlier_scorer, input_key: str):
    self._model_dir = model_dir
    self._progress = _Progress(total)
    self._threads = threads
    self._outlier_scorer = outlier_scorer
    self._input_key = input_key

  def load_model(self):
    from inference import model_loader  # pylint: disable=g-import-not-at-top

    if self._threads:  # a worker process of its own: TensorFlow is not initialized yet
      import tensorflow as tf  # pylint: disable=g-import-not-at-top

      tf.config.threading.set_intra_op_parallelism_threads(self._threads)
      tf.config.threading.set_inter_op_parallelism_threads(self._threads)
    return model_loader.load_model(self._model_dir)

  def run_inference(self, batch: Sequence[Batch], model, inference_args=None):
    """For each Batch: its (id, serialized example, result) triples."""
    del inference_args
    return [list(zip(ids, examples, self._predict(examples, model))) for ids, examples in batch]

  def _predict(self, examples: Sequence[bytes], model) -> List[Dict[str, object]]:
    from inference import predict  # pylint: disable=g-import-not-at-top

    try:
      results = _rows(predict.predict_serialized(model, list(examples)))
    except Exception:  # pylint: disable=broad-except  # a bad example fails its batch: find it
      results = []
      for example in examples:
        try:
          results += _rows(predict.predict_serialized(model, [example]))
        except Exception as e:  # pylint: disable=broad-except
          results.append({"error": str(e).splitlines()[0] if str(e) else type(e).__name__})
    if self._outlier_scorer is not None:
      self._add_outlier_scores(examples, results)
    self._progress.add(len(examples))
    return results

  def _add_outlier_scores(self, batch: Sequence[bytes], results: List[Dict[str, object]]) -> None:
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    predicted = [(example, row) for example, row in zip(batch, results) if "error" not in row]
    raw = [tf.train.Example.FromString(example).features.feature[self._input_key].bytes_list.value[0]
           for example, _ in predicted]
    for (_, row), outlier_score in zip(predicted, self._outlier_scorer(raw) if raw else []):
      row[features.OUTLIER_SCORE] = float(outlier_score)

  def batch_elements_kwargs(self):
    return {"min_batch_size": 1, "max_batch_size": 1}  # each element is already a batch (read_batches)

  def get_metrics_namespace(self):
    return "modelfab_batch_inference"


def _rows(outputs) -> List[Dict[str, object]]:
  return [{"label": label.decode("utf-8"), "score": float(score), "probabilities": probabilities.tolist()}
          for label, score, probabilities in zip(outputs[features.PREDICTED_LABEL], outputs[features.PREDICTED_SCORE],
                                                 outputs[features.PROBABILITIES])]


def _json_lines(triples) -> str:
  """The JSON lines of one batch's (id, example, result) triples, as one text (WriteToText adds the last newline)."""
  return "\n".join(_json_line(triple) for triple in triples)


def _json_line(triple) -> str:
  example_id, _, result = triple
  row = {"id": example_id, **({"error": result["error"]} if "error" in result else
                              {"label": result["label"], "score": round(result["score"], 6)})}
  if features.OUTLIER_SCORE in result:
    row[features.OUTLIER_SCORE] = round(result[features.OUTLIER_SCORE], 3)
  return json.dumps(row, ensure_ascii=False)


def _prediction_log(triple, model_name: str, version: str) -> bytes:
  """A TF Serving PredictionLog (predict_log: the request's serialized example, the response's outputs)."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.apis import prediction_log_pb2  # pylint: disable=g-import-not-at-top

  _, example, result = triple
  log = prediction_log_pb2.PredictionLog()
  request = log.predict_log.request
  request.model_spec.name, request.model_spec.signature_name = model_name, features.SERVING_SIGNATURE
  if version.isdigit():
    request.model_spec.version.value = int(version)
  request.inputs[features.SERVING_INPUT].CopyFrom(tf.make_tensor_proto([example], dtype=tf.string))
  response = log.predict_log.response
  response.model_spec.CopyFrom(request.model_spec)
  response.outputs[features.PREDICTED_LABEL].CopyFrom(tf.make_tensor_proto([result["label"].encode("utf-8")]))
  response.outputs[features.PREDICTED_SCORE].CopyFrom(tf.make_tensor_proto([result["score"]], dtype=tf.float32))
  response.outputs[features.PROBABILITIES].CopyFrom(
      tf.make_tensor_proto([result["probabilities"]], dtype=tf.float32))
  return log.SerializeToString()


def check_model(model: str) -> str:
  """The SavedModel version folder `model` names (a model folder: its newest version); ModelError naming it
  otherwise (batch inference runs the SavedModel: a .tflite or .onnx file is refused)."""
  from inference import model_loader  # pylint: disable=g-import-not-at-top

  if model.endswith(model_files.TENSOR_MODEL_SUFFIXES):
    raise UsageError(f"--model {model}: batch inference runs the SavedModel (raw tf.Examples through "
                     "serving_default); give its version folder or the model folder")
  return model_loader.resolve_model_dir(model)


def check_output_file(output_file: str) -> None:
  """UsageError naming --output-file when its folder does not exist or it is a folder."""
  folder = os.path.dirname(os.path.abspath(output_file))
  if os.path.isdir(output_file):
    raise UsageError(f"--output-file {output_file}: is a folder; give a file name (.jsonl, .tfrecord, .tfrecord.gz)")
  if not os.path.isdir(folder):
    raise UsageError(f"--output-file {output_file}: the folder {folder} does not exist")


def predict_batch(model_dir: str, input_path: str, output_file: str, input_format: Optional[str] = None,
                  text_column: str = features.TEXT_KEY, beam_args: Sequence[str] = (),
                  outlier_scorer: Optional[Callable[[List[bytes]], Sequence[float]]] = None) -> BatchResult:
  """Runs the model at `model_dir` (a version folder) over everything in `input_path` on Beam; writes
  `output_file`; returns the counts. DataError naming the input when it holds nothing to predict.
  outlier_scorer: raw inputs -> outlier scores (monitoring.outliers.scorer), added to each JSON line."""
  import apache_beam as beam  # pylint: disable=g-import-not-at-top
  from apache_beam.ml.inference import base  # pylint: disable=g-import-not-at-top
  from apache_beam.options.pipeline_options import PipelineOptions  # pylint: disable=g-import-not-at-top

  model_dir = check_model(model_dir)
  check_output_file(output_file)
  input_format = input_format or detect_format(input_path)
  modality = model_files.read_metadata(model_dir).modality
  wanted = {"image_folder": features.IMAGE_KEY, "text_csv": features.TEXT_KEY}.get(input_format)
  if modality and wanted and modality != wanted:
    raise UsageError(f"{input_path}: {input_format} input, but the model at {model_dir} classifies {modality}s")
  sources, total = list_sources(input_path, input_format)
  input_path = os.path.abspath(input_path)
  prediction_logs = output_file.endswith(PREDICTION_LOG_SUFFIXES)
  errors_file = output_file + ".errors.jsonl" if prediction_logs else None
  model_name = os.path.basename(os.path.dirname(os.path.abspath(model_dir)))
  version = os.path.basename(os.path.abspath(model_dir))
  started = time.time()
  with beam.Pipeline(options=PipelineOptions(list(beam_args))) as pipeline:
    results = (pipeline
               | "Sources" >> beam.Create(sources, reshuffle=len(sources) > 1)
               | "Read" >> beam.FlatMap(read_batches, input_path, input_format, text_column)
               | "RunInference" >> base.RunInference(make_model_handler(
                   model_dir, total, threads_per_worker(beam_args), outlier_scorer, modality or features.IMAGE_KEY)))
    if prediction_logs:
      triples = results | "Examples" >> beam.FlatMap(lambda triples: triples)
      _ = (triples | "Predicted" >> beam.Filter(lambda triple: "error" not in triple[2])
           | "ToPredictionLog" >> beam.Map(_prediction_log, model_name, version)
           | "WriteLogs" >> beam.io.WriteToTFRecord(output_file, shard_name_template="", num_shards=1))
      _ = (triples | "Failed" >> beam.Filter(lambda triple: "error" in triple[2]) | "ErrorLines" >> beam.Map(_json_line)
           | "WriteErrors" >> beam.io.WriteToText(errors_file, shard_name_template="", num_shards=1))
    else:
      _ = (results | "ToJson" >> beam.Map(_json_lines)
           | "WriteLines" >> beam.io.WriteToText(output_file, shard_name_template="", num_shards=1))
  seconds = time.time() - started
  errors = _read_errors(errors_file or output_file)
  predicted = _count_predictions(output_file) if prediction_logs else _count_lines(output_file) - len(errors)
  return BatchResult(output_file, predicted, len(errors), seconds, errors_file, errors[:5])


def _read_errors(jsonl: str) -> List[Dict[str, str]]:
  errors = []
  with open(jsonl, encoding="utf-8") as f:
    for line in f:
      if '"error"' in line:
        row = json.loads(line)
        if "error" in row:
          errors.append(row)
  return errors


def _count_lines(path: str) -> int:
  with open(path, "rb") as f:
    return sum(1 for _ in f)


def _count_predictions(path: str) -> int:
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  dataset = tf.data.TFRecordDataset(path, compression_type="GZIP" if path.endswith(".gz") else "")
  return int(dataset.reduce(0, lambda n, _: n + 1))
