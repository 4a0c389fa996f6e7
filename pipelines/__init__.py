"""The pipeline (config, data checks, `create_pipeline`; layer 6) and its runners (local, Kubeflow; layer 7)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
