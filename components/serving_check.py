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
    split: Parameter[str] = "eval", num_examples: Parameter[int] = 16, timeout_seconds: Parameter[int] = 300):
  """Blesses `model` for pushing when a fresh process loads it and `serving_default` answers raw `examples`."""
  from tfx.utils import path_utils  # pylint: disable=g-import-not-at-top

  model_dir = path_utils.serving_model_path(model.uri)
  records = model_check.read_split_records(examples.uri, split, num_examples)
  reason = run_check(model_dir, records, timeout_seconds) if records else f"no {split} examples to call it with"
  with open(os.path.join(blessing.uri, NOT_BLESSED_FILE if reason else BLESSED_FILE), "w") as f:
    f.write(reason)
  blessing.set_int_custom_property("blessed", 0 if reason else 1)
  blessing.set_string_custom_property(REASON_PROPERTY, reason)
  if reason:
    print(f"[modelfab] serving check FAILED, the model will not be pushed: {reason}", flush=True)
