"""Tiny generators and workdirs for the export tests (no test cases live here).

The real model families are written elsewhere; these stand-ins follow the generator contract of
`zoo.base` (latent_dim, condition, video_shape, streams, return_streams) with a few
thousand parameters, so that exporting, converting and verifying them takes seconds.
The two-stream generator's dense kernels have more than 1024 elements so that the int8
dynamic-range conversion really quantizes something (smaller tensors are left float).
"""

import keras
import numpy as np
import tensorflow as tf

import configs.common
from trainers import workdir as workdir_lib
from zoo import registry

T, H, W = 4, 8, 8
NUM_CLASSES = 3


class TwoStreamGenerator(keras.Model):
  """Test stand-in for a VGAN-like two-stream generator (foreground, background, mask)."""

  def __init__(self, latent_dim=16, channels=8, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = latent_dim
    self.condition = None
    self.video_shape = (T, H, W, 3)
    self.streams = ("foreground", "background", "mask")
    self.fg_dense = keras.layers.Dense(T // 2 * H // 2 * W // 2 * channels)
    self.fg_reshape = keras.layers.Reshape((T // 2, H // 2, W // 2, channels))
    self.fg_up = keras.layers.Conv3DTranspose(
      channels, 4, strides=2, padding="same", activation="relu"
    )
    self.fg_out = keras.layers.Conv3D(3, 3, padding="same", activation="tanh")
    self.mask_out = keras.layers.Conv3D(1, 3, padding="same", activation="sigmoid")
    self.bg_dense = keras.layers.Dense(H // 2 * W // 2 * channels)
    self.bg_reshape = keras.layers.Reshape((H // 2, W // 2, channels))
    self.bg_up = keras.layers.Conv2DTranspose(3, 4, strides=2, padding="same", activation="tanh")

  def call(self, z, training=False, return_streams=False):
    x = self.fg_up(self.fg_reshape(self.fg_dense(z)))
    foreground, mask = self.fg_out(x), self.mask_out(x)
    background = self.bg_up(self.bg_reshape(self.bg_dense(z)))
    video = mask * foreground + (1.0 - mask) * background[:, None]
    if return_streams:
      return {"video": video, "foreground": foreground, "background": background, "mask": mask}
    return video


class ImageGenerator(keras.Model):
  """Test stand-in for an image-to-video generator that also takes noise."""

  def __init__(self, latent_dim=4, channels=8, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = latent_dim
    self.condition = "image"
    self.video_shape = (T, H, W, 3)
    self.streams = ()
    self.encode = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")
    self.motion = keras.layers.Dense(T * channels)
    self.decode = keras.layers.Conv3D(3, 3, padding="same")

  def call(self, inputs, training=False):
    image, z = inputs["image"], inputs["z"]
    features = self.encode(image)[:, None]
    motion = keras.ops.reshape(self.motion(z), (-1, T, 1, 1, features.shape[-1]))
    return keras.ops.tanh(self.decode(features + motion) + image[:, None])


class MaskGenerator(keras.Model):
  """Test stand-in for a segmentation-mask-to-video generator without noise."""

  def __init__(self, num_classes=NUM_CLASSES, channels=8, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = 0
    self.num_classes = num_classes
    self.condition = "mask"
    self.video_shape = (T, H, W, 3)
    self.streams = ()
    self.encode = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")
    self.decode = keras.layers.Conv3D(3, 3, padding="same", activation="tanh")
    self.time = self.add_weight(shape=(T, 1, 1, channels), initializer="random_normal", name="time")

  def call(self, mask, training=False):
    one_hot = keras.ops.one_hot(mask, self.num_classes)
    return self.decode(self.encode(one_hot)[:, None] + self.time)


class FramesGenerator(keras.Model):
  """Test stand-in for a predictor: continues a clip prefix [B, K, H, W, 3]."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = 0
    self.condition = "frames"
    self.video_shape = (T, H, W, 3)
    self.streams = ()
    self.decode = keras.layers.Conv2D(3 * T, 3, padding="same", activation="tanh")

  context_frames = 1

  def call(self, frames, training=False):
    x = self.decode(frames[:, -1])
    return keras.ops.transpose(keras.ops.reshape(x, (-1, H, W, T, 3)), (0, 3, 1, 2, 4))

  def rollout(self, frames, horizon, training=False):
    """The predictors' rollout contract (zoo.relive.predictors): `horizon` frames after
    `frames`, here the first predicted frame repeated (horizon may be a tensor)."""
    first = self(frames, training=training)[:, :1]
    return tf.repeat(first, horizon, axis=1)


GENERATORS = {
  "test_export_two_stream": TwoStreamGenerator,
  "test_export_image": ImageGenerator,
  "test_export_mask": MaskGenerator,
  "test_export_frames": FramesGenerator,
}
for _name, _cls in GENERATORS.items():
  if _name not in registry._REGISTRY:
    registry.register(_name)(_cls)


def make_workdir(path, name, ema_decay=0.999, step=7, metrics=None, **args):
  """Writes a workdir the way the trainer does: config.json + checkpoints/ckpt-N.

  The EMA copy gets different weights from the raw generator, so that a test can tell which
  one was restored. Returns (workdir, generator, ema_generator).
  """
  config = configs.common.base()
  config.model.generator = configs.common.network(name, **args)
  config.train.ema_decay = ema_decay
  config.data.source = "synthetic"
  workdir_lib.save_config(config, path)
  generator = workdir_lib.build_generator(config)
  ema_generator = workdir_lib.build_generator(config)
  for v in ema_generator.trainable_variables:
    v.assign(v + 0.05 * tf.random.stateless_normal(v.shape, seed=[1, len(v.name)]))
  step_var = tf.Variable(step, dtype=tf.int64)
  checkpoint = tf.train.Checkpoint(
    generator=registry.weights_in_order(generator),
    ema_generator=registry.weights_in_order(ema_generator),
    step=step_var,
  )
  manager = tf.train.CheckpointManager(checkpoint, workdir_lib.checkpoint_dir(path), max_to_keep=3)
  manager.save(checkpoint_number=step)
  if metrics is not None:
    workdir_lib.write_metrics(
      path,
      metrics,
      step=step,
      names={},
      num_real_clips=16,
      num_fake_clips=16,
      networks={},
      real=None,
      written_by="a test",
    )
  return str(path), generator, ema_generator


def fixed_z(generator, n=2, seed=3):
  return np.random.default_rng(seed).standard_normal((n, generator.latent_dim)).astype(np.float32)
