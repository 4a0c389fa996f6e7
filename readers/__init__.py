"""Reading and checking input data without TFX: image folders, text CSV, TFRecord files (layer 2)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
