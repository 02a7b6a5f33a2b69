"""Shared by the evaluation tests: stand-in I3D and Inception modules, a one-thread BLAS fixture."""

import numpy as np
import pytest
import tensorflow as tf


class StandInI3D(tf.Module):
  """The TF-Hub I3D's calling convention: 'default' signature, [B, T, 224, 224, 3] -> [B, 400]."""

  def __init__(self):
    super().__init__()
    self.proj = tf.constant(np.random.RandomState(0).normal(size=(48, 400)), tf.float32)

  @tf.function(input_signature=[tf.TensorSpec([None, None, 224, 224, 3], tf.float32)])
  def default(self, videos):
    pooled = tf.nn.avg_pool2d(tf.reduce_mean(videos, axis=1), 56, 56, "VALID")  # [B, 4, 4, 3]
    return {"default": tf.tanh(tf.matmul(tf.reshape(pooled, [-1, 48]), self.proj))}


@pytest.fixture(scope="module")
def one_blas_thread():
  """numpy's multi-threaded BLAS spins against TF's threads on 2 shared cores (the SVDs of
  frechet.py ran 15x slower); one thread is faster for these small matrices."""
  try:
    import threadpoolctl
  except ImportError:
    yield
    return
  with threadpoolctl.threadpool_limits(1, user_api="blas"):
    yield


@pytest.fixture(scope="module")
def stand_in_i3d(tmp_path_factory):
  """Path of a saved StandInI3D with the hub module's 'default' signature."""
  path = str(tmp_path_factory.mktemp("i3d") / "module")
  module = StandInI3D()
  tf.saved_model.save(module, path, signatures={"default": module.default})
  return path


class StandInInception(tf.Module):
  """TF-GAN's Inception calling convention: module(images [N, 299, 299, 3]) -> logits, pool_3.

  `pool_dim` below 2048 makes every FID's square roots cheap (tests of CLIs that compute
  many of them); the metrics code flattens pool_3 whatever its size.
  """

  def __init__(self, pool_dim=2048):
    super().__init__()
    rng = np.random.default_rng(0)
    self.pool_dim = pool_dim
    self.to_logits = tf.Variable(rng.standard_normal([3, 1008]).astype(np.float32))
    self.to_pool = tf.Variable(rng.standard_normal([3, pool_dim - 5]).astype(np.float32))

  @tf.function(input_signature=[tf.TensorSpec([None, 299, 299, 3], tf.float32)])
  def __call__(self, images):
    means = images[:, 149, 149, :]  # A float32 reduce_mean would be off by ~1e-3.
    low = tf.reduce_min(images, axis=[1, 2, 3])[:, None]
    high = tf.reduce_max(images, axis=[1, 2, 3])[:, None]
    pool = tf.concat([means, low, high, tf.matmul(means, self.to_pool)], axis=1)
    return {
      "logits": 10.0 * tf.matmul(means, self.to_logits),
      "pool_3": tf.reshape(pool, [-1, 1, 1, self.pool_dim]),
    }


def save_stand_in_inception(tmp_path_factory, pool_dim=2048):
  """Path of a saved StandInInception (a SavedModel directory `load_inception` accepts)."""
  path = str(tmp_path_factory.mktemp("tfgan_inception"))
  tf.saved_model.save(StandInInception(pool_dim), path)
  return path
