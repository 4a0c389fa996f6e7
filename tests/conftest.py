"""Shared test fixtures: small image trees made on the fly, a subset of the embedded digits, two real pipeline runs,
free ports and waiting for a server; the `e2e` marking of tests that use a pipeline run."""
import fcntl
import io
import json
import os
import pathlib
import shutil
import socket
import time
import types

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import core  # noqa: F401  # pylint: disable=g-import-not-at-top,unused-import  # the legacy-Keras default, first
import numpy as np  # pylint: disable=g-import-not-at-top
import pytest  # pylint: disable=g-import-not-at-top
from PIL import Image  # pylint: disable=g-import-not-at-top

REPO = pathlib.Path(__file__).resolve().parents[1]
DIGITS = REPO / "data" / "digits"
DISTRIBUTED_TRAIN = REPO / "tests" / "distributed_train.py"  # a training process of its own (tests/e2e, benchmarks)


def free_ports(count: int = 1):
  """`count` distinct loopback TCP ports that nothing listens on (held together while they are picked)."""
  sockets = [socket.socket() for _ in range(count)]
  try:
    for s in sockets:
      s.bind(("127.0.0.1", 0))
    return [s.getsockname()[1] for s in sockets]
  finally:
    for s in sockets:
      s.close()


@pytest.fixture(scope="session")
def free_port():
  """A function that returns a loopback TCP port nothing listens on."""
  return lambda: free_ports(1)[0]


def wait_until(check, timeout: float, what: str, process=None, interval: float = 0.5):
  """Calls `check()` until it returns a true value (an OSError counts as not yet) and returns that value. Fails the
  test naming `what` when `timeout` seconds pass, or at once when `process` (a Popen) exits, with its output."""
  deadline = time.time() + timeout
  while True:
    if process is not None and process.poll() is not None:
      output = process.stdout.read() if process.stdout else ""
      pytest.fail(f"{what}: the process exited with status {process.returncode}\n{output}")
    try:
      value = check()
      if value:
        return value
    except OSError:
      pass
    if time.time() >= deadline:
      if process is not None:
        process.kill()
      pytest.fail(f"{what}: not within {timeout:.0f} s")
    time.sleep(interval)


@pytest.fixture(scope="session")
def wait_for():
  """`wait_until` as a fixture: wait_for(check, timeout, what, process=None)."""
  return wait_until


def write_image(path: pathlib.Path, size=(8, 8), mode="L", fmt="PNG", seed=0) -> pathlib.Path:
  """A random image file of the given mode and format."""
  rng = np.random.default_rng(seed)
  shape = size[::-1] + ((3,) if mode == "RGB" else ())
  pixels = rng.integers(0, 256, size=shape, dtype=np.uint8)
  path.parent.mkdir(parents=True, exist_ok=True)
  Image.fromarray(pixels, mode=mode).save(path, format=fmt)
  return path


def tfrecord_example(label: bytes, image: bytes = b"png") -> bytes:
  """A serialized tf.Example with an `image` and a `label` bytes feature, as TFRecord data holds them."""
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  return tf.train.Example(features=tf.train.Features(feature={
      "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[image])),
      "label": tf.train.Feature(bytes_list=tf.train.BytesList(value=[label]))})).SerializeToString()


def png_bytes(pixels: np.ndarray) -> bytes:
  buffer = io.BytesIO()
  Image.fromarray(pixels).save(buffer, format="PNG")
  return buffer.getvalue()


def copy_digits_subset(target: pathlib.Path, per_class: int) -> pathlib.Path:
  """The first `per_class` embedded digit PNGs of each class, in the same ImageFolder layout."""
  for class_dir in sorted(DIGITS.iterdir()):
    out = target / class_dir.name
    out.mkdir(parents=True, exist_ok=True)
    for image in sorted(class_dir.iterdir())[:per_class]:
      shutil.copy(image, out / image.name)
  return target


@pytest.fixture
def digits_subset(tmp_path):
  return copy_digits_subset(tmp_path / "digits", per_class=5)


def top_bottom_images(per_class: int = 32, size: int = 8):
  """Seeded two-class raw examples: "top" images bright in the top half, "bottom" ones in the bottom half."""
  rng = np.random.default_rng(0)
  raw = []
  for i in range(2 * per_class):
    label = ["top", "bottom"][i % 2]
    pixels = rng.integers(0, 60, (size, size)).astype(np.uint8)
    rows = slice(0, size // 2) if label == "top" else slice(size // 2, size)
    pixels[rows] += 180
    raw.append({"image": png_bytes(pixels), "label": label.encode()})
  return raw


def built_once(tmp_path_factory, name: str, build):
  """`build(folder)` run once for the whole test session, even under pytest-xdist, whose workers are processes
  with session fixtures of their own: the first to ask builds under a file lock in the folder the workers share,
  the others wait for it and read its JSON result."""
  root = tmp_path_factory.getbasetemp()
  if os.environ.get("PYTEST_XDIST_WORKER"):
    root = root.parent  # pytest-of-<user>/pytest-<n>: shared by this run's workers
  folder, result = root / name, root / f"{name}.json"
  with open(root / f"{name}.lock", "w", encoding="utf-8") as lock:
    fcntl.flock(lock, fcntl.LOCK_EX)
    if not result.exists():
      shutil.rmtree(folder, ignore_errors=True)
      folder.mkdir()
      result.write_text(json.dumps(build(folder)))
  return json.loads(result.read_text())


def make_transformed_dataset(out_dir: pathlib.Path, per_class: int = 32, size: int = 8):
  """Analyzes synthetic two-class images ("top" bright in the top half, "bottom" in the bottom half) with the image
  task's preprocessing_fn on real tf.Transform and writes what the pipeline's Trainer reads: ExampleGen's gzipped
  raw tf.Examples per split and Transform's graph. Returns (train_files, eval_files, transform_dir, raw_examples)."""
  import functools  # pylint: disable=g-import-not-at-top

  import tensorflow as tf  # pylint: disable=g-import-not-at-top
  import tensorflow_transform as tft  # pylint: disable=g-import-not-at-top
  import tensorflow_transform.beam as tft_beam  # pylint: disable=g-import-not-at-top
  from tensorflow_transform.tf_metadata import dataset_metadata, metadata_io, schema_utils  # pylint: disable=g-import-not-at-top

  from models import image_cnn  # pylint: disable=g-import-not-at-top

  raw = top_bottom_images(per_class, size)
  spec = {"image": tf.io.FixedLenFeature([], tf.string), "label": tf.io.FixedLenFeature([], tf.string)}
  metadata = dataset_metadata.DatasetMetadata(schema_utils.schema_from_feature_spec(spec))
  config = {"hparams": {"image_size": size, "channels": 1}}
  transform_dir = out_dir / "transform_graph"
  splits = {"train": raw[: 3 * len(raw) // 4], "eval": raw[3 * len(raw) // 4:]}
  with tft_beam.Context(temp_dir=str(out_dir / "tmp"), force_tf_compat_v1=False):
    transform_fn = (splits["train"], metadata) | tft_beam.AnalyzeDataset(
        functools.partial(image_cnn.preprocessing_fn, custom_config=config))
    _ = transform_fn | tft_beam.WriteTransformFn(str(transform_dir))
  metadata_io.write_metadata(metadata, str(transform_dir / "metadata"))  # the raw schema, as Transform writes it
  coder = tft.coders.ExampleProtoCoder(metadata.schema)
  files = {}
  for split, rows in splits.items():
    path = out_dir / f"Split-{split}" / "data.gz"
    path.parent.mkdir(parents=True)
    with tf.io.TFRecordWriter(str(path), options="GZIP") as writer:
      for row in rows:
        writer.write(coder.encode(row))
    files[split] = [str(path)]
  return files["train"], files["eval"], str(transform_dir), raw


@pytest.fixture(scope="session")
def transformed_dataset(tmp_path_factory):
  """`make_transformed_dataset`, made once per test run."""
  files = built_once(tmp_path_factory, "transformed", lambda folder: make_transformed_dataset(folder)[:3])
  return (*files, top_bottom_images())


@pytest.fixture(scope="session")
def trained_image_model(transformed_dataset, tmp_path_factory):
  """The image task's model trained by the shared Trainer on `transformed_dataset` (6 epochs, batch 8, no
  augmentation) and exported. Returns (history, work dir with its logs, export dir, raw examples, hparams)."""
  from models import image_cnn, trainer  # pylint: disable=g-import-not-at-top

  train_files, eval_files, transform_dir, raw = transformed_dataset
  hp = image_cnn.hparams_from({"hparams": {"epochs": 6, "batch_size": 8, "augment": False}})

  def build(work):
    model, history, tft_output, _ = trainer.train("image_cnn", hp, train_files, eval_files, transform_dir,
                                               log_dir=str(work / "logs"), backup_dir=str(work / "backup"),
                                               strategy_name="default")
    trainer.export(model, tft_output, image_cnn.SERVING_FEATURE_KEYS, str(work / "export"), "image_cnn", hp)
    return {"history": history.history, "epoch": history.epoch, "work": str(work)}

  built = built_once(tmp_path_factory, "trained-image-model", build)
  work = pathlib.Path(built["work"])
  history = types.SimpleNamespace(history=built["history"], epoch=built["epoch"])  # what keras' History holds
  return history, work, work / "export", raw, hp


_exit_status = {}


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory):
  """One output dir with two real pipeline runs on 20 digits per class: the first blessed and pushed, the second
  (2 epochs, so worse than its baseline) not blessed. Returns (output dir, [first run id, second run id])."""
  from cli import main as cli  # pylint: disable=g-import-not-at-top
  from inference import run_summary  # pylint: disable=g-import-not-at-top

  root = tmp_path_factory.mktemp("two-runs")
  data = copy_digits_subset(root / "digits", per_class=20)
  output = root / "out"
  common = ["run", "--data", str(data), "--output", str(output), "--min-accuracy", "0.3"]
  assert cli.main(common + ["--epochs", "15"]) == 0
  assert cli.main(common + ["--epochs", "2"]) == 0
  runs = run_summary.list_runs(str(output / "metadata.sqlite"))
  return output, [r.run_id for r in runs]


@pytest.fixture(scope="session")
def keyword_run(tmp_path_factory):
  """A real text pipeline run on `write_keyword_reviews` data with a tiny BERT fine-tuned to tell the keywords apart
  (about 0.8 eval accuracy: the coin-flip sentences cannot be learned). Returns (output dir, pushed model dir,
  checkpoint dir)."""
  from cli import main as cli  # pylint: disable=g-import-not-at-top

  root = tmp_path_factory.mktemp("keywords")
  checkpoint = root / "tiny-bert"
  write_tiny_checkpoint(checkpoint, vocab=keyword_vocab())
  data = write_keyword_reviews(root / "data" / "reviews.csv").parent
  output = root / "out"
  assert cli.main(["run", "--preset", "text-bert", "--data", str(data), "--bert-checkpoint", str(checkpoint),
                   "--output", str(output), "--epochs", "4", "--learning-rate", "5e-3", "--max-seq-length", "16",
                   "--min-accuracy", "0", "--explain-examples", "16", "--no-export-onnx", "--quantize", "none"]) == 0
  return output, output / "serving" / "text-bert", checkpoint


# Fixtures that are whole pipeline runs: a test that uses one, directly or through another fixture, is end to end.
PIPELINE_RUN_FIXTURES = {"two_runs", "first_run", "text_run", "tuned", "keyword_run"}


def pytest_collection_modifyitems(config, items):  # pylint: disable=unused-argument
  """Marks the tests that use a pipeline-run fixture `e2e` (`make test-fast` leaves them out)."""
  for item in items:
    if PIPELINE_RUN_FIXTURES & set(getattr(item, "fixturenames", ())):
      item.add_marker(pytest.mark.e2e)


def pytest_sessionfinish(session, exitstatus):
  _exit_status["code"] = int(exitstatus)


def pytest_unconfigure(config):
  """Leaves right after pytest's summary line: TensorFlow's objects otherwise print 'Exception ignored in
  AtomicFunction.__del__' tracebacks during interpreter shutdown, below the summary."""
  if "code" in _exit_status and not os.environ.get("MODELFAB_TEST_NORMAL_EXIT"):
    import sys  # pylint: disable=g-import-not-at-top

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(_exit_status["code"])  # pylint: disable=protected-access


# all-MiniLM-L6-v2's encoder sizes (its vocabulary aside).
MINILM_SIZES = {"hidden_size": 384, "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
                "max_position_embeddings": 512}
TINY_VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [f"w{i}" for i in range(45)]


def write_tiny_checkpoint(path: pathlib.Path, vocab=TINY_VOCAB, seed=0, **sizes):
  """A random tiny BERT saved in Hugging Face's on-disk format: config.json, vocab.txt, model.safetensors with
  PyTorch tensor names and layouts (what `BertModel.save_pretrained` writes). `sizes` override BertConfig's (e.g.
  MINILM_SIZES). Returns {pt name: array}."""
  import json  # pylint: disable=g-import-not-at-top

  from safetensors.numpy import save_file  # pylint: disable=g-import-not-at-top
  from transformers import BertConfig, TFBertModel  # pylint: disable=g-import-not-at-top
  from transformers.modeling_tf_pytorch_utils import (  # pylint: disable=g-import-not-at-top
      convert_tf_weight_name_to_pt_weight_name)

  config = BertConfig(**{"vocab_size": len(vocab), "hidden_size": 32, "num_hidden_layers": 2,
                         "num_attention_heads": 2, "intermediate_size": 64, "max_position_embeddings": 128, **sizes})
  model = TFBertModel(config)
  model(model.dummy_inputs)
  rng = np.random.default_rng(seed)
  state = {}
  for weight in model.weights:
    name, transpose = convert_tf_weight_name_to_pt_weight_name(weight.name, start_prefix_to_remove="bert.",
                                                                tf_weight_shape=weight.shape)
    if name.endswith("LayerNorm.weight"):
      value = np.ones(weight.shape, np.float32)  # as BERT initializes them
    elif name.endswith("bias"):
      value = np.zeros(weight.shape, np.float32)
    else:
      value = rng.normal(0, 0.02, weight.shape).astype(np.float32)
    state[name] = np.ascontiguousarray(value.T if transpose.name != "NO" else value)
  path.mkdir(parents=True, exist_ok=True)
  save_file(state, str(path / "model.safetensors"), metadata={"format": "pt"})
  (path / "config.json").write_text(json.dumps(config.to_dict()))
  (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
  return state


def review_vocab():
  """Special tokens plus every lower-cased word and punctuation mark of the embedded reviews."""
  import re  # pylint: disable=g-import-not-at-top

  words = set(re.findall(r"\w+|[^\w\s]", (REPO / "data" / "reviews" / "reviews.csv").read_text().lower()))
  return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(words)


KEYWORDS = {"positive": ["superb", "delightful", "wonderful", "charming"],
            "negative": ["dreadful", "tedious", "awful", "clumsy"]}
FILLER = ("the film was a story with some scenes and actors in it music plot ending cast director camera light "
          "moments for of to this that felt seemed quite really very").split()


def write_keyword_reviews(path: pathlib.Path, count: int = 400, seed: int = 0) -> pathlib.Path:
  """A CSV (text,label) of `count` sentences of 6-10 neutral words. Two in three have one keyword at a random place,
  which alone decides the label (KEYWORDS); the others have none and a coin-flip label, so the model learns that no
  keyword means 50/50. (Else it learns one class as the default, a text with no keyword, such as integrated
  gradients' [PAD] baseline, is already that class, and its keywords can add nothing to it.) What an explanation
  must find: the keyword."""
  import csv  # pylint: disable=g-import-not-at-top

  rng = np.random.default_rng(seed)
  path.parent.mkdir(parents=True, exist_ok=True)
  with open(path, "w", newline="", encoding="utf-8") as f:
    writer = csv.writer(f)
    writer.writerow(["text", "label"])
    for i in range(count):
      label = "positive" if i % 2 == 0 else "negative"
      words = list(rng.choice(FILLER, size=int(rng.integers(6, 11))))
      if i % 3 == 2:
        label = str(rng.choice(sorted(KEYWORDS)))
      else:
        words.insert(int(rng.integers(0, len(words) + 1)), str(rng.choice(KEYWORDS[label])))
      writer.writerow([" ".join(words), label])
  return path


def keyword_vocab():
  """Special tokens plus every word of `write_keyword_reviews`."""
  return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + sorted(set(FILLER) | {w for ws in KEYWORDS.values()
                                                                               for w in ws})
