"""Per-pixel noise injection with a learned per-channel strength (StyleGAN, Karras et al. 2019).

Randomness is explicit: `call(x, seed=None)` adds noise only when given a stateless seed
(a shape-[2] int tensor), so inference without a seed is deterministic and a training step
that passes the loop's per-step seed draws the same noise after a resume.
"""

import keras
import tensorflow as tf


def fold_seed(seed, index):
  """A new stateless seed derived from `seed` and an int `index` (a Python int or a tensor)."""
  return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), index)


class NoiseInjection(keras.layers.Layer):
  """x + strength * n: n ~ N(0, 1) per pixel, shared by the channels; strength per channel.

  StyleGAN2's "B" block (Karras et al. 2020, Fig. 2d) has one scalar strength; here it is
  one per channel (StyleGAN's original form), where Radner's thesis (sec. 3.3) is silent.
  Strengths start at 0, so a fresh network ignores the noise until it learns to use it.
  """

  def build(self, input_shape):
    self.strength = self.add_weight(shape=(input_shape[-1],), initializer="zeros", name="strength")

  def call(self, x, seed=None):
    if seed is None:
      return x
    shape = tf.concat([tf.shape(x)[:-1], [1]], axis=0)
    noise = tf.random.stateless_normal(shape, seed=seed, dtype=x.dtype)
    return x + noise * tf.cast(self.strength, x.dtype)
