"""Names shared by Transform, Trainer, serving and the Evaluator, for every task."""

RAW_LABEL_KEY = "label"
LABEL_VOCABULARY = "label"  # tf.Transform vocabulary file mapping label strings to integer ids
TRANSFORMED_SUFFIX = "_xf"


def transformed_name(key: str) -> str:
  return key + TRANSFORMED_SUFFIX


TRANSFORMED_LABEL_KEY = transformed_name(RAW_LABEL_KEY)

# Outputs of the `serving_default` signature.
PROBABILITIES = "probabilities"
PREDICTED_LABEL = "label"
PREDICTED_SCORE = "score"

TRANSFORM_FEATURES_SIGNATURE = "transform_features"
