"""Egan's SPADE networks: Table 4.2 counts, the 2D mask branch broadcast over frames, its
shared convolution of class ids and its gamma and beta maps' weight gradients in both forms,
the PatchGAN's patch logits and features, and inflation of the pair."""

from ai_edge_litert import interpreter as litert
import form_checks
import keras
import numpy as np
import pytest
import tensorflow as tf

from export import tflite
from vgan_counts import torch_count
from zoo import inflation
from zoo import registry
from zoo.layers import form_choice
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


def test_spade_norm_gradient_makes_no_zero_filled_copy():
  """The affine maps gain their time axis by a reshape, whose gradient is one too: a slice
  with a new axis differentiates into a zero-filled copy (StridedSliceGrad) per map."""
  norm = spade_layers.SPADE(3, 6, nhidden=8)
  x = tf.random.stateless_normal([2, 3, 8, 8, 6], seed=[1, 2])
  seg = tf.one_hot(tf.random.stateless_uniform([2, 4, 4], [3, 4], 0, 5, tf.int32), 5)
  norm(x, seg)

  @tf.function
  def grads(x, seg):
    with tf.GradientTape() as tape:
      loss = tf.reduce_sum(tf.sin(norm(x, seg, training=True)))
    return tape.gradient(loss, norm.trainable_variables)

  graph = grads.get_concrete_function(x, seg).graph
  assert "StridedSliceGrad" not in {op.type for op in graph.get_operations()}


def _mask_conv_case(dtype="float32"):
  """SPADE's shared convolution (7 classes -> 5) and ids with some outside [0, 7)."""
  layer = keras.layers.Conv2D(5, 3, padding="same", activation="relu", dtype=dtype)
  layer.build((None, None, None, 7))
  rng = np.random.default_rng(0)
  layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
  ids = tf.constant(rng.integers(-2, 9, (2, 6, 5)), tf.int32)
  return layer, ids


def _value_and_grads(fn, variables, seed=3):
  """fn() and the gradients of a fixed projection of it w.r.t. `variables`, traced (a graph
  looks at no ids: those outside the classes reach the forms)."""

  @tf.function
  def run():
    with tf.GradientTape() as tape:
      out = tf.cast(fn(), tf.float32)
      loss = tf.reduce_sum(out * tf.random.stateless_normal(out.shape, [seed, 1]))
    return out, tape.gradient(loss, variables)

  return run()


@pytest.mark.parametrize("form", ["native", "lookup"])
def test_mask_conv_equals_the_layer_on_the_one_hot_mask(form, monkeypatch):
  # The Keras layer on tf.one_hot (ids outside the classes: a row of zeros, no class).
  monkeypatch.setenv(form_choice.POLICY_ENV, form)
  layer, ids = _mask_conv_case()
  ref, ref_grads = _value_and_grads(lambda: layer(tf.one_hot(ids, 7)), layer.weights)
  out, grads = _value_and_grads(lambda: spade_layers.mask_conv(layer, ids, 7), layer.weights)
  assert out.shape == (2, 6, 5, 5) and float(tf.reduce_max(ref)) > 0
  np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-6)
  for a, b in zip(grads, ref_grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
  # Under mixed precision: bfloat16 rows, summed in float32 as the convolution accumulates.
  layer16 = keras.layers.Conv2D(5, 3, padding="same", activation="relu", dtype="mixed_bfloat16")
  layer16.build((None, None, None, 7))
  layer16.set_weights(layer.get_weights())
  out16 = spade_layers.mask_conv(layer16, ids, 7)
  assert out16.dtype == tf.bfloat16
  np.testing.assert_allclose(tf.cast(out16, tf.float32), ref, rtol=2e-2, atol=2e-2)


def test_mask_conv_is_measured_once_and_remembered(monkeypatch, tmp_path):
  layer, ids = _mask_conv_case()
  form_checks.measured_once_and_remembered(
    monkeypatch,
    tmp_path,
    lambda: spade_layers.mask_conv(layer, ids, 7),
    "mask_conv float32 [2, 6, 5] [3, 3, 7, 5] lookup,native",
    "lookup",
  )


def _map_case(dtype="float32"):
  """A gamma or beta map (8 -> 5 channels, an odd 3x5 kernel) and a hidden map."""
  layer = keras.layers.Conv2D(5, (3, 5), padding="same", dtype=dtype)
  layer.build((None, None, None, 8))
  rng = np.random.default_rng(1)
  layer.set_weights([rng.normal(0, 0.3, w.shape).astype("float32") for w in layer.get_weights()])
  return layer, tf.constant(rng.normal(0, 1, (2, 6, 7, 8)), tf.float32)


@pytest.mark.parametrize("form", ["native", "taps"])
def test_map_conv_equals_the_layer_and_its_gradients(form, monkeypatch):
  monkeypatch.setenv(form_choice.POLICY_ENV, form)
  layer, hidden = _map_case()
  variables = [tf.Variable(hidden), *layer.trainable_variables]  # dL/d(hidden) too
  ref, ref_grads = _value_and_grads(lambda: layer(variables[0]), variables)
  out, grads = _value_and_grads(lambda: spade_layers.map_conv(layer, variables[0]), variables)
  assert out.shape == (2, 6, 7, 5) and len(grads) == 3
  np.testing.assert_allclose(out, ref, rtol=1e-5, atol=1e-5)
  for a, b in zip(grads, ref_grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
  # Traced with an unknown batch (a SavedModel's signature), and under mixed precision.
  traced = tf.function(
    lambda h: tf.gradients(spade_layers.map_conv(layer, h), [layer.kernel])[0],
    input_signature=[tf.TensorSpec([None, 6, 7, 8])],
  )
  with tf.GradientTape() as tape:
    plain = tf.reduce_sum(layer(hidden))
  np.testing.assert_allclose(
    traced(hidden), tape.gradient(plain, layer.kernel), rtol=1e-4, atol=1e-4
  )
  layer16, _ = _map_case("mixed_bfloat16")
  out16 = spade_layers.map_conv(layer16, tf.cast(hidden, tf.bfloat16))
  assert out16.dtype == tf.bfloat16
  np.testing.assert_allclose(tf.cast(out16, tf.float32), ref, rtol=3e-2, atol=3e-2)


def test_map_conv_filter_gradient_is_measured_once_and_remembered(monkeypatch, tmp_path):
  layer, hidden = _map_case()
  form_checks.measured_once_and_remembered(
    monkeypatch,
    tmp_path,
    lambda: spade_layers.map_conv(layer, hidden),
    "conv2d_filter_gradient float32 [2, 6, 7, 8] [3, 5, 8, 5] native,taps",
    "taps",
  )


def test_generator_given_ids_equals_the_one_hot_mask_and_keeps_its_weights():
  # tests/conftest.py's policy ("rules") takes the lookup for ids; a one-hot mask takes the
  # layer itself. Same variables (paths included), same video, same gradients.
  g = registry.build("egan_spade_generator_3d", frames=4, temporal_scalings=1, **TINY)
  g.build()
  shared = [v.path.split("/", 1)[1] for v in g.weights if "/shared/" in v.path]
  # head_0 and G_middle_1: two norms each; up_0 (16nf -> nf): three.
  assert "head_0/norm_0/shared/kernel" in shared and len(shared) == 2 * 7
  state = [v.numpy() for v in g.weights]
  mask = tf.random.stateless_uniform([2, 16, 16], [5, 6], 0, 4, tf.int32)
  z = tf.random.stateless_normal([2, 256], [1, 1])
  results = []
  for condition in (mask, tf.one_hot(mask, 4)):
    for v, value in zip(g.weights, state, strict=True):  # training mode moves the statistics
      v.assign(value)
    run = lambda c=condition: g({"z": z, "mask": c}, training=True)
    results.append(_value_and_grads(run, g.trainable_variables))
  (ids_video, ids_grads), (onehot_video, onehot_grads) = results
  np.testing.assert_allclose(ids_video, onehot_video, rtol=1e-5, atol=1e-5)
  for a, b in zip(ids_grads, onehot_grads, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_building_times_no_form(monkeypatch, tmp_path):
  # Building traces the networks on symbolic inputs of unknown batch: no shape there is one
  # that training runs, so nothing is timed (before: every form at batch 1, once per machine).
  monkeypatch.setenv(form_choice.POLICY_ENV, "auto")
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))

  def no_measuring(run, slow):
    raise AssertionError("Expected no form timed while building.")

  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  monkeypatch.setattr(form_choice, "_median_secs", no_measuring)
  g = registry.build("egan_spade_generator_3d", frames=4, temporal_scalings=1, use_vae=True, **TINY)
  g.build()
  d = registry.build(
    "egan_spade_discriminator_3d", video_shape=(4, 16, 16, 3), num_classes=4, widths=(8, 16)
  )
  d.build()
  assert g.built and d.built and g.encoder.weights
  assert not list(tmp_path.glob("forms-*.json"))


def test_generator_with_lookups_converts_to_tflite_with_builtin_ops():
  # The export's frozen function traces under `forward_only`: the lookup without its custom
  # gradient, builtin ops only, a signature, the Keras generator's video.
  g = registry.build("egan_spade_generator_2d", **TINY)
  g.build()
  model, flex = tflite.convert(g, "float32")
  assert flex == []
  interpreter = litert.Interpreter(model_content=model)
  assert interpreter.get_signature_list() == {
    "serving_default": {"inputs": ["mask", "z"], "outputs": ["video"]}
  }
  mask = tf.random.stateless_uniform([1, 16, 16], [5, 6], 0, 4, tf.int32)
  z = tf.random.stateless_normal([1, 256], [1, 1])
  video = interpreter.get_signature_runner()(mask=mask.numpy(), z=z.numpy())["video"]
  np.testing.assert_allclose(video, g({"z": z, "mask": mask}), atol=1e-4)


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
