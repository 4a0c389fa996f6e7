"""Task modules by name. A task module supplies only what differs between tasks:

  DEFAULT_HPARAMS, hparams_from(custom_config), TRANSFORM_HPARAMS (the keys preprocessing_fn reads),
  SERVING_FEATURE_KEYS,
  preprocessing_fn(inputs, custom_config), build_model(hparams, num_classes) -> uncompiled Keras model,
  and optionally make_optimizer(hparams, total_steps), serving_files(hparams) (files shipped beside the model) and
  tensor_inputs(tf_transform_output, hparams) (the decoded tensors the .tflite model takes, models.signatures),
  search_space(keras_tuner_hyperparameters, hparams) (what `--tune` searches, models.tuner), IMAGE_FEATURE_KEYS
  (raw features holding encoded images, declared as such to StatisticsGen: pipelines.pipeline.make_stats_options).
"""
from __future__ import annotations

import importlib
from types import ModuleType

TASKS = ("image_cnn", "text_bert")
# Tasks whose model is a functional Keras model of Conv2D/Dense layers that tfmot's prune_low_magnitude can wrap.
# text_bert's encoder is transformers' subclassed TFBertMainLayer, whose dense kernels tfmot cannot reach.
PRUNABLE_TASKS = ("image_cnn",)
# Tasks the Explainer step explains (integrated gradients on pixels, or on word embeddings merged to words).
EXPLAINABLE_TASKS = ("image_cnn", "text_bert")


def get_task(name: str) -> ModuleType:
  if name not in TASKS:
    raise ValueError(f"unknown task {name!r}; known tasks: {', '.join(TASKS)}")
  return importlib.import_module(f"models.{name}")
