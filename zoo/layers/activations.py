"""LeakyReLU whose gradient reads its output, so that Grappler can fuse it into the conv.

TensorFlow's `LeakyRelu` gradient reads the activation's input (the convolution plus bias).
Grappler's remapper nevertheless fuses convolution + bias + LeakyRelu into one op, which
removes that input, and then fails on the training graph ("remapper failed: ... fanout
'.../LeakyReluGrad' exist for missing node '.../BiasAdd'"): every fusion of that graph is
dropped, in the generator too. For a slope in (0, 1) the output has the input's sign, so
the gradient can be taken from the output instead; the input then has one reader and the
fusion is valid (unless the network itself reads it again: Egan's ResNet discriminator
feeds its first convolution to both a LeakyReLU and a residual sum, and still meets it).
Values and gradients equal `tf.nn.leaky_relu`'s (at 0 both give the slope), second
derivatives (a gradient penalty's double backward pass) included. Under
`strided_conv.forward_only()` (graphs for converters, which lose a TFLite signature to a
custom gradient) it is TF's op.
"""

import tensorflow as tf

from zoo.layers import strided_conv

# Every LeakyReLU of the four works has slope 0.2.
LEAKY_RELU_SLOPE = 0.2


def leaky_relu(x, slope=LEAKY_RELU_SLOPE):
  """`tf.nn.leaky_relu(x, slope)` with its gradient computed from the output; 0 < slope < 1."""
  if not 0.0 < slope < 1.0:
    raise ValueError(f"Expected a LeakyReLU slope in (0, 1), received {slope}.")
  if strided_conv.is_forward_only():
    return tf.nn.leaky_relu(x, alpha=slope)

  @tf.custom_gradient
  def forward(t):
    y = tf.nn.leaky_relu(t, alpha=slope)

    def grad(upstream):
      # The same kernel, given the output (it has the input's sign). The gradient does not
      # depend on `y` (almost everywhere): without the stop, a second derivative would reach
      # the input through `y`'s own gradient, with zeros, and break the fusion again.
      sign = tf.stop_gradient(y)
      return tf.raw_ops.LeakyReluGrad(gradients=upstream, features=sign, alpha=slope)

    return y, grad

  return forward(x)
