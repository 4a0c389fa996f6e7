"""What a person looks at after a run: the HTML report and the TensorBoard folder (layer 4)."""
import core  # noqa: F401  # pylint: disable=unused-import  # the legacy-Keras default, before any TensorFlow import
