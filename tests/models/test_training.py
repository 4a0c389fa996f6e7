"""What the Trainer and the Tuner share (models/training.py): the schedule, the class check, best hyperparameters."""
import json

import keras_tuner
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_transform as tft

from core.errors import DataError
from models import image_cnn, text_bert, training


def test_learning_rate_decays_over_the_run():
  schedule = training.learning_rate_schedule({"learning_rate": 0.01}, total_steps=100)
  assert np.isclose(float(schedule(0)), 0.01) and float(schedule(50)) < 0.01 and float(schedule(100)) < 0.001
  assert isinstance(training.make_optimizer({"learning_rate": 0.01}, 100), tf.keras.optimizers.Adam)


def test_classes_without_training_examples_are_named(transformed_dataset):
  output = tft.TFTransformOutput(transformed_dataset[2])
  assert training.check_every_class_trained(output, 2) == 2
  with pytest.raises(DataError, match=r"only 2 of the 3 classes have training examples \(\['bottom', 'top'\]\)"):
    training.check_every_class_trained(output, 3)


def test_search_space_round_trips_through_the_best_hyperparameters_config():
  space = keras_tuner.HyperParameters()
  hp = image_cnn.hparams_from({"hparams": {"learning_rate": 3.0}})
  training.trial_hparams(image_cnn, hp, space)  # registers the search space with its defaults
  space.values.update({"learning_rate": 0.002, "conv_filters": "16,32", "dropout": 0.1, "batch_size": 64})
  applied = training.hparams_with_best(image_cnn, hp, json.loads(json.dumps(space.get_config())))
  assert applied["learning_rate"] == 0.002 and applied["conv_filters"] == [16, 32]
  assert applied["batch_size"] == 64 and applied["epochs"] == hp["epochs"]  # the rest as configured
  text_space = keras_tuner.HyperParameters()
  assert set(text_bert.search_space(text_space, {})) == {"learning_rate", "warmup_fraction", "dropout"}


def test_warm_start_takes_the_pushed_weights_and_refuses_another_architecture(trained_image_model):
  from core.errors import WarmStartError  # pylint: disable=g-import-not-at-top

  _, _, export_dir, _, hp = trained_image_model
  model = image_cnn.build_model(hp, 2)
  assert training.warm_start(model, str(export_dir)) == len(model.variables)
  saved = tf.saved_model.load(str(export_dir)).variables
  assert all(np.array_equal(mine.numpy(), theirs.numpy()) for mine, theirs in zip(model.variables, saved))
  wider = image_cnn.build_model({**hp, "conv_filters": [48, 64]}, 2)
  with pytest.raises(WarmStartError, match=r"variable kernel \(3, 3, 1, 48\) does not match kernel \(3, 3, 1, 32\)"):
    training.warm_start(wider, str(export_dir))
  with pytest.raises(WarmStartError, match="has .* variables, this one"):
    training.warm_start(image_cnn.build_model({**hp, "conv_filters": [32]}, 2), str(export_dir))


def test_warm_start_follows_class_names_when_the_new_data_numbers_them_otherwise(trained_image_model):
  """Transform numbers classes by frequency: on new data the same class may get another id."""
  from core import model_files  # pylint: disable=g-import-not-at-top
  from core.errors import WarmStartError  # pylint: disable=g-import-not-at-top

  _, _, export_dir, _, hp = trained_image_model
  saved_labels = model_files.read_metadata(str(export_dir)).labels
  model = image_cnn.build_model(hp, 2)
  training.warm_start(model, str(export_dir), labels=saved_labels[::-1])
  saved = tf.saved_model.load(str(export_dir)).variables
  assert np.array_equal(model.variables[-2].numpy(), saved[-2].numpy()[:, ::-1])  # the output layer's columns
  assert np.array_equal(model.variables[-1].numpy(), saved[-1].numpy()[::-1])
  assert np.array_equal(model.variables[0].numpy(), saved[0].numpy())  # the rest as saved
  with pytest.raises(WarmStartError, match="was trained on classes"):
    training.warm_start(image_cnn.build_model(hp, 2), str(export_dir), labels=["cat", "dog"])
