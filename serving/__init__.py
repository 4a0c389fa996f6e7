"""The model server: TF Serving's REST API, batching, request logs, Prometheus metrics (layer 4)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
