"""Pieces the Radner and DVD-GAN-S generators share: widths, the GResNet encoder, time folding.

Widths follow the thesis's channel-multiplier notation (Radner 2020, Sec. 3.7): a list of
constants times `ch`, lowest resolution (4x4) first, one entry per pyramid level, so that
depth = log2(resolution / 4).
"""

import math

import keras
import tensorflow as tf

from zoo.layers import biggan_blocks


def level_widths(resolution, ch, multipliers):
  """Channels per pyramid level, lowest (4x4) first; checks depth = log2(resolution / 4)."""
  depth = math.log2(resolution / 4) if resolution >= 4 else -1
  if depth != int(depth) or int(depth) != len(multipliers) or depth < 1:
    raise ValueError(
      f"Expected a power-of-two resolution >= 8 with log2(resolution / 4) multipliers, "
      f"received resolution {resolution} and multipliers {tuple(multipliers)!r}."
    )
  return tuple(int(ch * m) for m in multipliers)


def downsample(x):
  """Bilinear 2x downsampling (equal to 2x2 average pooling at half-pixel centres)."""
  h, w = x.shape[1], x.shape[2]
  return tf.cast(tf.image.resize(x, [h // 2, w // 2], "bilinear"), x.dtype)


def fold(x):
  """[B, T, H, W, C] -> [B * T, H, W, C] (time folded into the batch, batch-major)."""
  return tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0))


def unfold(x, frames):
  """[B * T, H, W, C] -> [B, T, H, W, C] for `frames` = T (an int or a scalar tensor)."""
  return tf.reshape(x, tf.concat([[-1, frames], tf.shape(x)[1:]], 0))


def num_frames_of(model, num_frames):
  """`num_frames` (int or scalar tensor) or the model's training length video_shape[0]."""
  if num_frames is None:
    return model.video_shape[0]
  if isinstance(num_frames, int) and num_frames < 1:
    raise ValueError(f"Expected num_frames >= 1, received {num_frames}.")
  return num_frames


def finish(model, rgb, frames):
  """tanh (in float32) of folded RGB frames [B * T, H, W, 3] -> the video [B, T, H, W, 3]."""
  video = unfold(tf.tanh(tf.cast(rgb, tf.float32)), frames)
  if isinstance(frames, int):
    video = tf.ensure_shape(video, [None, frames] + list(model.video_shape[1:]))
  return video


class Encoder(keras.layers.Layer):
  """The image encoder whose per-level features initialise the ConvGRU hidden states.

  One GResNet block per level, then bilinear 2x downsampling (Radner 2020, Sec. 3.5,
  Fig. 3.7): a 64x64 image with widths (128, 64, 32, 16) gives 32x32x16, 16x16x32, 8x8x64 and
  4x4x128. `call` returns those features lowest resolution first.

  Args:
    widths: channels per level, lowest resolution first (as `level_widths`).
  """

  def __init__(self, widths, **kwargs):
    super().__init__(**kwargs)
    self.widths = tuple(widths)
    self.blocks = [
      biggan_blocks.GResBlock(2, w, name=f"block{i}") for i, w in enumerate(reversed(self.widths))
    ]

  def call(self, image, training=False):
    features, x = [], image
    for block in self.blocks:
      x = downsample(block(x, training=training))
      features.append(x)
    return features[::-1]
