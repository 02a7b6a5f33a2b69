"""I3D: parameter count, endpoint shapes, small-clip forward, kinetics-i3d checkpoint mapping."""

import os

import numpy as np
import pytest
import tensorflow as tf

from zoo import registry
from zoo.i3d import checkpoint as i3d_checkpoint
from zoo.i3d import i3d

SCOPE = "RGB/inception_i3d"


@pytest.fixture(scope="module")
def model():
  m = i3d.InceptionI3D()
  m.build((None, 16, 224, 224, 3))
  return m


def _unit_params(cin, cout, k=1):
  """Bias-free conv weights + BatchNorm beta (no gamma: Sonnet's create_scale=False)."""
  return k**3 * cin * cout + cout


def _mixed_params(cin, widths):
  b0, b1a, b1b, b2a, b2b, b3 = widths
  return (
    _unit_params(cin, b0)
    + _unit_params(cin, b1a)
    + _unit_params(b1a, b1b, 3)
    + _unit_params(cin, b2a)
    + _unit_params(b2a, b2b, 3)
    + _unit_params(cin, b3)
  )


def test_registered_as_i3d():
  assert isinstance(registry.build("i3d", num_classes=7), i3d.InceptionI3D)


def test_trainable_parameter_count(model):
  expected = _unit_params(3, 64, 7) + _unit_params(64, 64) + _unit_params(64, 192, 3)
  cin = 192
  for _, widths in [
    ("3b", (64, 96, 128, 16, 32, 32)),
    ("3c", (128, 128, 192, 32, 96, 64)),
    ("4b", (192, 96, 208, 16, 48, 64)),
    ("4c", (160, 112, 224, 24, 64, 64)),
    ("4d", (128, 128, 256, 24, 64, 64)),
    ("4e", (112, 144, 288, 32, 64, 64)),
    ("4f", (256, 160, 320, 32, 128, 128)),
    ("5b", (256, 160, 320, 32, 128, 128)),
    ("5c", (384, 192, 384, 48, 128, 128)),
  ]:
    expected += _mixed_params(cin, widths)
    cin = widths[0] + widths[2] + widths[4] + widths[5]
  assert cin == 1024
  expected += 1024 * 400 + 400  # Logits/Conv3d_0c_1x1 with bias.
  trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
  # 12,689,984: the paper's "12M" (table 1); PyTorch ports with a BN gamma count 12,697,264.
  assert trainable == expected == 12_689_984
  # Moving mean / variance add 2 x 7,280 BatchNorm channels of non-trainable state.
  assert model.count_params() == expected + 2 * 7_280


def test_endpoint_shapes_at_16x224x224(model):
  fn = tf.function(lambda x: model(x, return_endpoints=True))
  shapes = {
    name: tuple(t.shape)
    for name, t in fn.get_concrete_function(
      tf.TensorSpec([1, 16, 224, 224, 3])
    ).structured_outputs.items()
  }
  assert shapes["Conv3d_1a_7x7"] == (1, 8, 112, 112, 64)
  assert shapes["MaxPool3d_2a_3x3"] == (1, 8, 56, 56, 64)
  assert shapes["Conv3d_2c_3x3"] == (1, 8, 56, 56, 192)
  assert shapes["MaxPool3d_3a_3x3"] == (1, 8, 28, 28, 192)
  assert shapes["Mixed_3b"] == (1, 8, 28, 28, 256)
  assert shapes["Mixed_3c"] == (1, 8, 28, 28, 480)
  assert shapes["MaxPool3d_4a_3x3"] == (1, 4, 14, 14, 480)
  assert shapes["Mixed_4f"] == (1, 4, 14, 14, 832)
  assert shapes["MaxPool3d_5a_2x2"] == (1, 2, 7, 7, 832)
  assert shapes["Mixed_5c"] == (1, 2, 7, 7, 1024)
  assert shapes["Logits"] == (1, 400)
  assert shapes["features"] == (1, 1024)


def test_small_clip_uses_global_pool_and_logits_are_linear_in_features(model):
  videos = tf.random.stateless_uniform([1, 8, 64, 64, 3], seed=[1, 2], minval=-1, maxval=1)
  out = model(videos, return_features=True)
  assert out["logits"].shape == (1, 400) and out["features"].shape == (1, 1024)
  assert np.all(np.isfinite(out["logits"].numpy()))
  conv = model.logits_conv.conv
  kernel = np.reshape(conv.kernel.numpy(), (1024, 400))
  expected = out["features"].numpy() @ kernel + conv.bias.numpy()
  np.testing.assert_allclose(out["logits"].numpy(), expected, rtol=1e-4, atol=1e-4)


def test_same_padding_matches_tf_conv3d_at_stride_2():
  unit = i3d.Unit3D(4, (7, 7, 7), (2, 2, 2), use_batch_norm=False, activation=None)
  x = tf.random.stateless_normal([1, 6, 10, 10, 3], seed=[3, 4])
  ours = unit(x)
  ref = tf.nn.conv3d(x, unit.conv.kernel, strides=[1, 2, 2, 2, 1], padding="SAME")
  np.testing.assert_allclose(ours.numpy(), ref.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("strides", [(1, 1, 1), (2, 2, 2)])
def test_inference_folds_batch_norm_into_the_conv_exactly(strides):
  unit = i3d.Unit3D(6, (3, 3, 3), strides)
  x = tf.random.stateless_normal([2, 5, 9, 9, 4], seed=[5, 6])
  unit.build(x.shape)
  rng = np.random.default_rng(0)
  bn = unit.batch_norm
  bn.moving_mean.assign(rng.normal(0, 1, 6).astype(np.float32))
  bn.moving_variance.assign(rng.uniform(0.2, 3, 6).astype(np.float32))
  bn.beta.assign(rng.normal(0, 1, 6).astype(np.float32))
  folded = unit(x, training=False)
  unfolded = tf.nn.relu(bn(unit.conv(x), training=False))  # conv, then BN, then ReLU
  np.testing.assert_allclose(folded.numpy(), unfolded.numpy(), rtol=1e-5, atol=1e-5)
  assert float(tf.reduce_mean(tf.cast(folded > 0, tf.float32))) > 0.1  # not all clipped


def test_config_round_trip():
  m = i3d.InceptionI3D(num_classes=600, dropout_rate=0.5)
  clone = i3d.InceptionI3D.from_config(m.get_config())
  assert (clone.num_classes, clone.dropout_rate) == (600, 0.5)


def _write_tf1_checkpoint(prefix, tensors):
  """A name-based TF1 checkpoint (what `tf.compat.v1.train.Saver` writes, via SaveV2)."""
  names = sorted(tensors)
  tf.raw_ops.SaveV2(
    prefix=prefix,
    tensor_names=names,
    shape_and_slices=[""] * len(names),
    tensors=[tf.constant(tensors[n]) for n in names],
  )


def _fake_release_tensors(model, rng):
  """Every release variable with the release's shapes (BN statistics keep rank 5)."""
  tensors = {}
  for name, variable in i3d_checkpoint.variable_map(model, SCOPE).items():
    shape = tuple(variable.shape)
    if "/batch_norm/" in name:
      shape = (1, 1, 1, 1) + shape
    tensors[name] = rng.standard_normal(shape, dtype=np.float32)
    if name.endswith("moving_variance"):
      tensors[name] = np.abs(tensors[name]) + 0.5
  return tensors


@pytest.fixture(scope="module")
def release_checkpoint(model, tmp_path_factory):
  """(prefix, tensors) of a fake rgb checkpoint with every release name and shape."""
  tensors = _fake_release_tensors(model, np.random.default_rng(0))
  # Outside the RGB scope: ignored, as in the release's joint checkpoints.
  tensors["global_step"] = np.array(7, np.int64)
  tensors["Flow/inception_i3d/Conv3d_1a_7x7/conv_3d/w"] = np.zeros([1], np.float32)
  prefix = os.path.join(tmp_path_factory.mktemp("kinetics_i3d"), "model.ckpt")
  _write_tf1_checkpoint(prefix, tensors)
  return prefix, tensors


def test_variable_map_covers_every_weight_with_release_names(model):
  mapping = i3d_checkpoint.variable_map(model, SCOPE)
  assert len(mapping) == len(model.weights) == 57 * 4 + 2
  assert {id(v) for v in mapping.values()} == {id(v) for v in model.weights}
  for name in [
    f"{SCOPE}/Conv3d_1a_7x7/conv_3d/w",
    f"{SCOPE}/Conv3d_1a_7x7/batch_norm/beta",
    f"{SCOPE}/Mixed_3b/Branch_1/Conv3d_0b_3x3/conv_3d/w",
    f"{SCOPE}/Mixed_5b/Branch_2/Conv3d_0a_3x3/conv_3d/w",
    f"{SCOPE}/Mixed_5c/Branch_3/Conv3d_0b_1x1/batch_norm/moving_variance",
    f"{SCOPE}/Logits/Conv3d_0c_1x1/conv_3d/w",
    f"{SCOPE}/Logits/Conv3d_0c_1x1/conv_3d/b",
  ]:
    assert name in mapping, name


def test_loads_fake_release_checkpoint(release_checkpoint):
  prefix, tensors = release_checkpoint
  fresh = i3d.InceptionI3D()  # Built by the loader, channels read from Conv3d_1a.
  loaded = i3d_checkpoint.load_kinetics_i3d_checkpoint(fresh, prefix)
  assert len(loaded) == 57 * 4 + 2
  np.testing.assert_array_equal(
    fresh.conv3d_1a.conv.kernel.numpy(), tensors[f"{SCOPE}/Conv3d_1a_7x7/conv_3d/w"]
  )
  np.testing.assert_array_equal(
    fresh.mixed["Mixed_3b"].branch_1b.batch_norm.moving_mean.numpy(),
    tensors[f"{SCOPE}/Mixed_3b/Branch_1/Conv3d_0b_3x3/batch_norm/moving_mean"].reshape(-1),
  )
  np.testing.assert_array_equal(
    fresh.mixed["Mixed_5b"].branch_2b.batch_norm.beta.numpy(),
    tensors[f"{SCOPE}/Mixed_5b/Branch_2/Conv3d_0a_3x3/batch_norm/beta"].reshape(-1),
  )
  np.testing.assert_array_equal(
    fresh.logits_conv.conv.bias.numpy(), tensors[f"{SCOPE}/Logits/Conv3d_0c_1x1/conv_3d/b"]
  )


def test_mismatched_checkpoint_lists_missing_and_unexpected_names(model, tmp_path):
  tensors = {
    f"{SCOPE}/Conv3d_1a_7x7/conv_3d/w": np.zeros([7, 7, 7, 3, 64], np.float32),
    f"{SCOPE}/Mixed_9z/conv_3d/w": np.zeros([1], np.float32),
  }
  prefix = os.path.join(tmp_path, "partial.ckpt")
  _write_tf1_checkpoint(prefix, tensors)
  before = model.conv3d_1a.conv.kernel.numpy()
  with pytest.raises(i3d_checkpoint.CheckpointMismatchError) as info:
    i3d_checkpoint.load_kinetics_i3d_checkpoint(model, prefix)
  message = str(info.value)
  assert "Missing from the checkpoint 229" in message
  assert f"{SCOPE}/Conv3d_1a_7x7/batch_norm/beta" in message
  assert f"Unexpected in the checkpoint 1: [{SCOPE}/Mixed_9z/conv_3d/w]" in message
  np.testing.assert_array_equal(model.conv3d_1a.conv.kernel.numpy(), before)


def test_missing_checkpoint_path_raises_with_path(model, tmp_path):
  path = os.path.join(tmp_path, "nowhere", "model.ckpt")
  with pytest.raises(FileNotFoundError, match="nowhere"):
    i3d_checkpoint.load_kinetics_i3d_checkpoint(model, path)


def test_keras_i3d_embedder_is_fvds_drop_in(release_checkpoint):
  from trainers.eval import fvd
  from trainers.eval import i3d_keras

  prefix, _ = release_checkpoint
  # 64x64 keeps the test small; FVD itself is defined at 224x224 (the default).
  embedder = fvd.make_embedder("i3d_keras", i3d_path=prefix, resolution=(64, 64))
  assert isinstance(embedder, i3d_keras.I3DEmbedder) and embedder.name == "i3d_keras"
  assert fvd.metric_name(embedder) == "FVD"
  videos = np.random.default_rng(4).integers(0, 256, [2, 8, 48, 48, 3], dtype=np.uint8)
  out = embedder(videos)
  assert out.shape == (2, 400) and out.dtype == np.float32 and np.all(np.isfinite(out))
  expected = embedder.model(fvd.preprocess(videos, (64, 64)), training=False).numpy()
  np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)


def test_keras_i3d_embedder_never_runs_without_weights(tmp_path):
  from trainers.eval import fvd
  from trainers.eval import i3d_keras

  with pytest.raises(fvd.I3DUnavailableError, match="random weights"):
    i3d_keras.I3DEmbedder()
  missing = os.path.join(tmp_path, "rgb_imagenet", "model.ckpt")
  with pytest.raises(fvd.I3DUnavailableError, match="rgb_imagenet"):
    i3d_keras.I3DEmbedder(checkpoint_path=missing)


def test_xla_compiled_and_saved_model_i3d_match_keras(model, tmp_path):
  """The native I3D compiles with XLA and exports as a SavedModel with the same logits."""
  videos = tf.random.stateless_uniform([1, 8, 64, 64, 3], seed=[7, 8], minval=-1, maxval=1)
  expected = model(videos, training=False).numpy()
  xla = tf.function(lambda v: model(v, training=False), jit_compile=True)
  np.testing.assert_allclose(xla(videos).numpy(), expected, rtol=1e-4, atol=1e-4)

  module = tf.Module()
  module.model_variables = [v.value for v in model.weights]  # the tf.Variables, tracked
  module.embed = tf.function(
    lambda v: model(v, training=False),
    input_signature=[tf.TensorSpec([None, 8, 64, 64, 3], tf.float32)],
  )
  path = str(tmp_path / "i3d_saved_model")
  tf.saved_model.save(module, path, signatures={"serving_default": module.embed})
  loaded = tf.saved_model.load(path)
  np.testing.assert_allclose(loaded.embed(videos).numpy(), expected, rtol=1e-5, atol=1e-5)
  served = loaded.signatures["serving_default"](v=videos)
  np.testing.assert_allclose(next(iter(served.values())).numpy(), expected, rtol=1e-5, atol=1e-5)
