"""Shared by the evaluation tests: a stand-in I3D module and a one-thread BLAS fixture."""

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
    import threadpoolctl  # pylint: disable=g-import-not-at-top
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
