"""Using results: loading a pushed model, predicting, checking it serves, compressing it, reading runs back from ML
Metadata (layer 3)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
