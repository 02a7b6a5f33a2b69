"""How Egan's image (2D) networks fit the zoo's video contract (see zoo.base).

An image model is a video model of single-frame clips: a 2D generator has `video_shape`
(1, H, W, 3) and returns [B, 1, H, W, 3]; a 2D discriminator takes [B, T, H, W, 3], judges
each frame and averages the T logits of a clip (T is 1 for the frame-mode pipeline), so the
one loop, sampler and exporter serve both ranks unchanged. The 3D twin of a 2D network is the
same class with `rank=3`, so both list their weights in the same order (`zoo.inflation`).
"""

import tensorflow as tf

from zoo import registry
from zoo.layers import resblocks


def check_rank(rank):
  return resblocks.check_rank(rank)


def as_video(x, rank):
  """A 2D network's image [B, H, W, C] -> a one-frame clip [B, 1, H, W, C]; 3D unchanged."""
  return x[:, tf.newaxis] if rank == 2 else x


def fold_frames(video, rank):
  """A 2D network judges frames: [B, T, H, W, C] -> [B * T, H, W, C]; 3D unchanged."""
  if rank == 3:
    return video
  shape = tf.shape(video)
  return tf.reshape(video, tf.concat([[-1], shape[2:]], axis=0))


def unfold_logits(logits, video, rank):
  """Per-frame logits [B * T, ...] of a 2D network -> the clip's mean logit [B, 1]."""
  batch = tf.shape(video)[0]
  flat = tf.reshape(logits, [batch, -1])
  return tf.reduce_mean(flat, axis=1, keepdims=True) if rank == 2 else flat


def register_pair(name, cls, video_shapes=None):
  """Registers `name`_2d and `name`_3d: `cls` with its rank fixed (and, for networks that
  take one, the paper's `video_shape` of that rank as the default)."""
  for rank in (2, 3):

    def build(rank=rank, **kwargs):
      if video_shapes is not None and "video_shape" not in kwargs:
        kwargs["video_shape"] = video_shapes[rank]
      return cls(rank=rank, **kwargs)

    build.__doc__ = f"{cls.__name__} with rank={rank}."
    registry.register(f"{name}_{rank}d", keras_class=cls)(build)
