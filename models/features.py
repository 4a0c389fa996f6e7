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
# What the Evaluator calls: `serving_default`'s probabilities plus ALL_CLASSES, the label vocabulary on every row,
# which TFMA uses to turn the raw string label into a class id (so it need not run the Transform graph for it).
EVALUATION_SIGNATURE = "evaluation"
ALL_CLASSES = "all_classes"  # tfma.metrics.metric_util's key
# Decoded-tensor signatures (what an edge app has, and what the .tflite model takes): `serving_tensors` maps uint8
# pixels / int32 token ids to probabilities; `examples_to_tensors` maps raw tf.Examples to those tensors.
TENSORS_SIGNATURE = "serving_tensors"
EXAMPLES_TO_TENSORS_SIGNATURE = "examples_to_tensors"
