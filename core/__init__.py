"""Shared facts, imported by every other layer: feature and metric keys, node ids, errors, the output dir's layout,
the pushed model's files. Nothing here imports TensorFlow.

Importing any project package imports this one first (each package's `__init__` does), so the legacy-Keras default
below is in force before anything can import TensorFlow: TFT 1.16 and TFMA 0.47 run on Keras 2 (tf_keras), and
`tf.keras` must be that same Keras. TensorFlow reads the variable once, when it is imported.
"""
import os as _os

_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
