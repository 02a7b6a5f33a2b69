"""zoo.layers.lstm.LSTM: Keras's LSTM, the input projection of every frame in one matmul."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import lstm


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


@pytest.mark.parametrize("frames", [1, 5])
@pytest.mark.parametrize("with_state", [False, True])
def test_outputs_states_and_gradients_equal_keras_lstm(frames, with_state):
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
