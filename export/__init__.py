"""Export of trained zoo generators, and the CLIs that run them.

  python -m export.export   SavedModel for TF Serving, TF-Hub SavedModel + model card,
                            TFLite (float32 / float16 / int8), each verified in a fresh
                            process against the Keras model before it is renamed into place
  python -m export.sample   a grid of clips (MP4 + GIF) from an unconditional generator
  python -m export.animate  a clip from a still image with an image-conditioned generator

Modules: signatures (the tf.Module-style wrapper), tflite (conversion), verify (parity
gates; verify_child.py is the fresh process), preprocess (image resize / crop shared by the
graph and the CLIs), model_card, cli (shared flags).
"""

import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)

# oneDNN on where it measured faster here, before TensorFlow loads (trainers/onednn.py).
from trainers import onednn as _onednn

_onednn.choose()
