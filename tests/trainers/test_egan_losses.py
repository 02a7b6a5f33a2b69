"""The losses Egan's configs name, on hand-computed cases: hinge (DCGAN, SPADE) and the
GAN-Stability R1 form 10 x mean over the batch of the summed squared gradients (ResNet)."""

import pytest
import tensorflow as tf

from trainers import losses


def test_hinge_by_hand():
  d_loss, g_loss = losses.gan_loss("hinge")
  real = tf.constant([[2.0], [0.5]])  # relu(1 - r): 0, 0.5
  fake = tf.constant([[-3.0], [0.25]])  # relu(1 + f): 0, 1.25
  assert float(d_loss(real, fake)) == pytest.approx(0.25 + 0.625)
  assert float(g_loss(fake)) == pytest.approx(-(-3.0 + 0.25) / 2)


def test_r1_is_mean_over_batch_of_summed_squared_gradients():
  a = tf.constant([[1.0, -2.0, 3.0]])  # D(x) = sum(a * x^2 / 2): grad = a * x
  x = tf.constant([[1.0, 1.0, 1.0], [2.0, 0.0, 1.0]])
  critic = lambda v: tf.reduce_sum(a * v * v / 2, axis=1, keepdims=True)
  # per sample: 1 + 4 + 9 = 14 and 4 + 0 + 9 = 13; mean 13.5; the config weight 10 -> 135.
  assert float(losses.r1_penalty(critic, x)) == pytest.approx(13.5)
  assert 10.0 * float(losses.r1_penalty(critic, x)) == pytest.approx(135.0)
