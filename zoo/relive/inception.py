"""The frozen InceptionV3 photo encoder of `relive_inception_conditional` and its critic.

The report uses a pretrained InceptionV4, which Keras does not ship; we use
`keras.applications.InceptionV3(include_top=False)` (docs/architecture.md). Its ImageNet
weights are read from a local file only, never downloaded and never replaced by random ones
silently:

* `weights="imagenet"`: the Keras cache file `$KERAS_HOME/models/` (default `~/.keras/models/`)
  `inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5`, as Keras's own download leaves it;
* `weights="/path/to/file.h5"` (or `.weights.h5`): that file;
* `weights=UNTRAINED_FOR_TESTS_ONLY`: random weights, for unit tests and `:smoke` runs only
  (logged as a warning); a model built this way animates nothing meaningful.
Any other case raises `FileNotFoundError` naming where it looked.
"""

import os

from absl import logging
import keras
import tensorflow as tf

WEIGHTS_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
UNTRAINED_FOR_TESTS_ONLY = "untrained_for_tests_only"
MIN_INPUT_SIZE = 75  # keras.applications.InceptionV3's smallest input


def cache_path():
  """Where Keras's own download of the no-top ImageNet weights lives."""
  home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
  return os.path.join(home, "models", WEIGHTS_FILE)


def resolve_weights(weights):
  """`weights` argument -> a local file path, or None for the test-only random weights."""
  if weights == UNTRAINED_FOR_TESTS_ONLY:
    logging.warning(
      "InceptionV3 with random weights (%s): for tests and smoke runs only.",
      UNTRAINED_FOR_TESTS_ONLY,
    )
    return None
  path = cache_path() if weights == "imagenet" else weights
  if not isinstance(path, str) or not path or not os.path.isfile(path):
    raise FileNotFoundError(
      f"Expected InceptionV3 ImageNet weights in a local file (weights='imagenet' reads the "
      f"Keras cache {cache_path()}; or pass weights='/path/to/{WEIGHTS_FILE}'), received "
      f"weights={weights!r}, and no such file exists. The model refuses to build with "
      "random weights; copy the file there (it is Keras's InceptionV3 no-top download)."
    )
  return path


def backbone(weights, input_size=299):
  """The frozen InceptionV3 trunk: [B, input_size, input_size, 3] in [-1, 1] -> features.

  At 299 the features are 8x8x2048 (the "8x8 stage"). Inputs in [-1, 1] are what
  InceptionV3's own preprocessing produces, so photos go in unchanged.
  """
  if input_size < MIN_INPUT_SIZE:
    raise ValueError(f"Expected inception input_size >= {MIN_INPUT_SIZE}, received {input_size}.")
  path = resolve_weights(weights)
  model = keras.applications.InceptionV3(
    include_top=False, weights=path, input_shape=(input_size, input_size, 3)
  )
  model.trainable = False
  return model


class FrozenFeatures(keras.layers.Layer):
  """Photo [B, H, W, 3] in [-1, 1] -> frozen InceptionV3 features resized to `size` (h, w).

  The photo is resized (bilinear) to the backbone's input size; the features are area-resized
  to `size` when the backbone's grid differs (e.g. 8x8 -> 2x2 in small smoke networks). The
  backbone always runs in inference mode (its batch norm uses ImageNet statistics).
  """

  def __init__(self, weights, input_size, size, **kwargs):
    super().__init__(**kwargs)
    self.input_size = int(input_size)
    self.size = tuple(int(s) for s in size)
    self.backbone = backbone(weights, self.input_size)

  def call(self, image):
    x = tf.image.resize(tf.cast(image, tf.float32), [self.input_size, self.input_size])
    features = tf.stop_gradient(self.backbone(x, training=False))
    if tuple(features.shape[1:3]) != self.size:
      features = tf.image.resize(features, self.size, method="area")
    return features
