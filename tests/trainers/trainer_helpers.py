"""Tiny networks registered for trainer tests, a config builder around them, and the
environments of a local multi-worker cluster."""

import json
import os
import socket

import keras

from configs import common
from zoo import registry


class TinyGenerator(keras.Model):
  """z -> Dense -> [T, H, W, 3] tanh; optional mask stream; no batch statistics."""

  def __init__(self, latent_dim=8, frames=4, size=8, two_stream=False, condition=None, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = latent_dim if condition is None else 0
    self.condition = condition
    self.video_shape = (frames, size, size, 3)
    self.streams = ("foreground", "background", "mask") if two_stream else ()
    self.hidden = keras.layers.Dense(16, activation="relu")
    self.out = keras.layers.Dense(frames * size * size * 3)
    self.mask_out = keras.layers.Dense(frames * size * size) if two_stream else None
    self.bg_out = keras.layers.Dense(size * size * 3) if two_stream else None

  def call(self, inputs, training=False, return_streams=False):
    x = keras.ops.reshape(inputs, (keras.ops.shape(inputs)[0], -1))
    h = self.hidden(x)
    t, s = self.video_shape[0], self.video_shape[1]
    fg = keras.ops.tanh(keras.ops.reshape(self.out(h), (-1, t, s, s, 3)))
    if not self.streams:
      return fg
    m = keras.ops.sigmoid(keras.ops.reshape(self.mask_out(h), (-1, t, s, s, 1)))
    bg = keras.ops.tanh(keras.ops.reshape(self.bg_out(h), (-1, 1, s, s, 3)))
    video = bg + m * (fg - bg)
    if return_streams:
      return {"video": video, "foreground": fg, "background": bg[:, 0], "mask": m}
    return video


class TinyListGenerator(TinyGenerator):
  """TinyGenerator with a list of layers holding batch norm: the structure Keras 3 does not
  expose to tf.train.Checkpoint (what registry.weights_in_order works around)."""

  def __init__(self, **kwargs):
    super().__init__(**kwargs)
    self.blocks = [keras.layers.Dense(16), keras.layers.BatchNormalization()]

  def call(self, inputs, training=False, return_streams=False):
    x = keras.ops.reshape(inputs, (keras.ops.shape(inputs)[0], -1))
    for block in self.blocks:
      x = (
        block(x, training=training)
        if isinstance(block, keras.layers.BatchNormalization)
        else block(x)
      )
    return super().call(x, training=training, return_streams=return_streams)


class TinyDiscriminator(keras.Model):
  """Flatten -> Dense 16 -> LeakyReLU -> Dense 1; optional batch norm."""

  def __init__(self, batch_norm=False, **kwargs):
    super().__init__(**kwargs)
    self.hidden = keras.layers.Dense(16)
    self.norm = keras.layers.BatchNormalization() if batch_norm else None
    self.out = keras.layers.Dense(1)

  def call(self, video, condition=None, training=False):
    x = keras.ops.reshape(video, (keras.ops.shape(video)[0], -1))
    if condition is not None:
      c = keras.ops.reshape(condition, (keras.ops.shape(condition)[0], -1))
      x = keras.ops.concatenate([x, keras.ops.cast(c, x.dtype)], axis=-1)
    h = self.hidden(x)
    if self.norm is not None:
      h = self.norm(h, training=training)
    return self.out(keras.ops.leaky_relu(h, 0.2))


def _register(name, cls):
  if name not in registry._REGISTRY:
    registry.register(name)(cls)


_register("test_tiny_generator", TinyGenerator)
_register("test_tiny_list_generator", TinyListGenerator)
_register("test_tiny_discriminator", TinyDiscriminator)


def tiny_config(**train):
  """A full config around the tiny networks on 4x8x8 synthetic clips."""
  c = common.base()
  c.model.generator = common.network("test_tiny_generator", latent_dim=8, frames=4, size=8)
  c.model.discriminators.d = common.network("test_tiny_discriminator")
  c.model.discriminators.d.weight = 1.0
  c.data.num_frames, c.data.height, c.data.width = 4, 8, 8
  c.data.shuffle_buffer = 8
  c.train.batch_size = 4
  c.train.steps = 4
  c.train.log_every = 2
  c.train.summary_every = 2
  c.train.sample_every = 0
  c.train.checkpoint_every = 2
  c.train.num_samples = 4
  c.optimizer.g_lr = c.optimizer.d_lr = 1e-2
  for k, v in train.items():
    c.train[k] = v
  return c


def cluster_envs(workers, base=None):
  """One environment per worker of a local cluster on free ports: `base` (os.environ by
  default) with TF_CONFIG naming the cluster and the worker's index."""
  socks = [socket.socket() for _ in range(workers)]
  for s in socks:
    s.bind(("127.0.0.1", 0))
  cluster = {"worker": [f"127.0.0.1:{s.getsockname()[1]}" for s in socks]}
  for s in socks:
    s.close()
  return [
    dict(
      os.environ if base is None else base,
      TF_CPP_MIN_LOG_LEVEL="2",
      TF_CONFIG=json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
    )
    for i in range(workers)
  ]
