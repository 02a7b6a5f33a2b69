"""Model inflation (Egan 2019, Section 3.1.2): 2D weights -> 3D, exact where the thesis says,
and the documented deviations where it cannot be (zoo.inflation)."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import inflation
from zoo import registry
from zoo.layers import resblocks

G_RESNET = dict(nf=8, size=16, max_width=32)
D_RESNET = dict(nf=8, max_width=32)


def pair(name, args2, args3):
  """A built 2D network and its 3D twin with the 2D weights inflated into it."""
  keras.utils.set_random_seed(0)
  two = registry.build(f"{name}_2d", **args2)
  three = registry.build(f"{name}_3d", **args3)
  for model in (two, three):
    model.build(
      (None, model.latent_dim) if "generator" in name else (None,) + tuple(model.video_shape)
    )
  inflation.inflate(two, three)
  return two, three


def constant_clip(frames, size):
  frame = tf.random.stateless_uniform([2, 1, size, size, 3], seed=[5, 0], minval=-1, maxval=1)
  return frame, tf.tile(frame, [1, frames, 1, 1, 1])


def test_resnet_generator_repeats_its_2d_image_on_every_frame():
  g2, g3 = pair("egan_resnet_generator", G_RESNET, dict(G_RESNET, frames=4))
  z = tf.random.stateless_normal([2, 256], seed=[1, 1])
  image, video = g2(z), g3(z)
  assert video.shape[1] == 4 and g3.dense_frames == 2  # Dense emits 2 frames, one 2x2x2 up
  np.testing.assert_allclose(video, tf.tile(image, [1, 4, 1, 1, 1]), atol=2e-5)


def test_resnet_discriminator_on_a_constant_clip_gives_the_2d_logit():
  d2, d3 = pair(
    "egan_resnet_discriminator",
    dict(D_RESNET, video_shape=(1, 16, 16, 3)),
    dict(D_RESNET, video_shape=(4, 16, 16, 3)),
  )
  frame, clip = constant_clip(4, 16)
  np.testing.assert_allclose(d3(clip), d2(frame), atol=1e-5)


def test_dcgan_discriminator_strided_in_time_is_exact_in_inference():
  # Temporally strided 4x4x4 convs with replicate padding: exact on each (fewer) frame.
  d2, d3 = pair(
    "egan_dcgan_discriminator",
    dict(widths=(8, 16, 16), video_shape=(1, 32, 32, 3)),
    dict(widths=(8, 16, 16), video_shape=(8, 32, 32, 3)),
  )
  frame, clip = constant_clip(8, 32)
  np.testing.assert_allclose(d3(clip), d2(frame), rtol=1e-5, atol=1e-6)
  # Zero padding in time would darken the end frames: the inflated D would differ.
  zero_padded = tf.concat([tf.zeros_like(frame), clip[:, 1:-1], tf.zeros_like(frame)], axis=1)
  assert np.abs(d3(zero_padded) - d2(frame)).max() > 1e-3


def test_spectral_norm_carries_u_and_the_sqrt_t_deviation():
  taps = 4
  conv2 = keras.layers.SpectralNormalization(keras.layers.Conv2D(6, 3, use_bias=False))
  conv3 = keras.layers.SpectralNormalization(keras.layers.Conv3D(6, (taps, 3, 3), use_bias=False))
  conv2(tf.zeros([1, 5, 5, 4]))
  conv3(tf.zeros([1, taps, 5, 5, 4]))
  assert inflation.inflated_value(conv2.vector_u.numpy(), conv3.vector_u.shape).shape == (1, 6)
  for s, t in zip(conv2.weights, conv3.weights, strict=True):
    t.assign(inflation.inflated_value(s.numpy(), t.shape))
  np.testing.assert_array_equal(conv3.vector_u, conv2.vector_u)  # u3 = u2
  # Keras derives v = normalize(u W^T): over the inflated kernel that is v2 tiled / sqrt(T).
  w2 = tf.reshape(conv2.kernel, [-1, 6])
  w3 = tf.reshape(conv3.kernel, [-1, 6])
  v2 = tf.math.l2_normalize(conv2.vector_u @ tf.transpose(w2))
  v3 = tf.math.l2_normalize(conv3.vector_u @ tf.transpose(w3))
  np.testing.assert_allclose(v3, tf.tile(v2, [1, taps]) / np.sqrt(taps), atol=1e-6)
  # One power-iteration step from the carried u: the same new u, sigma3 = sigma2 / sqrt(T), so
  # the normalised 3D kernel summed over its taps is sqrt(T) x the normalised 2D kernel.
  u2, k2 = conv2.normalized_weights()
  u3, k3 = conv3.normalized_weights()
  np.testing.assert_allclose(u3, u2, atol=1e-6)
  np.testing.assert_allclose(tf.reduce_sum(k3, axis=0), np.sqrt(taps) * k2, rtol=1e-5, atol=1e-6)
  # Hence a constant clip in training mode gives sqrt(T) x the 2D output (inference: exact).
  x = tf.random.stateless_normal([1, 5, 5, 4], seed=[2, 2])
  clip = tf.tile(x[:, None], [1, taps, 1, 1, 1])
  np.testing.assert_allclose(conv3(clip)[:, 0], conv2(x), rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(
    conv3(clip, training=True)[:, 0], np.sqrt(taps) * conv2(x, training=True), rtol=1e-4, atol=1e-5
  )


def test_transposed_temporal_conv_deviation():
  # A 4x4x4 stride-2 transposed conv: interior output frames get 2 of the 4 taps (1 / stride
  # of the 2D output), the end frames only 1.
  conv2 = resblocks.conv_transpose(2, 3, 4, 2, "same", False)
  conv3 = resblocks.conv_transpose(3, 3, 4, 2, "same", False)
  x = tf.random.stateless_normal([1, 4, 4, 5], seed=[3, 3])
  conv2(x)
  clip = tf.tile(x[:, None], [1, 4, 1, 1, 1])
  conv3(clip)
  conv2.bias.assign(tf.zeros_like(conv2.bias))
  for s, t in zip(conv2.weights, conv3.weights, strict=True):
    t.assign(inflation.inflated_value(s.numpy(), t.shape))
  out2, out3 = conv2(x), conv3(clip)
  assert out3.shape[1] == 8
  for t in range(1, 7):
    np.testing.assert_allclose(out3[:, t], out2 / 2, atol=1e-5)
  for t in (0, 7):
    np.testing.assert_allclose(out3[:, t], out2 / 4, atol=1e-5)


def test_dense_kernels_are_tiled_over_frames():
  w = np.arange(6, dtype=np.float32).reshape(2, 3)
  np.testing.assert_array_equal(inflation.inflated_value(w, (2, 9)), np.tile(w, (1, 3)))
  np.testing.assert_array_equal(inflation.inflated_value(w, (4, 3)), np.tile(w, (2, 1)) / 2)
  with pytest.raises(ValueError, match="Expected kernel"):
    inflation.inflated_value(w, (3, 5), "kernel")


def test_inflate_rejects_a_network_that_is_not_the_twin():
  g2 = registry.build("egan_dcgan_generator_2d", widths=(16, 8))
  d3 = registry.build("egan_dcgan_discriminator_3d", widths=(8, 16), video_shape=(4, 16, 16, 3))
  g2.build((None, 64))
  with pytest.raises(ValueError, match="Expected a built 3D"):
    inflation.inflate(g2, d3)
  d3.build((None, 4, 16, 16, 3))
  with pytest.raises(ValueError, match="Expected"):
    inflation.inflate(g2, d3)
