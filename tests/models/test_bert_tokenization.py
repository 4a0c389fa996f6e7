"""In-graph WordPiece tokenization gives the same ids as transformers' BertTokenizerFast on the same vocab."""
import numpy as np
import pytest
import tensorflow as tf
from transformers import BertTokenizerFast

from models import bert_tokenization

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "movie", "was", "great", "terrible", "not", "bad",
         "un", "##believ", "##able", "##ly", "film", "cafe", "naive", "a", "!", ",", ".", "?", "'", "s", "…", "-",
         "i", "loved", "it", "hated", "##s", "##ed", "good", "very", "plot", "actor", "中", "文", "😀", "x", "##x",
         "and", "but", "(", ")", "\"", "e", "##e", "o", "##o", "ok", "b", "##c"]

SENTENCES = [
    "The movie was GREAT!",
    "Unbelievably bad, wasn't it?",
    "Café naïve — the plot (not the actor) was ok…",
    "i loved it.\tI HATED it.\nvery good",
    "中文 film 😀 and zzz qqq",
    "𝐁𝐨𝐥𝐝 math letters and ｆｕｌｌｗｉｄｔｈ",
    "x" * 250 + " good",
    "the movie was great " * 20,  # longer than max_seq_length: truncated
    "",
]


@pytest.fixture(scope="module")
def vocab_path(tmp_path_factory):
  path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
  path.write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
  return str(path)


@pytest.mark.parametrize("max_seq_length", [16, 64])
def test_ids_match_bert_tokenizer_fast(vocab_path, max_seq_length):
  reference = BertTokenizerFast(vocab_file=vocab_path, do_lower_case=True)
  expected = reference(SENTENCES, max_length=max_seq_length, truncation=True, padding="max_length")
  ours = bert_tokenization.BertInputs(vocab_path, max_seq_length)(tf.constant(SENTENCES))
  for i, sentence in enumerate(SENTENCES):
    assert ours["input_word_ids"][i].numpy().tolist() == expected["input_ids"][i], sentence
  np.testing.assert_array_equal(ours["input_mask"].numpy(), expected["attention_mask"])
  np.testing.assert_array_equal(ours["segment_ids"].numpy(), expected["token_type_ids"])


def test_unknown_words_become_unk_and_special_tokens_frame_the_text(vocab_path):
  ids = bert_tokenization.BertInputs(vocab_path, 8)(tf.constant(["qqq movie"]))["input_word_ids"][0].numpy()
  assert ids.tolist() == [VOCAB.index("[CLS]"), VOCAB.index("[UNK]"), VOCAB.index("movie"), VOCAB.index("[SEP]"),
                          0, 0, 0, 0]


def test_vocab_without_special_tokens_is_refused(tmp_path):
  path = tmp_path / "vocab.txt"
  path.write_text("a\nb\n")
  with pytest.raises(ValueError, match=r"vocab.txt: vocabulary lacks the special tokens"):
    bert_tokenization.BertInputs(str(path), 16)
