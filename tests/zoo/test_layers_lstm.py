"""zoo.layers.lstm.LSTM: Keras's LSTM with a batched input projection and backward pass."""

import contextlib

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import form_choice
from zoo.layers import lstm
from zoo.layers import strided_conv


def _pair(units, features, **kwargs):
  """Keras's LSTM and ours with the same weights, both built for [*, *, features]."""
  theirs = keras.layers.LSTM(units, return_sequences=True, return_state=True, **kwargs)
  ours = lstm.LSTM(units, return_sequences=True, return_state=True, **kwargs)
  for layer in (theirs, ours):
    layer.build((None, None, features))
  rng = np.random.default_rng(0)
  weights = [rng.normal(size=w.shape).astype("float32") * 0.3 for w in theirs.get_weights()]
  for layer in (theirs, ours):
    layer.set_weights(weights)
  return theirs, ours


@pytest.fixture
def policy(monkeypatch, tmp_path):
  """Sets the forms policy, with a cache in `tmp_path`."""

  def set_policy(value):
    monkeypatch.setenv(form_choice.POLICY_ENV, value)
    monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
    monkeypatch.setattr(form_choice, "_CHOOSERS", {})

  return set_policy


# "rules" takes the transposed product for these few rows; "auto" times both.
@pytest.mark.parametrize("forms", ["rules", "native", "auto"])
@pytest.mark.parametrize("frames", [1, 5])
@pytest.mark.parametrize("with_state", [False, True])
def test_outputs_states_and_gradients_equal_keras_lstm(frames, with_state, forms, policy):
  policy(forms)
  theirs, ours = _pair(6, 4, unroll=True)
  x = tf.random.stateless_normal([3, frames, 4], seed=[1, 2])
  state = None
  if with_state:
    state = [tf.random.stateless_normal([3, 6], seed=[3, i]) for i in range(2)]
  results = []
  for layer in (theirs, ours):
    with tf.GradientTape() as tape:
      tape.watch(x)
      outputs, h, c = layer(x, initial_state=state)
      loss = tf.reduce_sum(outputs**2) + tf.reduce_sum(h * c)
    grads = tape.gradient(loss, [x] + layer.trainable_weights)
    assert all(g is not None for g in grads)
    results.append([outputs, h, c] + grads)
  assert outputs.shape == (3, frames, 6)
  for a, b in zip(*results, strict=True):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-5, atol=2e-5)


def test_same_checkpoint_layout_as_keras_lstm():
  theirs, ours = _pair(6, 4)
  assert [w.path.split("/", 1)[1] for w in ours.weights] == [
    w.path.split("/", 1)[1] for w in theirs.weights
  ]


def test_a_mask_or_going_backwards_runs_keras_own_loop():
  x = tf.random.stateless_normal([2, 4, 3], seed=[5, 6])
  mask = tf.constant([[True, True, True, False], [True, True, False, False]])
  for kwargs, call_kwargs in (({}, {"mask": mask}), ({"go_backwards": True}, {})):
    theirs, ours = _pair(5, 3, **kwargs)
    np.testing.assert_allclose(
      ours(x, **call_kwargs)[0].numpy(), theirs(x, **call_kwargs)[0].numpy(), rtol=1e-6
    )


def test_gradients_of_the_outputs_alone_equal_keras_lstm():
  """The predictors differentiate the outputs only: the final state's gradients are None."""
  theirs, ours = _pair(5, 3, unroll=True)
  x = tf.random.stateless_normal([2, 4, 3], seed=[7, 8])
  results = []
  for layer in (theirs, ours):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(tf.sin(layer(x)[0]))
    results.append(tape.gradient(loss, [x] + layer.trainable_weights))
  for a, b in zip(*results, strict=True):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=2e-5, atol=2e-5)


def _matmuls(layer, frames, forward_only=False):
  """MatMul ops in the traced forward and backward pass over `frames` frames."""

  @tf.function
  def run(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      loss = tf.reduce_sum(layer(x)[0])
    if forward_only:
      return loss
    return tape.gradient(loss, [x] + layer.trainable_weights)

  spec = tf.TensorSpec([2, frames, 3])
  with strided_conv.forward_only() if forward_only else contextlib.nullcontext():
    graph = run.get_concrete_function(spec).graph
  ops = [op for op in graph.get_operations()]
  for op in list(ops):
    for f in op.node_def.attr.values():
      if f.HasField("func"):
        ops += list(graph._get_function(f.func.name).graph.get_operations())
  return sum(op.type in ("MatMul", "BatchMatMulV2", "Einsum") for op in ops), ops


def test_only_the_recurrence_multiplies_frame_by_frame(policy):
  """Forward: the projection of all frames, then one recurrent product per frame. Backward:
  one product per frame back through the recurrence, and the recurrent kernel's gradient, the
  kernel's and the input's each one matmul over all frames (autodiff: two per frame)."""
  policy("native")
  _, ours = _pair(5, 3, unroll=True)
  for frames in (1, 6):
    count, ops = _matmuls(ours, frames)
    assert count == 2 * frames + 4, [op.type for op in ops]


def test_graphs_for_converters_carry_no_custom_gradient():
  _, ours = _pair(5, 3, unroll=True)
  count, ops = _matmuls(ours, 4, forward_only=True)
  assert count == 4 + 1
  assert not [op for op in ops if op.type == "IdentityN"]


def test_transposed_product_equals_matmul_with_transpose_b(policy):
  rows = form_choice.MEASURE_MAX_BATCH + 4
  a = tf.random.stateless_normal([rows, 8], seed=[1, 1])
  b = tf.random.stateless_normal([5, 8], seed=[1, 2])
  expected = tf.matmul(a, b, transpose_b=True).numpy()
  for forms in ("native", "transposed", "auto"):
    policy(forms)
    actual = lstm.matmul_transposed(a, b).numpy()
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5)
  # "auto" timed both forms on all the rows (the best form changes with them), not on a
  # batch cut to MEASURE_MAX_BATCH as convolutions are.
  (key,) = form_choice.cached_choices()
  assert key == f"matmul_transposed float32 [{rows}, 8] [5, 8] native,transposed"
