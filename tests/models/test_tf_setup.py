"""AutoGraph leaves tf_keras' own code alone (the first `fit` would otherwise convert all of it)."""
from tensorflow.python.autograph.core import config as autograph_config

from models import tf_setup


def test_tf_keras_is_not_converted_and_the_rule_is_added_once():
  tf_setup.skip_autograph_for_tf_keras()
  tf_setup.skip_autograph_for_tf_keras()
  rules = [r for r in autograph_config.CONVERSION_RULES if getattr(r, "_prefix", None) == "tf_keras"]
  assert len(rules) == 1 and rules[0].matches("tf_keras.src.engine.training")
