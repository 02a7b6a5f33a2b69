"""Layers shared by the (Re)live Photos networks (Chen, Kang, Kim): conv stacks with a chosen norm.

Decisions where the report is silent (docs/architecture.md):
* weights use Keras's default initializers (the report names none);
* "k4 s2" = kernel 4, stride 2, padding "same": each layer halves or doubles every size;
* "layer" normalization of a conv feature map is `GroupNormalization(groups=1)`: statistics
  over every (T,) H, W and C of one sample, a scale and offset per channel. It keeps the
  gradient penalty per sample (batch norm does not) without tying its parameters to the
  input size, as `LayerNormalization` over all axes would.
"""

import keras
import tensorflow as tf

from zoo.layers import activations
from zoo.layers import batch_norm
from zoo.layers import strided_conv

NORMS = ("none", "layer", "batch")

# The 3D ones compute their few-channel side sub-pixel (zoo.layers.strided_conv): the video
# heads and the critics' gradient into the video (WGAN-GP differentiates it twice).
_CONV = {
  (2, False): keras.layers.Conv2D,
  (3, False): strided_conv.Conv3D,
  (2, True): keras.layers.Conv2DTranspose,
  (3, True): strided_conv.Conv3DTranspose,
}


def normalization(kind, name=None):
  """The norm layer named by `kind` ("none" -> None, "layer", "batch")."""
  if kind == "none":
    return None
  if kind == "layer":
    return keras.layers.GroupNormalization(groups=1, epsilon=1e-5, name=name)
  if kind == "batch":
    return batch_norm.FusedBatchNormalization(name=name)
  raise ValueError(f"Expected a normalization in {NORMS}, received {kind!r}.")


def conv(rank, filters, kernel_size=4, strides=2, padding="same", transpose=False, **kwargs):
  """A 2D or 3D (transposed) convolution with bias; "k4 s2" by default."""
  if (rank, transpose) not in _CONV:
    raise ValueError(f"Expected a convolution rank of 2 or 3, received {rank!r}.")
  return _CONV[rank, transpose](filters, kernel_size, strides=strides, padding=padding, **kwargs)


class ConvNormAct(keras.layers.Layer):
  """(Transposed) convolution -> optional norm -> ReLU or LeakyReLU 0.2: one network layer."""

  def __init__(
    self,
    rank,
    filters,
    kernel_size=4,
    strides=2,
    padding="same",
    *,
    transpose=False,
    norm="batch",
    activation="relu",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.conv = conv(rank, filters, kernel_size, strides, padding, transpose, name="conv")
    self.norm = normalization(norm, name="norm")
    if activation not in ("relu", "leaky_relu"):
      raise ValueError(f"Expected activation 'relu' or 'leaky_relu', received {activation!r}.")
    self.activation = activation

  def call(self, x, training=False):
    x = self.conv(x)
    if self.norm is not None:
      x = self.norm(x, training=training)
    if self.activation == "relu":
      return tf.nn.relu(x)
    return activations.leaky_relu(x)


def stack(rank, widths, *, transpose, norm, activation, first_norm=None, prefix="layer"):
  """The "k4 s2" ConvNormAct layers of `widths`; the first one's norm may differ (`first_norm`)."""
  return [
    ConvNormAct(
      rank,
      w,
      transpose=transpose,
      norm=first_norm if (i == 0 and first_norm is not None) else norm,
      activation=activation,
      name=f"{prefix}{i}",
    )
    for i, w in enumerate(widths)
  ]


def run(layers, x, training):
  for layer in layers:
    x = layer(x, training=training)
  return x


def output_head(rank, filters, activation, name):
  """The last "k4 s2" transposed conv, no norm, tanh / sigmoid computed in float32."""
  return keras.Sequential(
    [conv(rank, filters, transpose=True), keras.layers.Activation(activation, dtype="float32")],
    name=name,
  )


def tile_over_time(image, frames):
  """[B, H, W, C] -> [B, frames, H, W, C], the image repeated on every frame."""
  return tf.tile(image[:, tf.newaxis], [1, frames, 1, 1, 1])
