"""Serving signatures with the Transform graph inside (the TFX penguin pattern), shared by every task.

`serving_default` takes serialized tf.Examples with raw features (encoded image bytes, raw text) and returns class
probabilities, the top label string and its score. `evaluation` (what the Evaluator calls) adds the label
vocabulary on every row, from which TFMA maps raw string labels to class ids. `transform_features` returns the
transformed features (label included). With a task's `TensorInputs`, two more:
`serving_tensors` takes decoded tensors (uint8 pixels, int32 token ids) with the Transform's arithmetic folded in,
which is what the .tflite model is converted from, and `examples_to_tensors` turns raw tf.Examples into them;
for pixel inputs, `explain_pixels` is `serving_tensors` on float pixels, which gradients flow through
(inference/explain.py), and CNNs add `activation_maps` (each block's output, the first filters) and
`explain_last_conv` (the last block's output and a target class's gradients with respect to it: Grad-CAM).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Callable, Dict, Iterable, Optional

import tensorflow as tf
import tensorflow_transform as tft

from core import features

# The one input of the raw-example signatures: a batch of serialized tf.Examples.
EXAMPLES_SPEC = tf.TensorSpec(shape=[None], dtype=tf.string, name=features.SERVING_INPUT)


@dataclasses.dataclass
class TensorInputs:
  """A task's decoded-tensor interface: `specs` (name -> TensorSpec), `from_examples(raw, transformed)` -> those
  tensors, `to_model_inputs(tensors)` -> the Keras model's inputs (the Transform's arithmetic, folded in)."""
  specs: Dict[str, tf.TensorSpec]
  from_examples: Callable[[Dict[str, tf.Tensor], Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]
  to_model_inputs: Callable[[Dict[str, tf.Tensor]], Dict[str, tf.Tensor]]


def make_serving_signatures(model: tf.keras.Model, tf_transform_output: tft.TFTransformOutput,
                            serving_feature_keys: Iterable[str], tensor_inputs: Optional[TensorInputs] = None
                            ) -> Dict[str, tf.types.experimental.PolymorphicFunction]:
  """Builds both signatures for `model`; `serving_feature_keys` are the raw features a client must send.

  They are tf.functions with an input signature, not concrete functions: a model trained under
  MultiWorkerMirroredStrategy (distributed variables) can be saved only that way. AutoGraph is off: they have no
  Python control flow on tensors, and converting them (with the Transform layer and the model's call inside) was
  3.7 of the 5.8 s of an export at 32x32.
  """
  model.tft_layer = tf_transform_output.transform_features_layer()  # its graph is saved by trainer.serving_root
  raw_spec = tf_transform_output.raw_feature_spec()
  serving_keys = list(serving_feature_keys)
  missing = [k for k in serving_keys if k not in raw_spec]
  if missing:
    raise ValueError(f"serving features {missing} are not in the raw schema {sorted(raw_spec)}")
  serving_spec = {k: raw_spec[k] for k in serving_keys}
  vocabulary = tf.constant(tf_transform_output.vocabulary_by_name(features.LABEL_VOCABULARY))
  input_names = list(model.input_names)

  @tf.function(input_signature=[EXAMPLES_SPEC], autograph=False)
  def serve_tf_examples_fn(serialized_examples):
    raw_features = tf.io.parse_example(serialized_examples, serving_spec)
    transformed = model.tft_layer(raw_features)
    probabilities = model({k: transformed[k] for k in input_names}, training=False)
    top = tf.argmax(probabilities, axis=-1)
    return {
        features.PROBABILITIES: probabilities,
        features.PREDICTED_LABEL: tf.gather(vocabulary, top),
        features.PREDICTED_SCORE: tf.reduce_max(probabilities, axis=-1),
    }

  @tf.function(input_signature=[EXAMPLES_SPEC], autograph=False)
  def transform_features_fn(serialized_examples):
    raw_features = tf.io.parse_example(serialized_examples, raw_spec)
    return model.tft_layer(raw_features)

  @tf.function(input_signature=[EXAMPLES_SPEC], autograph=False)
  def evaluation_fn(serialized_examples):
    probabilities = serve_tf_examples_fn(serialized_examples)[features.PROBABILITIES]
    return {features.PROBABILITIES: probabilities,
            features.ALL_CLASSES: tf.broadcast_to(vocabulary, tf.shape(probabilities))}

  signatures = {features.SERVING_SIGNATURE: serve_tf_examples_fn, features.EVALUATION_SIGNATURE: evaluation_fn,
                features.TRANSFORM_FEATURES_SIGNATURE: transform_features_fn}
  if tensor_inputs is None:
    return signatures
  names = list(tensor_inputs.specs)

  def serve_tensors(*tensors):
    inputs = tensor_inputs.to_model_inputs(dict(zip(names, tensors)))
    return {features.PROBABILITIES: model({k: inputs[k] for k in input_names}, training=False)}

  @tf.function(input_signature=[EXAMPLES_SPEC], autograph=False)
  def examples_to_tensors_fn(serialized_examples):
    raw_features = tf.io.parse_example(serialized_examples, serving_spec)
    return tensor_inputs.from_examples(raw_features, model.tft_layer(raw_features))

  signatures[features.TENSORS_SIGNATURE] = tf.function(
      serve_tensors, input_signature=[tensor_inputs.specs[n] for n in names], autograph=False)
  signatures[features.EXAMPLES_TO_TENSORS_SIGNATURE] = examples_to_tensors_fn
  if all(spec.dtype == tf.uint8 for spec in tensor_inputs.specs.values()):  # pixels: float copies are differentiable
    float_specs = [tf.TensorSpec(tensor_inputs.specs[n].shape, tf.float32, name=n) for n in names]
    signatures[features.EXPLAIN_SIGNATURE] = tf.function(serve_tensors, input_signature=float_specs, autograph=False)
    activations = activation_model(model)
    if activations is not None:
      kernel = next(layer for layer in model.layers if isinstance(layer, tf.keras.layers.Conv2D)).kernel

      def activation_maps(*tensors):
        inputs = tensor_inputs.to_model_inputs(dict(zip(names, tensors)))
        outputs = activations({k: inputs[k] for k in input_names}, training=False)
        maps = dict(zip(activations.output_names, outputs if isinstance(outputs, list) else [outputs]))
        return {**{k: tf.cast(v, tf.float32) for k, v in maps.items()},
                features.FIRST_FILTERS: tf.identity(tf.cast(kernel, tf.float32))}

      signatures[features.ACTIVATIONS_SIGNATURE] = tf.function(activation_maps, input_signature=float_specs,
                                                               autograph=False)
      last_conv = tf.keras.Model(model.inputs, [activations.outputs[-1], model.outputs[0]], name="last_conv")

      def last_conv_gradients(*tensors):
        *pixels, target = tensors
        inputs = tensor_inputs.to_model_inputs(dict(zip(names, pixels)))
        with tf.GradientTape() as tape:
          conv, probabilities = last_conv({k: inputs[k] for k in input_names}, training=False)
          score = tf.gather(probabilities, target, batch_dims=1)
        return {features.LAST_CONV: tf.cast(conv, tf.float32),
                features.LAST_CONV_GRADIENTS: tf.cast(tape.gradient(score, conv), tf.float32),
                features.PROBABILITIES: probabilities}

      signatures[features.LAST_CONV_SIGNATURE] = tf.function(
          last_conv_gradients, input_signature=float_specs + [tf.TensorSpec([None], tf.int32, name=features.TARGET)],
          autograph=False)
  return signatures


BLOCK_OUTPUT = re.compile(r"block\d+_relu\d+$")


def activation_model(model: tf.keras.Model) -> Optional[tf.keras.Model]:
  """A model from `model`'s inputs to the output of each convolution block (its last ReLU, `block<i>_relu<j>`);
  None for models without convolution blocks."""
  last = {}
  for layer in model.layers:
    if BLOCK_OUTPUT.match(layer.name):
      last[layer.name.split("_")[0]] = layer
  if not last or not any(isinstance(layer, tf.keras.layers.Conv2D) for layer in model.layers):
    return None
  return tf.keras.Model(model.inputs, [last[block].output for block in sorted(last, key=lambda b: int(b[5:]))],
                        name="activations")
