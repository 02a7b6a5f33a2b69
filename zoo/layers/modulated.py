"""StyleGAN2's modulated convolution and the style block built on it (Karras et al. 2020).

Modulation scales the input channels of the kernel per sample, w'_ijk = s_i * w_ijk, with
the style s = A(w) a learned affine map of the style vector (bias initialised to 1, as
StyleGAN2). Demodulation rescales each output channel to unit norm,
w''_ijk = w'_ijk / sqrt(sum_ik w'_ijk^2 + eps). The layer computes this as StyleGAN2's
non-fused path: scale the input by s, convolve with the shared kernel, scale the output by
the demodulation factor, which equals convolving with the per-sample kernel w''.
"""

import keras
import tensorflow as tf

from zoo.layers import activations
from zoo.layers import noise as noise_lib

DEMOD_EPSILON = 1e-8


class ModulatedConv2D(keras.layers.Layer):
  """A 2D convolution whose kernel is modulated by a style vector, optionally demodulated.

  `call(x, style)`: x [B, H, W, C_in], style [B, style_dim] -> [B, H, W, filters].
  Padding "same", stride 1. Radner's style blocks use kernel 3 with demodulation; toRGB uses
  kernel 1 without (Radner 2020, Sec. 3.3, 3.5).

  Args:
    filters: output channels.
    kernel_size: square kernel size.
    demodulate: divide each output channel by the norm of its modulated kernel.
    use_bias: add a learned bias after the convolution.
  """

  def __init__(self, filters, kernel_size=3, demodulate=True, use_bias=False, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.demodulate = bool(demodulate)
    self.use_bias = bool(use_bias)

  def build(self, input_shape):
    channels = input_shape[-1]
    self.affine = keras.layers.Dense(channels, bias_initializer="ones", name="affine")
    self.kernel = self.add_weight(
      shape=(self.kernel_size, self.kernel_size, channels, self.filters),
      initializer="glorot_uniform",
      name="kernel",
    )
    self.bias = (
      self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")
      if self.use_bias
      else None
    )

  def styles(self, style):
    """s = A(style): one scale per input channel, [B, C_in]."""
    return self.affine(style)

  def modulated_kernel(self, style):
    """The per-sample kernel w'' (or w' without demodulation): [B, k, k, C_in, filters]."""
    s = self.styles(style)
    w = self.kernel[tf.newaxis] * s[:, tf.newaxis, tf.newaxis, :, tf.newaxis]
    if self.demodulate:
      w = w * tf.math.rsqrt(
        tf.reduce_sum(tf.square(w), axis=[1, 2, 3], keepdims=True) + DEMOD_EPSILON
      )
    return w

  def call(self, x, style):
    s = tf.cast(self.styles(style), x.dtype)
    kernel = tf.cast(self.kernel, x.dtype)
    y = tf.nn.conv2d(x * s[:, tf.newaxis, tf.newaxis, :], kernel, strides=1, padding="SAME")
    if self.demodulate:
      # sum_{k,i} (s_i w_kij)^2 = sum_i s_i^2 (sum_k w_kij^2): [B, filters].
      norm = tf.matmul(tf.square(s), tf.reduce_sum(tf.square(kernel), axis=[0, 1]))
      y = y * tf.math.rsqrt(norm + DEMOD_EPSILON)[:, tf.newaxis, tf.newaxis, :]
    if self.bias is not None:
      y = y + tf.cast(self.bias, x.dtype)
    return y

  def get_config(self):
    return {
      **super().get_config(),
      "filters": self.filters,
      "kernel_size": self.kernel_size,
      "demodulate": self.demodulate,
      "use_bias": self.use_bias,
    }


class StyleBlock(keras.layers.Layer):
  """Radner's style block (Sec. 3.3, StyleGAN2 Fig. 2d): modulated + demodulated 3x3 conv,
  per-pixel noise with a learned per-channel strength, bias, LeakyReLU 0.2.

  `call(x, style, seed=None)`: noise only with a seed (see `zoo.layers.noise`).
  """

  def __init__(self, filters, kernel_size=3, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.conv = ModulatedConv2D(filters, kernel_size, demodulate=True, name="conv")
    self.noise = noise_lib.NoiseInjection(name="noise")

  def build(self, input_shape):
    self.bias = self.add_weight(shape=(self.filters,), initializer="zeros", name="bias")

  def call(self, x, style, seed=None):
    y = self.noise(self.conv(x, style), seed=seed)
    return activations.leaky_relu(y + tf.cast(self.bias, y.dtype))

  def get_config(self):
    return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}
