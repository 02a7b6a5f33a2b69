"""Video embedders for distribution metrics, and FD-R3D's fixed random 3D-conv network.

An `Embedder` maps clips [B, T, H, W, 3] (uint8, or float in [-1, 1]) to float32 numpy
embeddings [B, D]. Distances over those embeddings are named after the embedder: FVD only for
an I3D embedder (`fvd.metric_name`), FD-R3D for the random network here.

FD-R3D (`R3DEmbedder`, name "r3d") is an offline stand-in for FVD when no I3D weights are at
hand: a small 3D conv network, randomly initialised from a fixed seed and never trained.
Random conv features are a known, weaker but meaningful basis for Frechet distances (they
respond to texture, colour and motion statistics); its numbers are NOT comparable with FVD
and are always reported as FD-R3D. Decisions (no paper defines it): four Conv3D layers, kernel
3, "same" padding, strides (1,2,2) then (2,2,2) x 3, widths 32-64-128-256, ReLU, He-normal
kernels from explicit per-layer seeds (`seed + layer index`), zero biases, global average pool
-> 256-d. Stateless seeded initialisers make every build bit-for-bit identical, in any process.
Global pooling lets it take any clip size, but only same-size sets should be compared.
"""

import keras
import numpy as np
import tensorflow as tf

# Tolerance of the range check on float clips; the reference FVD code asserts |x| <= 1.001.
RANGE_TOLERANCE = 1e-3

R3D_WIDTHS = (32, 64, 128, 256)
R3D_STRIDES = ((1, 2, 2), (2, 2, 2), (2, 2, 2), (2, 2, 2))
R3D_SEED = 20240


def check_videos(videos):
  """Checks a batch [B, T, H, W, 3]; returns it as a numpy array or float32 tensor, unchanged."""
  if not isinstance(videos, tf.Tensor):
    videos = np.asarray(videos)
  if len(videos.shape) != 5:
    raise ValueError(f"Expected videos of rank 5 [B, T, H, W, 3], received shape {videos.shape}.")
  if videos.shape[-1] != 3:
    raise ValueError(f"Expected 3 colour channels, received shape {videos.shape}.")
  return videos


def check_unit_range(videos):
  """Raises if float clips are clearly outside [-1, 1], e.g. floats in [0, 255] passed by mistake.

  Clips in [0, 1] cannot be told from dark [-1, 1] clips and pass: the caller owns the range.
  """
  lo = float(tf.reduce_min(videos))
  hi = float(tf.reduce_max(videos))
  if lo < -1.0 - RANGE_TOLERANCE or hi > 1.0 + RANGE_TOLERANCE:
    raise ValueError(
      "Expected float videos in [-1, 1] (or uint8 in [0, 255]), received values "
      f"in [{lo:.4g}, {hi:.4g}]."
    )


def to_unit_range(videos):
  """uint8 [0, 255] -> float32 2x/255 - 1; float clips are range-checked and passed as is."""
  videos = check_videos(videos)
  if videos.dtype == np.uint8 or videos.dtype == tf.uint8:
    return 2.0 * tf.cast(videos, tf.float32) / 255.0 - 1.0
  videos = tf.cast(videos, tf.float32)
  check_unit_range(videos)
  return videos


class Embedder:
  """A video embedding network: clips [B, T, H, W, 3] -> float32 numpy [B, dim].

  Subclasses set `name` (used to name the metric: "i3d", "i3d_keras", "r3d") and `dim`, and
  implement `__call__`. Embeddings must not depend on the other clips of the batch (inference
  mode), so `fvd.embed_stream` may re-batch freely.
  """

  name = ""
  dim = None

  def __call__(self, videos):
    raise NotImplementedError


def build_r3d(seed=R3D_SEED, widths=R3D_WIDTHS, strides=R3D_STRIDES):
  """The FD-R3D network as a Keras model [B, T, H, W, 3] in [-1, 1] -> [B, widths[-1]]."""
  if len(widths) != len(strides):
    raise ValueError(
      f"Expected as many strides as widths ({len(widths)}), received {len(strides)}."
    )
  inputs = keras.Input(shape=(None, None, None, 3), dtype="float32")
  x = inputs
  for i, (width, stride) in enumerate(zip(widths, strides)):
    x = keras.layers.Conv3D(
      width,
      3,
      strides=stride,
      padding="same",
      activation="relu",
      kernel_initializer=keras.initializers.HeNormal(seed=seed + i),
      bias_initializer="zeros",
      dtype="float32",
      name=f"r3d_conv{i + 1}",
    )(x)
  outputs = keras.layers.GlobalAveragePooling3D(dtype="float32", name="r3d_pool")(x)
  return keras.Model(inputs, outputs, name="r3d")


class R3DEmbedder(Embedder):
  """FD-R3D's embedder: the fixed random network of `build_r3d` (see the module docstring)."""

  name = "r3d"

  def __init__(self, seed=R3D_SEED):
    self.model = build_r3d(seed)
    self.dim = R3D_WIDTHS[-1]
    self._embed = tf.function(
      lambda x: self.model(x, training=False),
      input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.float32)],
    )

  def __call__(self, videos):
    return self._embed(to_unit_range(videos)).numpy().astype(np.float32)
