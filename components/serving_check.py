"""ServingCheck: loads the exported model in a fresh process and calls it on raw eval examples before the Pusher.

TFX's InfraValidator does this by starting TF Serving in Docker or Kubernetes, which this project's machines lack.
This component keeps its contract: it outputs an `InfraBlessing` that the Pusher requires, so a blessed model that
cannot serve is not pushed. The check itself (inference/model_check.py) runs as `python -m inference.model_check` in a
new process: it catches what the training process would hide (ops registered only there, files outside the model
directory, a graph that does not load), and the Pusher's log names the reason.
"""

import os
import subprocess
import sys
import tempfile

from tfx.dsl.component.experimental.annotations import InputArtifact, OutputArtifact, Parameter
from tfx.dsl.component.experimental.decorators import component
from tfx.types.standard_artifacts import Examples, InfraBlessing, Model

from inference import model_check

BLESSED_FILE, NOT_BLESSED_FILE = "INFRA_BLESSED", "INFRA_NOT_BLESSED"  # TFX InfraValidator's names
REASON_PROPERTY = "reason"
PRIVACY_REFUSED_PROPERTY = "privacy_refused"  # 1 when the model spent more privacy than --max-epsilon allows
PRIVACY_EPSILON_PROPERTY, PRIVACY_DELTA_PROPERTY = "privacy_epsilon", "privacy_delta"  # DP-SGD's, when trained so


def privacy_verdict(spent, max_epsilon: float) -> str:
  """"" when `max_epsilon` is 0 (no limit) or the DP-SGD privacy `spent` (the model's metadata) is within it, else
  the reason."""
  if max_epsilon <= 0:
    return ""
  if not spent:
    return f"privacy: the model records no DP-SGD training, and --max-epsilon {max_epsilon:g} asks for it"
  if spent["epsilon"] > max_epsilon:
    return (f"privacy: the model spent epsilon {spent['epsilon']:.3g} (at delta {spent['delta']:g}), more than "
            f"--max-epsilon {max_epsilon:g}")
  return ""


def run_check(model_dir: str, records: list, timeout_seconds: int) -> str:
  """Runs inference.model_check on `records` in a new process; returns "" when it passed, else the reason."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  with tempfile.TemporaryDirectory(prefix="modelfab-serving-check-") as scratch:
    examples_file = os.path.join(scratch, "examples.tfrecord")
    with tf.io.TFRecordWriter(examples_file) as writer:
      for record in records:
        writer.write(record)
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo_root, os.environ.get("PYTHONPATH")]))}
    try:
      result = subprocess.run([sys.executable, "-m", "inference.model_check", model_dir, examples_file], env=env,
                              capture_output=True, text=True, timeout=timeout_seconds, check=False)
    except subprocess.TimeoutExpired:
      return f"{model_dir}: loading and calling the model took longer than {timeout_seconds}s"
  if result.returncode == 0:
    return ""
  lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
  return lines[-1] if lines else f"the check process exited with status {result.returncode}"


@component
def ServingCheck(  # pylint: disable=invalid-name
    model: InputArtifact[Model], examples: InputArtifact[Examples], blessing: OutputArtifact[InfraBlessing],
    split: Parameter[str] = "eval", num_examples: Parameter[int] = 16, timeout_seconds: Parameter[int] = 300,
    max_epsilon: Parameter[float] = 0.0):
  """Blesses `model` for pushing when a fresh process loads it and `serving_default` answers raw `examples`, and,
  with `max_epsilon` above 0, its DP-SGD training spent at most that epsilon."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  from core import model_files  # pylint: disable=g-import-not-at-top

  model_dir = path_utils.serving_model_path(model.uri)
  spent = model_files.read_metadata(model_dir).privacy
  if spent:  # in ML Metadata too, beside the verdict
    blessing.set_float_custom_property(PRIVACY_EPSILON_PROPERTY, float(spent["epsilon"]))
    blessing.set_float_custom_property(PRIVACY_DELTA_PROPERTY, float(spent["delta"]))
  privacy_reason = privacy_verdict(spent, max_epsilon)
  records = model_check.read_split_records(examples.uri, split, num_examples)
  reason = privacy_reason or (run_check(model_dir, records, timeout_seconds) if records
                              else f"no {split} examples to call it with")
  with open(os.path.join(blessing.uri, NOT_BLESSED_FILE if reason else BLESSED_FILE), "w") as f:
    f.write(reason)
  blessing.set_int_custom_property("blessed", 0 if reason else 1)
  blessing.set_string_custom_property(REASON_PROPERTY, reason)
  blessing.set_int_custom_property(PRIVACY_REFUSED_PROPERTY, 1 if privacy_reason else 0)
  if privacy_reason:
    print(f"[modelfab] NOT BLESSED, the model will not be pushed: {privacy_reason}", flush=True)
  elif reason:
    print(f"[modelfab] serving check FAILED, the model will not be pushed: {reason}", flush=True)
