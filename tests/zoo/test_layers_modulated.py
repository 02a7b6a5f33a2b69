"""zoo.layers.modulated: StyleGAN2 modulation / demodulation maths and the style block."""

import numpy as np
import tensorflow as tf

from zoo.layers import modulated


def _inputs():
  x = tf.random.stateless_normal([2, 8, 8, 4], seed=[1, 2])
  style = tf.random.stateless_normal([2, 16], seed=[3, 4])
  return x, style


def test_demodulated_kernel_has_unit_norm_per_output_channel():
  x, style = _inputs()
  layer = modulated.ModulatedConv2D(5, 3)
  layer(x, style)
  w = layer.modulated_kernel(style).numpy()  # [B, k, k, C_in, C_out]
  norms = np.sqrt(np.sum(w**2, axis=(1, 2, 3)))
  np.testing.assert_allclose(norms, np.ones((2, 5)), rtol=1e-5)


def test_call_equals_convolution_with_the_per_sample_kernel():
  x, style = _inputs()
  for demodulate in (True, False):
    layer = modulated.ModulatedConv2D(5, 3, demodulate=demodulate)
    y = layer(x, style)
    w = layer.modulated_kernel(style)
    ref = tf.concat([tf.nn.conv2d(x[i : i + 1], w[i], 1, "SAME") for i in range(2)], 0)
    np.testing.assert_allclose(y.numpy(), ref.numpy(), atol=1e-5)


def test_without_demodulation_the_style_scales_the_output():
  x, style = _inputs()
  layer = modulated.ModulatedConv2D(3, 1, demodulate=False, use_bias=True)
  layer(x, style)
  # A 1x1 toRGB without demodulation is linear in the style's affine output: doubling the
  # affine weights and bias doubles the (bias-free) output.
  y1 = layer(x, style) - layer.bias
  for v in layer.affine.weights:
    v.assign(2.0 * v)
  y2 = layer(x, style) - layer.bias
  np.testing.assert_allclose(y2.numpy(), 2.0 * y1.numpy(), rtol=1e-4, atol=1e-5)


def test_style_block_noise_only_with_a_seed():
  x, style = _inputs()
  block = modulated.StyleBlock(6)
  block(x, style)
  block.noise.strength.assign(tf.ones([6]))
  off1, off2 = block(x, style), block(x, style)
  np.testing.assert_array_equal(off1.numpy(), off2.numpy())
  on = block(x, style, seed=tf.constant([5, 6]))
  assert np.abs(on.numpy() - off1.numpy()).max() > 1e-3
  np.testing.assert_array_equal(on.numpy(), block(x, style, seed=tf.constant([5, 6])).numpy())
  # bias + noise + LeakyReLU 0.2: negative inputs are scaled, not cut.
  assert off1.numpy().min() < 0
