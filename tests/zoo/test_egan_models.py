"""Egan's DCGAN and ResNet GANs: Table 4.2 parameter counts, shapes, the image/video contract."""

import form_checks
import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import torch_count
from zoo import registry
from zoo.layers import form_choice
from zoo.layers import resblocks
from zoo.layers import strided_conv

# Egan 2019, Table 4.2 (millions of parameters).
TABLE_4_2 = {
  "egan_dcgan_generator_2d": 7.5,
  "egan_dcgan_discriminator_2d": 7.0,
  "egan_dcgan_generator_3d": 28.3,
  "egan_dcgan_discriminator_3d": 27.8,
  "egan_resnet_generator_2d": 33.3,
  "egan_resnet_discriminator_2d": 29.1,
  "egan_resnet_generator_3d": 102.7,
  "egan_resnet_discriminator_3d": 85.8,
}


def build(name, **kwargs):
  model = registry.build(name, **kwargs)
  if "generator" in name:
    model.build((None, model.latent_dim))
  else:
    model.build((None,) + tuple(model.video_shape))
  return model


@pytest.mark.parametrize("name", sorted(TABLE_4_2))
def test_parameter_count_matches_table_4_2(name):
  keras.utils.set_random_seed(0)
  count = torch_count(build(name)) / 1e6
  assert count == pytest.approx(TABLE_4_2[name], rel=0.01), count


def test_spectral_norm_state_is_a_buffer_in_every_dcgan_conv():
  g = build("egan_dcgan_generator_2d", widths=(16, 8))
  wrappers = [l for l in g._flatten_layers() if isinstance(l, keras.layers.SpectralNormalization)]
  assert len(wrappers) == 3  # two hidden layers and the output layer
  assert all(not w.vector_u.trainable for w in wrappers)


def test_a_frozen_spectral_norm_network_stays_as_it_is_in_training_mode():
  # Keras' wrapper rewrote its kernel and u in training mode even when frozen.
  d = registry.build(
    "egan_dcgan_discriminator_3d", video_shape=(4, 16, 16, 3), widths=(8, 16), spectral_norm=True
  )
  video = tf.random.stateless_uniform([2, 4, 16, 16, 3], [1, 2], -1.0, 1.0)
  d(video)  # build
  before = [w.numpy() for w in d.weights]
  d.trainable = False
  d(video, training=True)
  assert all(np.array_equal(a, w.numpy()) for a, w in zip(before, d.weights, strict=True))
  d.trainable = True
  d(video, training=True)
  assert not all(np.array_equal(a, w.numpy()) for a, w in zip(before, d.weights, strict=True))


@pytest.mark.parametrize(
  "family,kwargs",
  [
    ("dcgan", dict(widths=(16, 8))),
    pytest.param("resnet", dict(nf=8, size=16, max_width=32), marks=pytest.mark.slow),
  ],
)  # the ResNet shapes are also checked by tests/zoo/test_inflation.py
def test_image_models_are_one_frame_clips_and_video_models_clips(family, kwargs):
  g2 = build(f"egan_{family}_generator_2d", **kwargs)
  g3 = build(f"egan_{family}_generator_3d", **kwargs)
  z = tf.random.stateless_normal([2, g2.latent_dim], seed=[1, 2])
  image, video = g2(z), g3(z)
  assert g2.video_shape == (1, 16, 16, 3) and tuple(image.shape) == (2, 1, 16, 16, 3)
  assert tuple(video.shape) == (2,) + tuple(g3.video_shape) and g3.video_shape[0] > 1
  assert np.all(np.abs(video) <= 1.0)
  d_kwargs = {"widths": (8, 16)} if family == "dcgan" else {"nf": 8, "max_width": 32}
  d2 = build(f"egan_{family}_discriminator_2d", video_shape=(1, 16, 16, 3), **d_kwargs)
  d3 = build(f"egan_{family}_discriminator_3d", video_shape=g3.video_shape, **d_kwargs)
  assert tuple(d2(image).shape) == (2, 1) and tuple(d3(video).shape) == (2, 1)
  if family != "dcgan":
    return
  # A 2D discriminator judges every frame of a longer clip and averages the logits.
  frames = tf.unstack(video, axis=1)
  per_frame = tf.reduce_mean(tf.stack([d2(f[:, None]) for f in frames]), axis=0)
  np.testing.assert_allclose(d2(video), per_frame, atol=1e-5)


def test_resnet_video_generator_doubles_time_once_from_four_frames():
  g = registry.build("egan_resnet_generator_3d", nf=8, size=16, max_width=32, frames=8)
  assert g.dense_frames == 4 and g.video_shape == (8, 16, 16, 3)
  with pytest.raises(ValueError, match="Expected frames divisible"):
    registry.build("egan_resnet_generator_3d", frames=6, temporal_scalings=2)


def test_resblock_follows_gan_stability():
  x = tf.random.stateless_normal([2, 8, 8, 16], seed=[3, 4])
  same = resblocks.ResBlock(2, 16, 16)
  out = same(x)
  dx = same.conv_1(tf.nn.leaky_relu(same.conv_0(tf.nn.leaky_relu(x, 0.2)), 0.2))
  np.testing.assert_allclose(out, x + 0.1 * dx, atol=1e-5)
  assert same.shortcut is None and len(same.weights) == 4  # two convs with bias
  wider = resblocks.ResBlock(2, 16, 32)
  wider(x)
  assert wider.conv_0.conv.filters == 16  # hidden = min(fin, fout)
  assert wider.shortcut.conv.use_bias is False and wider.shortcut.kernel_size == (1, 1)


def test_temporal_padding_replicates_never_zeros():
  conv = resblocks.PaddedConv(3, 1, (3, 1, 1), use_bias=False, name="c")
  clip = tf.ones([1, 4, 2, 2, 1])
  conv(clip)
  conv.conv.kernel.assign(tf.ones_like(conv.conv.kernel))
  np.testing.assert_allclose(conv(clip), 3.0 * tf.ones([1, 4, 2, 2, 1]))  # ends not darker
  reflect = resblocks.PaddedConv(3, 1, (3, 1, 1), use_bias=False, temporal_padding="reflect")
  ramp = tf.reshape(tf.range(4, dtype=tf.float32), [1, 4, 1, 1, 1])
  reflect(ramp)
  reflect.conv.kernel.assign(tf.ones_like(reflect.conv.kernel))
  np.testing.assert_allclose(tf.reshape(reflect(ramp), [-1]), [2.0, 3.0, 6.0, 7.0])
  with pytest.raises(ValueError, match="Expected temporal_padding"):
    resblocks.PaddedConv(3, 1, 3, temporal_padding="zeros")


@pytest.mark.parametrize("mode", ["replicate", "reflect"])
def test_padded_conv_matches_numpy_padding_and_feeds_no_pad_to_the_conv(mode):
  conv = resblocks.PaddedConv(3, 2, 3, strides=(1, 2, 2), temporal_padding=mode)
  clip = tf.random.stateless_normal([2, 5, 6, 6, 3], seed=[1, 2])
  out = conv(clip)
  edge = "edge" if mode == "replicate" else "reflect"
  ref = np.pad(clip.numpy(), [(0, 0), (1, 1), (0, 0), (0, 0), (0, 0)], mode=edge)
  ref = np.pad(ref, [(0, 0), (0, 0), (0, 1), (0, 1), (0, 0)])  # "same" at stride 2 on 6
  ref = tf.nn.conv3d(ref, conv.conv.kernel, [1, 1, 2, 2, 1], "VALID") + conv.conv.bias
  np.testing.assert_allclose(out.numpy(), ref.numpy(), atol=1e-5)
  # Grappler fuses a constant Pad into the convolution after it and then breaks the training
  # graph whose weight gradient reads that Pad: the convolution's input is not a Pad.
  graph = tf.function(conv).get_concrete_function(tf.TensorSpec(clip.shape)).graph
  (conv3d,) = [op for op in graph.get_operations() if op.type == "Conv3D"]
  feed = conv3d.inputs[0].op
  assert feed.type != "Pad", feed.type


def _time_padded_reference(x, kernel, strides, mode):
  """x's frames gathered as the padding copies them (time by `mode`), space padded with
  zeros as "same" pads it, then TF's valid convolution."""
  t = x.shape[1]
  pads = [
    resblocks.same_padding(n, k, s)
    for n, k, s in zip(x.shape[1:4], kernel.shape[:3], strides, strict=True)
  ]
  frames = np.arange(-pads[0][0], t + pads[0][1])
  if mode == "replicate":
    frames = np.clip(frames, 0, t - 1)
  else:  # reflect: ... 2 1 | 0 1 2 ... t-1 | t-2 t-3 ...
    frames = np.abs(frames)
    frames = np.where(frames > t - 1, 2 * (t - 1) - frames, frames)
  padded = tf.pad(tf.gather(x, frames, axis=1), [[0, 0], [0, 0], pads[1], pads[2], [0, 0]])
  return tf.nn.conv3d(padded, kernel, [1, *strides, 1], "VALID")


@pytest.mark.parametrize("form", ["native", "edges", "rules"])
@pytest.mark.parametrize("mode", ["replicate", "reflect"])
@pytest.mark.parametrize(
  "shape, kernel_size, strides",
  [
    ((2, 5, 6, 6, 3), (3, 3, 3), (1, 1, 1)),  # Egan's ResNet, SPADE's generator
    ((2, 6, 8, 8, 3), (4, 4, 4), (2, 2, 2)),  # Egan's DCGAN discriminator (strided forms)
    ((2, 7, 6, 6, 3), (4, 4, 4), (2, 2, 2)),  # odd length: one more frame after than before
    ((2, 8, 6, 6, 3), (3, 4, 4), (1, 2, 2)),  # SPADE's discriminator
    ((2, 3, 5, 5, 3), (5, 3, 3), (1, 1, 1)),  # two padded frames each side
    ((2, 4, 5, 5, 3), (5, 3, 3), (2, 1, 1)),
    ((2, 1, 5, 5, 3), (3, 3, 3), (1, 1, 1)),  # one frame: both ends in one output
    ((2, 4, 5, 5, 3), (1, 3, 3), (1, 1, 1)),  # no time padding
  ],
)
def test_time_padded_conv_forms_equal_padding_then_a_valid_convolution(
  form, mode, shape, kernel_size, strides, monkeypatch
):
  if mode == "reflect" and shape[1] == 1:
    pytest.skip("a single frame has nothing to reflect")
  monkeypatch.setenv(form_choice.POLICY_ENV, form)
  x = tf.random.stateless_normal(shape, seed=[1, 2])
  kernel = tf.random.stateless_normal([*kernel_size, 3, 4], seed=[3, 4])
  bias = tf.constant([0.5, -1.0, 2.0, 0.0])
  projection = None

  def value_and_grads(fn):
    nonlocal projection
    with tf.GradientTape() as tape:
      tape.watch([x, kernel])
      out = fn()
      if projection is None:
        projection = tf.random.stateless_normal(out.shape, seed=[5, 6])
      loss = tf.reduce_sum(out * projection)
    return out, tape.gradient(loss, [x, kernel])

  ref, ref_grads = value_and_grads(lambda: _time_padded_reference(x, kernel, strides, mode) + bias)
  out, grads = value_and_grads(lambda: resblocks.time_padded_conv(x, kernel, strides, mode, bias))
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-4)
  for a, b in zip(grads, ref_grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-4)


def test_time_padded_edges_traced_without_a_batch_and_differentiated_twice(monkeypatch):
  """The edges form's frame rows come from the batch at run time, and a gradient penalty
  (the input gradient's norm, differentiated w.r.t. the kernel) goes through it."""
  monkeypatch.setenv(form_choice.POLICY_ENV, "edges")
  x = tf.random.stateless_normal([3, 5, 6, 6, 3], seed=[1, 2])
  kernel = tf.random.stateless_normal([3, 3, 3, 3, 4], seed=[3, 4])
  strides = (1, 1, 1)

  def penalty_grad(conv):
    with tf.GradientTape() as outer:
      outer.watch(kernel)
      with tf.GradientTape() as inner:
        inner.watch(x)
        loss = tf.reduce_sum(tf.sin(conv(x, kernel)))
      penalty = tf.reduce_sum(tf.square(inner.gradient(loss, x)))
    return outer.gradient(penalty, kernel)

  unknown_batch = tf.function(
    lambda x, k: resblocks.time_padded_conv(x, k, strides, "replicate"),
    input_signature=[tf.TensorSpec([None, 5, 6, 6, 3]), tf.TensorSpec([3, 3, 3, 3, 4])],
  )
  graph = unknown_batch.get_concrete_function().graph
  assert "TensorScatterAdd" in {op.type for op in graph.get_operations()}  # the edges form

  @tf.function
  def grads(x, k):
    with tf.GradientTape() as tape:
      tape.watch([x, k])
      loss = tf.reduce_sum(tf.sin(resblocks.time_padded_conv(x, k, strides, "replicate")))
    return tape.gradient(loss, [x, k])

  # The end frames and the kernel's taps are unstacked: a slice of each would differentiate
  # into a zero-filled copy of the whole clip or kernel (StridedSliceGrad), one per slice.
  types = {op.type for op in grads.get_concrete_function(x, kernel).graph.get_operations()}
  assert "StridedSliceGrad" not in types and "Unpack" in types
  ref = _time_padded_reference(x, kernel, strides, "replicate")
  np.testing.assert_allclose(unknown_batch(x, kernel), ref, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(
    penalty_grad(lambda x, k: resblocks.time_padded_conv(x, k, strides, "replicate")),
    penalty_grad(lambda x, k: _time_padded_reference(x, k, strides, "replicate")),
    rtol=1e-4,
    atol=1e-2,
  )


def test_time_padded_conv_is_measured_once_and_remembered(monkeypatch, tmp_path):
  x = tf.random.stateless_normal([2, 4, 6, 6, 3], seed=[1, 2])
  kernel = tf.random.stateless_normal([3, 3, 3, 3, 4], seed=[3, 4])
  # "edges@3": the timings of earlier "edges" forms (slices, a concatenation) are not read.
  form_checks.measured_once_and_remembered(
    monkeypatch,
    tmp_path,
    lambda: resblocks.time_padded_conv(x, kernel, (1, 1, 1), "replicate"),
    "time_padded_conv float32 [2, 4, 6, 6, 3] [3, 3, 3, 3, 4] [1, 1, 1] replicate edges@3,native",
    "edges",
  )


def test_dcgan_3d_convolutions_take_the_measured_forms_and_the_resnet_none(monkeypatch):
  """Egan's 3D DCGAN convolves "k4 s2" in `strided_conv`'s forms, its discriminator's padded
  "valid" convolutions too; the 3D ResNet (3x3x3 and 1x1x1, stride 1) runs Keras' own layers
  only, so the forms cannot change its memory."""
  monkeypatch.setenv(form_choice.POLICY_ENV, "subpixel")
  calls = []
  for name in ("_convolve", "_convolve_transpose"):
    real = getattr(strided_conv, name)
    monkeypatch.setattr(
      strided_conv, name, lambda *args, real=real, name=name: calls.append(name) or real(*args)
    )
  z = tf.random.stateless_normal([2, 64], seed=[1, 2])
  g = build("egan_dcgan_generator_3d", widths=(16, 8))
  d = build("egan_dcgan_discriminator_3d", video_shape=g.video_shape, widths=(8, 16))
  calls.clear()
  d(g(z))
  # up1 and the head (up0 is 1x4x4 stride 1); down0 and down1 (the final 1-logit conv is not).
  assert sorted(calls) == ["_convolve"] * 2 + ["_convolve_transpose"] * 2
  g = build("egan_resnet_generator_3d", nf=8, size=16, max_width=32, frames=8)
  d = build("egan_resnet_discriminator_3d", video_shape=g.video_shape, nf=8, max_width=32)
  calls.clear()
  d(g(tf.random.stateless_normal([2, g.latent_dim], seed=[3, 4])))
  assert calls == []
