"""zoo.layers.pooling: 3D pooling with a float16 compute dtype on a machine without a GPU."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import registry
from zoo.layers import pooling


@pytest.fixture
def mixed_float16():
  keras.config.set_dtype_policy("mixed_float16")
  try:
    yield
  finally:
    keras.config.set_dtype_policy("float32")


def test_pooling_in_float16_gives_float32_pooling_as_float16(mixed_float16):
  # TensorFlow's CPU has no float16 AvgPool3D or MaxPool3D: Keras' layers stopped on a
  # NotFoundError, and with them every zoo network with 3D pooling under mixed_float16.
  x = tf.random.stateless_uniform([2, 4, 6, 6, 3], [1, 2], -1.0, 1.0)
  for layer, reference in (
    (pooling.AveragePooling3D(2, padding="same"), tf.nn.avg_pool3d),
    (pooling.MaxPooling3D(2, padding="same"), tf.nn.max_pool3d),
  ):
    y = layer(tf.cast(x, tf.float16))
    assert y.dtype == tf.float16
    want = reference(tf.cast(tf.cast(x, tf.float16), tf.float32), 2, 2, "SAME")
    np.testing.assert_allclose(np.asarray(y, np.float32), want.numpy(), atol=1e-3)
  y = pooling.avg_pool3d(tf.cast(x, tf.float16), (2, 3, 3), (1, 1, 1), "VALID")
  assert y.dtype == tf.float16 and y.shape == (2, 3, 4, 4, 3)


def test_a_network_with_3d_pooling_runs_under_mixed_float16(mixed_float16):
  critic = registry.build(
    "radner_temporal_discriminator",
    video_shape=(4, 16, 16, 3),
    ch=4,
    multipliers=(1, 2),
    conditional=False,
  )
  out = critic(tf.zeros([2, 4, 16, 16, 3]))
  assert out.shape[0] == 2 and np.all(np.isfinite(np.asarray(out, np.float32)))
