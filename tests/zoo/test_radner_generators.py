"""Radner's style generator and DVD-GAN-S: shapes at every level, parameter counts, frames."""

import contextlib
import io

import numpy as np
import pytest
import tensorflow as tf

from zoo import registry

SIZES = {64: (16, (8, 4, 2, 1)), 128: (32, (8, 8, 4, 2, 1))}


def count(model):
  return sum(int(np.prod(v.shape)) for v in model.trainable_weights)


def gres(cin, cout, up=False):  # BN, conv3, BN, conv3, 1x1 skip when needed
  skip = cin * cout + cout if cin != cout or up else 0
  return 2 * cin + 9 * cin * cout + cout + 2 * cout + 9 * cout * cout + cout + skip


def gru(cin, f):
  return 9 * (cin + f) * 3 * f + 3 * f


def style_block(cin, cout, style=256):  # affine, kernel, noise strength, bias
  return style * cin + cin + 9 * cin * cout + 2 * cout


def style_generator_count(ch, mults):
  w = [ch * m for m in mults]
  outs = w[1:] + w[-1:]
  n = sum(gres(a, b) for a, b in zip([3] + w[::-1], w[::-1]))  # encoder
  n += gres(w[0], 8 * ch) + gres(8 * ch, 4 * ch) + 16 * 4 * ch * 256 + 256  # style head
  n += sum(gru(x, x) + style_block(x, o) + style_block(o, o) for x, o in zip(w, outs))
  return n + 256 * w[-1] + w[-1] + 3 * w[-1] + 3 + 16 * w[0]  # toRGB, constant


@pytest.fixture(scope="module", params=[64, 128])
def style_generator(request):
  ch, mults = SIZES[request.param]
  g = registry.build("radner_style_generator", resolution=request.param, ch=ch, multipliers=mults)
  g.build(None)
  return g


def test_style_generator_shapes_at_every_level(style_generator):
  g = style_generator
  res = g.resolution
  image = tf.random.stateless_uniform([2, res, res, 3], seed=[1, 2], minval=-1, maxval=1)
  features = g.encoder(image)
  widths = [g.ch * m for m in g.multipliers]
  sizes = [4 * 2**i for i in range(len(widths))]
  assert [tuple(f.shape[1:]) for f in features] == [(s, s, w) for s, w in zip(sizes, widths)]
  style, levels = g.levels(image, num_frames=3)
  assert tuple(style.shape) == (2 * 3, 256)
  outs = widths[1:] + widths[-1:]
  assert [tuple(x.shape[1:]) for x in levels] == [(3, 2 * s, 2 * s, o) for s, o in zip(sizes, outs)]
  video = g(image, num_frames=3)
  assert tuple(video.shape) == (2, 3, res, res, 3) and np.abs(video.numpy()).max() <= 1.0


def test_style_generator_parameter_count_is_in_docstring_and_summary(style_generator):
  g = style_generator
  expected = {64: 2_409_529, 128: 14_935_657}[g.resolution]
  assert count(g) == expected == style_generator_count(g.ch, g.multipliers)
  assert f"{expected:,}" in type(g).__doc__
  out = io.StringIO()
  with contextlib.redirect_stdout(out):
    g.summary(print_fn=lambda line, **_: print(line))
  assert f"Trainable params: {expected:,}" in out.getvalue()


def test_any_number_of_frames_and_deterministic_without_noise():
  g = registry.build(
    "radner_style_generator", resolution=16, ch=2, multipliers=(2, 1), num_frames=4
  )
  image = tf.random.stateless_uniform([1, 16, 16, 3], seed=[3, 4], minval=-1, maxval=1)
  assert tuple(g(image).shape) == (1, 4, 16, 16, 3)  # the training length by default
  long = g(image, num_frames=9)
  short = g(image, num_frames=3)
  # The recurrence is causal: a longer video starts with the shorter one.
  np.testing.assert_allclose(long[:, :3].numpy(), short.numpy(), atol=1e-6)
  np.testing.assert_array_equal(long.numpy(), g(image, num_frames=9).numpy())
  # A graph with a dynamic frame count (what export and the evaluation CLI trace).
  fn = tf.function(lambda x, n: g(x, num_frames=n))
  assert fn(image, tf.constant(6)).shape[1] == 6
  # Noise only with a seed; a seed gives the same noise again.
  for v in g.weights:
    if "strength" in v.path:
      v.assign(tf.ones_like(v))
  seeded = g(image, num_frames=3, seed=tf.constant([1, 2]))
  assert np.abs(seeded.numpy() - g(image, num_frames=3).numpy()).max() > 1e-4
  np.testing.assert_array_equal(
    seeded.numpy(), g(image, num_frames=3, seed=tf.constant([1, 2])).numpy()
  )


DVDGAN_S_COUNTS = {
  (64, False): 1_602_307,
  (64, True): 1_907_577,
  (128, False): 10_662_915,
  (128, True): 13_061_353,
}


@pytest.mark.parametrize(
  "res,conditional",
  [
    (64, False),
    (64, True),
    pytest.param(128, False, marks=pytest.mark.slow),
    pytest.param(128, True, marks=pytest.mark.slow),
  ],
)
def test_dvdgan_s_shapes_and_parameter_counts(res, conditional):
  ch, mults = SIZES[res]
  g = registry.build("dvdgan_s", resolution=res, ch=ch, multipliers=mults, conditional=conditional)
  z = tf.random.stateless_normal([1, 128], seed=[5, 6])
  inputs = {"z": z, "image": tf.zeros([1, res, res, 3])} if conditional else z
  levels = g.levels(inputs, num_frames=2)
  widths = [ch * m for m in mults]
  sizes = [8 * 2**i for i in range(len(widths))]
  assert [tuple(x.shape[1:]) for x in levels] == [
    (2, s, s, o) for s, o in zip(sizes, widths[1:] + widths[-1:])
  ]
  assert tuple(g(inputs, num_frames=2).shape) == (1, 2, res, res, 3)
  expected = DVDGAN_S_COUNTS[res, conditional]
  assert count(g) == expected and f"{expected:,}" in type(g).__doc__
  assert g.condition == ("image" if conditional else None) and g.latent_dim == 128


def test_bad_resolution_raises():
  with pytest.raises(ValueError, match="Expected a power-of-two resolution"):
    registry.build("radner_style_generator", resolution=64, multipliers=(8, 4, 2))
