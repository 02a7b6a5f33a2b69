"""zoo.layers.biggan_blocks: GResNet / DResNet shapes, skips and parameter counts, 2D and 3D."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import biggan_blocks


def _count(layer):
  return sum(int(np.prod(v.shape)) for v in layer.trainable_weights)


@pytest.mark.parametrize("rank", [2, 3])
def test_gresblock_upsamples_space_only(rank):
  block = biggan_blocks.GResBlock(rank, 6, upsample=True)
  shape = [2, 3, 4, 4, 5] if rank == 3 else [2, 4, 4, 5]
  y = block(tf.random.stateless_normal(shape, seed=[1, rank]), training=True)
  assert tuple(y.shape) == tuple(shape[:-3]) + (8, 8, 6)
  taps = 3**rank
  # BN(5) + conv3(5->6) + BN(6) + conv3(6->6) + skip conv1(5->6); BN: gamma and beta.
  assert _count(block) == 2 * 5 + taps * 5 * 6 + 6 + 2 * 6 + taps * 6 * 6 + 6 + 5 * 6 + 6


def test_gresblock_identity_skip_when_shapes_match():
  block = biggan_blocks.GResBlock(2, 5)
  x = tf.random.stateless_normal([2, 4, 4, 5], seed=[1, 2])
  block(x)
  assert block.skip is None
  for v in block.conv2.weights:
    v.assign(tf.zeros_like(v))
  np.testing.assert_allclose(block(x).numpy(), x.numpy())


@pytest.mark.parametrize("rank", [2, 3])
def test_dresblock_downsamples_every_axis(rank):
  block = biggan_blocks.DResBlock(rank, 6)
  shape = [2, 4, 8, 8, 3] if rank == 3 else [2, 8, 8, 3]
  y = block(tf.random.stateless_normal(shape, seed=[3, rank]))
  assert tuple(y.shape) == ((2, 2, 4, 4, 6) if rank == 3 else (2, 4, 4, 6))


def test_dresblock_preactivation_and_pooling():
  x = -tf.ones([1, 4, 4, 2])
  with_relu = biggan_blocks.DResBlock(2, 2, downsample=False)
  with_relu(x)
  assert with_relu.skip is None
  # ReLU(-1) = 0 feeds zero into the residual branch: conv1 gives its bias 1, conv2 (all
  # ones, 3x3x2 taps) 18 + 1 at interior pixels, the identity skip adds -1.
  for v in with_relu.conv1.weights + with_relu.conv2.weights:
    v.assign(tf.ones_like(v))
  np.testing.assert_allclose(with_relu(x).numpy()[0, 1:3, 1:3], 18.0)
  no_relu = biggan_blocks.DResBlock(2, 2, downsample=False, preactivation=False)
  no_relu(x)
  for v in no_relu.conv1.weights + no_relu.conv2.weights:
    v.assign(tf.ones_like(v))
  assert not np.allclose(no_relu(x).numpy(), with_relu(x).numpy())


def test_bad_rank_raises():
  with pytest.raises(ValueError, match="Expected a block rank of 2 or 3, received 4"):
    biggan_blocks.DResBlock(4, 8)
