"""AtomicPusher: TFX's Pusher, but a pushed version appears whole or not at all.

TF Serving (and `modelfab serve`) load any new numeric directory they see under the base directory. TFX's own Pusher
copies straight into `<base>/<version>/`, so a push killed half-way leaves a half-copied version that a server would
try to load. This executor copies into a hidden temporary name beside it (`<base>/.push-<version>-<pid>`) and
renames it to `<base>/<version>` when complete; a rename within one filesystem is atomic. A failed push (full disk,
no permission) removes its temporary copy, names the cause, and leaves earlier versions as they were. Temporary
copies left by killed pushes are removed by the next push.

`ModelPusher` is TFX's Pusher with more optional inputs. The Quantizer's `tflite_model` and the OnnxExporter's
`onnx_model`: when blessed, model.tflite / model.onnx and their labels (and vocab) are pushed inside the same
version directory, beside the SavedModel. With a
`push_label` (custom_config), the new version gets that version label once it is in place
(core/version_labels.label_new_push: "canary" keeps `stable` on the version that served before). Every push
carries a model card (reports/model_card.py) built from the optional `model_evaluation` and `statistics` inputs,
the model's metadata and the .tflite's report, inside the version before it is renamed into place.
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from typing import Any, Dict, List, Optional, Tuple

from absl import logging
from tfx import types
from tfx.components.pusher import component as pusher_component
from tfx.components.pusher import executor as pusher_executor
from tfx.dsl.components.base import base_component, executor_spec
from tfx.proto import pusher_pb2
from tfx.types import artifact_utils, channel, component_spec, standard_artifacts, standard_component_specs
from tfx.utils import json_utils, proto_utils

from components.onnx_exporter import OnnxModel
from components.quantizer import TFLiteModel
from core import version_labels
from core.errors import PushError

TFLITE_MODEL_KEY = "tflite_model"
ONNX_MODEL_KEY = "onnx_model"
MODEL_EVALUATION_KEY = "model_evaluation"
STATISTICS_KEY = "statistics"
EXAMPLES_KEY = "examples"  # the train split, for the outlier profile pushed with the version
PUSH_LABEL_KEY = "push_label"
MODEL_CARD_KEY = "model_card"

TEMP_PREFIX = ".push-"


def _remove_stale_temp_dirs(base: str) -> None:
  """Removes `.push-*` copies whose process is gone (killed pushes)."""
  for name in os.listdir(base):
    if not name.startswith(TEMP_PREFIX):
      continue
    pid = name.rsplit("-", 1)[-1]
    alive = False
    if pid.isdigit():
      try:
        os.kill(int(pid), 0)
        alive = int(pid) != os.getpid()
      except OSError:
        alive = False
    if not alive:
      shutil.rmtree(os.path.join(base, name), ignore_errors=True)


def _copy_tree(src: str, dst: str) -> None:
  """Copies `src` to `dst`, stopping at the first error, each file flushed to disk, saved_model.pb last (readers
  take that file as the sign of a complete model)."""
  last = []
  for folder, _, names in os.walk(src):
    target = os.path.join(dst, os.path.relpath(folder, src))
    os.makedirs(target, exist_ok=True)
    for name in names:
      pair = (os.path.join(folder, name), os.path.join(target, name))
      if folder == src and name == "saved_model.pb":
        last.append(pair)
      else:
        shutil.copy2(*pair)
        _fsync(pair[1])
    _fsync(target)
  for source, target in last:
    shutil.copy2(source, target)
    _fsync(target)


def next_version(base: str) -> int:
  """The version a push to `base` now gets: the Unix time in seconds, or the next free number after it."""
  version = int(time.time())
  while os.path.exists(os.path.join(base, str(version))):
    version += 1
  return version


def push_atomically(model_dir: str, base: str, extra_files: Optional[List[str]] = None,
                    version: Optional[int] = None) -> Tuple[str, str]:
  """Copies the SavedModel at `model_dir` (and `extra_files`, into its top folder) to a new `<base>/<version>` in
  one rename; returns (version, path).

  The version is `version`, or `next_version(base)`: the Unix time in seconds (TF Serving's convention, and TFX's),
  or the next free number (the output dir's run lock keeps two pushers apart). Raises PushError naming `base` and
  the cause; nothing is left behind on failure.
  """
  try:
    os.makedirs(base, exist_ok=True)
    _remove_stale_temp_dirs(base)
  except OSError as e:
    raise PushError(f"cannot push to {base}: {e.strerror or e}") from e
  version = version or next_version(base)
  temp = os.path.join(base, f"{TEMP_PREFIX}{version}-{os.getpid()}")
  try:
    _copy_tree(model_dir, temp)  # on disk before it gets its final name
    for source in extra_files or []:
      target = os.path.join(temp, os.path.basename(source))
      shutil.copy2(source, target)
      _fsync(target)
    target = os.path.join(base, str(version))
    os.rename(temp, target)  # atomic within one filesystem; fails rather than replace a non-empty directory
    _fsync(base)
    return str(version), target
  except OSError as e:
    shutil.rmtree(temp, ignore_errors=True)
    raise PushError(f"cannot push to {base}: {e.strerror or e}; earlier versions are untouched") from e


def _fsync(path: str) -> None:
  """Flushes a file's or a directory's entries to disk; best effort (some filesystems refuse fsync)."""
  try:
    fd = os.open(path, os.O_RDONLY)
  except OSError:
    return
  try:
    os.fsync(fd)
  except OSError:
    pass
  finally:
    os.close(fd)


class Executor(pusher_executor.Executor):
  """Pusher executor whose filesystem pushes are atomic (see `push_atomically`); other destinations as TFX's."""

  def Do(self, input_dict: Dict[str, List[types.Artifact]], output_dict: Dict[str, List[types.Artifact]],
         exec_properties: Dict[str, Any]) -> None:
    destination = pusher_pb2.PushDestination()
    proto_utils.json_to_proto(exec_properties[standard_component_specs.PUSH_DESTINATION_KEY], destination)
    base = destination.filesystem.base_directory
    settings = json_utils.loads(exec_properties.get(standard_component_specs.CUSTOM_CONFIG_KEY) or "null") or {}
    if destination.WhichOneof("destination") != "filesystem" or "://" in base:
      if settings.get(PUSH_LABEL_KEY):
        raise PushError(f"cannot label a push to {base}: version labels need a local serving folder")
      super().Do(input_dict, output_dict, exec_properties)  # remote stores have no atomic rename to rely on
      self._copy_files_after(input_dict, output_dict, settings)
      return
    self._log_startup(input_dict, output_dict, exec_properties)
    model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    if not self.CheckBlessing(input_dict):
      self._MarkNotPushed(model_push)
      return
    version = next_version(base)
    with tempfile.TemporaryDirectory() as card_dir:
      card_files = self._model_card_files(input_dict, settings, str(version), os.path.join(base, str(version)),
                                          card_dir)
      card_files += outlier_profile_files(input_dict, self.GetModelPath(input_dict), card_dir)
      version_name, path = push_atomically(self.GetModelPath(input_dict), base,
                                           tflite_files(input_dict) + onnx_files(input_dict) + card_files,
                                           version)
    logging.info("Model pushed to %s.", path)
    if settings.get(PUSH_LABEL_KEY):
      labels = version_labels.label_new_push(base, int(version_name), settings[PUSH_LABEL_KEY])
      logging.info("Version labels of %s: %s", base, labels.labels)
    self._MarkPushed(model_push, pushed_destination=path, pushed_version=version_name)

  def _model_card_files(self, input_dict, settings: Dict[str, Any], version: str, pushed_to: str,
                        folder: str) -> List[str]:
    """model_card.json and .html for this push, written into `folder` (reports/model_card.py)."""
    from reports import model_card  # pylint: disable=g-import-not-at-top

    card = model_card.build_model_card(**model_card_inputs(input_dict, settings.get(MODEL_CARD_KEY) or {},
                                                           self.GetModelPath(input_dict), pushed_to,
                                                           getattr(self, "_context", None)), version=version)
    return model_card.write_model_card(folder, card)

  def _copy_files_after(self, input_dict, output_dict, settings: Dict[str, Any]) -> None:
    """Copies a blessed .tflite's files and the model card into the version TFX's own executor pushed (remote
    destinations)."""
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    model_push = artifact_utils.get_single_instance(output_dict[standard_component_specs.PUSHED_MODEL_KEY])
    destination = model_push.get_string_custom_property("pushed_destination")
    if model_push.get_int_custom_property("pushed") != 1 or not destination:
      return
    with tempfile.TemporaryDirectory() as card_dir:
      files = self._model_card_files(input_dict, settings, model_push.get_string_custom_property("pushed_version"),
                                     destination, card_dir)
      files += outlier_profile_files(input_dict, self.GetModelPath(input_dict), card_dir)
      for source in tflite_files(input_dict) + onnx_files(input_dict) + files:
        tf.io.gfile.copy(source, os.path.join(destination, os.path.basename(source)), overwrite=True)

def model_card_inputs(input_dict: Dict[str, List[types.Artifact]], card_settings: Dict[str, Any], model_path: str,
                      pushed_to: str, context=None) -> Dict[str, Any]:
  """The arguments of reports.model_card.build_model_card (all but `version`) from the Pusher's inputs."""
  from core import features, model_files  # pylint: disable=g-import-not-at-top
  from inference import eval_metrics, model_loader, run_summary  # pylint: disable=g-import-not-at-top
  from reports import report_data  # pylint: disable=g-import-not-at-top

  metadata = model_files.read_metadata(model_path)
  evaluation = (input_dict.get(MODEL_EVALUATION_KEY) or [None])[0]
  statistics = (input_dict.get(STATISTICS_KEY) or [None])[0]
  metrics = eval_metrics.read_metrics(evaluation.uri, num_classes=len(metadata.labels) or None) if evaluation else {}
  split_counts = {split: report_data.label_counts(stats)
                  for split, stats in report_data.read_statistics(statistics.uri).items()} if statistics else {}
  blessing = input_dict[standard_component_specs.MODEL_BLESSING_KEY][0]
  model = input_dict[standard_component_specs.MODEL_KEY][0]
  lineage = {"pipeline": card_settings.get("pipeline", ""),
             "run": getattr(context, "pipeline_run_id", None) or "", "model": model.uri,
             "evaluation": evaluation.uri if evaluation else "", "statistics": statistics.uri if statistics else "",
             "pushed_to": pushed_to}
  return {"name": card_settings.get("model_name") or os.path.basename(os.path.dirname(pushed_to.rstrip("/"))),
          "metadata": metadata, "metrics": metrics, "split_counts": split_counts,
          "blessing": {"min_accuracy": card_settings.get("min_accuracy"),
                       "baseline": blessing.get_string_custom_property("baseline_model") or None},
          "lineage": {k: v for k, v in lineage.items() if v},
          "compression": run_summary.read_compression(input_dict.get(TFLITE_MODEL_KEY)),
          "onnx": run_summary.read_onnx_report(input_dict.get(ONNX_MODEL_KEY)),
          "explainable": features.EXPLAIN_SIGNATURE in model_loader.signature_names(model_path),
          "notes": card_settings.get("notes")}


def onnx_files(input_dict: Dict[str, List[types.Artifact]]) -> List[str]:
  """The blessed model.onnx's files to push beside the SavedModel; none when it is absent or not blessed."""
  from core import model_files  # pylint: disable=g-import-not-at-top

  return _blessed_files(input_dict.get(ONNX_MODEL_KEY), model_files.ONNX_FILE)


def tflite_files(input_dict: Dict[str, List[types.Artifact]]) -> List[str]:
  """The blessed .tflite model's files to push beside the SavedModel; none when it is absent or not blessed."""
  from core import model_files  # pylint: disable=g-import-not-at-top

  return _blessed_files(input_dict.get(TFLITE_MODEL_KEY), model_files.TFLITE_FILE)


def outlier_profile_files(input_dict: Dict[str, List[types.Artifact]], model_path: str, folder: str) -> List[str]:
  """outlier_profile.json of the train split (monitoring/outliers.py), written into `folder`; [] without the
  optional `examples` input or a model of known modality."""
  from core import model_files  # pylint: disable=g-import-not-at-top
  from monitoring import outliers  # pylint: disable=g-import-not-at-top

  examples = (input_dict.get(EXAMPLES_KEY) or [None])[0]
  modality = model_files.read_metadata(model_path).modality
  if examples is None or not modality:
    return []
  return [outliers.write_profile(folder, outliers.profile_of_examples(examples.uri, modality, model_path))]


def _blessed_files(artifacts, model_file: str) -> List[str]:
  """`model_file`, its metadata, labels.txt and vocab.txt from the artifact's folder, when it is blessed."""
  from core import model_files  # pylint: disable=g-import-not-at-top

  if not artifacts or artifacts[0].get_int_custom_property("blessed") != 1:
    return []
  names = (model_file, model_file + model_files.TFLITE_METADATA_SUFFIX, model_files.LABELS_FILE,
           model_files.VOCAB_FILE)
  return [os.path.join(artifacts[0].uri, n) for n in names if os.path.isfile(os.path.join(artifacts[0].uri, n))]


EXECUTOR_SPEC = executor_spec.ExecutorClassSpec(Executor)


class ModelPusherSpec(standard_component_specs.PusherSpec):
  INPUTS = {**standard_component_specs.PusherSpec.INPUTS,
            TFLITE_MODEL_KEY: component_spec.ChannelParameter(type=TFLiteModel, optional=True),
            ONNX_MODEL_KEY: component_spec.ChannelParameter(type=OnnxModel, optional=True),
            MODEL_EVALUATION_KEY: component_spec.ChannelParameter(type=standard_artifacts.ModelEvaluation,
                                                                  optional=True),
            STATISTICS_KEY: component_spec.ChannelParameter(type=standard_artifacts.ExampleStatistics,
                                                            optional=True),
            EXAMPLES_KEY: component_spec.ChannelParameter(type=standard_artifacts.Examples, optional=True)}


class ModelPusher(pusher_component.Pusher):
  """TFX's Pusher with the atomic executor and an optional blessed `tflite_model` pushed beside the SavedModel."""
  SPEC_CLASS = ModelPusherSpec
  EXECUTOR_SPEC = EXECUTOR_SPEC

  def __init__(self, model, model_blessing, infra_blessing, push_destination: pusher_pb2.PushDestination,
               tflite_model=None, push_label: Optional[str] = None, model_evaluation=None, statistics=None,
               model_card: Optional[Dict[str, Any]] = None, onnx_model=None, examples=None):
    settings = {k: v for k, v in ((PUSH_LABEL_KEY, push_label), (MODEL_CARD_KEY, model_card)) if v}
    spec = ModelPusherSpec(model=model, model_blessing=model_blessing, infra_blessing=infra_blessing,
                           tflite_model=tflite_model, onnx_model=onnx_model, model_evaluation=model_evaluation,
                           statistics=statistics, examples=examples,
                           push_destination=push_destination,
                           custom_config=json_utils.dumps(settings) if settings else None,
                           pushed_model=channel.Channel(type=standard_artifacts.PushedModel))
    base_component.BaseComponent.__init__(self, spec=spec)  # pylint: disable=non-parent-init-called
