"""Model code that TFX runs by dotted name: tasks, Transform's preprocessing, the Trainer and the Tuner (layer 2)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
