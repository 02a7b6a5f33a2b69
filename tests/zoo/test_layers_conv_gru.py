"""zoo.layers.conv_gru: the ConvGRU equations and the unroll over time."""

import numpy as np
import tensorflow as tf

from zoo.layers import conv_gru


def _sigmoid(x):
  return 1.0 / (1.0 + np.exp(-x))


def test_cell_matches_the_gru_equations_with_1x1_kernels():
  cell = conv_gru.ConvGRUCell(2, kernel_size=1)
  x = tf.random.stateless_normal([1, 3, 3, 3], seed=[1, 2])
  h = tf.random.stateless_normal([1, 3, 3, 2], seed=[3, 4])
  out = cell(x, h).numpy()
  gk, gb = cell.gate_kernel.numpy()[0, 0], cell.gate_bias.numpy()
  ck, cb = cell.candidate_kernel.numpy()[0, 0], cell.candidate_bias.numpy()
  xn, hn = x.numpy(), h.numpy()
  gates = _sigmoid(np.concatenate([xn, hn], -1) @ gk + gb)
  r, u = gates[..., :2], gates[..., 2:]
  c = np.tanh(np.concatenate([xn, r * hn], -1) @ ck + cb)
  np.testing.assert_allclose(out, u * hn + (1 - u) * c, rtol=1e-5, atol=1e-6)


def test_unroll_equals_stepping_the_cell():
  cell = conv_gru.ConvGRUCell(4)
  inputs = tf.random.stateless_normal([2, 5, 6, 6, 3], seed=[5, 6])
  h0 = tf.random.stateless_normal([2, 6, 6, 4], seed=[7, 8])
  states = conv_gru.unroll(cell, inputs, h0)
  assert tuple(states.shape) == (2, 5, 6, 6, 4)
  h = h0
  for t in range(5):
    h = cell(inputs[:, t], h)
    np.testing.assert_allclose(states[:, t].numpy(), h.numpy(), rtol=1e-5, atol=1e-6)


def test_unroll_with_a_dynamic_length_in_a_graph():
  cell = conv_gru.ConvGRUCell(2)
  fn = tf.function(
    lambda x, h: conv_gru.unroll(cell, x, h),
    input_signature=[tf.TensorSpec([1, None, 4, 4, 3]), tf.TensorSpec([1, 4, 4, 2])],
  )
  cell.build((1, 4, 4, 3))
  for t in (1, 7):
    assert fn(tf.zeros([1, t, 4, 4, 3]), tf.zeros([1, 4, 4, 2])).shape[1] == t
