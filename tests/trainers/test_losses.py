"""trainers.losses against values computed by hand in plain Python."""

import math

import numpy as np
import pytest
import tensorflow as tf

from trainers import losses


def sp(x):
  """softplus in plain Python."""
  return math.log1p(math.exp(x))


REAL = [1.0, -2.0]
FAKE = [0.5, -1.0]


def _d(name):
  return float(losses.gan_loss(name)[0](tf.constant(REAL), tf.constant(FAKE)))


def _g(name):
  return float(losses.gan_loss(name)[1](tf.constant(FAKE)))


def test_minimax_and_non_saturating():
  d = (sp(-1.0) + sp(2.0)) / 2 + (sp(0.5) + sp(-1.0)) / 2
  assert _d("minimax") == pytest.approx(d, rel=1e-6)
  assert _d("non_saturating") == pytest.approx(d, rel=1e-6)
  assert _g("minimax") == pytest.approx(-(sp(0.5) + sp(-1.0)) / 2, rel=1e-6)
  assert _g("non_saturating") == pytest.approx((sp(-0.5) + sp(1.0)) / 2, rel=1e-6)


def test_wgan_hinge_least_squares():
  # wgan: mean(f) - mean(r) = -0.25 - (-0.5)
  assert _d("wgan") == pytest.approx(0.25)
  assert _g("wgan") == pytest.approx(0.25)
  # hinge: relu(1 - r) = [0, 3], relu(1 + f) = [1.5, 0]
  assert _d("hinge") == pytest.approx(1.5 + 0.75)
  assert _g("hinge") == pytest.approx(0.25)
  # least squares: 0.5 * mean([0, 9]) + 0.5 * mean([0.25, 1]); G: 0.5 * mean([0.25, 4])
  assert _d("least_squares") == pytest.approx(2.25 + 0.3125)
  assert _g("least_squares") == pytest.approx(1.0625)


def test_unknown_loss_lists_names():
  with pytest.raises(ValueError, match="hinge.*received 'nope'"):
    losses.gan_loss("nope")


def test_mixed_precision_and_tf_function():
  d_loss, g_loss = losses.gan_loss("non_saturating")
  fn = tf.function(lambda r, f: (d_loss(r, f), g_loss(f)))
  d, g = fn(tf.constant(REAL, tf.float16), tf.constant(FAKE, tf.bfloat16))
  assert d.dtype == tf.float32 and g.dtype == tf.float32 and d.shape == ()
  assert float(g) == pytest.approx((sp(-0.5) + sp(1.0)) / 2, rel=1e-3)


def test_replica_context_returns_local_mean():
  strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
  d_loss = losses.gan_loss("wgan")[0]
  out = strategy.run(tf.function(d_loss), (tf.constant(REAL), tf.constant(FAKE)))
  assert float(strategy.reduce("sum", out, axis=None)) == pytest.approx(0.25)


def test_weight_clip():
  v = tf.Variable([-2.0, 0.005, 3.0])
  losses.wgan_weight_clip([v], 0.01)
  np.testing.assert_allclose(v.numpy(), [-0.01, 0.005, 0.01])


class _Recorder:
  """A linear critic sum(w * x) per sample that records the inputs it is called on."""

  def __init__(self, w):
    self.w, self.inputs = w, []

  def __call__(self, x):
    self.inputs.append(x.numpy())
    return tf.reduce_sum(self.w * x, axis=[1, 2, 3, 4])[:, None]


def test_gradient_penalty_epsilon_is_uniform_per_sample():
  b = 64
  real = tf.ones([b, 2, 3, 3, 1])
  fake = tf.zeros([b, 2, 3, 3, 1])
  critic = _Recorder(1.0)
  seed = tf.constant([7, 3])
  losses.gradient_penalty(critic, real, fake, seed)
  x_hat = critic.inputs[0]  # = eps, since real = 1 and fake = 0
  eps = x_hat.reshape(b, -1)
  assert np.all(eps >= 0.0) and np.all(eps <= 1.0)  # a normal would leave [0, 1] among 64
  np.testing.assert_array_equal(eps, eps[:, :1].repeat(eps.shape[1], axis=1))
  assert np.std(eps[:, 0]) > 0.1  # one draw per sample, not one per batch
  expected = tf.random.stateless_uniform([b, 1, 1, 1, 1], seed=seed).numpy().reshape(b, 1)
  np.testing.assert_allclose(eps[:, :1], expected, rtol=1e-6)
  losses.gradient_penalty(critic, real, fake, seed)
  np.testing.assert_array_equal(critic.inputs[1], x_hat)  # stateless: same seed, same eps


def test_gradient_penalty_values():
  real, fake = tf.ones([2, 1, 2, 2, 1]), tf.zeros([2, 1, 2, 2, 1])
  seed = tf.constant([1, 2])
  # grad of sum(w x) is w everywhere: ||grad|| = w * sqrt(4) = 2w.
  assert float(losses.gradient_penalty(_Recorder(1.0), real, fake, seed)) == pytest.approx(1.0)
  assert float(losses.gradient_penalty(_Recorder(0.5), real, fake, seed)) == pytest.approx(0.0)
  # Quadratic critic 0.5 * sum(x^2): grad = x_hat = eps, ||grad|| = 2 eps.
  eps = tf.random.stateless_uniform([2, 1, 1, 1, 1], seed=seed).numpy().reshape(2)
  quad = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=[1, 2, 3, 4])
  gp = losses.gradient_penalty(quad, real, fake, seed)
  assert float(gp) == pytest.approx(np.mean((2 * eps - 1) ** 2), rel=1e-5)


def test_gradient_penalty_differentiable_under_tf_function():
  w = tf.Variable(2.0)

  @tf.function
  def step():
    with tf.GradientTape() as tape:
      gp = losses.gradient_penalty(
        lambda x: w * tf.reduce_sum(x, axis=[1, 2, 3, 4]),
        tf.ones([2, 1, 2, 2, 1]),
        tf.zeros([2, 1, 2, 2, 1]),
        tf.constant([0, 0]),
      )
    return gp, tape.gradient(gp, w)

  gp, grad = step()
  # ||grad|| = 2w, gp = (2w - 1)^2 = 9, d gp / dw = 4 (2w - 1) = 12.
  assert float(gp) == pytest.approx(9.0, rel=1e-5)
  assert float(grad) == pytest.approx(12.0, rel=1e-5)


def test_gradient_penalty_half_precision_critic():
  critic = lambda x: tf.reduce_sum(0.5 * tf.cast(x, tf.float16), axis=[1, 2, 3, 4])
  real = tf.ones([2, 1, 2, 2, 1], tf.float16)
  gp = losses.gradient_penalty(critic, real, tf.zeros([2, 1, 2, 2, 1]), tf.constant([4, 5]))
  assert gp.dtype == tf.float32 and float(gp) == pytest.approx(0.0, abs=1e-6)


def test_r1_penalty():
  real = tf.constant([[1.0, 2.0], [3.0, 0.0]])
  assert float(losses.r1_penalty(lambda x: tf.reduce_sum(3.0 * x, axis=1), real)) == (
    pytest.approx(18.0)
  )  # sum(3^2) over 2 features
  quad = lambda x: 0.5 * tf.reduce_sum(tf.square(x), axis=1)
  assert float(losses.r1_penalty(quad, real)) == pytest.approx((5.0 + 9.0) / 2)


def test_reconstruction_sparsity_kl():
  a, b = tf.constant([[1.0, -1.0], [0.5, 0.0]]), tf.constant([[0.0, 1.0], [0.5, 1.0]])
  assert float(losses.l1_reconstruction(a, b)) == pytest.approx((1 + 2 + 0 + 1) / 4)
  assert float(losses.l2_reconstruction(a, b)) == pytest.approx((1 + 4 + 0 + 1) / 4)
  assert float(losses.mask_sparsity(tf.constant([0.2, -0.6]))) == pytest.approx(0.4)
  mean, logvar = tf.constant([[1.0, 0.0], [0.0, 0.0]]), tf.constant([[0.0, 1.0], [0.0, 0.0]])
  # sample 0: -0.5 * ((1 + 0 - 1 - 1) + (1 + 1 - 0 - e)) ; sample 1: 0
  kl0 = -0.5 * ((1 + 0 - 1 - 1) + (1 + 1 - 0 - math.e))
  assert float(losses.kl_divergence(mean, logvar)) == pytest.approx(kl0 / 2, rel=1e-6)
