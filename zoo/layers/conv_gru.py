"""A convolutional GRU cell (Ballas et al. 2016) and its unroll over time.

Gates r, u = sigmoid(conv3([x, h])), candidate c = tanh(conv3([x, r * h])),
h' = u * h + (1 - u) * c: Keras's GRU equations with convolutions in place of the dense
maps, as DVD-GAN (Clark et al. 2019) and Radner (2020, Sec. 3.4) use it.
"""

import keras
import tensorflow as tf


class ConvGRUCell(keras.layers.Layer):
  """One ConvGRU step: `call(x, h)` -> h', x [B, H, W, C_in], h [B, H, W, filters].

  Args:
    filters: hidden channels.
    kernel_size: square kernel of the gate and candidate convolutions (padding "same").
  """

  def __init__(self, filters, kernel_size=3, **kwargs):
    super().__init__(**kwargs)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)

  def build(self, input_shape):
    k, f = self.kernel_size, self.filters
    fan_in = input_shape[-1] + f
    self.gate_kernel = self.add_weight(
      shape=(k, k, fan_in, 2 * f), initializer="glorot_uniform", name="gate_kernel"
    )
    self.gate_bias = self.add_weight(shape=(2 * f,), initializer="zeros", name="gate_bias")
    self.candidate_kernel = self.add_weight(
      shape=(k, k, fan_in, f), initializer="glorot_uniform", name="candidate_kernel"
    )
    self.candidate_bias = self.add_weight(shape=(f,), initializer="zeros", name="candidate_bias")

  def call(self, x, h):
    def conv(inputs, kernel, bias):
      return tf.nn.conv2d(inputs, tf.cast(kernel, inputs.dtype), 1, "SAME") + tf.cast(
        bias, inputs.dtype
      )

    gates = tf.sigmoid(conv(tf.concat([x, h], -1), self.gate_kernel, self.gate_bias))
    reset, update = tf.split(gates, 2, axis=-1)
    candidate = tf.tanh(
      conv(tf.concat([x, reset * h], -1), self.candidate_kernel, self.candidate_bias)
    )
    return update * h + (1.0 - update) * candidate

  def get_config(self):
    return {**super().get_config(), "filters": self.filters, "kernel_size": self.kernel_size}


def unroll(cell, inputs, initial_state):
  """Runs `cell` over time: inputs [B, T, H, W, C], initial_state [B, H, W, filters].

  Returns the hidden state after every step, [B, T, H, W, filters]. The loop is a
  `tf.scan` (one graph loop whatever T, which may be dynamic), so a traced train step or an
  exported signature holds one cell, not T copies; the cell's variables are created first,
  outside the loop.
  """
  if not cell.built:
    cell.build(tuple(inputs.shape[:1]) + tuple(inputs.shape[2:]))
  # Inputs and state in the cell's compute dtype (bfloat16 under mixed_bfloat16): Keras casts
  # what the cell returns to it, and tf.scan needs the carried state's dtype to stay constant.
  dtype = cell.compute_dtype
  states = tf.scan(
    lambda h, x: cell(x, h),
    tf.transpose(tf.cast(inputs, dtype), [1, 0, 2, 3, 4]),
    initializer=tf.cast(initial_state, dtype),
  )
  return tf.transpose(states, [1, 0, 2, 3, 4])
