"""zoo.layers.activations: LeakyReLU with its gradient read from the output."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import activations
from zoo.layers import strided_conv


def _penalty_grads(act, x, w):
  """The gradient of a gradient penalty on act(x @ w) with respect to w: second order."""
  with tf.GradientTape() as outer:
    with tf.GradientTape() as inner:
      inner.watch(x)
      y = tf.reduce_sum(act(x @ w) ** 2)
    gx = inner.gradient(y, x)
    penalty = tf.reduce_sum(gx**2)
  return gx, outer.gradient(penalty, w)


@pytest.mark.parametrize("dtype", [tf.float32, tf.bfloat16])
def test_values_and_first_and_second_derivatives_equal_tf_leaky_relu(dtype):
  x = tf.cast(tf.random.stateless_normal([6, 5], seed=[1, 2]), dtype)
  x = tf.concat([x, tf.zeros([6, 1], dtype)], axis=1)  # exact zeros: the slope at 0
  w = tf.Variable(tf.cast(tf.random.stateless_normal([6, 4], seed=[3, 4]), dtype))
  ours = lambda t: activations.leaky_relu(t, 0.2)
  theirs = lambda t: tf.nn.leaky_relu(t, 0.2)
  np.testing.assert_array_equal(ours(x).numpy(), theirs(x).numpy())
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    a, b = tf.reduce_sum(ours(x) * x), tf.reduce_sum(theirs(x) * x)
  np.testing.assert_array_equal(tape.gradient(a, x).numpy(), tape.gradient(b, x).numpy())
  gx_ours, gw_ours = _penalty_grads(ours, x, w)
  gx_theirs, gw_theirs = _penalty_grads(theirs, x, w)
  tol = 1e-6 if dtype == tf.float32 else 1e-2
  np.testing.assert_allclose(gx_ours.numpy(), gx_theirs.numpy(), rtol=tol, atol=tol)
  np.testing.assert_allclose(
    tf.cast(gw_ours, tf.float32).numpy(), tf.cast(gw_theirs, tf.float32).numpy(), rtol=tol
  )
  assert float(tf.reduce_max(tf.abs(tf.cast(gw_ours, tf.float32)))) > 0


def test_the_gradient_reads_the_output_not_the_convolution():
  w = tf.Variable(tf.random.stateless_normal([3, 3, 3, 4], seed=[5, 6]))

  @tf.function
  def step(x):
    with tf.GradientTape() as tape:
      y = activations.leaky_relu(tf.nn.conv2d(x, w, 1, "SAME"), 0.2)
      loss = tf.reduce_sum(y * y)
    return tape.gradient(loss, w)

  graph = step.get_concrete_function(tf.TensorSpec([1, 8, 8, 3])).graph
  ops = [op for f in [graph, *graph._functions.values()] for op in f.get_operations()]
  grads = [op for op in ops if op.type == "LeakyReluGrad"]
  assert grads, "no LeakyReluGrad in the step's graph"
  for op in grads:
    features = op.inputs[1].op
    while features.type in ("Identity", "IdentityN", "StopGradient"):
      features = features.inputs[0].op
    assert features.type == "LeakyRelu", features.type  # not the convolution's output


def test_a_slope_outside_zero_one_is_refused():
  with pytest.raises(ValueError, match="slope"):
    activations.leaky_relu(tf.ones([2]), 1.5)


def test_under_forward_only_it_is_tf_op_without_a_custom_gradient():
  """Converters lose a TFLite signature to a custom gradient (export.tflite traces this way)."""

  def ops(x):
    graph = tf.function(lambda t: activations.leaky_relu(t, 0.2)).get_concrete_function(x).graph
    return {op.type for op in graph.get_operations()}

  spec = tf.TensorSpec([2, 3])
  assert "IdentityN" in ops(spec)  # the custom gradient's marker
  with strided_conv.forward_only():
    assert "IdentityN" not in ops(spec) and "LeakyRelu" in ops(spec)
