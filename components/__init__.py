"""Custom TFX components: thin wrappers whose libraries live in the layers below (layer 5)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
