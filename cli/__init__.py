"""The `modelfab` command: one module per command group, each registering its own parser (layer 8)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
