"""BigGAN's residual blocks (Brock et al. 2019, Fig. 15), in 2D and 3D.

* GResBlock (generator): BN - ReLU - [upsample x2] - conv3 - BN - ReLU - conv3, plus a
  skip [upsample x2] - conv1x1 when the width changes or the block upsamples.
* DResBlock (discriminator): [ReLU] - conv3 - ReLU - conv3 - [avgpool 2], plus a skip
  conv1x1 - [avgpool 2] when the width changes or the block downsamples. The leading ReLU is
  dropped in a network's first block (`preactivation=False`), as BigGAN does on raw pixels.

Decisions where BigGAN is silent for video: 3D blocks use 3x3x3 kernels; upsampling (nearest,
BigGAN's) doubles only height and width; a 3D block's average pooling halves time too
(padding "same", so an odd or single frame count still works), as DVD-GAN's D_T reduces the
clip. Plain (unconditional) batch norm: Radner's encoder and DVD-GAN-S have no classes.
"""

import keras
import tensorflow as tf

from zoo.layers import batch_norm
from zoo.layers import pooling

_CONV = {2: keras.layers.Conv2D, 3: keras.layers.Conv3D}
_POOL = {2: keras.layers.AveragePooling2D, 3: pooling.AveragePooling3D}
_UP = {2: keras.layers.UpSampling2D, 3: keras.layers.UpSampling3D}
BN_MOMENTUM = 0.9  # BigGAN's PyTorch momentum 0.1
BN_EPSILON = 1e-4  # BigGAN's


def _check_rank(rank):
  if rank not in _CONV:
    raise ValueError(f"Expected a block rank of 2 or 3, received {rank!r}.")


def _conv(rank, filters, kernel_size, name):
  return _CONV[rank](filters, kernel_size, padding="same", name=name)


class GResBlock(keras.layers.Layer):
  """BigGAN's generator residual block ("GResNet"), 2D or 3D.

  Args:
    rank: 2 (frames [B, H, W, C]) or 3 (clips [B, T, H, W, C]).
    filters: output channels.
    upsample: double height and width (nearest) inside the block.
  """

  def __init__(self, rank, filters, upsample=False, **kwargs):
    super().__init__(**kwargs)
    _check_rank(rank)
    self.rank, self.filters, self.upsample = rank, int(filters), bool(upsample)
    self.norm1 = batch_norm.FusedBatchNormalization(
      momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm1"
    )
    self.conv1 = _conv(rank, filters, 3, "conv1")
    self.norm2 = batch_norm.FusedBatchNormalization(
      momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm2"
    )
    self.conv2 = _conv(rank, filters, 3, "conv2")
    self.up = _UP[rank](2 if rank == 2 else (1, 2, 2), name="up") if upsample else None

  def build(self, input_shape):
    self.skip = (
      _conv(self.rank, self.filters, 1, "skip")
      if input_shape[-1] != self.filters or self.upsample
      else None
    )

  def call(self, x, training=False):
    h = tf.nn.relu(self.norm1(x, training=training))
    if self.up is not None:
      h, x = self.up(h), self.up(x)
    h = self.conv1(h)
    h = self.conv2(tf.nn.relu(self.norm2(h, training=training)))
    return h + (self.skip(x) if self.skip is not None else x)

  def get_config(self):
    return {
      **super().get_config(),
      "rank": self.rank,
      "filters": self.filters,
      "upsample": self.upsample,
    }


class DResBlock(keras.layers.Layer):
  """BigGAN's discriminator residual block ("DResNet"), 2D or 3D. No normalization: the
  critic is trained with a per-sample gradient penalty.

  Args:
    rank: 2 or 3.
    filters: output channels.
    downsample: 2x average pooling at the end (2x2, or 2x2x2 in 3D).
    preactivation: ReLU before the first convolution (False for a network's first block).
  """

  def __init__(self, rank, filters, downsample=True, preactivation=True, **kwargs):
    super().__init__(**kwargs)
    _check_rank(rank)
    self.rank, self.filters = rank, int(filters)
    self.downsample, self.preactivation = bool(downsample), bool(preactivation)
    self.conv1 = _conv(rank, filters, 3, "conv1")
    self.conv2 = _conv(rank, filters, 3, "conv2")
    self.pool = _POOL[rank](2, padding="same", name="pool") if downsample else None

  def build(self, input_shape):
    self.skip = (
      _conv(self.rank, self.filters, 1, "skip")
      if input_shape[-1] != self.filters or self.downsample
      else None
    )

  def call(self, x):
    h = tf.nn.relu(x) if self.preactivation else x
    h = self.conv2(tf.nn.relu(self.conv1(h)))
    skip = self.skip(x) if self.skip is not None else x
    if self.pool is not None:
      h, skip = self.pool(h), self.pool(skip)
    return h + skip

  def get_config(self):
    return {
      **super().get_config(),
      "rank": self.rank,
      "filters": self.filters,
      "downsample": self.downsample,
      "preactivation": self.preactivation,
    }
