"""The torch-free BERT loader: a tiny checkpoint saved as a user would have it, every encoder weight loaded."""
import numpy as np
import pytest
from safetensors.numpy import save_file
from transformers.modeling_tf_pytorch_utils import convert_tf_weight_name_to_pt_weight_name

from conftest import write_tiny_checkpoint

from models import bert_checkpoint
from core.errors import CheckpointError

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


def test_tf_model_h5_checkpoint_loads(tmp_path):
  from transformers import BertConfig, TFBertModel  # pylint: disable=g-import-not-at-top

  config = BertConfig(vocab_size=20, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=32)
  original = TFBertModel(config)
  original(original.dummy_inputs)
  original.save_pretrained(str(tmp_path / "ckpt"), safe_serialization=False)  # writes tf_model.h5
  (tmp_path / "ckpt" / "vocab.txt").write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n")
  assert (tmp_path / "ckpt" / "tf_model.h5").is_file()
  loaded = bert_checkpoint.load_bert_encoder(str(tmp_path / "ckpt"))
  for a, b in zip(original.weights, loaded.weights):
    np.testing.assert_array_equal(a.numpy(), b.numpy())
