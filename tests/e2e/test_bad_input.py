"""The bad-input matrix: every entry point, every kind of bad input a user sends.

Each refused case: exit status 2, exactly one `modelfab: error:` line that names the file, row, field or flag, no
traceback, nothing new under `serving/`, and the ML Metadata store of an existing output dir still readable. The
tolerated cases (docs/data.md, "Bad input") pass the data check and say what they did.
"""
import json
import os
import pathlib
import socket
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, write_image, write_tiny_checkpoint
from cli import main as cli
from pipelines import data_check
from inference import run_summary
from pipelines import config as config_lib

# ---------------------------------------------------------------------------------------------------------------
# Builders: each makes its input under `root` and returns the argv for `modelfab` (OUT is replaced by the shared
# output dir of two real runs).


def _two_classes(root, names=("a", "b")):
  for name in names:
    write_image(root / "data" / name / "x.png", seed=1)
    write_image(root / "data" / name / "y.png", seed=2)
  return root / "data"


def _run(data, *extra):
  return ["run", "--data", str(data), "--output", "OUT", *extra]


def _image_case(make_bad):
  def build(root):
    data = _two_classes(root)
    make_bad(data)
    return _run(data)
  return build


def _zero_byte(data):
  (data / "b" / "zero.png").write_bytes(b"")


def _truncated(data):
  path = write_image(data / "b" / "cut.png", size=(64, 64), mode="RGB")
  path.write_bytes(path.read_bytes()[:150])


def _text_as_png(data):
  (data / "b" / "notes.png").write_text("not an image")


def _cmyk(data):
  Image.new("CMYK", (10, 10)).save(data / "b" / "cmyk.jpg")


def _gif(data):
  Image.new("P", (8, 8)).save(data / "b" / "anim.gif", save_all=True, append_images=[Image.new("P", (8, 8), 3)])


def _gif_named_png(data):
  Image.new("P", (8, 8)).save(data / "b" / "anim.png", format="GIF", save_all=True,
                              append_images=[Image.new("P", (8, 8), 3)])


def _huge(data):
  Image.new("1", (10_000, 9_000)).save(data / "b" / "huge.png")  # 90 megapixels; 1-bit keeps the file small


def _one_image_class(data):
  write_image(data / "c" / "only.png")


def _nested(data):
  write_image(data / "b" / "deeper" / "x.png")


def _broken_symlink(data):
  os.symlink(data / "b" / "gone.png", data / "b" / "link.png")


def _empty_class(data):
  (data / "empty").mkdir()


def _stray_file(data):
  write_image(data / "stray.png")


def _csv_case(content, encoding="utf-8"):
  def build(root, checkpoint):
    path = root / "reviews.csv"
    path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)
    return ["run", "--preset", "text-bert", "--bert-checkpoint", str(checkpoint), "--data", str(path),
            "--output", "OUT"]
  build.needs_checkpoint = True
  return build


def _records(root, examples=None, raw=None):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  folder = root / "records"
  folder.mkdir()
  with tf.io.TFRecordWriter(str(folder / "part.tfrecord")) as writer:
    for record in (raw or [e.SerializeToString() for e in examples]):
      writer.write(record)
  return ["run", "--data-format", "tfrecord", "--data", str(folder), "--output", "OUT"]


def _example(**features):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def feature(value):
    if isinstance(value, float):
      return tf.train.Feature(float_list=tf.train.FloatList(value=[value]))
    if isinstance(value, int):
      return tf.train.Feature(int64_list=tf.train.Int64List(value=[value]))
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))
  return tf.train.Example(features=tf.train.Features(feature={k: feature(v) for k, v in features.items()}))


def _corrupt_records(root):
  folder = root / "records"
  folder.mkdir()
  (folder / "part.tfrecord").write_bytes(b"\x00\x01garbage that is not a TFRecord file at all")
  return ["run", "--data-format", "tfrecord", "--data", str(folder), "--output", "OUT"]


def _checkpoint_case(damage, extra=()):
  def build(root, checkpoint):
    copy = root / "ckpt"
    copy.mkdir()
    for name in os.listdir(checkpoint):
      (copy / name).write_bytes((checkpoint / name).read_bytes())
    damage(copy)
    return ["run", "--preset", "text-bert", "--bert-checkpoint", str(copy), "--output", "OUT", *extra]
  build.needs_checkpoint = True
  return build


def _set_config(**changes):
  def damage(ckpt):
    config = json.loads((ckpt / "config.json").read_text())
    config.update(changes)
    (ckpt / "config.json").write_text(json.dumps(config))
  return damage


def _truncate_weights(ckpt):
  data = (ckpt / "model.safetensors").read_bytes()
  (ckpt / "model.safetensors").write_bytes(data[: len(data) // 2])


def _big_vocab(ckpt):
  with open(ckpt / "vocab.txt", "a", encoding="utf-8") as f:
    f.write("\n".join(f"extra{i}" for i in range(100)) + "\n")


def _with(argv):
  return lambda root: list(argv)


CASES = [
    # images
    ("zero-byte image", _image_case(_zero_byte), "zero.png: empty file"),
    ("truncated PNG", _image_case(_truncated), "cut.png: corrupt or not an image"),
    ("text file named .png", _image_case(_text_as_png), "notes.png: corrupt or not an image"),
    ("CMYK JPEG", _image_case(_cmyk), "cmyk.jpg: CMYK JPEG"),
    ("animated GIF", _image_case(_gif), "anim.gif: not an image file"),
    ("GIF named .png", _image_case(_gif_named_png), "anim.png: image format GIF is not supported"),
    ("huge image", _image_case(_huge), "huge.png: image is 10000x9000 pixels, over the limit"),
    ("class with one image", _image_case(_one_image_class), "class 'c' has 1 image"),
    ("nested folder", _image_case(_nested), "deeper: nested folders are not supported"),
    ("broken symlink", _image_case(_broken_symlink), "link.png: broken symbolic link"),
    ("empty class folder", _image_case(_empty_class), "empty: class folder is empty"),
    ("image in the data root", _image_case(_stray_file), "stray.png: files must sit in one sub-folder per class"),
    ("single class", lambda root: _run(write_image(root / "d" / "one" / "x.png").parent.parent), "only one class"),
    ("missing data path", lambda root: _run(root / "nowhere"), "data path does not exist"),
    ("data path is a file", lambda root: _run(write_image(root / "x.png")), "not a folder of class folders"),
    # CSV
    ("CSV row with an extra field", _csv_case("text,label\ngood film,pos\nbad, dull film,neg\n"),
     "row 2 (line 3) has 3 field(s), expected 2"),
    ("CSV row with a missing field", _csv_case("text,label\ngood film,pos\nbad film\n"),
     "row 2 (line 3) has 1 field(s), expected 2"),
    ("CSV without the label column", _csv_case("text,sentiment\ngood,pos\n"), "missing column(s) ['label']"),
    ("CSV with a duplicate column", _csv_case("text,label,label\ngood,pos,pos\n"), "['label'] more than once"),
    ("empty CSV file", _csv_case(""), "reviews.csv: empty file"),
    ("CSV with a header only", _csv_case("text,label\n"), "no data rows after the header"),
    ("CSV not UTF-8", _csv_case("text,label\ncaf\xe9 is nice,pos\nbad,neg\n", "latin-1"), "not UTF-8 text"),
    ("CSV with NUL bytes", _csv_case(b"text,label\ngood\x00film,pos\nbad,neg\n"), "malformed CSV"),
    ("labels differing only in case", _csv_case("text,label\ngood,Pos\nfine,pos\nbad,neg\n"),
     "labels ['Pos', 'pos'] differ only in case"),
    ("CSV with an empty text", _csv_case("text,label\n,pos\nbad,neg\n"), "row 1 (line 2): empty text"),
    ("CSV with a single class", _csv_case("text,label\ngood,pos\nfine,pos\n"), "has a single class"),
    # TFRecords
    ("corrupt TFRecord file", _corrupt_records, "part.tfrecord: not a readable TFRecord file"),
    ("TFRecord label as float", lambda root: _records(root, [_example(image=b"x", label=1.0)]),
     "record 0: feature 'label' is float_list, expected bytes_list or int64_list"),
    ("TFRecord without label", lambda root: _records(root, [_example(image=b"x")]),
     "record 0 has no 'label' feature"),
    ("TFRecord without image", lambda root: _records(root, [_example(label=b"a")]),
     "record 0 has no 'image' feature"),
    ("TFRecord image as int", lambda root: _records(root, [_example(image=3, label=b"a")]),
     "feature 'image' is int64_list, expected bytes_list"),
    ("TFRecord of non-Examples", lambda root: _records(root, raw=[b"\xff\xfe not a proto"]),
     "record 0 is not a tf.Example"),
    # checkpoints
    ("no checkpoint given", _with(["run", "--preset", "text-bert", "--output", "OUT"]),
     "needs a BERT checkpoint directory"),
    ("missing checkpoint dir", lambda root: ["run", "--preset", "text-bert", "--bert-checkpoint",
                                             str(root / "none"), "--output", "OUT"],
     "BERT checkpoint directory does not exist"),
    ("checkpoint without vocab", _checkpoint_case(lambda c: (c / "vocab.txt").unlink()), "missing vocab.txt"),
    ("non-BERT checkpoint", _checkpoint_case(_set_config(model_type="gpt2")), "model_type is 'gpt2'"),
    ("truncated weights", _checkpoint_case(_truncate_weights), "model.safetensors: truncated"),
    ("vocab larger than the config", _checkpoint_case(_big_vocab), "more than the config's vocab_size"),
    ("config not JSON", _checkpoint_case(lambda c: (c / "config.json").write_text("{oops")),
     "config.json: not a readable JSON config"),
    ("sequence longer than the checkpoint", _checkpoint_case(lambda c: None, ("--max-seq-length", "300")),
     "longer than this checkpoint's max_position_embeddings (128)"),
    # numeric flags
    ("--image-size 0", _with(["run", "--image-size", "0", "--output", "OUT"]), "--image-size must be at least 4"),
    ("--batch-size 0", _with(["run", "--batch-size", "0", "--output", "OUT"]), "--batch-size must be at least 1"),
    ("negative learning rate", _with(["run", "--learning-rate", "-0.1", "--output", "OUT"]),
     "--learning-rate must be above 0.0"),
    ("NaN learning rate", _with(["run", "--learning-rate", "nan", "--output", "OUT"]),
     "--learning-rate must be a number"),
    ("--min-accuracy above 1", _with(["run", "--min-accuracy", "1.5", "--output", "OUT"]),
     "--min-accuracy must be at least 0.0 and at most 1.0"),
    ("--eval-percent 100", _with(["run", "--eval-percent", "100", "--output", "OUT"]), "--eval-percent must be"),
    ("--epochs 0", _with(["run", "--epochs", "0", "--output", "OUT"]), "--epochs must be at least 1"),
    ("--num-classes 1", _with(["run", "--num-classes", "1", "--output", "OUT"]), "--num-classes must be at least 2"),
    ("--max-seq-length 2", _with(["run", "--preset", "text-bert", "--max-seq-length", "2", "--output", "OUT"]),
     "--max-seq-length must be at least 3"),
    ("--prune-sparsity 1.5", _with(["run", "--prune-sparsity", "1.5", "--output", "OUT"]),
     "--prune-sparsity must be above 0.0 and at most 0.99"),
    ("--prune-sparsity on text-bert", _with(["run", "--preset", "text-bert", "--prune-sparsity", "0.5",
                                             "--output", "OUT"]), "--prune-sparsity is not available for the text"),
    ("--quantize int4", _with(["run", "--quantize", "int4", "--output", "OUT"]),
     "--quantize must be one of none, dynamic, float16, int8"),
    ("--max-accuracy-drop -1", _with(["run", "--max-accuracy-drop", "-1", "--output", "OUT"]),
     "--max-accuracy-drop must be at least 0.0"),
    ("compile --quantize int4", _with(["compile", "--image", "i", "--pipeline-root", "gs://b/r", "--quantize",
                                       "int4"]), "--quantize must be one of"),
    ("--tune-trials 0", _with(["run", "--tune", "--tune-trials", "0", "--output", "OUT"]),
     "--tune-trials must be at least 1"),
    ("--tune-algorithm grid", _with(["run", "--tune", "--tune-algorithm", "grid", "--output", "OUT"]),
     "--tune-algorithm must be one of random, bayesian, hyperband, got 'grid'"),
    ("--tune-max-minutes 0", _with(["run", "--tune", "--tune-max-minutes", "0", "--output", "OUT"]),
     "--tune-max-minutes must be above 0.0"),
    ("--hparams-from a run that did not tune", lambda root: ["run", "--hparams-from", "RUN0", "--output", "OUT"],
     "did not tune (it has no best hyperparameters)"),
    ("--hparams-from an unknown run", _with(["run", "--hparams-from", "1999-01-01", "--output", "OUT"]),
     "--hparams-from 1999-01-01: run '1999-01-01' not found"),
    ("--hparams-from with --tune", lambda root: ["run", "--tune", "--hparams-from", str(_best_hparams_dir(root)),
                                                 "--output", "OUT"], "--tune and --hparams-from exclude each other"),
    ("--epochs not a number", _with(["run", "--epochs", "many", "--output", "OUT"]),
     "argument --epochs: invalid int value: 'many'"),
    ("compile --workers 0", _with(["compile", "--image", "i", "--pipeline-root", "gs://b/r", "--workers", "0"]),
     "--workers must be at least 1"),
    ("compile to a .txt file", _with(["compile", "--image", "i", "--pipeline-root", "gs://b/r", "--output", "p.txt"]),
     "p.txt: must end in .yaml"),
    # predict
    ("predict: missing model", lambda root: ["predict", "--model", str(root / "nomodel"), str(REPO / "data" / "digits"
                                                                                           / "3" / "0003.png")],
     "nomodel: no such model directory"),
    ("predict: empty version dir", lambda root: ["predict", "--model", str((root / "m" / "17").mkdir(parents=True)
                                                                          or root / "m"),
                                                 str(REPO / "data" / "digits" / "3" / "0003.png")],
     "m: no SavedModel here"),
    ("predict: missing .tflite", lambda root: ["predict", "--model", str(root / "m.tflite"),
                                                 str(REPO / "data" / "digits" / "3" / "0003.png")],
     "m.tflite: no such .tflite file"),
    ("predict: not a .tflite", lambda root: ["predict", "--model", str(_write(root / "x.tflite", b"garbage" * 10)),
                                             str(REPO / "data" / "digits" / "3" / "0003.png")],
     "x.tflite: not a TFLite model the interpreter can load"),
    ("predict: text on an image .tflite", lambda root: ["predict", "--model", _pushed_tflite(), "--text", "a film"],
     "this model classifies images"),
    ("predict: missing image", lambda root: ["predict", "--model", "SERVING", str(root / "absent.png")],
     "absent.png: no such image file"),
    ("predict: unreadable image", lambda root: ["predict", "--model", "SERVING",
                                                str(_write(root / "bad.png", b"nope"))],
     "bad.png: corrupt or not an image"),
    ("predict: text file not UTF-8", lambda root: ["predict", "--model", "SERVING", "--text-file",
                                                   str(_write(root / "t.txt", b"caf\xe9\n"))],
     "t.txt: cannot read as UTF-8 text"),
    ("predict: text on an image model", _with(["predict", "--model", "SERVING", "--text", "a fine film"]),
     "this model classifies images"),
    ("predict: no input", _with(["predict", "--model", "SERVING"]), "give image files, or texts"),
    # inspection commands
    ("runs: no store", lambda root: ["runs", "--output", str(root)], "no ML Metadata store"),
    ("report: unknown run", _with(["report", "nosuchrun", "--output", "OUT"]), "nosuchrun"),
    ("report: no store", lambda root: ["report", "--output", str(root)], "no ML Metadata store"),
    ("tensorboard: port 0", _with(["tensorboard", "--output", "OUT", "--port", "0"]), "--port must be between"),
    ("tensorboard: no store", lambda root: ["tensorboard", "--output", str(root)], "no ML Metadata store"),
    # serve
    ("serve: no pushed models", lambda root: ["serve", "--output", str(root)], "no pushed models"),
    ("serve: unknown model", _with(["serve", "--output", "OUT", "--model", "nope"]), "nope: no such model"),
    ("serve: port 0", _with(["serve", "--output", "OUT", "--port", "0"]), "--port must be between 1 and 65535"),
    ("serve: port in use", lambda root: ["serve", "--output", "OUT", "--port", str(_BUSY_PORT)],
     "Address already in use"),
    ("serve: batch size 0", _with(["serve", "--output", "OUT", "--max-batch-size", "0"]),
     "--max-batch-size must be at least 1"),
    ("serve: unknown version policy", _with(["serve", "--output", "OUT", "--versions", "some"]),
     "argument --versions: invalid choice: 'some'"),
    # monitor
    ("monitor: no pushed models", lambda root: ["monitor", "--output", str(root)], "no pushed models"),
    ("monitor: unknown model", _with(["monitor", "--output", "OUT", "--model", "nope"]), "nope: no such model"),
    ("monitor: bad --since", _with(["monitor", "--output", "OUT", "--since", "yesterday"]),
     "--since 'yesterday': expected an ISO time"),
    ("monitor: missing labels file", lambda root: ["monitor", "--output", "OUT", "--labels", str(root / "l.csv")],
     "l.csv: no such labels file"),
    ("monitor: no logged requests", _with(["monitor", "--output", "OUT", "--since", "0m"]), "need at least 20"),
    # where the output goes
    ("--output is a file", lambda root: ["run", "--data", str(_two_classes(root)), "--output",
                                         str(_write(root / "file", b"x"))], "is not writable"),
]


def _best_hparams_dir(root: pathlib.Path) -> pathlib.Path:
  folder = root / "best"
  folder.mkdir()
  (folder / "best_hyperparameters.txt").write_text('{"space": [], "values": {}}')
  return folder


def _pushed_tflite():
  """The int8 .tflite the Quantizer made in `two_runs` (resolved when the case runs: OUT is known then)."""
  return "TFLITE"


_BUSY_SOCKET = socket.socket()
_BUSY_SOCKET.bind(("127.0.0.1", 0))
_BUSY_SOCKET.listen()
_BUSY_PORT = _BUSY_SOCKET.getsockname()[1]  # a port this test process holds for the whole module


def _write(path: pathlib.Path, data: bytes) -> pathlib.Path:
  path.write_bytes(data)
  return path


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
  path = tmp_path_factory.mktemp("ckpt") / "tiny-bert"
  write_tiny_checkpoint(path)
  return path


def _serving_listing(output: pathlib.Path):
  return sorted(str(p.relative_to(output)) for p in (output / "serving").rglob("*"))


@pytest.mark.parametrize("name,build,expected", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_with_one_line(name, build, expected, two_runs, tiny_checkpoint, tmp_path, capsys):
  del name
  output, _ = two_runs
  before = _serving_listing(output)
  argv = build(tmp_path, tiny_checkpoint) if getattr(build, "needs_checkpoint", False) else build(tmp_path)
  serving = str(output / "serving" / "digits-cnn")
  tflite = next(iter(sorted((output / "pipeline" / "Quantizer").glob("tflite_model/*/model.tflite"))), None)
  run0 = two_runs[1][0][:19]
  argv = [str(output) if a == "OUT" else serving if a == "SERVING" else str(tflite) if a == "TFLITE" else
          run0 if a == "RUN0" else a for a in argv]
  try:
    status = cli.main(argv)
  except SystemExit as e:  # argparse's own usage errors
    status = e.code
  err = capsys.readouterr().err
  assert status == cli.EXIT_USAGE, err
  assert expected in err, err
  assert "Traceback" not in err
  errors = [line for line in err.splitlines() if "error:" in line]
  assert len(errors) == 1, err
  assert _serving_listing(output) == before  # nothing pushed, nothing removed
  assert len(run_summary.list_runs(str(output / "metadata.sqlite"))) == 2  # ML Metadata readable, no new run


def test_there_are_at_least_forty_cases():
  assert len(CASES) >= 40


def test_tfx_cli_environment_errors_exit_2_with_one_line(tmp_path):
  runner = str(REPO / "pipelines" / "local_runner.py")
  cases = [({"MODELFAB_EPOCHS": "many"}, "MODELFAB_EPOCHS='many': expected a whole number"),
           ({"MODELFAB_EPOCHS": "0"}, "--epochs must be at least 1"),
           ({"MODELFAB_PRESET": "nope"}, "MODELFAB_PRESET='nope': unknown preset"),
           ({"MODELFAB_DATA": str(tmp_path / "missing")}, "data path does not exist")]
  for variables, expected in cases:
    env = {**os.environ, "MODELFAB_OUTPUT": str(tmp_path / "out"), **variables}
    result = subprocess.run([sys.executable, runner], env=env, capture_output=True, text=True, timeout=120,
                            cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    assert expected in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()


# ---------------------------------------------------------------------------------------------------------------
# Tolerated: what a user expects to work does.


def test_tolerated_images_pass_the_check_with_a_note_for_hidden_files(tmp_path, capsys):
  data = tmp_path / "my data"
  rgb = np.random.default_rng(0).integers(0, 255, (12, 12, 3)).astype(np.uint8)
  (data / "chat noir ü").mkdir(parents=True)
  Image.fromarray((np.arange(144).reshape(12, 12) * 300).astype(np.uint16)).save(data / "chat noir ü" / "16bit.png")
  Image.fromarray(rgb).convert("P").save(data / "chat noir ü" / "palette.png")
  Image.fromarray(rgb).convert("RGBA").save(data / "chat noir ü" / "alpha.png")
  (data / "dog").mkdir()
  Image.fromarray(rgb).save(data / "dog" / "really-a-png.jpg", format="PNG")
  elsewhere = write_image(tmp_path / "elsewhere" / "linked.png")
  os.symlink(elsewhere, data / "dog" / "linked.png")
  (data / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
  (data / "dog" / "._really-a-png.jpg").write_bytes(b"\x00")
  config = config_lib.preset("digits-cnn", data=str(data), output=str(tmp_path / "out"))
  assert data_check.check_data(config) == 2
  assert "skipped 2 hidden file(s)" in capsys.readouterr().out


def test_tolerated_csv_forms_pass_the_check(tmp_path):
  from readers import text_csv  # pylint: disable=g-import-not-at-top

  path = tmp_path / "r.csv"
  long_text = "word " * 20_000
  path.write_bytes(("\ufefftext,label\r\n\"good, long\nfilm\", 1 \r\n" + long_text + ",0\r\n\r\nbad,0\r\n")
                   .encode("utf-8"))
  rows = text_csv.read_text_csv(str(path))
  assert [label for _, label in rows] == ["1", "0", "0"]  # BOM, CRLF, quoted newline, blank line, spaces stripped
  assert rows[0][0] == "good, long\nfilm" and len(rows[1][0]) == len(long_text)
  assert text_csv.check_text_data(str(path)) == ["0", "1"]  # numeric labels are class names


def test_predict_on_a_text_model_given_images_is_refused_by_modality(tmp_path, capsys):
  """Metadata alone decides: a model folder whose metadata says text refuses images before anything runs."""
  from inference import model_loader  # pylint: disable=g-import-not-at-top
  from core import model_files  # pylint: disable=g-import-not-at-top

  model = tmp_path / "text-model" / "5"
  model.mkdir(parents=True)
  loaded = model_loader.LoadedModel(str(model), model_files.ModelMetadata("text_bert", ["text"], ["neg", "pos"]),
                                    serving_fn=None)
  with pytest.raises(model_loader.ModelError, match="classifies texts .* not images; give it --text"):
    loaded.check_modality("image")
