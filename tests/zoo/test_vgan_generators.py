"""VGAN generators at paper size: layer shapes, Torch parameter counts, streams, init."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import bn_params
from vgan_counts import conv_params
from vgan_counts import torch_count
from vgan_counts import trainable_count
from zoo import registry
from zoo.vgan import blocks
from zoo.vgan import generators


def shapes_through(layers, x):
  """Runs x through `layers` one by one (inference); returns each output's shape sans batch."""
  shapes = []
  for layer in layers:
    x = layer(x, training=False)
    shapes.append(tuple(x.shape[1:]))
  return shapes


# Paper sizes (Vondrick et al. 2016, Fig. 1): one 4x4x4 kernel has 64 taps, a 2D 4x4 has 16.
VIDEO_TRUNK = (
  conv_params(2 * 4 * 4, 100, 512)
  + bn_params(512)
  + conv_params(64, 512, 256)
  + bn_params(256)
  + conv_params(64, 256, 128)
  + bn_params(128)
  + conv_params(64, 128, 64)
  + bn_params(64)
)
VIDEO_HEAD = conv_params(64, 64, 3)
MASK_HEAD = conv_params(64, 64, 1)
BACKGROUND = (
  conv_params(16, 100, 512)
  + bn_params(512)
  + conv_params(16, 512, 256)
  + bn_params(256)
  + conv_params(16, 256, 128)
  + bn_params(128)
  + conv_params(16, 128, 64)
  + bn_params(64)
  + conv_params(16, 64, 3)
)


@pytest.fixture(scope="module")
def one_stream():
  keras.utils.set_random_seed(0)
  return registry.build("vgan_one_stream")


@pytest.fixture(scope="module")
def two_stream():
  keras.utils.set_random_seed(1)
  return registry.build("vgan_two_stream")


@pytest.fixture(scope="module")
def two_stream_outputs(two_stream):
  z = tf.random.stateless_normal([1, 100], seed=[3, 4])
  return two_stream(z, training=False, return_streams=True)


def test_one_stream_layer_shapes(one_stream):
  z = tf.random.stateless_normal([1, 100], seed=[1, 2])
  hidden = shapes_through(one_stream.trunk.stack.blocks, tf.reshape(z, [1, 1, 1, 1, 100]))
  assert hidden == [(2, 4, 4, 512), (4, 8, 8, 256), (8, 16, 16, 128), (16, 32, 32, 64)]
  video = one_stream(z)
  assert tuple(video.shape) == (1, 32, 64, 64, 3)
  assert one_stream.video_shape == (32, 64, 64, 3)
  assert np.all(np.abs(video.numpy()) <= 1.0)


def test_one_stream_parameter_count(one_stream):
  one_stream.build((None, 100))
  expected = VIDEO_TRUNK + VIDEO_HEAD
  assert expected == 12_663_619
  assert trainable_count(one_stream) == expected
  assert torch_count(one_stream) == expected


def test_two_stream_layer_shapes(two_stream, two_stream_outputs):
  z = tf.random.stateless_normal([1, 100], seed=[3, 4])
  background = two_stream.background
  shapes = shapes_through(background.stack.blocks, tf.reshape(z, [1, 1, 1, 100]))
  assert shapes == [(4, 4, 512), (8, 8, 256), (16, 16, 128), (32, 32, 64)]
  assert tuple(background(z).shape) == (1, 64, 64, 3)
  # The mask head sits on the trunk's last hidden layer (16x32x32x64), like the video head.
  assert tuple(two_stream.mask_head.layers[0].kernel.shape) == (4, 4, 4, 1, 64)
  assert isinstance(two_stream.trunk, generators.VideoTrunk)
  out = two_stream_outputs
  assert sorted(out) == ["background", "foreground", "mask", "video"]
  for key, channels in (("video", 3), ("foreground", 3), ("background", 3), ("mask", 1)):
    assert tuple(out[key].shape) == (1, 32, 64, 64, channels), key


def test_two_stream_parameter_count(two_stream):
  two_stream.build((None, 100))
  expected = VIDEO_TRUNK + VIDEO_HEAD + MASK_HEAD + BACKGROUND
  assert trainable_count(two_stream) == expected
  assert torch_count(two_stream) == expected


def test_two_stream_streams(two_stream_outputs):
  out = {k: v.numpy() for k, v in two_stream_outputs.items()}
  assert out["mask"].min() >= 0.0 and out["mask"].max() <= 1.0
  assert 0.0 < out["mask"].std()  # not a constant: the mask depends on position
  background = out["background"]
  np.testing.assert_array_equal(background, np.broadcast_to(background[:, :1], background.shape))
  expected = out["mask"] * out["foreground"] + (1 - out["mask"]) * background
  np.testing.assert_allclose(out["video"], expected, atol=1e-6)
  assert np.abs(out["video"]).max() <= 1.0


def test_compose_on_known_tensors():
  f = tf.reshape(tf.range(2 * 3 * 2 * 2 * 3, dtype=tf.float32), [2, 3, 2, 2, 3]) / 10.0
  b = -tf.ones([2, 2, 2, 3]) * tf.constant([1.0, 2.0, 3.0])
  np.testing.assert_allclose(blocks.compose(f, b, tf.ones([2, 3, 2, 2, 1])), f, atol=1e-6)
  zero = blocks.compose(f, b, tf.zeros([2, 3, 2, 2, 1])).numpy()
  for t in range(3):
    np.testing.assert_allclose(zero[:, t], b, atol=1e-6)
  m = tf.random.stateless_uniform([2, 3, 2, 2, 1], seed=[5, 6])
  expected = m * f + (1 - m) * b[:, None]
  np.testing.assert_allclose(blocks.compose(f, b, m), expected, atol=1e-6)


def test_init_follows_the_paper(one_stream, two_stream):
  one_stream.build((None, 100))
  two_stream.build((None, 100))
  for model in (one_stream, two_stream):
    gammas = []
    for w in model.weights:
      value = w.numpy()
      if w.name == "kernel" and value.size >= 10_000:
        assert value.mean() == pytest.approx(0.0, abs=1e-3), w.path
        assert value.std() == pytest.approx(0.01, rel=0.05), w.path
      elif w.name in ("bias", "beta"):
        np.testing.assert_array_equal(value, 0.0)
      elif w.name == "gamma":
        gammas.append(value)
    gammas = np.concatenate(gammas)
    assert gammas.mean() == pytest.approx(1.0, abs=0.005)
    assert gammas.std() == pytest.approx(0.02, rel=0.15)


def test_init_std_is_configurable():
  model = generators.OneStreamGenerator(widths=(32, 16), init_std=0.05, gamma_std=0.0)
  model.build((None, 100))
  kernel = model.trunk.stack.blocks[1].conv.kernel.numpy()
  assert kernel.std() == pytest.approx(0.05, rel=0.05)
  np.testing.assert_array_equal(model.trunk.stack.blocks[0].norm.gamma.numpy(), 1.0)


@pytest.fixture(scope="module")
def image_to_video():
  keras.utils.set_random_seed(2)
  return registry.build("vgan_image_to_video")


def test_image_to_video_layer_shapes(image_to_video):
  model = image_to_video
  image = tf.random.stateless_uniform([1, 64, 64, 3], seed=[7, 8], minval=-1, maxval=1)
  assert shapes_through(model.encoder.blocks, image) == [
    (32, 32, 128),
    (16, 16, 256),
    (8, 8, 512),
    (4, 4, 1024),
  ]
  code = model.encoder(image)
  assert shapes_through(model.trunk.blocks, code[:, None]) == [
    (2, 4, 4, 1024),
    (4, 8, 8, 512),
    (8, 16, 16, 256),
    (16, 32, 32, 128),
  ]
  assert shapes_through(model.background.blocks, code) == [
    (8, 8, 512),
    (16, 16, 256),
    (32, 32, 128),
  ]
  out = model(image, return_streams=True)
  for key, channels in (("video", 3), ("foreground", 3), ("background", 3), ("mask", 1)):
    assert tuple(out[key].shape) == (1, 32, 64, 64, channels), key
  mask = out["mask"].numpy()
  assert mask.min() >= 0.0 and mask.max() <= 1.0
  expected = mask * out["foreground"] + (1 - mask) * out["background"]
  np.testing.assert_allclose(out["video"], expected, atol=1e-6)


def test_image_to_video_parameter_count(image_to_video):
  image_to_video.build((None, 64, 64, 3))
  encoder = (
    conv_params(16, 3, 128)
    + conv_params(16, 128, 256)
    + bn_params(256)
    + conv_params(16, 256, 512)
    + bn_params(512)
    + conv_params(16, 512, 1024)
    + bn_params(1024)
  )
  background = (
    conv_params(16, 1024, 512)
    + bn_params(512)
    + conv_params(16, 512, 256)
    + bn_params(256)
    + conv_params(16, 256, 128)
    + bn_params(128)
    + conv_params(16, 128, 3)
  )
  foreground = (
    conv_params(2, 1024, 1024)
    + bn_params(1024)
    + conv_params(64, 1024, 512)
    + bn_params(512)
    + conv_params(64, 512, 256)
    + bn_params(256)
    + conv_params(64, 256, 128)
    + bn_params(128)
    + conv_params(64, 128, 3)
    + conv_params(64, 128, 1)
  )
  expected = encoder + background + foreground
  assert trainable_count(image_to_video) == expected
  assert torch_count(image_to_video) == expected


def test_contract_attributes():
  one = registry.build("vgan_one_stream")
  assert (one.latent_dim, one.condition, one.video_shape, one.streams) == (
    100,
    None,
    (32, 64, 64, 3),
    (),
  )
  two = registry.build("vgan_two_stream")
  assert (two.latent_dim, two.condition, two.video_shape, two.streams) == (
    100,
    None,
    (32, 64, 64, 3),
    ("foreground", "background", "mask"),
  )
  i2v = registry.build("vgan_image_to_video")
  assert (i2v.latent_dim, i2v.condition, i2v.video_shape, i2v.streams) == (
    0,
    "image",
    (32, 64, 64, 3),
    ("foreground", "background", "mask"),
  )


def test_depth_follows_widths():
  model = generators.TwoStreamGenerator(latent_dim=8, widths=(16, 8), background_widths=(8, 4))
  assert model.video_shape == (8, 16, 16, 3)
  assert tuple(model(tf.zeros([2, 8])).shape) == (2, 8, 16, 16, 3)
  i2v = generators.ImageToVideoGenerator(
    encoder_widths=(4, 8), widths=(8, 4), background_widths=(4,)
  )
  assert i2v.video_shape == (8, 16, 16, 3)
  assert tuple(i2v(tf.zeros([2, 16, 16, 3])).shape) == (2, 8, 16, 16, 3)
  with pytest.raises(ValueError, match="Expected background_widths with 2 entries"):
    generators.TwoStreamGenerator(widths=(16, 8), background_widths=(8,))
  with pytest.raises(ValueError, match="Expected background_widths with 1 entries"):
    generators.ImageToVideoGenerator(encoder_widths=(4, 8), widths=(8, 4), background_widths=(8, 4))


def test_heads_on_one_input_equal_the_separate_heads_and_their_gradients():
  """The two-stream heads run as one transposed convolution (zoo.vgan.blocks): the same
  outputs, and the same gradients for the input and each head's own kernel and bias."""
  keras.utils.set_random_seed(0)
  hidden = tf.random.normal([2, 4, 8, 8, 16])
  video = blocks.output_head(3, 3, "tanh", 0.05, name="video")
  mask = blocks.output_head(3, 1, "sigmoid", 0.05, name="mask")
  video(hidden), mask(hidden)
  for head in (video, mask):
    head.layers[0].bias.assign(tf.random.normal(head.layers[0].bias.shape))
  weights = video.trainable_weights + mask.trainable_weights

  def outputs_and_grads(fused):
    with tf.GradientTape() as tape:
      tape.watch(hidden)
      v, m = (
        blocks.heads_on_one_input(hidden, [video, mask]) if fused else (video(hidden), mask(hidden))
      )
      loss = tf.reduce_sum(v * 1.3) + tf.reduce_sum(m**2)
    return [v, m] + tape.gradient(loss, [hidden] + weights)

  fused, separate = outputs_and_grads(True), outputs_and_grads(False)
  assert fused[0].shape == (2, 8, 16, 16, 3) and fused[1].shape == (2, 8, 16, 16, 1)
  assert len(fused) == 2 + 1 + 4
  for a, b in zip(fused, separate, strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-5 * np.abs(b).max())
