"""Building blocks shared by every VGAN network: conv + BN + activation stacks, composition.

Decisions where the paper is silent, all following the authors' released Torch code
(github.com/cvondrick/videogan, `main.lua`, `main_conditional.lua`):

* every convolution has a bias (Torch's default), initialised to zero, also before BN;
* BN epsilon 1e-5 in generators (Torch's default) and 1e-3 in discriminators and encoders;
* BN momentum 0.9 in Keras terms (Torch's momentum 0.1 weighs the new batch);
* "k4 s2" = kernel 4, stride 2, padding "same", which pads 1 on each side exactly like
  Torch's padding 1, so the layers double (or halve) every size.
"""

import keras
import tensorflow as tf

from zoo.layers import activations
from zoo.layers import batch_norm as fused_bn
from zoo.layers import strided_conv

GENERATOR_BN_EPSILON = 1e-5
DISCRIMINATOR_BN_EPSILON = 1e-3
BN_MOMENTUM = 0.9

_CONV = {
  2: keras.layers.Conv2D,
  3: strided_conv.Conv3D,
}
_CONV_TRANSPOSE = {
  2: keras.layers.Conv2DTranspose,
  3: strided_conv.Conv3DTranspose,
}


def kernel_init(std):
  """Conv kernel initializer N(0, std) (the paper: "zero mean Gaussian, std 0.01")."""
  return keras.initializers.RandomNormal(mean=0.0, stddev=std)


def gamma_init(std):
  """BN scale initializer N(1, std) (DCGAN's and VGAN's Torch code: std 0.02)."""
  return keras.initializers.RandomNormal(mean=1.0, stddev=std)


def conv(rank, filters, kernel_size, strides, padding, init_std, transpose=False, **kwargs):
  """A 2D or 3D (transposed) convolution with bias and N(0, init_std) kernel."""
  if rank not in _CONV:
    raise ValueError(f"Expected a convolution rank of 2 or 3, received {rank!r}.")
  layer = (_CONV_TRANSPOSE if transpose else _CONV)[rank]
  return layer(
    filters,
    kernel_size,
    strides=strides,
    padding=padding,
    use_bias=True,
    kernel_initializer=kernel_init(init_std),
    bias_initializer="zeros",
    **kwargs,
  )


class ConvBlock(keras.layers.Layer):
  """(Transposed) convolution, optional batch norm, activation: one layer of a VGAN network.

  Args:
    rank: 2 (images) or 3 (videos).
    filters, kernel_size, strides, padding: of the convolution.
    transpose: a fractionally-strided (transposed) convolution when True.
    batch_norm: whether BN follows the convolution.
    activation: "relu" or "leaky_relu" (slope 0.2).
    init_std: std of the N(0, std) kernel initializer.
    gamma_std: std of the N(1, std) BN scale initializer.
    bn_epsilon: BN epsilon.
  """

  def __init__(
    self,
    rank,
    filters,
    kernel_size,
    strides,
    padding,
    *,
    transpose,
    batch_norm,
    activation,
    init_std,
    gamma_std,
    bn_epsilon,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.conv = conv(rank, filters, kernel_size, strides, padding, init_std, transpose=transpose)
    self.norm = None
    if batch_norm:
      self.norm = fused_bn.FusedBatchNormalization(
        momentum=BN_MOMENTUM,
        epsilon=bn_epsilon,
        gamma_initializer=gamma_init(gamma_std),
        beta_initializer="zeros",
      )
    if activation == "relu":
      self.activation = keras.layers.ReLU()
    elif activation == "leaky_relu":
      self.activation = activations.leaky_relu
    else:
      raise ValueError(f"Expected activation 'relu' or 'leaky_relu', received {activation!r}.")

  def call(self, x, training=False):
    x = self.conv(x)
    if self.norm is not None:
      x = self.norm(x, training=training)
    return self.activation(x)


class UpStack(keras.layers.Layer):
  """Fractionally-strided conv + BN + ReLU layers: the hidden part of a VGAN generator stream.

  The first layer's kernel, strides and padding are arguments (VGAN projects z with a valid
  (2,4,4) kernel on a 1x1x1 input); every further layer is "k4 s2" and doubles each size.
  The output layer (no BN, tanh or sigmoid) is not part of the stack, so that the
  two-stream generator can put two heads on the same hidden layer.

  Args:
    rank: 2 (background image stream) or 3 (video stream).
    widths: channels of each layer.
    first_kernel, first_strides, first_padding: of the first layer.
    init_std, gamma_std: initializer stds (see `ConvBlock`).
    bn_epsilon: BN epsilon.
  """

  def __init__(
    self,
    rank,
    widths,
    *,
    first_kernel,
    first_strides,
    first_padding,
    init_std,
    gamma_std,
    bn_epsilon=GENERATOR_BN_EPSILON,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.blocks = []
    for i, width in enumerate(widths):
      kernel, strides, padding = (
        (first_kernel, first_strides, first_padding) if i == 0 else (4, 2, "same")
      )
      self.blocks.append(
        ConvBlock(
          rank,
          width,
          kernel,
          strides,
          padding,
          transpose=True,
          batch_norm=True,
          activation="relu",
          init_std=init_std,
          gamma_std=gamma_std,
          bn_epsilon=bn_epsilon,
          name=f"up{i}",
        )
      )

  def call(self, x, training=False):
    for block in self.blocks:
      x = block(x, training=training)
    return x


class DownStack(keras.layers.Layer):
  """Strided "k4 s2" conv layers, BN on all but the first: a VGAN discriminator or encoder trunk.

  Follows DCGAN as the paper says (Section 2.3: "batch normalization in the discriminator
  except for the first layer and we instead use leaky ReLU"). The image-to-video encoder uses
  the same stack in 2D with ReLU (authors' code).

  Args:
    rank: 2 (image encoder) or 3 (video discriminator / encoder).
    widths: channels of each layer; each halves every size.
    activation: "leaky_relu" (discriminator) or "relu" (image encoder).
    init_std, gamma_std: initializer stds (see `ConvBlock`).
    bn_epsilon: BN epsilon.
  """

  def __init__(
    self,
    rank,
    widths,
    *,
    activation,
    init_std,
    gamma_std,
    bn_epsilon=DISCRIMINATOR_BN_EPSILON,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.blocks = [
      ConvBlock(
        rank,
        width,
        4,
        2,
        "same",
        transpose=False,
        batch_norm=i > 0,
        activation=activation,
        init_std=init_std,
        gamma_std=gamma_std,
        bn_epsilon=bn_epsilon,
        name=f"down{i}",
      )
      for i, width in enumerate(widths)
    ]

  def call(self, x, training=False):
    for block in self.blocks:
      x = block(x, training=training)
    return x


def output_head(rank, filters, activation, init_std, name):
  """The last generator layer: "k4 s2" transposed conv, no BN, tanh / sigmoid in float32.

  The activation runs in float32 so that a mixed-precision generator still emits float32
  videos and masks.
  """
  return keras.Sequential(
    [
      conv(rank, filters, 4, 2, "same", init_std, transpose=True),
      keras.layers.Activation(activation, dtype="float32"),
    ],
    name=name,
  )


def heads_on_one_input(hidden, heads):
  """The outputs of several `output_head`s on the same input, by ONE transposed convolution.

  Their kernels (and biases) are concatenated on the output-channel axis at call time, so
  each head keeps its own variables (parameter counts, checkpoints and exports are those of
  separate heads) and each output channel is computed exactly as its head computes it. Why:
  a 3D head's transposed convolution costs little more for 4 output channels than for 3
  (`zoo.layers.strided_conv`'s sub-pixel form; docs/benchmarks.md), so the two-stream video
  and mask heads cost one pass instead of two.

  Args:
    hidden: the shared input, [B, ..., C].
    heads: `output_head` Sequentials (transposed conv, then activation) of equal kernel
      size, strides and padding.

  Returns:
    The list of the heads' outputs, in order.
  """
  convs = [h.layers[0] for h in heads]
  for h in heads:
    if not h.built:  # built as a whole: Keras' fit checks every layer is, its activation too
      h.build(hidden.shape)
  first = convs[0]
  dtype = hidden.dtype
  kernel = tf.concat([tf.cast(c.kernel, dtype) for c in convs], axis=-2)
  bias = tf.concat([tf.cast(c.bias, dtype) for c in convs], axis=0)
  out = strided_conv.conv_transpose(hidden, kernel, list(first.strides), first.padding) + bias
  parts = tf.split(out, [c.filters for c in convs], axis=-1)
  return [h.layers[1](part) for h, part in zip(heads, parts, strict=True)]


def compose(foreground, background, mask):
  """The two-stream video m * f + (1 - m) * b, written as b + m * (f - b) (one fused op chain).

  Args:
    foreground: f, [B, T, H, W, C].
    background: b, [B, H, W, C], one image replicated over time by broadcasting.
    mask: m, [B, T, H, W, 1] in [0, 1], replicated over channels by broadcasting.

  Returns:
    The video [B, T, H, W, C].
  """
  background = background[:, tf.newaxis]
  return background + mask * (foreground - background)


def final_kernel(video_shape, num_layers):
  """Kernel of the valid conv that collapses a strided trunk's output to 1x1x1.

  Each "k4 s2" (padding same) layer maps a size s to ceil(s / 2), so after n layers
  (T, H, W) is left as ceil(size / 2^n) per axis: (2, 4, 4) for 32x64x64 and 4 layers.
  """
  kernel = []
  for size in video_shape[:3]:
    for _ in range(num_layers):
      size = -(-size // 2)
    kernel.append(size)
  return tuple(kernel)
