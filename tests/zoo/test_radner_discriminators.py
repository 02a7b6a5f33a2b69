"""Radner's D_S (K random frames + the input frame) and D_T (pooled clip, 3D then 2D blocks)."""

import numpy as np
import pytest
import tensorflow as tf

from zoo import registry


def count(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def dres(rank, cin, cout, down=True):  # conv3, conv3, 1x1 skip when needed
  taps = 3**rank
  skip = cin * cout + cout if cin != cout or down else 0
  return taps * cin * cout + cout + taps * cout * cout + cout + skip


def critic_count(cin, ch, mults, num_3d):
  widths = [ch * m for m in mults]
  n = 0
  for i, (a, b) in enumerate(zip([cin] + widths, widths)):
    n += dres(3 if i < num_3d else 2, a, b, down=i < len(widths) - 1)
  return n + widths[-1] + 1  # Dense 1


@pytest.mark.parametrize(
  "res,ch_s,ch_t,mults,pool,expected",
  [
    (64, 32, 32, (2, 4, 8, 16, 16), 2, (9_580_609, 10_098_241)),
    (128, 16, 64, (1, 2, 4, 8, 16, 16), 1, (2_403_729, 38_938_689)),
  ],
)
def test_parameter_counts_follow_the_blocks(res, ch_s, ch_t, mults, pool, expected):
  shape = (30, res, res, 3)
  d_s = registry.build(
    "radner_spatial_discriminator", video_shape=shape, ch=ch_s, multipliers=mults
  )
  d_t = registry.build(
    "radner_temporal_discriminator", video_shape=shape, ch=ch_t, multipliers=mults, pool=pool
  )
  d_s.build(None)
  d_t.build(None)
  assert (count(d_s), count(d_t)) == expected
  assert expected == (critic_count(6, ch_s, mults, 0), critic_count(3, ch_t, mults, 2))
  assert f"{expected[0]:,}" in type(d_s).__doc__ and f"{expected[1]:,}" in type(d_t).__doc__


@pytest.fixture(scope="module")
def spatial():
  return registry.build(
    "radner_spatial_discriminator",
    video_shape=(10, 16, 16, 3),
    ch=2,
    multipliers=(1, 2, 2),
    num_sampled_frames=4,
  )


def test_spatial_frame_choice_is_seeded_and_distinct(spatial):
  seed = tf.constant([3, 4])
  a = spatial.frame_indices(5, 10, seed).numpy()
  np.testing.assert_array_equal(a, spatial.frame_indices(5, 10, seed).numpy())
  assert a.shape == (5, 4) and all(len(set(row)) == 4 for row in a)
  assert a.min() >= 0 and a.max() < 10
  assert not np.array_equal(a, spatial.frame_indices(5, 10, tf.constant([3, 5])).numpy())
  assert len({tuple(row) for row in a}) > 1  # per clip, not one choice for the batch
  np.testing.assert_array_equal(spatial.frame_indices(2, 10).numpy(), [[0, 3, 6, 9]] * 2)
  assert spatial.frame_indices(1, 3).shape == (1, 3)  # K is at most T


def test_spatial_sees_only_the_chosen_frames_and_the_condition(spatial):
  video = tf.random.stateless_normal([1, 10, 16, 16, 3], seed=[1, 2])
  image = tf.random.stateless_normal([1, 16, 16, 3], seed=[3, 4])
  seed = tf.constant([7, 8])
  chosen = set(spatial.frame_indices(1, 10, seed).numpy()[0])
  other = next(t for t in range(10) if t not in chosen)
  changed = tf.tensor_scatter_nd_update(video, [[0, other]], tf.zeros([1, 16, 16, 3]))
  out = spatial(video, condition=image, seed=seed).numpy()
  np.testing.assert_allclose(spatial(changed, condition=image, seed=seed).numpy(), out, rtol=1e-6)
  assert not np.allclose(spatial(video, condition=-image, seed=seed).numpy(), out)
  with pytest.raises(ValueError, match="Expected the conditioning frame"):
    spatial(video)


def test_temporal_pools_space_and_runs_3d_blocks_first():
  d_t = registry.build(
    "radner_temporal_discriminator", video_shape=(6, 16, 16, 3), ch=2, multipliers=(1, 2, 2), pool=2
  )
  video = tf.random.stateless_normal([2, 6, 16, 16, 3], seed=[5, 6])
  assert tuple(d_t(video).shape) == (2, 1)
  assert [b.rank for b in d_t.blocks] == [3, 3, 2]
  assert tuple(d_t.blocks[0].conv1.kernel.shape) == (3, 3, 3, 3, 2)
  # The order of frames matters to D_T (3D convolutions), unlike to a per-frame critic.
  assert not np.allclose(d_t(video[:, ::-1]).numpy(), d_t(video).numpy())
  # 2x2 average pooling first: a clip constant on each 2x2 patch scores as its pooled self
  # through a pool-1 critic with the same weights.
  d_1 = registry.build(
    "radner_temporal_discriminator", video_shape=(6, 8, 8, 3), ch=2, multipliers=(1, 2, 2), pool=1
  )
  small = video[:, :, ::2, ::2]
  d_1(small)
  for a, b in zip(d_1.weights, d_t.weights, strict=True):
    a.assign(b)
  big = tf.repeat(tf.repeat(small, 2, axis=2), 2, axis=3)
  np.testing.assert_allclose(d_t(big).numpy(), d_1(small).numpy(), rtol=1e-5)
