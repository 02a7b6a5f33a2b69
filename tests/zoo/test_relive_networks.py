"""(Re)live Photos GAN networks at paper size (32x64x64): layer shapes, hand parameter counts,
critic norms, the photo / segmentation / Inception conditioning and the weights refusal."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import bn_params
from vgan_counts import conv_params
from vgan_counts import trainable_count
from zoo import registry
from zoo.relive import critics
from zoo.relive import inception

Z = 100


def shapes_through(layers, x):
  shapes = []
  for layer in layers:
    x = layer(x, training=False)
    shapes.append(tuple(x.shape[1:]))
  return shapes, x


# Hand counts (docs/architecture.md): a 4x4x4 kernel has 64 taps, a 2D 4x4 16.
TRUNK = (
  conv_params(64, 512, 256)
  + bn_params(256)
  + conv_params(64, 256, 128)
  + bn_params(128)
  + conv_params(64, 128, 64)
  + bn_params(64)
  + conv_params(64, 64, 3)
)
PROJECTION = Z * 2 * 4 * 4 * 512 + 2 * 4 * 4 * 512 + bn_params(2 * 4 * 4 * 512)
CRITIC = (
  conv_params(64, 3, 64)
  + conv_params(64, 64, 128)
  + bn_params(128)
  + conv_params(64, 128, 256)
  + bn_params(256)
  + conv_params(64, 256, 512)
  + bn_params(512)
  + conv_params(2 * 4 * 4, 512, 1)
)


@pytest.fixture(scope="module")
def generator():
  keras.utils.set_random_seed(0)
  return registry.build("relive_wgan")


def test_wgan_generator_layer_shapes_and_count(generator):
  code = generator.project(tf.random.normal([1, Z]), training=False)
  assert tuple(code.shape[1:]) == (2, 4, 4, 512)
  shapes, hidden = shapes_through(generator.decoder.trunk, code)
  assert shapes == [(4, 8, 8, 256), (8, 16, 16, 128), (16, 32, 32, 64)]
  video = generator.decoder.video_head(hidden)
  assert tuple(video.shape[1:]) == (32, 64, 64, 3) == generator.video_shape
  assert float(tf.reduce_max(tf.abs(video))) <= 1.0
  assert trainable_count(generator) == PROJECTION + TRUNK
  assert (generator.latent_dim, generator.condition, generator.streams) == (100, None, ())


def test_two_stream_wgan_streams_and_count():
  g = registry.build("relive_wgan", two_stream=True)
  out = g(tf.random.normal([1, Z]), return_streams=True)
  assert {k: tuple(v.shape[1:]) for k, v in out.items()} == {
    "video": (32, 64, 64, 3),
    "foreground": (32, 64, 64, 3),
    "background": (32, 64, 64, 3),
    "mask": (32, 64, 64, 1),
  }
  background_map = g.background_project(tf.random.normal([1, Z]))
  assert tuple(background_map.shape[1:]) == (4, 4, 512)
  assert shapes_through(g.decoder.background, background_map)[0] == [
    (8, 8, 256),
    (16, 16, 128),
    (32, 32, 64),
  ]
  background = (
    Z * 16 * 512
    + 16 * 512
    + bn_params(16 * 512)
    + conv_params(16, 512, 256)
    + bn_params(256)
    + conv_params(16, 256, 128)
    + bn_params(128)
    + conv_params(16, 128, 64)
    + bn_params(64)
    + conv_params(16, 64, 3)
  )
  assert trainable_count(g) == PROJECTION + TRUNK + conv_params(64, 64, 1) + background
  # m * f + (1 - m) * b, the background constant over time.
  m, f, b = out["mask"], out["foreground"], out["background"]
  tf.debugging.assert_near(out["video"], m * f + (1 - m) * b, atol=1e-5)
  tf.debugging.assert_near(b[:, 0], b[:, -1])


@pytest.mark.parametrize(
  "norm,extra",
  [("layer", bn_params(128 + 256 + 512)), ("none", 0), ("batch", bn_params(128 + 256 + 512))],
)
def test_critic_layer_shapes_counts_and_norms(norm, extra):
  d = registry.build("relive_critic", critic_norm=norm)
  x = tf.random.normal([2, 32, 64, 64, 3])
  shapes, features = shapes_through(d.trunk, x)
  assert shapes == [(16, 32, 32, 64), (8, 16, 16, 128), (4, 8, 8, 256), (2, 4, 4, 512)]
  assert tuple(d(x).shape) == (2, 1)
  assert tuple(d.final(features).shape[1:]) == (1, 1, 1, 1)
  assert trainable_count(d) == CRITIC - bn_params(128 + 256 + 512) + extra
  kinds = {type(layer.norm).__name__ for layer in d.trunk if layer.norm is not None}
  expected = {"layer": {"GroupNormalization"}, "none": set(), "batch": {"FusedBatchNormalization"}}
  assert kinds == expected[norm]
  assert d.trunk[0].norm is None


def test_layer_norm_critic_scores_each_sample_alone():
  """Layer norm keeps samples independent (what the per-sample gradient penalty needs):
  a clip's score does not depend on the rest of the batch, in training mode too."""
  d = registry.build("relive_critic", video_shape=(8, 16, 16, 3), widths=(8, 16))
  x = tf.random.normal([3, 8, 16, 16, 3])
  alone = d(x[:1], training=True)
  together = d(x, training=True)[:1]
  tf.debugging.assert_near(alone, together, atol=1e-5)
  with pytest.raises(ValueError, match="critic_norm"):
    registry.build("relive_critic", critic_norm="instance")


def test_conditional_generator_encoder_and_critic_shapes():
  g = registry.build("relive_conditional_wgan")
  photo = tf.random.uniform([1, 64, 64, 3], -1, 1)
  shapes, features = shapes_through(g.encoder.down, photo)
  assert shapes == [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512)]
  code, _ = g.encoder(photo)
  assert tuple(code.shape[1:]) == (2, 4, 4, 512) and tuple(features.shape[1:]) == (4, 4, 512)
  video = g(photo)
  assert tuple(video.shape) == (1, 32, 64, 64, 3)
  assert (g.latent_dim, g.condition) == (0, "image")
  encoder = (
    conv_params(16, 3, 64)
    + conv_params(16, 64, 128)
    + bn_params(128)
    + conv_params(16, 128, 256)
    + bn_params(256)
    + conv_params(16, 256, 512)
    + bn_params(512)
    + conv_params(9, 512, 1024)
    + bn_params(1024)
  )
  assert trainable_count(g) == encoder + TRUNK
  d = registry.build("relive_critic", conditional=True)
  x = d.inputs_of(video, photo)
  assert tuple(x.shape) == (1, 32, 64, 64, 6)
  tiled = tf.tile(tf.cast(photo, video.dtype)[:, None], [1, 32, 1, 1, 1])
  np.testing.assert_array_equal(x.numpy(), tf.concat([video, tiled], -1).numpy())
  assert tuple(d(video, condition=photo).shape) == (1, 1)
  assert trainable_count(d) == CRITIC + 3 * 64 * 64  # three more input channels
  with pytest.raises(ValueError, match="photo condition"):
    d(video)


def test_segmentation_generator_reads_photo_and_one_hot():
  g = registry.build(
    "relive_segmentation_conditional",
    encoder_widths=(8, 16),
    widths=(32, 16),
    background_widths=(32, 16),
    num_classes=5,
  )
  photo = tf.zeros([2, 16, 16, 3])
  seg = tf.constant([[[1] * 16] * 16, [[4] * 16] * 16], tf.int32)
  x = g.encoder_input({"image": photo, "segmentation": seg})
  assert tuple(x.shape) == (2, 16, 16, 3 + 5)
  assert float(x[0, 0, 0, 3 + 1]) == 1.0 and float(x[1, 0, 0, 3 + 4]) == 1.0
  video = g({"image": photo, "segmentation": seg})
  assert tuple(video.shape) == (2, 8, 16, 16, 3)
  assert g.encoder.down[0].conv.kernel.shape[2] == 8  # 3 photo + 5 class channels
  # The segmentation changes the clip (it is not ignored).
  other = g({"image": photo, "segmentation": tf.zeros_like(seg)})
  assert float(tf.reduce_max(tf.abs(video - other))) > 0
  with pytest.raises(ValueError, match="segmentation"):
    g(photo)


def test_inception_weights_refused_without_a_local_file(tmp_path, monkeypatch):
  monkeypatch.setenv("KERAS_HOME", str(tmp_path))
  with pytest.raises(FileNotFoundError, match="refuses to build with random weights"):
    registry.build("relive_inception_conditional")
  with pytest.raises(FileNotFoundError, match="no such file"):
    registry.build("relive_inception_critic", weights=str(tmp_path / "missing.h5"))
  assert inception.cache_path().startswith(str(tmp_path))


def test_inception_conditional_shapes_with_test_only_weights():
  """At paper size: 299x299 photo -> 8x8x2048 -> 512 -> 4x8x8 -> 32x64x64; the backbone is
  frozen; the critic joins the features at its 4x8x8 stage."""
  g = registry.build("relive_inception_conditional", weights=inception.UNTRAINED_FOR_TESTS_ONLY)
  photo = tf.random.uniform([1, 64, 64, 3], -1, 1)
  features = g.features(photo)
  assert tuple(features.shape[1:]) == (8, 8, 2048)
  code = g.project(features)
  assert tuple(code.shape[1:]) == (8, 8, 512) and g.code_shape == (4, 8, 8)
  shapes, _ = shapes_through(g.decoder.trunk, tf.zeros([1, 4, 8, 8, 512]))
  assert shapes == [(8, 16, 16, 256), (16, 32, 32, 128)]
  video = g(photo)
  assert tuple(video.shape) == (1, 32, 64, 64, 3)
  assert not g.features.backbone.trainable
  assert trainable_count(g) == (
    conv_params(1, 2048, 512)
    + bn_params(512)
    + conv_params(64, 512, 256)
    + bn_params(256)
    + conv_params(64, 256, 128)
    + bn_params(128)
    + conv_params(64, 128, 3)
  )
  d = registry.build("relive_inception_critic", weights=inception.UNTRAINED_FOR_TESTS_ONLY)
  assert d.stage_shape == (4, 8, 8)
  assert tuple(d(video, condition=photo).shape) == (1, 1)
  assert trainable_count(d) == CRITIC + conv_params(1, 2048, 64) + 64 * 512 * 64
  assert critics.photo_of({"image": photo}) is photo
