"""Loading a Hugging Face-format BERT checkpoint directory into `transformers`' TFBertModel, without torch.

A checkpoint directory holds `config.json`, `vocab.txt` and weights as `model.safetensors` (PyTorch tensor names) or
`tf_model.h5`. `TFBertModel.from_pretrained` crashes on safetensors with transformers 4.57 and `from_pt=True` needs
torch, so safetensors weights are read with NumPy and mapped onto the TF model by transformers' own name converter.
"""
from __future__ import annotations

import os
from typing import List

CONFIG_FILE, VOCAB_FILE = "config.json", "vocab.txt"
WEIGHT_FILES = ("model.safetensors", "tf_model.h5")


class CheckpointError(ValueError):
  """A checkpoint directory that cannot be used; the message lists what is missing."""


def check_checkpoint_dir(path: str) -> str:
  """Raises CheckpointError listing every missing file; returns the weights file found."""
  if not os.path.isdir(path):
    raise CheckpointError(f"BERT checkpoint directory does not exist: {path}")
  missing: List[str] = [f for f in (CONFIG_FILE, VOCAB_FILE) if not os.path.isfile(os.path.join(path, f))]
  weights = [f for f in WEIGHT_FILES if os.path.isfile(os.path.join(path, f))]
  if not weights:
    missing.append(" or ".join(WEIGHT_FILES))
  if missing:
    raise CheckpointError(f"{path}: not a BERT checkpoint directory; missing {', '.join(missing)}")
  return weights[0]


def load_bert_encoder(path: str):
  """TFBertModel with every encoder weight from the checkpoint at `path`; raises CheckpointError on a mismatch."""
  from transformers import BertConfig, TFBertModel  # pylint: disable=g-import-not-at-top

  weights_file = check_checkpoint_dir(path)
  try:
    config = BertConfig.from_pretrained(path)
  except (OSError, ValueError) as e:
    raise CheckpointError(f"{os.path.join(path, CONFIG_FILE)}: not a valid BERT config ({e})") from e
  if weights_file == "tf_model.h5":
    return TFBertModel.from_pretrained(path, config=config)
  from safetensors.numpy import load_file  # pylint: disable=g-import-not-at-top
  from transformers.modeling_tf_pytorch_utils import (  # pylint: disable=g-import-not-at-top
      load_pytorch_state_dict_in_tf2_model)

  state_dict = load_file(os.path.join(path, weights_file))
  model = TFBertModel(config)
  model(model.dummy_inputs, training=False)  # creates the variables
  _, info = load_pytorch_state_dict_in_tf2_model(model, state_dict, allow_missing_keys=True,
                                                 output_loading_info=True, skip_logger_warnings=True)
  missing = [k for k in info["missing_keys"] if "pooler" not in k or _has_pooler(state_dict)]
  if missing or info["mismatched_keys"]:
    raise CheckpointError(f"{os.path.join(path, weights_file)}: weights do not fit the config: missing {missing[:5]}"
                          f"{'...' if len(missing) > 5 else ''}, mismatched {info['mismatched_keys'][:5]}")
  return model


def _has_pooler(state_dict) -> bool:
  return any("pooler" in k for k in state_dict)
