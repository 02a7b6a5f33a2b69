"""The generator contract: every registered generator states it, and its specs are what the
generator takes."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import base
from zoo import inputs as zoo_inputs
from zoo import registry
from zoo.relive import inception

C = base.Condition

# Small generators, one per input structure: (registry name, arguments, condition, noise,
# extra conditions, takes num_frames).
SMALL = {
  "vgan_two_stream": (
    dict(latent_dim=7, widths=(8, 4), background_widths=(6, 5)),
    C.NONE,
    True,
    (),
    False,
  ),
  "vgan_image_to_video": (
    dict(encoder_widths=(4, 6), widths=(8, 4), background_widths=(5,)),
    C.IMAGE,
    False,
    (),
    False,
  ),
  "relive_segmentation_conditional": (
    dict(encoder_widths=(8, 16), widths=(32, 16), background_widths=(32, 16), num_classes=5),
    C.IMAGE,
    False,
    ("segmentation",),
    False,
  ),
  "dvdgan_s": (
    dict(resolution=16, ch=2, multipliers=(2, 1), latent_dim=8, num_frames=4, conditional=True),
    C.IMAGE,
    True,
    (),
    True,
  ),
  "egan_spade_generator_3d": (
    dict(size="small", nf=4, up_mults=(1,), num_classes=4, frames=4, temporal_scalings=1),
    C.MASK,
    True,
    (),
    False,
  ),
  "relive_lstm": (
    dict(video_shape=(6, 16, 16, 3), encoder_widths=(4, 8), units=8, decoder_widths=(8, 4)),
    C.FRAMES,
    False,
    (),
    False,
  ),
}


# Arguments without which a registered network does not build here (no downloaded weights).
OFFLINE = {
  "relive_inception_conditional": dict(weights=inception.UNTRAINED_FOR_TESTS_ONLY),
  "relive_inception_critic": dict(weights=inception.UNTRAINED_FOR_TESTS_ONLY),
}


def _generators():
  """Every registered network that is a generator (has latent_dim and condition), unbuilt."""
  found = {}
  for name in registry.names():
    model = registry.build(name, **OFFLINE.get(name, {}))
    if hasattr(model, "latent_dim") and hasattr(model, "condition"):
      found[name] = model
  return found


def test_condition_values_are_the_attribute_strings():
  assert [c.value for c in C] == [None, "image", "mask", "frames"]
  assert C("mask") is C.MASK and C(None) is C.NONE


def test_every_registered_generator_states_its_contract():
  generators = _generators()
  assert set(SMALL) <= set(generators)
  for name, g in generators.items():
    spec = base.contract(g)
    assert spec.condition is C(g.condition), name
    assert spec.latent_dim == g.latent_dim and spec.takes_noise == (g.latent_dim > 0), name
    assert spec.video_shape == tuple(g.video_shape) and len(spec.video_shape) == 4, name
    assert spec.streams == tuple(g.streams), name
    specs = tf.nest.flatten(spec.input_specs(batch_size=2))
    names = [s.name for s in specs]
    expected = (
      (["z"] if spec.takes_noise else [])
      + ([spec.key] if spec.key else [])
      + sorted(spec.extra_conditions)
    )
    assert sorted(names) == sorted(expected), name
    assert all(s.shape[0] == 2 for s in specs), name


@pytest.mark.parametrize("name", sorted(SMALL))
def test_small_generator_takes_its_specs_and_placeholders(name):
  kwargs, condition, noise, extras, num_frames = SMALL[name]
  g = registry.build(name, **kwargs)
  spec = base.contract(g)
  assert (
    spec.condition,
    spec.takes_noise,
    tuple(sorted(spec.extra_conditions)),
    spec.takes_num_frames,
  ) == (condition, noise, extras, num_frames)
  # The placeholders build the variables; zoo.inputs draws the same structure.
  video = g(spec.placeholders(2), training=False)
  assert tuple(video.shape) == (2, *spec.video_shape)
  assert g.weights
  drawn = zoo_inputs.generator_inputs(g, 2, tf.constant([1, 2]))
  tf.nest.assert_same_structure(drawn, spec.input_specs(2))
  for tensor, s in zip(tf.nest.flatten(drawn), tf.nest.flatten(spec.input_specs(2)), strict=True):
    assert s.is_compatible_with(tensor), (name, s, tensor)
  # The specs trace the generator as the export's __call__ does (batch unknown).
  traced = tf.function(
    lambda x: g(x, training=False), input_signature=[spec.input_specs()]
  ).get_concrete_function()
  assert traced.structured_outputs.shape.as_list()[1:] == list(spec.video_shape)


def _spec(condition, latent_dim=0, extras=None):
  return base.GeneratorSpec(
    name="Fake",
    latent_dim=latent_dim,
    condition=condition,
    video_shape=(4, 8, 8, 3),
    extra_conditions=extras or {},
  )


def test_inputs_give_the_structure_each_kind_expects():
  z, image = tf.zeros([2, 5]), tf.zeros([2, 8, 8, 3])
  seg = tf.zeros([2, 8, 8], tf.int32)
  assert _spec(C.NONE, 5).inputs(z) is z
  assert _spec(C.IMAGE).inputs(None, image) is image
  assert _spec(C.IMAGE, 5).inputs(z, image) == {"z": z, "image": image}
  both = {"image": image, "segmentation": seg}
  with_seg = _spec(C.IMAGE, extras={"segmentation": ((8, 8), tf.int32)})
  assert with_seg.inputs(None, both) == both  # a batch's dict condition
  assert with_seg.inputs(None, image, {"segmentation": seg}) == both
  assert with_seg.split(both)[0] is image
  mask = tf.zeros([2, 8, 8], tf.int32)
  assert _spec(C.MASK, 5).inputs(z, mask) == {"z": z, "mask": mask}
  frames = tf.zeros([2, 1, 8, 8, 3])
  assert _spec(C.FRAMES).inputs(None, frames) is frames


def test_specs_and_placeholders_by_kind():
  assert _spec(C.NONE, 5).input_specs(3) == tf.TensorSpec([3, 5], tf.float32, name="z")
  assert _spec(C.IMAGE).input_specs() == tf.TensorSpec([None, 8, 8, 3], tf.float32, name="image")
  assert _spec(C.MASK).input_specs() == tf.TensorSpec([None, 8, 8], tf.int32, name="mask")
  assert _spec(C.FRAMES).input_specs(frames=2) == tf.TensorSpec(
    [None, 2, 8, 8, 3], tf.float32, name="frames"
  )
  assert _spec(C.NONE, 5).condition_placeholder(2) is None
  assert _spec(C.FRAMES).condition_placeholder(2).shape == (2, 1, 8, 8, 3)
  placeholder = _spec(C.IMAGE, extras={"segmentation": ((8, 8), tf.int32)}).placeholders(2)
  assert {k: (tuple(v.shape), v.dtype) for k, v in placeholder.items()} == {
    "image": ((2, 8, 8, 3), tf.float32),
    "segmentation": ((2, 8, 8), tf.int32),
  }


def test_wrong_inputs_and_attributes_raise():
  with pytest.raises(ValueError, match="Expected z"):
    _spec(C.IMAGE, 5).inputs(None, tf.zeros([1, 8, 8, 3]))
  with pytest.raises(ValueError, match="Expected the 'image' condition"):
    _spec(C.IMAGE).inputs(None, None)
  with pytest.raises(ValueError, match=r"Expected extra conditions \['segmentation'\]"):
    _spec(C.IMAGE, extras={"segmentation": ((8, 8), tf.int32)}).inputs(None, tf.zeros([1, 8, 8, 3]))
  with pytest.raises(ValueError, match="unconditional generator to take noise"):
    _spec(C.NONE)

  class Video(keras.Model):
    latent_dim, condition, video_shape = 0, "sound", (1, 2, 2, 3)

  with pytest.raises(ValueError, match="Expected generator.condition in.*'sound'"):
    base.contract(Video())
  # A discriminator handed where a generator belongs: named, not an AttributeError.
  with pytest.raises(TypeError, match="received Sequential, which has no condition, latent_dim"):
    base.contract(keras.Sequential())


def test_noise_is_the_stateless_normal_of_the_seed():
  g = registry.build("vgan_two_stream", **SMALL["vgan_two_stream"][0])
  seed = tf.constant([3, 0], tf.int64)
  np.testing.assert_array_equal(
    zoo_inputs.noise(g, 4, seed), tf.random.stateless_normal([4, 7], seed=seed)
  )


def _with(spec, inputs, **replaced):
  """`inputs` (a structure `spec.inputs` built) with the named tensors replaced."""
  z = inputs.get("z") if isinstance(inputs, dict) else (inputs if spec.key is None else None)
  condition, extras = spec.split(inputs)
  extras.pop("z", None)
  if spec.key in replaced:
    condition = replaced.pop(spec.key)
  return spec.inputs(z, condition, {**extras, **replaced})


@pytest.mark.parametrize("name", sorted(n for n in SMALL if SMALL[n][1] is not C.NONE))
def test_inputs_outside_the_contract_are_refused_naming_the_model(name):
  g = registry.build(name, **SMALL[name][0])
  spec = base.contract(g)
  good = spec.placeholders(2)
  g(good)
  calls = 0
  if spec.condition in (C.IMAGE, C.FRAMES):
    frames = spec.split(good)[0]
    # uint8 frames, as an image library gives them: never silently taken for [-1, 1].
    with pytest.raises(TypeError, match=f"(?s){g.name}.*uint8.*uint8_to_unit"):
      g(_with(spec, good, **{spec.key: tf.cast(frames + 200, tf.uint8)}))
    # A [0, 255] image as floats, called eagerly: refused with the conversion.
    with pytest.raises(ValueError, match=r"\[-1, 1\].*\[0, 200\].*127\.5"):
      g(_with(spec, good, **{spec.key: tf.concat([frames[:1], frames[1:] + 200], 0)}))
    calls += 2
    # A little past [-1, 1] (noise on a saturated photo) is taken: only another scale is not.
    g(_with(spec, good, **{spec.key: tf.concat([frames[:1] - 1.5, frames[1:] + 1.5], 0)}))
  if spec.condition is C.MASK:
    ids = spec.split(good)[0]
    with pytest.raises(ValueError, match=rf"\[0, {g.mask_classes}\) for {g.name}.*\[0, 255\]"):
      g(_with(spec, good, mask=tf.tensor_scatter_nd_update(ids, [[1, 0, 0]], [255])))
    calls += 1
  for extra in spec.extra_conditions:  # the segmentation's class ids
    ids = tf.fill(tf.shape(spec.split(good)[1][extra]), g.segmentation_classes)
    with pytest.raises(ValueError, match=rf"\[0, {g.segmentation_classes}\)"):
      g(_with(spec, good, **{extra: ids}))
    calls += 1
  assert calls
  # Inside a tf.function only the dtype is checked: the values are not looked at.
  if spec.condition in (C.IMAGE, C.FRAMES):
    bright = _with(spec, good, **{spec.key: spec.split(good)[0] + 200})
    assert tf.function(lambda x: g(x))(bright).shape[0] == 2
