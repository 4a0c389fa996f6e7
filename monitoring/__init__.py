"""Watching a served model: drift of logged traffic against its training data, live accuracy (layer 4)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
