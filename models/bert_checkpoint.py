"""Loading a Hugging Face-format BERT checkpoint directory into `transformers`' TFBertModel, without torch.

A checkpoint directory holds `config.json`, `vocab.txt` and weights as `model.safetensors` (PyTorch tensor names) or
`tf_model.h5`. `TFBertModel.from_pretrained` crashes on safetensors with transformers 4.57 and `from_pt=True` needs
torch, so safetensors weights are read with NumPy and mapped onto the TF model by transformers' own name converter.
"""
from __future__ import annotations

import json
import os
import struct
from typing import List, Optional

from core.errors import CheckpointError

CONFIG_FILE, VOCAB_FILE = "config.json", "vocab.txt"
WEIGHT_FILES = ("model.safetensors", "tf_model.h5")


SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]")


def check_checkpoint_dir(path: str, max_seq_length: Optional[int] = None) -> str:
  """Raises CheckpointError naming the file and what is wrong; returns the weights file found.

  Read from the files' headers, without loading TensorFlow: every file is there, config.json is a BERT config
  (`model_type` "bert"), vocab.txt has the special tokens and no more entries than `vocab_size`, model.safetensors
  is complete (its header's tensors fit in the file), and `max_seq_length` fits `max_position_embeddings`.
  """
  if not os.path.isdir(path):
    raise CheckpointError(f"BERT checkpoint directory does not exist: {path}")
  missing: List[str] = [f for f in (CONFIG_FILE, VOCAB_FILE) if not os.path.isfile(os.path.join(path, f))]
  weights = [f for f in WEIGHT_FILES if os.path.isfile(os.path.join(path, f))]
  if not weights:
    missing.append(" or ".join(WEIGHT_FILES))
  if missing:
    raise CheckpointError(f"{path}: not a BERT checkpoint directory; missing {', '.join(missing)}")
  config = _read_config(os.path.join(path, CONFIG_FILE))
  _check_vocab(os.path.join(path, VOCAB_FILE), int(config.get("vocab_size", 0)))
  if weights[0] == "model.safetensors":
    _check_safetensors(os.path.join(path, weights[0]))
  positions = int(config.get("max_position_embeddings", 512))
  if max_seq_length is not None and max_seq_length > positions:
    raise CheckpointError(f"--max-seq-length {max_seq_length} is longer than this checkpoint's "
                          f"max_position_embeddings ({positions}) in {os.path.join(path, CONFIG_FILE)}")
  return weights[0]


def _read_config(config_path: str) -> dict:
  try:
    with open(config_path, encoding="utf-8") as f:
      config = json.load(f)
  except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
    raise CheckpointError(f"{config_path}: not a readable JSON config ({e})") from e
  if not isinstance(config, dict):
    raise CheckpointError(f"{config_path}: expected a JSON object")
  model_type = config.get("model_type", "bert")
  if model_type != "bert":
    raise CheckpointError(f"{config_path}: model_type is {model_type!r}; modelfab fine-tunes BERT checkpoints "
                          "(model_type 'bert')")
  for key in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads"):
    if not isinstance(config.get(key), int) or config[key] < 1:
      raise CheckpointError(f"{config_path}: '{key}' must be a positive integer, got {config.get(key)!r}")
  return config


def _check_vocab(vocab_path: str, vocab_size: int) -> None:
  try:
    with open(vocab_path, encoding="utf-8") as f:
      tokens = [line.rstrip("\n") for line in f]
  except (OSError, UnicodeDecodeError) as e:
    raise CheckpointError(f"{vocab_path}: not a readable UTF-8 vocabulary ({e})") from e
  absent = [t for t in SPECIAL_TOKENS if t not in tokens]
  if absent:
    raise CheckpointError(f"{vocab_path}: the vocabulary lacks {', '.join(absent)}")
  if len(tokens) > vocab_size:
    raise CheckpointError(f"{vocab_path}: {len(tokens)} tokens, more than the config's vocab_size {vocab_size}; "
                          "the vocabulary does not belong to this checkpoint")


def _check_safetensors(weights_path: str) -> None:
  """A safetensors file is an 8-byte header length, a JSON header, then the tensors; checks they are all there."""
  size = os.path.getsize(weights_path)
  try:
    with open(weights_path, "rb") as f:
      header_length = struct.unpack("<Q", f.read(8))[0] if size >= 8 else None
      if header_length is None or 8 + header_length > size:
        raise ValueError("header cut short")
      header = json.loads(f.read(header_length))
    end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
  except (ValueError, KeyError, TypeError, IndexError) as e:
    raise CheckpointError(f"{weights_path}: not a valid safetensors file ({e})") from e
  if 8 + header_length + end > size:
    raise CheckpointError(f"{weights_path}: truncated: {size:,} bytes, the header describes "
                          f"{8 + header_length + end:,}")


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
