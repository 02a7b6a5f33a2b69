"""Radner's dual discriminators (DVD-GAN's decomposition): D_S on frames, D_T on the clip.

Registered names: `radner_spatial_discriminator` (D_S), `radner_temporal_discriminator`
(D_T). Both are BigGAN DResNet stacks (Radner 2020, Sec. 3.6, Fig. 3.8; Clark et al. 2019):
blocks of `multipliers` x ch channels, each halving the size but the last, then ReLU, a sum
over space, Dense 1, and a sum over the frames a critic looks at (DVD-GAN sums its per-frame
scores). No normalization: they are WGAN-GP critics. With `conditional=True` the input frame
(the `condition` argument, [B, H, W, 3]) is concatenated on channels to every frame seen.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.layers import biggan_blocks
from zoo.layers import pooling
from zoo.radner import pyramid


class _Critic(keras.Model):
  """DResNet trunk + head shared by D_S and D_T; `_score` maps frames [N, h, w, C] to [N]."""

  def __init__(self, video_shape, ch, multipliers, conditional, num_3d_blocks=0, **kwargs):
    super().__init__(**kwargs)
    self.video_shape = tuple(int(s) for s in video_shape)
    self.ch, self.multipliers = int(ch), tuple(multipliers)
    self.conditional = bool(conditional)
    n = len(self.multipliers)
    if not 0 <= num_3d_blocks <= n:
      raise ValueError(f"Expected num_3d_blocks in [0, {n}], received {num_3d_blocks}.")
    self.blocks = [
      biggan_blocks.DResBlock(
        3 if i < num_3d_blocks else 2,
        int(m * self.ch),
        downsample=i < n - 1,
        preactivation=i > 0,
        name=f"block{i}",
      )
      for i, m in enumerate(self.multipliers)
    ]
    self.num_3d_blocks = int(num_3d_blocks)
    self.head = keras.layers.Dense(1, name="head")

  def build(self, input_shape):
    if self.built:
      return
    _, h, w, c = self.video_shape
    frames = keras.KerasTensor((None,) + self.video_shape)
    condition = keras.KerasTensor((None, h, w, c)) if self.conditional else None
    self.compute_output_spec(frames, condition=condition)

  def _with_condition(self, frames, condition):
    """Concatenates the input frame to each of `frames` [B, T, H, W, 3] on channels."""
    if not self.conditional:
      return frames
    if condition is None:
      raise ValueError(
        f"Expected the conditioning frame [B, H, W, 3] for the conditional "
        f"{type(self).__name__}, received condition=None."
      )
    condition = tf.cast(condition, frames.dtype)[:, tf.newaxis]
    condition = tf.broadcast_to(
      condition, tf.concat([tf.shape(frames)[:-1], tf.shape(condition)[-1:]], 0)
    )
    return tf.concat([frames, condition], axis=-1)

  def _score(self, x):
    """[B, T, H, W, C] -> [B, 1]: 3D blocks, then 2D blocks per frame, head, sum over time."""
    for block in self.blocks[: self.num_3d_blocks]:
      x = block(x)
    frames = tf.shape(x)[1]
    x = pyramid.fold(x)
    for block in self.blocks[self.num_3d_blocks :]:
      x = block(x)
    x = tf.reduce_sum(tf.nn.relu(x), axis=[1, 2])
    logits = tf.reshape(self.head(x), tf.stack([-1, frames]))
    return tf.cast(tf.reduce_sum(logits, axis=1, keepdims=True), tf.float32)

  def _config(self):
    return {
      "name": self.name,
      "video_shape": list(self.video_shape),
      "ch": self.ch,
      "multipliers": list(self.multipliers),
      "conditional": self.conditional,
    }


@registry.register("radner_spatial_discriminator")
class SpatialDiscriminator(_Critic):
  """D_S: K frames of the clip at full resolution, each judged alone (Radner 2020, Sec. 3.6).

  The K frames are drawn at random per clip (without replacement) from `seed`, a stateless
  seed the training task passes (the loop's per-step seed, so a resumed run draws the same
  frames); without a seed (evaluation, building) K evenly spaced frames are used, so the
  output is deterministic. Conditioned on the input frame by default (the thesis: "found to
  speed up and stabilize the training process significantly").

  Parameter counts (trainable), conditional: 64x64 (ch 32, [2, 4, 8, 16, 16]): 9,580,609;
  128x128 (ch 16, [1, 2, 4, 8, 16, 16]): 2,403,729.

  Args:
    video_shape: (T, H, W, 3) of the clips judged.
    ch: channel multiplier (thesis: 32 at 64x64, 16 at 128x128).
    multipliers: per-block width constants (thesis: [2, 4, 8, 16, 16] at 64x64,
      [1, 2, 4, 8, 16, 16] at 128x128).
    num_sampled_frames: K (DVD-GAN, thesis: 8); at most T are used.
    conditional: concatenate the input frame to every sampled frame.
  """

  def __init__(
    self,
    video_shape=(30, 64, 64, 3),
    ch=32,
    multipliers=(2, 4, 8, 16, 16),
    num_sampled_frames=8,
    conditional=True,
    **kwargs,
  ):
    super().__init__(video_shape, ch, multipliers, conditional, **kwargs)
    if num_sampled_frames < 1:
      raise ValueError(f"Expected num_sampled_frames >= 1, received {num_sampled_frames}.")
    self.num_sampled_frames = int(num_sampled_frames)

  def frame_indices(self, batch_size, num_frames, seed=None):
    """[B, K] frame indices: random without replacement from `seed`, else evenly spaced."""
    k = min(self.num_sampled_frames, num_frames)
    if seed is None:
      even = tf.cast(tf.round(tf.linspace(0.0, num_frames - 1.0, k)), tf.int32)
      return tf.tile(even[tf.newaxis], [batch_size, 1])
    scores = tf.random.stateless_uniform([batch_size, num_frames], seed=seed)
    return tf.math.top_k(scores, k).indices

  def call(self, video, condition=None, training=False, seed=None):
    del training  # no batch statistics or dropout
    video = base.float_frames(video, self.name)
    indices = self.frame_indices(tf.shape(video)[0], video.shape[1], seed)
    frames = tf.gather(video, indices, axis=1, batch_dims=1)
    return self._score(self._with_condition(frames, condition))

  def get_config(self):
    return {**self._config(), "num_sampled_frames": self.num_sampled_frames}


@registry.register("radner_temporal_discriminator")
class TemporalDiscriminator(_Critic):
  """D_T: the whole clip, spatially average-pooled, first two blocks 3D (Radner 2020, Sec. 3.6).

  The clip is average-pooled by `pool` over height and width (thesis: 2 for BAIR, 1 for the
  landscape videos, whose motion is fine-scale); the first `num_3d_blocks` DResNet blocks
  use 3x3x3 convolutions and halve time as well as space, the rest run on every remaining
  frame. Unconditional by default (the thesis conditions only D_S).

  Parameter counts (trainable), unconditional: 64x64 (ch 32, [2, 4, 8, 16, 16], pool 2):
  10,098,241; 128x128 (ch 64, [1, 2, 4, 8, 16, 16], pool 1): 38,938,689.

  Args:
    video_shape, ch, multipliers, conditional: as `radner_spatial_discriminator` (thesis ch:
      32 at 64x64, 64 at 128x128).
    pool: spatial average-pooling factor before the first block.
    num_3d_blocks: how many leading blocks are 3D (thesis: 2).
  """

  def __init__(
    self,
    video_shape=(30, 64, 64, 3),
    ch=32,
    multipliers=(2, 4, 8, 16, 16),
    pool=2,
    num_3d_blocks=2,
    conditional=False,
    **kwargs,
  ):
    super().__init__(video_shape, ch, multipliers, conditional, num_3d_blocks, **kwargs)
    if pool < 1:
      raise ValueError(f"Expected pool >= 1, received {pool}.")
    self.pool = int(pool)
    self.downscale = (
      pooling.AveragePooling3D((1, self.pool, self.pool), name="pool") if self.pool > 1 else None
    )

  def call(self, video, condition=None, training=False):
    del training
    x = self._with_condition(base.float_frames(video, self.name), condition)
    if self.downscale is not None:
      x = self.downscale(x)
    return self._score(x)

  def get_config(self):
    return {**self._config(), "pool": self.pool, "num_3d_blocks": self.num_3d_blocks}
