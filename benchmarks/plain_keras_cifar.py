"""The user's alternative to `modelfab run`, written plainly: a Keras script on an ImageFolder of 32x32 RGB images.

  python benchmarks/plain_keras_cifar.py --data DIR --epochs 3 [--batch-size 32] [--preset digits-cnn] --out DIR

Load with image_dataset_from_directory (80/20 split), normalize with a Normalization layer adapted on the training
images, build the same model as modelfab's image task (models.image_cnn.build_model with the preset's hyperparameters:
same blocks, augmentation, dropout), Adam with the same cosine decay, fit, evaluate, save. Prints one JSON line: fit seconds, examples/s,
eval accuracy. The comparison benchmark is benchmarks/cifar_benchmark.py.
"""
import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main() -> None:
  parser = argparse.ArgumentParser()
  parser.add_argument("--data", required=True)
  parser.add_argument("--epochs", type=int, default=3)
  parser.add_argument("--batch-size", type=int, default=32)
  parser.add_argument("--out", required=True)
  parser.add_argument("--preset", default="digits-cnn", help="the modelfab preset whose model hyperparameters to use")
  args = parser.parse_args()

  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  from models import image_cnn  # pylint: disable=g-import-not-at-top  # the same model, nothing else
  from pipelines import config  # pylint: disable=g-import-not-at-top  # (and the preset's hyperparameters)

  tf.keras.utils.set_random_seed(42)
  train_ds, eval_ds = tf.keras.utils.image_dataset_from_directory(
      args.data, validation_split=0.2, subset="both", seed=42, image_size=(32, 32), batch_size=args.batch_size)
  train_ds, eval_ds = (d.map(lambda x, y: (x / 255.0, y)).cache().prefetch(tf.data.AUTOTUNE)
                       for d in (train_ds, eval_ds))
  normalize = tf.keras.layers.Normalization(axis=-1)
  normalize.adapt(train_ds.map(lambda x, y: x))
  num_classes = len(os.listdir(args.data))
  hp = image_cnn.hparams_from({"hparams": {**config.PRESETS[args.preset].hparams, "image_size": 32, "channels": 3,
                                           "epochs": args.epochs, "batch_size": args.batch_size}})
  inputs = tf.keras.Input((32, 32, 3))
  outputs = image_cnn.build_model(hp, num_classes)(normalize(inputs))
  model = tf.keras.Model(inputs, outputs)
  steps = int(train_ds.cardinality()) * args.epochs
  model.compile(tf.keras.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(hp["learning_rate"], steps,
                                                                                   alpha=0.01)),
                loss="sparse_categorical_crossentropy", metrics=["accuracy"])
  started = time.time()
  model.fit(train_ds, validation_data=eval_ds, epochs=args.epochs, verbose=2)
  fit_seconds = time.time() - started
  _, accuracy = model.evaluate(eval_ds, verbose=0)
  model.save(os.path.join(args.out, "model"))
  train_examples = sum(int(y.shape[0]) for _, y in train_ds)
  print(json.dumps({"fit_seconds": fit_seconds, "examples_per_s": train_examples * args.epochs / fit_seconds,
                    "eval_accuracy": float(accuracy), "train_examples": train_examples}))


if __name__ == "__main__":
  main()
