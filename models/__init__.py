import os as _os

# TFT 1.16 and TFMA 0.47 run on Keras 2 (tf_keras); tf.keras must be that same Keras, so this is set before anything
# in the package can import TensorFlow.
_os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

