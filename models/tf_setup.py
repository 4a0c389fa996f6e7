"""TensorFlow set-up shared by every module that builds or trains a Keras model; imported for its effect."""
import tensorflow as tf  # noqa: F401  # pylint: disable=unused-import


def skip_autograph_for_tf_keras() -> None:
  """Keeps AutoGraph out of tf_keras' own code, as TensorFlow does for `keras`.

  TensorFlow 2.16's AutoGraph rules list `keras` but not `tf_keras`, so the first `fit` converted all of tf_keras'
  training loop: ~35 s of a 2-core machine on every Trainer run (measured), for nothing.
  """
  from tensorflow.python.autograph.core import config as autograph_config  # pylint: disable=g-import-not-at-top

  rule = autograph_config.DoNotConvert("tf_keras")
  if not any(getattr(r, "_prefix", None) == "tf_keras" for r in autograph_config.CONVERSION_RULES):
    autograph_config.CONVERSION_RULES = (rule,) + tuple(autograph_config.CONVERSION_RULES)


skip_autograph_for_tf_keras()


def keras_tuner_on_tf_keras() -> None:
  """Makes KerasTuner build and fit tf_keras models.

  KerasTuner 1.4 picks Keras 3 whenever it is installed (it is, beside tf_keras, which TFT and TFMA need) and then
  refuses tf_keras models ("Expected ... a valid Keras Model instance"). Its backend modules choose at import time,
  so they (and the callbacks defined on them) are re-read here with its multi-backend switch off.
  """
  import importlib  # pylint: disable=g-import-not-at-top

  from keras_tuner.src.backend import config, keras, ops, random  # pylint: disable=g-import-not-at-top
  from keras_tuner.src.engine import tuner_utils  # pylint: disable=g-import-not-at-top

  if config.multi_backend():
    config._MULTI_BACKEND = False  # pylint: disable=protected-access
    for module in (keras, ops, random, tuner_utils):  # tuner_utils: its callbacks subclass the backend's Callback
      importlib.reload(module)
