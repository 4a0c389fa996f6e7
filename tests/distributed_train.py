"""Trains in this process under one strategy and writes what the distributed-training tests and the benchmark check.

Not a test module: tests/e2e/test_distributed.py, tests/models/test_pruning.py and benchmarks/scale_benchmark.py start it as a subprocess, because a process
can split its CPU into logical devices, or join a MultiWorkerMirroredStrategy cluster (TF_CONFIG), only before
TensorFlow initializes.

  image_cnn: models.trainer.train + export on Transform output (--data: train_files, eval_files, transform_dir JSON)
  text_bert: the tiny BERT from --checkpoint, built and fitted in the strategy's scope on tokenized reviews

Writes <out>/result.json (replicas, steps, seconds per step, loss) and <out>/weights.npz.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import core  # noqa: E402,F401  # pylint: disable=unused-import,wrong-import-position  # the legacy-Keras default


def main(argv=None):
  parser = argparse.ArgumentParser()
  parser.add_argument("--task", choices=("image_cnn", "text_bert"), default="image_cnn")
  parser.add_argument("--strategy", default="default")
  parser.add_argument("--logical-cpus", type=int, default=0, help="split the CPU into this many logical devices")
  parser.add_argument("--data", help="image_cnn: JSON [train_files, eval_files, transform_dir]")
  parser.add_argument("--checkpoint", help="text_bert: tiny BERT checkpoint dir")
  parser.add_argument("--epochs", type=int, default=2)
  parser.add_argument("--batch-size", type=int, default=8, help="per replica")
  parser.add_argument("--prune-sparsity", type=float, help="image_cnn: train with magnitude pruning")
  parser.add_argument("--export-dir")
  parser.add_argument("--out", required=True)
  args = parser.parse_args(argv)

  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  if args.logical_cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
  os.makedirs(args.out, exist_ok=True)
  if args.task == "image_cnn":
    model, history, replicas, steps = _train_cnn(args)
  else:
    model, history, replicas, steps = _train_bert(args)
  seconds = _FitTimer.seconds
  np.savez(os.path.join(args.out, "weights.npz"), *model.get_weights())
  result = {"replicas": replicas, "steps": steps, "fit_seconds": seconds, "seconds_per_step": seconds / steps,
            "loss": [float(v) for v in history.history["loss"]]}
  with open(os.path.join(args.out, "result.json"), "w") as f:
    json.dump(result, f)


class _FitTimer:
  """A Keras callback class that records the wall time of model.fit (train and validation, no start-up)."""
  seconds = 0.0

  @classmethod
  def callback(cls):
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    class Timer(tf.keras.callbacks.Callback):

      def on_train_begin(self, logs=None):
        self.started = time.time()

      def on_train_end(self, logs=None):
        cls.seconds = time.time() - self.started

    return Timer()


def _train_cnn(args):
  from models import image_cnn, trainer  # pylint: disable=g-import-not-at-top

  make_callbacks = trainer.make_callbacks
  trainer.make_callbacks = lambda *a: make_callbacks(*a) + [_FitTimer.callback()]
  train_files, eval_files, transform_dir = json.loads(args.data)
  hp = image_cnn.hparams_from({"hparams": {"epochs": args.epochs, "batch_size": args.batch_size,
                                           "augment": False, "log_every_steps": 2,
                                           "prune_sparsity": args.prune_sparsity}})
  model, history, tft_output, _ = trainer.train(
      "image_cnn", hp, train_files, eval_files, transform_dir, log_dir=os.path.join(args.out, "logs"),
      backup_dir=os.path.join(os.path.dirname(args.out.rstrip("/")), "backup"), strategy_name=args.strategy)
  if args.export_dir:
    trainer.export(model, tft_output, image_cnn.SERVING_FEATURE_KEYS, args.export_dir)
  replicas = model.distribute_strategy.num_replicas_in_sync
  return model, history, replicas, len(history.history["loss"]) * _steps_per_epoch(train_files, hp, replicas)


def _steps_per_epoch(train_files, hp, replicas):
  from models import input_pipeline  # pylint: disable=g-import-not-at-top

  return max(1, input_pipeline.count_examples(train_files) // (int(hp["batch_size"]) * replicas))


def _train_bert(args):
  import csv  # pylint: disable=g-import-not-at-top

  import numpy as np  # pylint: disable=g-import-not-at-top
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from models import bert_tokenization, strategy, text_bert  # pylint: disable=g-import-not-at-top

  hp = text_bert.hparams_from({"hparams": {"bert_checkpoint": args.checkpoint, "max_seq_length": 24,
                                           "learning_rate": 3e-3}})
  with open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data", "reviews",
                         "reviews.csv"), encoding="utf-8") as f:
    rows = list(csv.DictReader(f))[:64]
  inputs = bert_tokenization.BertInputs(os.path.join(args.checkpoint, "vocab.txt"), 24)(
      tf.constant([r["text"] for r in rows]))
  labels = np.array([r["label"] == "positive" for r in rows], dtype=np.int64)
  tf.keras.utils.set_random_seed(0)
  dist = strategy.get_strategy(args.strategy)
  batch = args.batch_size * dist.num_replicas_in_sync
  steps = len(rows) // batch
  with dist.scope():
    model = text_bert.build_model(hp, num_classes=2)
    model.compile(text_bert.make_optimizer(hp, total_steps=steps * args.epochs), "sparse_categorical_crossentropy")
  dataset = tf.data.Dataset.from_tensor_slices(({k: v.numpy() for k, v in inputs.items()}, labels)).batch(
      batch, drop_remainder=True)
  history = model.fit(dataset, epochs=args.epochs, verbose=0, callbacks=[_FitTimer.callback()])
  return model, history, dist.num_replicas_in_sync, steps * args.epochs


if __name__ == "__main__":
  main()
