"""Egan's SPADE networks: Table 4.2 counts, the 2D mask branch broadcast over frames, the
PatchGAN's patch logits and features, and inflation of the pair."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import torch_count
from zoo import inflation
from zoo import registry
from zoo.layers import spade as spade_layers

# Egan 2019, Table 4.2 (millions): (generator, discriminator of both scales, encoder).
TABLE_4_2 = {
  (2, "small"): (12.5, 1.7, 1.3),
  (2, "mid"): (35.2, 1.7, 3.1),
  (3, "small"): (19.5, 5.1, 1.8),
  (3, "mid"): (70.3, 5.1, 5.0),
}
TINY = dict(size="small", nf=4, up_mults=(1,), num_classes=4)


@pytest.mark.parametrize("rank,size", sorted(TABLE_4_2))
def test_parameter_counts_match_table_4_2(rank, size):
  g_paper, d_paper, e_paper = TABLE_4_2[rank, size]
  g = registry.build(f"egan_spade_generator_{rank}d", size=size, use_vae=True)
  g.build()
  encoder = torch_count(g.encoder)
  assert (torch_count(g) - encoder) / 1e6 == pytest.approx(g_paper, rel=0.01)
  assert encoder / 1e6 == pytest.approx(e_paper, rel=0.01)
  if size == "small":  # the discriminators do not depend on the size
    ds = [registry.build(f"egan_spade_discriminator_{rank}d", scale=s) for s in (0, 1)]
    for d in ds:
      d.build()
    assert sum(torch_count(d) for d in ds) / 1e6 == pytest.approx(d_paper, rel=0.01)


def test_spade_norm_mask_branch_is_2d_and_shared_by_every_frame():
  norm = spade_layers.SPADE(3, 6, nhidden=8)
  x = tf.random.stateless_normal([2, 3, 8, 8, 6], seed=[1, 2])
  seg = tf.one_hot(tf.random.stateless_uniform([2, 4, 4], [3, 4], 0, 5, tf.int32), 5)
  out = norm(x, seg)
  assert len(norm.gamma.kernel.shape) == 4  # a Conv2D: the mask is an image
  normalized = norm.norm(x)
  hidden = norm.shared(tf.image.resize(seg, [8, 8], method="nearest"))
  gamma, beta = norm.gamma(hidden), norm.beta(hidden)
  for t in range(3):
    np.testing.assert_allclose(out[:, t], normalized[:, t] * (1 + gamma) + beta, atol=1e-5)


def test_generator_contract_and_encoder():
  g = registry.build("egan_spade_generator_3d", frames=4, temporal_scalings=1, use_vae=True, **TINY)
  assert g.condition == "mask" and g.video_shape == (4, 16, 16, 3)
  mask = tf.random.stateless_uniform([2, 16, 16], [5, 6], 0, 4, tf.int32)
  video = g({"z": tf.zeros([2, 256]), "mask": mask})
  assert tuple(video.shape) == (2, 4, 16, 16, 3)
  # The same ids as floats (a NumPy array of them, Keras' export's float32 inputs): the same.
  as_floats = g({"z": tf.zeros([2, 256]), "mask": tf.cast(mask, tf.float32) + 0.2})
  np.testing.assert_array_equal(as_floats.numpy(), video.numpy())
  mu, logvar = g.encode(video)
  assert tuple(mu.shape) == tuple(logvar.shape) == (2, 256)
  with pytest.raises(ValueError, match="Expected a generator built with use_vae=True"):
    registry.build("egan_spade_generator_2d", **TINY).encode(video)


def test_patch_discriminator_scales_and_features():
  mask = tf.zeros([2, 16, 16], tf.int32)
  clip = tf.zeros([2, 4, 16, 16, 3])
  d0 = registry.build(
    "egan_spade_discriminator_3d",
    video_shape=(4, 16, 16, 3),
    num_classes=4,
    widths=(4, 8, 8),
    scale=0,
  )
  d1 = registry.build(
    "egan_spade_discriminator_3d",
    video_shape=(4, 16, 16, 3),
    num_classes=4,
    widths=(4, 8, 8),
    scale=1,
  )
  logits, features = d0(clip, condition=mask, return_features=True)
  assert tuple(logits.shape) == (2, 4 * 2 * 2)  # T kept, 16 -> 2 after three s2 convs
  assert [tuple(f.shape[1:4]) for f in features] == [(4, 8, 8), (4, 4, 4), (4, 2, 2)]
  assert tuple(d1(clip, condition=mask).shape) == (2, 2 * 1 * 1)  # the second scale halves T
  with pytest.raises(ValueError, match="Expected the segmentation mask"):
    d0(clip)


def _concatenated_first_conv(d, video, mask):
  """The first layer as the text describes it: a convolution over the frames with the
  one-hot mask concatenated on channels (3D: tiled over time), after the scale's pooling."""
  seg = spade_layers.one_hot_mask(mask, d.num_classes, d.name)
  seg = tf.tile(seg[:, tf.newaxis], [1, video.shape[1], 1, 1, 1])
  x = tf.concat([video, seg], -1)
  x = tf.reshape(x, [-1, *x.shape[2:]]) if d.rank == 2 else x
  for pool in d.pools:
    x = pool(x)
  return d.convs[0](x)


@pytest.mark.parametrize("rank", [2, 3])
@pytest.mark.parametrize("scale", [0, 1])
def test_patch_discriminator_first_layer_equals_the_concatenated_convolution(rank, scale):
  # The discriminator convolves the frames and the mask apart (the mask once per clip): the
  # values and gradients must be those of one convolution over frames + tiled one-hot mask.
  keras.utils.set_random_seed(1)
  d = registry.build(
    f"egan_spade_discriminator_{rank}d",
    video_shape=(5, 12, 12, 3),
    num_classes=6,
    widths=(8, 8, 8),
    scale=scale,
  )
  d.build(None)
  video = tf.random.uniform([2, 5, 12, 12, 3], -1, 1, seed=2)
  mask = tf.random.uniform([2, 12, 12], 0, 6, tf.int32, seed=3)
  kernel = d.convs[0].conv.kernel
  results = []
  for fn in (
    lambda v: d._first_conv(v, spade_layers.one_hot_mask(mask, 6, d.name)),
    lambda v: _concatenated_first_conv(d, v, mask),
  ):
    with tf.GradientTape() as tape:
      tape.watch(video)
      out = fn(video)
      loss = tf.reduce_sum(out * tf.cos(out))
    results.append((out, *tape.gradient(loss, [video, kernel])))
  for got, want in zip(*results, strict=True):
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-4)
  assert float(tf.reduce_max(tf.abs(results[0][2]))) > 0


def test_inflated_spade_repeats_the_image_on_every_frame():
  keras.utils.set_random_seed(0)
  g2 = registry.build("egan_spade_generator_2d", use_vae=True, **TINY)
  g3 = registry.build(
    "egan_spade_generator_3d", use_vae=True, frames=4, temporal_scalings=2, **TINY
  )
  for g in (g2, g3):
    g.build()
  inflation.inflate(g2, g3)
  z = tf.random.stateless_normal([2, 256], seed=[7, 7])
  mask = tf.random.stateless_uniform([2, 16, 16], [8, 8], 0, 4, tf.int32)
  image, video = g2({"z": z, "mask": mask}), g3({"z": z, "mask": mask})
  np.testing.assert_allclose(video, tf.tile(image, [1, 4, 1, 1, 1]), atol=2e-5)
  d2 = registry.build(
    "egan_spade_discriminator_2d", video_shape=(1, 16, 16, 3), num_classes=4, widths=(4, 8), scale=1
  )
  d3 = registry.build(
    "egan_spade_discriminator_3d", video_shape=(4, 16, 16, 3), num_classes=4, widths=(4, 8), scale=1
  )
  for d in (d2, d3):
    d.build()
  inflation.inflate(d2, d3)
  frame = image
  patches2 = d2(frame, condition=mask)
  patches3 = tf.reshape(d3(tf.tile(frame, [1, 4, 1, 1, 1]), condition=mask), [2, 2, -1])
  for t in range(2):
    np.testing.assert_allclose(patches3[:, t], patches2, atol=1e-5)
