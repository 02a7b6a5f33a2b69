"""The "k4 s2" 3D convolutions of zoo.layers.strided_conv equal Keras' layers: values,
gradients, second order, in every form and policy (tests/conftest.py sets "rules")."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import form_choice
from zoo.layers import strided_conv

# The op only each form traces (TF's forms trace neither).
_FORM_OPS = {
  "native": set(),
  "subpixel": {"DepthToSpace"},
  "patch": {"ExtractVolumePatches"},
  "space_to_depth": {"SpaceToDepth"},
}


def _pair(transpose, filters, input_shape, seed=0, padding="same"):
  """Our layer and Keras' with the same weights, built on `input_shape`."""
  ours_cls = strided_conv.Conv3DTranspose if transpose else strided_conv.Conv3D
  ref_cls = keras.layers.Conv3DTranspose if transpose else keras.layers.Conv3D
  ours = ours_cls(filters, 4, strides=2, padding=padding)
  ref = ref_cls(filters, 4, strides=2, padding=padding)
  ours.build(input_shape)
  ref.build(input_shape)
  rng = np.random.default_rng(seed)
  weights = [rng.normal(0, 0.1, w.shape).astype("float32") for w in ours.get_weights()]
  ours.set_weights(weights)
  ref.set_weights(weights)
  x = tf.constant(rng.normal(0, 1, input_shape).astype("float32"))
  return ours, ref, x


@pytest.fixture
def policy(monkeypatch, tmp_path):
  """Sets the forms policy, with a cache in `tmp_path`; returns the cache directory."""

  def set_policy(value):
    monkeypatch.setenv(form_choice.POLICY_ENV, value)
    monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
    return tmp_path

  return set_policy


def _form_ops(layer, x):
  """Which forms' own ops the layer's forward and gradients trace for x."""

  @tf.function
  def run(x):
    with tf.GradientTape() as tape:
      tape.watch(x)
      y = layer(x)
    return tape.gradient(y, [x, layer.kernel])

  graph = run.get_concrete_function(tf.TensorSpec(x.shape)).graph
  return {op.type for op in graph.get_operations()} & set().union(*_FORM_OPS.values())


def _grads(layer, x, dy_seed=1):
  with tf.GradientTape() as tape:
    tape.watch(x)
    y = layer(x)
  dy = tf.random.stateless_normal(y.shape, seed=[dy_seed, 2])
  gx, gk, gb = tape.gradient(y, [x, layer.kernel, layer.bias], output_gradients=dy)
  return y, gx, gk, gb


@pytest.mark.parametrize(
  "filters,size", [(1, (2, 4, 6)), (3, (4, 4, 4)), (4, (2, 2, 8)), (8, (2, 4, 4))]
)
def test_transposed_matches_keras_values_and_gradients(filters, size):
  ours, ref, y = _pair(True, filters, (2,) + size + (5,))
  assert strided_conv._fast_path(
    strided_conv._transpose_output_shape(y.shape, ours.kernel.shape, "same"),
    ours.kernel.shape,
    ours.strides,
    ours.padding,
  )
  for a, b in zip(_grads(ours, y), _grads(ref, y), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  assert ours(y).shape == (2,) + tuple(2 * s for s in size) + (filters,)


@pytest.mark.parametrize(
  "shape", [(2, 4, 8, 6, 1), (2, 4, 8, 6, 3), (2, 8, 8, 8, 8), (2, 4, 8, 8, 16)]
)
def test_conv_matches_keras_values_and_gradients(shape):
  """Sub-pixel input gradient (C_x <= 8), patch + matmul forward and filter gradient (Y of
  at most 32 positions: the first, second and last shapes), or both."""
  ours, ref, x = _pair(False, 6, shape)
  for a, b in zip(_grads(ours, x), _grads(ref, x), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


def test_wide_transposed_with_few_positions_matches_keras():
  """C_x = 16 from a 2x4x4 Y: TF's transposed forward, patch + matmul gradients."""
  ours, ref, y = _pair(True, 16, (2, 2, 4, 4, 12))
  for a, b in zip(_grads(ours, y), _grads(ref, y), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("form", ["rules", "subpixel", "patch", "space_to_depth"])
def test_second_derivative_matches_keras(policy, form):
  """A gradient penalty through the conv (WGAN-GP's) differentiates through each form."""
  policy(form)
  ours, ref, x = _pair(False, 4, (2, 4, 4, 4, 3))

  def penalty_grad(layer):
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(x)
        score = tf.reduce_sum(tf.square(layer(x)))
      gx = inner.gradient(score, x)
      penalty = tf.reduce_sum(tf.square(gx))
    return outer.gradient(penalty, layer.kernel)

  np.testing.assert_allclose(
    penalty_grad(ours).numpy(), penalty_grad(ref).numpy(), rtol=1e-4, atol=1e-4
  )


@pytest.mark.parametrize("form", ["native", "subpixel", "patch", "space_to_depth"])
@pytest.mark.parametrize(
  "transpose,filters,shape",
  [(True, 3, (2, 2, 4, 4, 8)), (True, 16, (2, 2, 4, 4, 12)), (False, 6, (2, 4, 8, 8, 16))],
)
def test_forced_form_matches_keras(policy, form, transpose, filters, shape):
  """Each form, forced wherever it applies (each case has a transposed convolution, a forward
  one and a filter gradient among its forward and gradients), equals Keras' layer."""
  policy(form)
  ours, ref, x = _pair(transpose, filters, shape)
  for a, b in zip(_grads(ours, x), _grads(ref, x), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  assert _form_ops(ours, x) == _FORM_OPS[form]


@pytest.mark.parametrize("form", ["rules", "native", "subpixel", "patch", "space_to_depth", "auto"])
@pytest.mark.parametrize(
  "transpose,filters,shape",
  [(False, 6, (2, 6, 10, 8, 3)), (False, 5, (2, 4, 6, 6, 16)), (True, 3, (2, 2, 3, 4, 8))],
)
def test_valid_padding_matches_keras_in_every_form(policy, form, transpose, filters, shape):
  """A "valid" convolution on an X its caller padded (Egan's discriminator pads time by
  replication, then convolves 2n + 2 -> n): each form equals Keras' layer in values and both
  gradients, and the transposed convolution gives the whole 2n + 2."""
  policy(form)
  ours, ref, x = _pair(transpose, filters, shape, padding="valid")
  assert ours._takes(x.shape) == (form != "native")
  for a, b in zip(_grads(ours, x), _grads(ref, x), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  if form in ("subpixel", "patch", "space_to_depth"):
    assert _form_ops(ours, x) == _FORM_OPS[form]
  if transpose:
    assert ours(x).shape == (2,) + tuple(2 * s + 2 for s in shape[1:4]) + (filters,)


@pytest.mark.parametrize("form", ["subpixel", "patch", "space_to_depth"])
def test_valid_padding_second_derivative_matches_keras(policy, form):
  policy(form)
  ours, ref, x = _pair(False, 4, (2, 6, 6, 6, 3), padding="valid")

  def penalty_grad(layer):
    with tf.GradientTape() as outer:
      with tf.GradientTape() as inner:
        inner.watch(x)
        score = tf.reduce_sum(tf.square(layer(x)))
      penalty = tf.reduce_sum(tf.square(inner.gradient(score, x)))
    return outer.gradient(penalty, layer.kernel)

  np.testing.assert_allclose(
    penalty_grad(ours).numpy(), penalty_grad(ref).numpy(), rtol=1e-4, atol=1e-4
  )


def test_auto_remembers_valid_apart_from_same(policy):
  """The same shapes with the two paddings are different convolutions: two keys."""
  cache = policy("auto")
  for padding in ("same", "valid"):
    ours, _, x = _pair(False, 4, (2, 4, 4, 4, 3), padding=padding)
    _grads(ours, x)
  (path,) = cache.glob("forms-*.json")
  operations = {key.split()[0] for key in json.loads(path.read_text())}
  assert {"forward", "forward_valid", "transpose_valid", "filter_gradient_valid"} <= operations


def test_cache_keys_stay_as_every_machines_file_holds_them(policy, monkeypatch):
  """The keys name operation (padding "valid" in its name), dtype, X, kernel, dL/dY (both at
  most MEASURE_MAX_BATCH clips) and forms, exactly: the files already written on every
  machine are read by them."""
  policy("auto")
  keys = []
  monkeypatch.setattr(form_choice, "MEASURE_MAX_BATCH", 2)
  monkeypatch.setattr(
    form_choice, "choose", lambda key, runs, measurable=True: keys.append(key) or "native"
  )
  for padding, shape in (("same", (3, 4, 8, 8, 16)), ("valid", (3, 6, 10, 10, 16))):
    ours, _, x = _pair(False, 6, shape, padding=padding)
    _grads(ours, x)
  assert keys == [
    "forward float32 [2, 4, 8, 8, 16] [4, 4, 4, 16, 6] native,patch",
    "transpose float32 [2, 2, 4, 4, 6] [4, 4, 4, 16, 6] native,subpixel",
    "filter_gradient float32 [2, 4, 8, 8, 16] [4, 4, 4, 16, 6] [2, 2, 4, 4, 6] "
    "native,patch,space_to_depth",
    "forward_valid float32 [2, 6, 10, 10, 16] [4, 4, 4, 16, 6] native,patch",
    "transpose_valid float32 [2, 2, 4, 4, 6] [4, 4, 4, 16, 6] native,subpixel",
    "filter_gradient_valid float32 [2, 6, 10, 10, 16] [4, 4, 4, 16, 6] [2, 2, 4, 4, 6] "
    "native,patch,space_to_depth",
  ]


def test_auto_measures_once_and_remembers_across_restarts(policy, monkeypatch):
  """The measured policy times each computation's forms once per shape, writes the choices,
  and a restarted process (no chooser in memory) reads them instead of measuring."""
  cache = policy("auto")
  ours, ref, x = _pair(False, 6, (2, 4, 8, 8, 16))
  for a, b in zip(_grads(ours, x), _grads(ref, x), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  (path,) = cache.glob("forms-*.json")
  choices = json.loads(path.read_text())
  assert {key.split()[0] for key in choices} == {"forward", "transpose", "filter_gradient"}

  def no_measuring(run, slow):
    raise AssertionError("Expected the remembered choice, a form was measured.")

  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  monkeypatch.setattr(form_choice, "_median_secs", no_measuring)
  chosen = {c["form"] for c in choices.values()} - {"native"}
  assert _form_ops(ours, x) == set().union(*(_FORM_OPS[f] for f in chosen))


def test_auto_measures_large_batches_on_a_few_clips_and_reuses_the_choice(policy, monkeypatch):
  """Forms are timed on at most MEASURE_MAX_BATCH clips; another batch above it reuses that
  choice, and still matches Keras' layer."""
  cache = policy("auto")
  monkeypatch.setattr(form_choice, "MEASURE_MAX_BATCH", 2)
  measured = []
  real_median = form_choice._median_secs

  def recording(run, slow):
    measured.append(run)
    return real_median(run, slow)

  monkeypatch.setattr(form_choice, "_median_secs", recording)
  ours, ref, x = _pair(False, 6, (3, 4, 8, 8, 16))
  for a, b in zip(_grads(ours, x), _grads(ref, x), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  assert measured, "no form was measured"
  (path,) = cache.glob("forms-*.json")
  keys = list(json.loads(path.read_text()))
  assert keys and all("[2, " in key and "[3, " not in key for key in keys), keys
  measured.clear()
  x5 = tf.concat([x, x[:2]], axis=0)
  for a, b in zip(_grads(ours, x5), _grads(ref, x5), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  assert not measured
  assert list(json.loads(path.read_text())) == keys


def test_auto_without_static_shapes_takes_native_unmeasured(policy):
  cache = policy("auto")
  ours, _, y = _pair(True, 3, (2, 2, 4, 4, 8))

  @tf.function
  def run(y):
    return ours(y)

  graph = run.get_concrete_function(tf.TensorSpec((None,) + y.shape[1:])).graph
  assert not {op.type for op in graph.get_operations()} & _FORM_OPS["subpixel"]
  assert not list(cache.iterdir())


def test_native_policy_runs_keras_layers(policy):
  policy("native")
  ours, _, y = _pair(True, 3, (2, 2, 4, 4, 8))
  assert not strided_conv._fast_path(
    strided_conv._transpose_output_shape(y.shape, ours.kernel.shape, "same"),
    ours.kernel.shape,
    ours.strides,
    ours.padding,
  )


def test_other_shapes_fall_back_to_keras():
  """Odd sizes, wide X with a large Y, other kernels: TF's own op, with the same results."""
  fast = strided_conv._fast_path
  assert not fast((2, 8, 8, 8, 16), (4, 4, 4, 16, 8), (2, 2, 2), "same")
  assert not fast((2, 5, 4, 4, 3), (4, 4, 4, 3, 8), (2, 2, 2), "same")
  assert not fast((2, 4, 4, 4, 3), (3, 3, 3, 3, 8), (2, 2, 2), "same")
  assert not fast((2, 5, 4, 4, 3), (4, 4, 4, 3, 8), (2, 2, 2), "valid")
  assert not fast((2, 2, 4, 4, 3), (4, 4, 4, 3, 8), (2, 2, 2), "valid")
  assert not fast((2, 4, 4, 4, 3), (4, 4, 4, 3, 8), (2, 2, 2), "full")
  for padding in ("same", "valid"):
    ours, ref, x = _pair(False, 6, (2, 5, 4, 4, 3), padding=padding)
    np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-6)


def test_bfloat16_and_heads_function():
  """bfloat16 runs the sub-pixel path; conv_transpose on a raw kernel equals the layer."""
  ours, ref, y = _pair(True, 4, (2, 2, 4, 4, 8))
  got = strided_conv.conv_transpose(tf.cast(y, tf.bfloat16), ours.kernel, [2, 2, 2], "same")
  assert got.dtype == tf.bfloat16
  want = ref(y) - ref.bias
  np.testing.assert_allclose(tf.cast(got, tf.float32).numpy(), want.numpy(), atol=0.05)
  np.testing.assert_allclose(
    strided_conv.conv_transpose(y, ours.kernel, [2, 2, 2], "same").numpy(),
    want.numpy(),
    rtol=1e-4,
    atol=1e-5,
  )
  ours, ref, y = _pair(True, 4, (2, 2, 4, 4, 8), padding="valid")
  np.testing.assert_allclose(
    strided_conv.conv_transpose(y, ours.kernel, [2, 2, 2], "valid").numpy(),
    (ref(y) - ref.bias).numpy(),
    rtol=1e-4,
    atol=1e-5,
  )


def test_forward_only_traces_no_custom_gradient_with_the_same_values():
  """What TFLite export traces: the same forward, without the IdentityN of a custom gradient."""
  ours, _, y = _pair(True, 3, (1, 2, 4, 4, 8))

  def ops(fn):
    graph = tf.function(fn).get_concrete_function(tf.TensorSpec(y.shape)).graph
    return {op.type for op in graph.get_operations()}

  assert "IdentityN" in ops(ours)
  expected = ours(y).numpy()
  with strided_conv.forward_only():
    assert "IdentityN" not in ops(ours)
    np.testing.assert_allclose(ours(y).numpy(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("form", ["rules", "auto", "patch", "space_to_depth"])
def test_xla_compiled_gradients_match_keras(policy, form):
  """Inside jit_compile (and TPU replicas) the patch op, which XLA has no kernel for, is not
  used, and nothing is measured; the sub-pixel form compiles. Values and gradients still
  equal Keras'."""
  cache = policy(form)
  ours, ref, x = _pair(False, 16, (2, 4, 8, 8, 3))
  ours_t, ref_t, _ = _pair(True, 3, (2, 2, 4, 4, 16), seed=1)

  def grads(conv, transposed):
    @tf.function(jit_compile=True)
    def run(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        out = tf.reduce_sum(tf.square(transposed(conv(x))))
      return tape.gradient(out, [x, conv.kernel, transposed.kernel])

    return run(x)

  for a, b in zip(grads(ours, ours_t), grads(ref, ref_t), strict=True):
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
  assert not list(cache.iterdir())
