"""The `model_config_list` that real TensorFlow Serving reads (`--model_config_file`) for a serving folder, with
each model's version labels (core/version_labels.py), written with TF Serving's own config proto.

Each model's version policy is `specific`: its newest version plus every labelled one and the stable version before
(what `modelfab serve` keeps loaded), since TF Serving answers a label only for a loaded version. One difference:
TF Serving sends unversioned requests to the newest loaded version, not to `stable`; clients of real TF Serving
address `/labels/stable`.
"""
from __future__ import annotations

import os
from typing import List

from core import model_files, version_labels
from core.errors import LabelError


def model_config_text(serving_root: str, model_names: List[str]) -> str:
  """The config as protobuf text; LabelError when a model has no version or a damaged labels file."""
  from google.protobuf import text_format  # pylint: disable=g-import-not-at-top
  from tensorflow_serving.config import model_server_config_pb2  # pylint: disable=g-import-not-at-top

  config = model_server_config_pb2.ModelServerConfig()
  for name in model_names:
    model_dir = os.path.abspath(os.path.join(serving_root, name))
    on_disk = model_files.version_dirs(model_dir)
    if not on_disk:
      raise LabelError(f"{model_dir}: no pushed version")
    labels = version_labels.read_labels(model_dir)
    versions = sorted((set(on_disk[:1]) | version_labels.pinned_versions(labels)) & set(on_disk))
    entry = config.model_config_list.config.add(name=name, base_path=model_dir, model_platform="tensorflow")
    entry.model_version_policy.specific.versions.extend(versions)
    for label, version in sorted(labels.labels.items()):
      if version in on_disk:
        entry.version_labels[label] = version
  return text_format.MessageToString(config)
