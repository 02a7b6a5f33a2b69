"""VGAN's autoencoder + GMM baseline: encoder shapes, parameter count, GMM sampling, fit_gmm."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import bn_params
from vgan_counts import conv_params
from vgan_counts import trainable_count
from zoo import registry
from zoo.vgan import autoencoder
from zoo.vgan import gmm


def small_model(**kwargs):
  """8x16x16 clips, narrow layers: for tests that decode."""
  return autoencoder.AutoencoderGMM(
    encoder_widths=(4, 8), widths=(8, 4), background_widths=(8, 4), **kwargs
  )


@pytest.fixture(scope="module")
def paper_model():
  keras.utils.set_random_seed(0)
  return registry.build("vgan_autoencoder_gmm")


def test_paper_size_shapes_and_parameter_count(paper_model):
  model = paper_model
  assert (model.latent_dim, model.condition, model.video_shape, model.streams) == (
    102,
    None,
    (32, 64, 64, 3),
    ("foreground", "background", "mask"),
  )
  video = tf.random.stateless_uniform([1, 32, 64, 64, 3], seed=[1, 2], minval=-1, maxval=1)
  x, shapes = video, []
  for block in model.encoder_trunk.blocks:
    x = block(x)
    shapes.append(tuple(x.shape[1:]))
  assert shapes == [(16, 32, 32, 64), (8, 16, 16, 128), (4, 8, 8, 256), (2, 4, 4, 512)]
  code = model.encode(video)
  assert tuple(code.shape) == (1, 100)
  assert tuple(model(video).shape) == (1, 32, 64, 64, 3)
  encoder = (
    conv_params(64, 3, 64)
    + conv_params(64, 64, 128)
    + bn_params(128)
    + conv_params(64, 128, 256)
    + bn_params(256)
    + conv_params(64, 256, 512)
    + bn_params(512)
    + conv_params(2 * 4 * 4, 512, 100)
  )
  two_stream = registry.build("vgan_two_stream")
  two_stream.build((None, 100))
  assert trainable_count(model) == encoder + trainable_count(two_stream)
  # The GMM is state, not a parameter.
  assert [tuple(v.shape) for v in (model.gmm_weights, model.gmm_means, model.gmm_cholesky)] == [
    (256,),
    (256, 100),
    (256, 100, 100),
  ]
  assert not any(v.trainable for v in (model.gmm_weights, model.gmm_means, model.gmm_cholesky))


def test_sample_shape_at_paper_size(paper_model):
  videos = paper_model.sample(2, tf.constant([3, 4]))
  assert tuple(videos.shape) == (2, 32, 64, 64, 3)
  streams = paper_model.sample(1, tf.constant([3, 4]), return_streams=True)
  assert tuple(streams["mask"].shape) == (1, 32, 64, 64, 1)


def test_call_dispatches_on_rank():
  model = small_model(code_dim=6, num_components=2)
  assert model.latent_dim == 8
  z = tf.random.stateless_normal([2, 8], seed=[1, 1])
  # Before set_gmm every component is N(0, I): z decodes as the code z[:, 2:].
  np.testing.assert_allclose(model(z), model.decode(z[:, 2:]), atol=1e-6)
  video = tf.random.stateless_uniform([2, 8, 16, 16, 3], seed=[2, 2], minval=-1, maxval=1)
  np.testing.assert_allclose(model(video), model.decode(model.encode(video)), atol=1e-6)
  out = model(video, return_streams=True)
  assert sorted(out) == ["background", "foreground", "mask", "video"]
  with pytest.raises(ValueError, match=r"Expected noise z \[B, 8\]"):
    model(tf.zeros([2, 16, 16, 3]))
  with pytest.raises(ValueError, match="Expected noise z"):
    model(tf.zeros([2, 6]))  # a code: decode() takes those


def test_call_on_noise_draws_codes_from_the_mixture():
  model = small_model(code_dim=2, num_components=3)
  means = np.array([[-10.0, 0.0], [0.0, 10.0], [10.0, 0.0]])
  model.set_gmm(np.array([0.2, 0.3, 0.5]), means, 1e-6 * np.stack([np.eye(2)] * 3))
  # u = exp(-(z0^2 + z1^2) / 2) picks the component by the cumulative weights 0.2, 0.5, 1.0.
  z0 = np.array([2.797, 1.530, 0.861, 0.201], np.float32)  # u: 0.02, 0.31, 0.69, 0.98
  z = np.concatenate(
    [z0[:, None], np.zeros([4, 1], np.float32), np.ones([4, 2], np.float32)], axis=1
  )
  np.testing.assert_allclose(model.codes_from_noise(z), means[[0, 1, 2, 2]], atol=1e-4)
  np.testing.assert_allclose(
    model(z), model.decode(tf.constant(means[[0, 1, 2, 2]], tf.float32)), atol=1e-4
  )


def test_one_tiny_component_decodes_its_mean():
  model = small_model(code_dim=6, num_components=1)
  mean = np.linspace(-1, 1, 6, dtype=np.float32)
  model.set_gmm(np.ones([1]), mean[None], 1e-6 * np.eye(6)[None])
  codes = model.sample_codes(2, tf.constant([5, 6])).numpy()
  np.testing.assert_allclose(codes, np.tile(mean, [2, 1]), atol=1e-4)
  expected = model.decode(tf.constant(np.tile(mean, [2, 1])))
  np.testing.assert_allclose(model.sample(2, tf.constant([5, 6])), expected, atol=1e-4)


def test_sample_codes_follow_the_mixture():
  model = small_model(code_dim=2, num_components=2)
  means = np.array([[-10.0, 0.0], [10.0, 0.0]])
  cholesky = np.stack([np.diag([0.5, 2.0]), np.array([[1.0, 0.0], [1.0, 1.0]])])
  model.set_gmm(np.array([0.25, 0.75]), means, cholesky)
  codes = model.sample_codes(20_000, tf.constant([7, 8])).numpy()
  right = codes[:, 0] > 0
  assert right.mean() == pytest.approx(0.75, abs=0.02)
  # ~5000 / 15000 samples: tolerances of several standard errors of each (co)variance.
  np.testing.assert_allclose(np.cov(codes[~right].T), np.diag([0.25, 4.0]), rtol=0.1, atol=0.06)
  np.testing.assert_allclose(np.cov(codes[right].T), [[1.0, 1.0], [1.0, 2.0]], rtol=0.1, atol=0.06)
  # Stateless: the seed alone decides.
  again = model.sample_codes(20_000, tf.constant([7, 8])).numpy()
  np.testing.assert_array_equal(codes, again)
  assert not np.allclose(codes, model.sample_codes(20_000, tf.constant([7, 9])).numpy())


def test_set_gmm_checks_shapes():
  model = small_model(code_dim=3, num_components=2)
  with pytest.raises(ValueError, match=r"Expected GMM cholesky of shape \(2, 3, 3\)"):
    model.set_gmm(np.ones([2]) / 2, np.zeros([2, 3]), np.zeros([2, 3, 2]))


def test_fit_gmm_returns_what_set_gmm_takes():
  rng = np.random.default_rng(0)
  cov = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.0], [0.0, 0.0, 0.5]])
  codes = np.concatenate(
    [
      rng.multivariate_normal([-8, 0, 0], cov, size=600),
      rng.multivariate_normal([8, 0, 0], cov, size=200),
    ]
  )
  weights, means, cholesky = gmm.fit_gmm(codes, num_components=2, seed=0)
  assert weights.shape == (2,) and means.shape == (2, 3) and cholesky.shape == (2, 3, 3)
  assert weights.dtype == means.dtype == cholesky.dtype == np.float32
  order = np.argsort(means[:, 0])
  np.testing.assert_allclose(weights[order], [0.75, 0.25], atol=1e-3)
  np.testing.assert_allclose(np.triu(cholesky, 1), 0.0)
  for k in order:
    np.testing.assert_allclose(cholesky[k] @ cholesky[k].T, cov, atol=0.3)
  model = small_model(code_dim=3, num_components=2)
  model.set_gmm(weights, means, cholesky)
  np.testing.assert_allclose(model.gmm_means.numpy(), means)
