"""SPADE: spatially-adaptive normalisation (Park et al. 2019), in 2D and 3D (Egan 2019, Fig. 3-11).

`SPADE` normalises without parameters, then applies a per-pixel gamma and beta computed from
the segmentation mask by a shared 3x3 conv (ReLU) and two 3x3 convs. In 3D the mask branch
stays 2D: the mask is an image, and one gamma / beta is broadcast over every frame ("a single
pixel-wise affine transformation that is applied to every frame"). `SPADEResBlock` is
SPADE's generator block with spectral norm on its convolutions (SPADE's `spectralspade...`
setting); in 3D its convolutions are 3x3x3, time padded by replication (inflation).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo.layers import activations
from zoo.layers import batch_norm
from zoo.layers import resblocks

NHIDDEN = 128  # SPADE's hidden width of the mask branch
BN_MOMENTUM = 0.9  # PyTorch's 0.1
BN_EPSILON = 1e-5


def one_hot_mask(mask, num_classes, model):
  """Class ids [B, H, W] -> one-hot float32 [B, H, W, num_classes]; a float
  [B, H, W, num_classes] input passes through.

  Ids may come as floats (a NumPy array of them; Keras' `model.export` traces every input
  as float32): they are rounded to the nearest id. Called eagerly, ids outside
  [0, num_classes) are refused naming `model` (`zoo.base.class_ids`).
  """
  mask = tf.convert_to_tensor(mask)
  if mask.shape.rank == 3 and not mask.dtype.is_integer:
    mask = tf.cast(tf.round(mask), tf.int32)
  if mask.dtype.is_integer:
    return tf.one_hot(base.class_ids(mask, num_classes, model), num_classes, dtype=tf.float32)
  if mask.shape[-1] != num_classes:
    raise ValueError(
      f"Expected class ids [B, H, W] or a one-hot [B, H, W, {num_classes}] "
      f"mask, received shape {mask.shape}."
    )
  return tf.cast(mask, tf.float32)


def instance_norm(x, epsilon=1e-5):
  """Parameter-free instance norm over every axis but batch and channels (2D or 3D)."""
  axes = list(range(1, x.shape.rank - 1))
  mean, var = tf.nn.moments(x, axes, keepdims=True)
  return (x - mean) * tf.math.rsqrt(var + epsilon)


class SPADE(keras.layers.Layer):
  """x -> BN(x) * (1 + gamma(mask)) + beta(mask); BN without affine parameters.

  Args:
    rank: 2 or 3 (of x; the mask branch is always 2D).
    channels: channels of x.
    nhidden: width of the shared mask conv.
  """

  def __init__(self, rank, channels, nhidden=NHIDDEN, **kwargs):
    super().__init__(**kwargs)
    self.rank = resblocks.check_rank(rank)
    self.norm = batch_norm.FusedBatchNormalization(
      center=False, scale=False, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm"
    )
    self.shared = keras.layers.Conv2D(nhidden, 3, padding="same", activation="relu", name="shared")
    self.gamma = keras.layers.Conv2D(channels, 3, padding="same", name="gamma")
    self.beta = keras.layers.Conv2D(channels, 3, padding="same", name="beta")

  def call(self, x, segmap, training=False):
    """`segmap`: one-hot [B, H0, W0, L], resized here (nearest) to x's height and width."""
    normalized = self.norm(x, training=training)
    seg = tf.image.resize(segmap, x.shape[-3:-1], method="nearest")
    hidden = self.shared(seg)
    gamma, beta = self.gamma(hidden), self.beta(hidden)
    if self.rank == 3:  # one affine map for every frame
      gamma, beta = gamma[:, tf.newaxis], beta[:, tf.newaxis]
    return normalized * (1.0 + tf.cast(gamma, x.dtype)) + tf.cast(beta, x.dtype)


class SPADEResBlock(keras.layers.Layer):
  """SPADE's residual generator block (Park et al. 2019, Fig. 4 right; Egan Fig. 3-10).

  dx = conv_1(lrelu(SPADE_1(conv_0(lrelu(SPADE_0(x)))))), hidden width min(fin, fout);
  shortcut conv_s(SPADE_s(x)) (1x1, no bias) when fin != fout, else x; out = shortcut + dx.
  LeakyReLU 0.2; spectral norm on the three convolutions.

  Args:
    rank: 2 or 3.
    fin, fout: channels.
    nhidden: SPADE mask branch width.
    spectral_norm: on conv_0, conv_1, conv_s.
    temporal_padding: "replicate" or "reflect" (3D).
  """

  def __init__(
    self,
    rank,
    fin,
    fout,
    nhidden=NHIDDEN,
    spectral_norm=True,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    fmid = min(fin, fout)
    conv = lambda f, k, bias, name: resblocks.PaddedConv(
      rank,
      f,
      k,
      use_bias=bias,
      spectral_norm=spectral_norm,
      temporal_padding=temporal_padding,
      name=name,
    )
    self.norm_0 = SPADE(rank, fin, nhidden, name="norm_0")
    self.conv_0 = conv(fmid, 3, True, "conv_0")
    self.norm_1 = SPADE(rank, fmid, nhidden, name="norm_1")
    self.conv_1 = conv(fout, 3, True, "conv_1")
    self.learned_shortcut = fin != fout
    if self.learned_shortcut:
      self.norm_s = SPADE(rank, fin, nhidden, name="norm_s")
      self.conv_s = conv(fout, 1, False, "conv_s")

  def call(self, x, segmap, training=False):
    act = activations.leaky_relu
    skip = x
    if self.learned_shortcut:
      skip = self.conv_s(self.norm_s(x, segmap, training=training), training=training)
    dx = self.conv_0(act(self.norm_0(x, segmap, training=training)), training=training)
    dx = self.conv_1(act(self.norm_1(dx, segmap, training=training)), training=training)
    return skip + dx
