"""Egan's ResNet GAN in 2D and 3D (Egan 2019, Section 3.3.2, Figures 3-4 to 3-6).

Registered names: `egan_resnet_generator_2d` / `_3d`, `egan_resnet_discriminator_2d` / `_3d`.
The architecture is GAN-Stability's (Mescheder et al. 2018); its widths reproduce Table 4.2
(image G 33.3M, D 29.1M; video G 102.7M, D 85.8M; see docs/architecture.md).
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import base
from zoo.egan import contract
from zoo.layers import activations
from zoo.layers import resblocks


def widths(nf, num_levels, max_width):
  """Channels per level, coarsest first: min(nf * 2^(n - i), max_width) for i = 0..n."""
  return tuple(min(nf * 2 ** (num_levels - i), max_width) for i in range(num_levels + 1))


def _check_temporal(rank, frames, temporal, num_levels):
  if rank == 2:
    return 1, 0
  if not 0 <= temporal <= num_levels or frames % 2**temporal:
    raise ValueError(
      f"Expected frames divisible by 2^temporal_scalings with temporal_scalings "
      f"in [0, {num_levels}], received frames={frames}, "
      f"temporal_scalings={temporal}."
    )
  return frames // 2**temporal, temporal


class ResNetGenerator(base.SymbolicBuild, keras.Model):
  """GAN-Stability ResNet generator (Egan 2019, Figure 3-4).

  2D: z (256) -> Dense -> 4x4x1024 -> [ResBlock, nearest upsample x2] x 5 -> ResBlock(64, 64)
  -> LeakyReLU -> conv3 3 -> tanh (128x128), channels min(64 * 2^(5 - i), 1024). An image
  model is a one-frame clip model: `video_shape` (1, 128, 128, 3), outputs [B, 1, H, W, 3].
  3D (8x128x128): every 3x3 becomes 3x3x3, the Dense emits 4 frames and the first
  `temporal_scalings` upsamplings are 2x2x2 (the others 1x2x2), as the thesis describes for
  longer or shorter videos.

  Decisions: Keras's default initializers; time padded by replication (inflation); which
  upsamplings double time (the first ones) is ours, the thesis's figure being missing.

  Args:
    rank: 2 or 3.
    latent_dim: size of z.
    nf: channels of the last level; size: output pixels (4 * 2^levels).
    max_width: channel cap.
    frames: output frames (3D); temporal_scalings: how many upsamplings double time.
    temporal_padding: "replicate" or "reflect".
  """

  condition = None
  streams = ()

  def __init__(
    self,
    rank=2,
    latent_dim=256,
    nf=64,
    size=128,
    max_width=1024,
    frames=8,
    temporal_scalings=1,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.rank = contract.check_rank(rank)
    self.latent_dim, self.nf, self.size = int(latent_dim), int(nf), int(size)
    self.max_width, self.temporal_padding = int(max_width), temporal_padding
    levels = self.size.bit_length() - 3  # size = 4 * 2^levels
    if self.size != 4 * 2**levels:
      raise ValueError(f"Expected size 4 * 2^k, received {size!r}.")
    self.frames, self.temporal_scalings = int(frames), int(temporal_scalings)
    self.dense_frames, temporal = _check_temporal(rank, self.frames, self.temporal_scalings, levels)
    self.video_shape = (self.frames if rank == 3 else 1, self.size, self.size, 3)
    self.channels = widths(self.nf, levels, self.max_width)
    self.dense = keras.layers.Dense(self.dense_frames * 16 * self.channels[0], name="dense")
    self.blocks = [
      resblocks.ResBlock(
        rank, self.channels[i], self.channels[i + 1], temporal_padding, name=f"block{i}"
      )
      for i in range(levels)
    ]
    self.upsamples = [
      resblocks.upsample(rank, 2 if rank == 2 else ((2 if i < temporal else 1), 2, 2))
      for i in range(levels)
    ]
    self.last_block = resblocks.ResBlock(
      rank, self.channels[-1], self.channels[-1], temporal_padding, name=f"block{levels}"
    )
    self.out = resblocks.PaddedConv(rank, 3, 3, temporal_padding=temporal_padding, name="out")

  def call(self, z, training=False):
    shape = ([self.dense_frames] if self.rank == 3 else []) + [4, 4, self.channels[0]]
    x = tf.reshape(self.dense(z), [-1] + shape)
    for block, up in zip(self.blocks, self.upsamples):
      x = up(block(x))
    x = self.last_block(x)
    x = self.out(activations.leaky_relu(x))
    return contract.as_video(tf.tanh(tf.cast(x, tf.float32)), self.rank)

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "latent_dim": self.latent_dim,
      "nf": self.nf,
      "size": self.size,
      "max_width": self.max_width,
      "frames": self.frames,
      "temporal_scalings": self.temporal_scalings,
      "temporal_padding": self.temporal_padding,
    }


class ResNetDiscriminator(base.SymbolicBuild, keras.Model):
  """GAN-Stability ResNet discriminator (Egan 2019, Figure 3-5).

  2D: conv3 3 -> 64 -> ResBlock(64, 64) -> [AvgPool 3 s2, ResBlock] x 5 (channels 128, 256,
  512, 1024, 1024) -> 4x4x1024 -> LeakyReLU -> Dense 1. A 2D discriminator judges each frame
  of a clip and averages the logits. 3D: 3x3x3 convs; the last `temporal_scalings` pools are
  2x3x3 stride 2x2x2, the others 1x3x3 stride 1x2x2 (8 frames -> 4 before the Dense).

  Decisions: pooling pads "same" and leaves the padding out of the mean (so a temporally
  constant clip stays constant); which pools halve time (the last ones) is ours.

  Args:
    rank: 2 or 3.
    video_shape: (T, H, W, 3) of the clips judged.
    nf, max_width: first width and channel cap.
    temporal_scalings: pools that halve time (3D).
    temporal_padding: "replicate" or "reflect".
  """

  def __init__(
    self,
    rank=2,
    video_shape=(1, 128, 128, 3),
    nf=64,
    max_width=1024,
    temporal_scalings=1,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.rank = contract.check_rank(rank)
    self.video_shape = tuple(int(s) for s in video_shape)
    self.nf, self.max_width = int(nf), int(max_width)
    self.temporal_scalings, self.temporal_padding = int(temporal_scalings), temporal_padding
    size = self.video_shape[1]
    levels = size.bit_length() - 3
    if size != 4 * 2**levels:
      raise ValueError(f"Expected a height of 4 * 2^k, received {size!r}.")
    _, temporal = _check_temporal(rank, self.video_shape[0], self.temporal_scalings, levels)
    channels = widths(self.nf, levels, self.max_width)[::-1]
    self.conv_in = resblocks.PaddedConv(
      rank, channels[0], 3, temporal_padding=temporal_padding, name="conv_in"
    )
    self.first_block = resblocks.ResBlock(
      rank, channels[0], channels[0], temporal_padding, name="block0"
    )
    self.pools, self.blocks = [], []
    for i in range(levels):
      t = 2 if rank == 3 and i >= levels - temporal else 1
      self.pools.append(
        resblocks.avg_pool(rank, 3 if rank == 2 else (t, 3, 3), 2 if rank == 2 else (t, 2, 2))
      )
      self.blocks.append(
        resblocks.ResBlock(
          rank, channels[i], channels[i + 1], temporal_padding, name=f"block{i + 1}"
        )
      )
    self.dense = keras.layers.Dense(1, dtype="float32", name="dense")

  def call(self, video, condition=None, training=False):
    del condition  # unconditional
    x = contract.fold_frames(base.float_frames(video, self.name), self.rank)
    x = self.first_block(self.conv_in(x))
    for pool, block in zip(self.pools, self.blocks):
      x = block(pool(x))
    x = activations.leaky_relu(x)
    x = tf.reshape(x, [-1, int(np.prod(x.shape[1:]))])
    return contract.unfold_logits(self.dense(x), video, self.rank)

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "video_shape": list(self.video_shape),
      "nf": self.nf,
      "max_width": self.max_width,
      "temporal_scalings": self.temporal_scalings,
      "temporal_padding": self.temporal_padding,
    }


contract.register_pair("egan_resnet_generator", ResNetGenerator)
contract.register_pair(
  "egan_resnet_discriminator", ResNetDiscriminator, {2: (1, 128, 128, 3), 3: (8, 128, 128, 3)}
)
