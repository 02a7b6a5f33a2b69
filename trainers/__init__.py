import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)

# oneDNN on where TensorFlow leaves it off and it measured faster on this machine; it must
# be decided before TensorFlow is imported (trainers/onednn.py).
from trainers import onednn as _onednn

_onednn.choose()
