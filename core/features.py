"""Feature keys and signature names shared by the readers, Transform, the Trainer, serving and the Evaluator."""

# Raw features of the tf.Examples that the ExampleGens write and that `serving_default` parses.
IMAGE_KEY = "image"  # encoded image bytes (PNG or JPEG), as on disk
TEXT_KEY = "text"  # UTF-8 text
FILENAME_KEY = "filename"  # image path relative to the data root (images only; not read by the model)
RAW_LABEL_KEY = "label"  # the class name
MODALITIES = (IMAGE_KEY, TEXT_KEY)  # a model's modality is the raw feature it reads

LABEL_VOCABULARY = "label"  # tf.Transform vocabulary file mapping label strings to integer ids
TRANSFORMED_SUFFIX = "_xf"


def transformed_name(key: str) -> str:
  return key + TRANSFORMED_SUFFIX


TRANSFORMED_LABEL_KEY = transformed_name(RAW_LABEL_KEY)

# Outputs of the `serving_default` signature.
PROBABILITIES = "probabilities"
PREDICTED_LABEL = "label"
PREDICTED_SCORE = "score"
SERVING_OUTPUTS = (PROBABILITIES, PREDICTED_LABEL, PREDICTED_SCORE)
OUTLIER_SCORE = "outlier_score"  # added to answers by the server and batch inference (monitoring/outliers.py)

SERVING_SIGNATURE = "serving_default"
SERVING_INPUT = "examples"  # the one input of every raw-example signature: serialized tf.Examples
TRANSFORM_FEATURES_SIGNATURE = "transform_features"
# What the Evaluator calls: `serving_default`'s probabilities plus ALL_CLASSES, the label vocabulary on every row,
# which TFMA uses to turn the raw string label into a class id (so it need not run the Transform graph for it).
EVALUATION_SIGNATURE = "evaluation"
ALL_CLASSES = "all_classes"  # tfma.metrics.metric_util's key
# Decoded-tensor signatures (what an edge app has, and what the .tflite model takes): `serving_tensors` maps uint8
# pixels / int32 token ids to probabilities; `examples_to_tensors` maps raw tf.Examples to those tensors.
TENSORS_SIGNATURE = "serving_tensors"
EXAMPLES_TO_TENSORS_SIGNATURE = "examples_to_tensors"
EXPLAIN_SIGNATURE = "explain_pixels"  # float pixels in, probabilities out: differentiable (inference/explain.py)
# CNNs: float pixels in; each convolution block's output and the first convolution's kernel out (the Explainer's
# activation maps and filters, inference/explain.py).
ACTIVATIONS_SIGNATURE = "activation_maps"
FIRST_FILTERS = "first_filters"
# CNNs, for Grad-CAM: float pixels and a target class per image in; the last convolution block's output, the
# target's probability's gradients with respect to it, and the probabilities out.
LAST_CONV_SIGNATURE = "explain_last_conv"
LAST_CONV = "last_conv"
LAST_CONV_GRADIENTS = "last_conv_gradients"
TARGET = "target"
# Text (BERT): token ids -> their word embeddings and a baseline's ([CLS] and [SEP] kept, every other token [PAD]);
# word embeddings (+ mask, segment ids) -> probabilities, differentiable (inference/explain_text.py).
TOKEN_EMBEDDINGS_SIGNATURE = "token_embeddings"
EXPLAIN_EMBEDDINGS_SIGNATURE = "explain_embeddings"
EMBEDDINGS = "embeddings"
BASELINE_EMBEDDINGS = "baseline_embeddings"

# Data in spans (readers/spans.py): a span's folder is complete, and read, once it holds this file.
SPAN_DONE_MARKER = "_SUCCESS"
