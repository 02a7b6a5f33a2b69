"""(Re)live Photos next-frame predictors: paper-size shapes, teacher forcing vs rollout."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import bn_params
from vgan_counts import conv_params
from vgan_counts import trainable_count
from zoo import registry

SMALL = {
  "relive_lstm": dict(
    video_shape=(6, 16, 16, 3), encoder_widths=(4, 8), units=8, decoder_widths=(8, 4), dropout=0.2
  ),
  "relive_convlstm": dict(
    video_shape=(6, 16, 16, 3), encoder_widths=(4, 8), filters=4, decoder_widths=(4,), dropout=0.2
  ),
  "relive_cnn_next_frame": dict(
    video_shape=(6, 16, 16, 3), encoder_widths=(4, 8), decoder_widths=(4,), mode="residual"
  ),
}


def clip(frames=6, size=16, seed=0):
  return tf.random.stateless_uniform([2, frames, size, size, 3], [seed, 1], -1, 1)


def test_lstm_paper_size_shapes_and_count():
  p = registry.build("relive_lstm")
  frames = tf.random.uniform([1, 3, 64, 64, 3], -1, 1)
  flat = tf.reshape(frames, [3, 64, 64, 3])
  x = flat
  shapes = []
  for layer in p.encoder.layers_:
    x = layer(x)
    shapes.append(tuple(x.shape[1:]))
  assert shapes == [(32, 32, 64), (16, 16, 128), (8, 8, 256), (4, 4, 512)]
  vectors = p.encode(flat, False)
  assert tuple(vectors.shape) == (3, 1024)
  outputs, state = p.core(tf.reshape(vectors, [1, 3, 1024]), None, False)
  assert tuple(outputs.shape) == (1, 3, 1024) and [tuple(s.shape) for s in state] == [
    (1, 1024),
    (1, 1024),
  ]
  assert tuple(p.to_map(outputs[:, 0]).shape) == (1, 4 * 4 * 512)
  x = tf.zeros([1, 4, 4, 512])
  shapes = []
  for layer in p.decoder.layers_:
    x = layer(x)
    shapes.append(tuple(x.shape[1:]))
  assert shapes == [(8, 8, 256), (16, 16, 128), (32, 32, 64)]
  assert tuple(p.teacher_forced(frames).shape) == (1, 3, 64, 64, 3)
  assert tuple(p.rollout(frames[:, :1], 2).shape) == (1, 2, 64, 64, 3)
  assert p.video_shape == (32, 64, 64, 3)  # call() rolls out to 32 frames (small tests below)
  encoder = (
    conv_params(16, 3, 64)
    + conv_params(16, 64, 128)
    + bn_params(128)
    + conv_params(16, 128, 256)
    + bn_params(256)
    + conv_params(16, 256, 512)
    + bn_params(512)
    + 8192 * 1024
    + 1024
  )
  lstm = 4 * (1024 * 1024 + 1024 * 1024 + 1024)
  decoder = (
    1024 * 8192
    + 8192
    + conv_params(16, 512, 256)
    + bn_params(256)
    + conv_params(16, 256, 128)
    + bn_params(128)
    + conv_params(16, 128, 64)
    + bn_params(64)
    + conv_params(16, 64, 3)
  )
  assert trainable_count(p) == encoder + lstm + decoder


def test_convlstm_and_cnn_paper_size_shapes():
  frames = tf.random.uniform([1, 2, 64, 64, 3], -1, 1)
  conv = registry.build("relive_convlstm")
  maps = conv.encode(tf.reshape(frames, [2, 64, 64, 3]), False)
  assert tuple(maps.shape[1:]) == (16, 16, 128)
  out, (h, c) = conv.core(tf.reshape(maps, [1, 2, 16, 16, 128]), None, False)
  assert tuple(out.shape[1:]) == (2, 16, 16, 128)
  assert tuple(h.shape[1:]) == (16, 16, 128) == tuple(c.shape[1:])
  assert tuple(conv.rollout(frames[:, :1], 2).shape) == (1, 2, 64, 64, 3)
  # ConvLSTM2D: 4 gates, kernel 3x3 over input and state (128 + 128 channels), bias.
  assert trainable_count(conv.convlstm) == 4 * (9 * 128 * 128 + 9 * 128 * 128 + 128)
  for mode in ("direct", "residual"):
    cnn = registry.build("relive_cnn_next_frame", mode=mode)
    assert tuple(cnn.encode(frames[0], False).shape[1:]) == (4, 4, 512)
    assert tuple(cnn.teacher_forced(frames).shape) == (1, 2, 64, 64, 3)
  with pytest.raises(ValueError, match="mode"):
    registry.build("relive_cnn_next_frame", mode="delta")
  with pytest.raises(ValueError, match="context_frames"):
    registry.build("relive_lstm", context_frames=32)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_teacher_forcing_reads_truth_and_rollout_feeds_its_own_predictions(name):
  keras.utils.set_random_seed(1)
  p = registry.build(name, **SMALL[name])
  video = clip()
  forced = p.teacher_forced(video[:, :4])
  rolled = p.rollout(video[:, :1], 4)
  assert tuple(forced.shape) == tuple(rolled.shape) == (2, 4, 16, 16, 3)
  # Step 0 sees the same true frame either way; later steps differ (truth vs predictions).
  np.testing.assert_allclose(forced[:, 0], rolled[:, 0], atol=1e-5)
  assert float(tf.reduce_max(tf.abs(forced[:, 1:] - rolled[:, 1:]))) > 1e-3
  # Rollout == teacher forcing on [frame 0, its own predictions]: predictions are fed back.
  own = tf.concat([video[:, :1], rolled[:, :3]], axis=1)
  np.testing.assert_allclose(p.teacher_forced(own), rolled, atol=1e-5)
  # The dynamic-horizon rollout (the exported predict signature) matches the unrolled one.
  np.testing.assert_allclose(p.rollout(video[:, :1], tf.constant(4)), rolled, atol=1e-5)
  # call(): the context frames, then the rollout up to video_shape[0] frames.
  full = p(video[:, :1])
  assert tuple(full.shape) == (2, 6, 16, 16, 3)
  np.testing.assert_allclose(full[:, 0], video[:, 0])
  np.testing.assert_allclose(full[:, 1:5], rolled, atol=1e-5)


def test_residual_predicts_the_change():
  p = registry.build("relive_cnn_next_frame", **SMALL["relive_cnn_next_frame"])
  video = clip()
  decoded = p.decode(p.encode(video[:, 0], False), False)
  np.testing.assert_allclose(
    p.teacher_forced(video[:, :1])[:, 0],
    tf.clip_by_value(video[:, 0] + 2 * decoded, -1, 1),
    atol=1e-5,
  )


def test_dropout_only_in_training():
  p = registry.build("relive_lstm", **dict(SMALL["relive_lstm"], dropout=0.5))
  video = clip()
  a, b = p.teacher_forced(video, training=False), p.teacher_forced(video, training=False)
  np.testing.assert_allclose(a, b)
  c = p.teacher_forced(video, training=True)
  assert float(tf.reduce_max(tf.abs(a - c))) > 0


@pytest.mark.parametrize("name", sorted(SMALL))
def test_build_traces_one_pass_and_creates_every_variable(name, monkeypatch):
  built = registry.build(name, **SMALL[name])
  passes = []
  original = type(built)._predict
  monkeypatch.setattr(
    type(built), "_predict", lambda self, *a, **k: passes.append(1) or original(self, *a, **k)
  )
  built.build((None, 1, 16, 16, 3))
  assert len(passes) == 1  # the rollout of `call` would trace 5
  called = registry.build(name, **SMALL[name])
  called(clip()[:, :1])
  assert built.built and len(passes) == 1 + 6  # its build's pass, then the call's 5
  assert [w.shape for w in built.weights] == [w.shape for w in called.weights]
  assert tuple(built(clip()[:, :1]).shape) == (2, 6, 16, 16, 3)
