"""zoo.layers.noise: per-pixel noise, per-channel strength, deterministic without a seed."""

import numpy as np
import tensorflow as tf

from zoo.layers import noise


def test_noise_off_is_the_identity_and_seeded_noise_is_reproducible():
  x = tf.random.stateless_normal([2, 4, 4, 3], seed=[1, 1])
  layer = noise.NoiseInjection()
  np.testing.assert_array_equal(layer(x).numpy(), x.numpy())
  # Fresh strengths are zero: the seeded noise is scaled away.
  np.testing.assert_array_equal(layer(x, seed=tf.constant([1, 2])).numpy(), x.numpy())
  layer.strength.assign([0.0, 1.0, 2.0])
  a = layer(x, seed=tf.constant([1, 2])) - x
  b = layer(x, seed=tf.constant([1, 2])) - x
  np.testing.assert_array_equal(a.numpy(), b.numpy())
  a = a.numpy()
  np.testing.assert_array_equal(a[..., 0], 0.0)
  # One noise image per sample, shared by the channels, scaled per channel.
  np.testing.assert_allclose(a[..., 2], 2.0 * a[..., 1], rtol=1e-4, atol=1e-5)
  assert np.abs(a[0, ..., 1] - a[1, ..., 1]).max() > 1e-3
  c = (layer(x, seed=tf.constant([1, 3])) - x).numpy()
  assert np.abs(c - a).max() > 1e-3


def test_fold_seed_is_deterministic_and_distinct():
  seed = tf.constant([7, 8])
  a, b = noise.fold_seed(seed, 0), noise.fold_seed(seed, 1)
  np.testing.assert_array_equal(a.numpy(), noise.fold_seed(seed, 0).numpy())
  assert not np.array_equal(a.numpy(), b.numpy())
