"""The torch-free BERT loader: a tiny checkpoint saved as a user would have it, every encoder weight loaded."""
import json

import numpy as np
import pytest
from safetensors.numpy import save_file
from transformers import BertConfig, TFBertModel
from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

from models import bert_checkpoint
from models.bert_checkpoint import CheckpointError

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]


def write_tiny_checkpoint(path, seed=0):
  """Random tiny BERT saved in Hugging Face's on-disk format: config.json, vocab.txt, model.safetensors with
  PyTorch tensor names and layouts (what `BertModel.save_pretrained` writes). Returns {pt name: array}."""
  config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, max_position_embeddings=64)
  model = TFBertModel(config)
  model(model.dummy_inputs)
  rng = np.random.default_rng(seed)
  state = {}
  for weight in model.weights:
    name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, start_prefix_to_remove="bert.", tf_weight_shape=weight.shape)
    value = rng.normal(0, 0.02, weight.shape).astype(np.float32)
    state[name] = np.ascontiguousarray(value.T if transpose.name != "NO" else value)
  path.mkdir(parents=True, exist_ok=True)
  save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
  (path / "config.json").write_text(json.dumps(config.to_dict()))
  (path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
  return state


def test_every_encoder_weight_is_loaded(tmp_path):
  state = write_tiny_checkpoint(tmp_path / "ckpt")
  assert any(k.startswith("encoder.layer.1.") for k in state) and not any(k.startswith("bert.") for k in state)
  model = bert_checkpoint.load_bert_encoder(str(tmp_path / "ckpt"))
  assert len(model.weights) == len(state)
  for weight in model.weights:
    name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, start_prefix_to_remove="bert.", tf_weight_shape=weight.shape)
    expected = state[name].T if transpose.name != "NO" else state[name]
    np.testing.assert_array_equal(weight.numpy(), expected, err_msg=name)


def test_missing_files_are_listed(tmp_path):
  (tmp_path / "ckpt").mkdir()
  (tmp_path / "ckpt" / "vocab.txt").write_text("[PAD]\n")
  with pytest.raises(CheckpointError, match=r"missing config.json, model.safetensors or tf_model.h5"):
    bert_checkpoint.check_checkpoint_dir(str(tmp_path / "ckpt"))
  with pytest.raises(CheckpointError, match="does not exist"):
    bert_checkpoint.check_checkpoint_dir(str(tmp_path / "nope"))


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
  state = write_tiny_checkpoint(tmp_path / "ckpt")
  del state["encoder.layer.1.output.dense.weight"]
  save_file(state, str(tmp_path / "ckpt" / "model.safetensors"), metadata={"format": "pt"})
  with pytest.raises(CheckpointError, match="encoder.layer.1.output.dense"):
    bert_checkpoint.load_bert_encoder(str(tmp_path / "ckpt"))
