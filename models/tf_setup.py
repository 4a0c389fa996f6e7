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
