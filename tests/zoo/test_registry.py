"""The registry: duplicates raise, unknown names list the known ones, build passes kwargs."""

import keras
import numpy as np
import pytest

from zoo import registry


class _Thing:
  def __init__(self, width=1):
    self.width = width


def test_register_build_and_names():
  name = "test_registry_thing"
  if name not in registry._REGISTRY:
    registry.register(name)(_Thing)
  assert registry.build(name, width=7).width == 7
  assert name in registry.names()
  assert registry.names() == sorted(registry.names())
  assert {"vgan_two_stream", "vgan_discriminator", "i3d"} <= set(registry.names())


def test_duplicate_name_raises():
  with pytest.raises(ValueError, match="already registered"):
    registry.register("vgan_two_stream")(_Thing)


def test_unknown_name_lists_known_names():
  # A KeyError as before, and a ValueError worded "Expected ...": one line in the CLIs.
  known = r"^Expected a registered model name, received 'vgan_three_stream' .*vgan_two_stream"
  with pytest.raises(KeyError, match=known) as error:
    registry.build("vgan_three_stream")
  assert isinstance(error.value, ValueError)


def test_bad_arguments_are_one_checked_error_naming_the_model():
  # Worded "Expected ..." as ValueErrors: one line in the CLIs, not a traceback.
  keras_model = r"^Expected arguments that model 'vgan_discriminator' can be built with.*no_such"
  with pytest.raises(ValueError, match=keras_model):  # Keras refuses the forwarded keyword
    registry.build("vgan_discriminator", no_such_argument=1)
  name = "test_registry_thing"
  if name not in registry._REGISTRY:
    registry.register(name)(_Thing)
  plain = r"^Expected arguments that model 'test_registry_thing' takes, received \['depth'\]"
  with pytest.raises(ValueError, match=plain + ".*unexpected keyword argument 'depth'"):
    registry.build(name, depth=2)


def test_channels_first_is_refused_naming_the_model_and_the_setting():
  """Keras' layers read keras.config.image_data_format() when built: under "channels_first"
  a zoo network stopped deep in TensorFlow (Conv3DBackpropInputOpV2 only supports NDHWC)."""
  small = dict(video_shape=(1, 16, 16, 3), widths=(4, 8))
  model = registry.build("egan_dcgan_discriminator_2d", **small)
  expected = r"'channels_last' to build DCGANDiscriminator.*set_image_data_format\('channels_last'"
  keras.config.set_image_data_format("channels_first")
  try:
    with pytest.raises(ValueError, match=expected):
      registry.build("egan_dcgan_discriminator_3d", **small)
    with pytest.raises(ValueError, match=expected):
      type(model).from_config(model.get_config())
  finally:
    keras.config.set_image_data_format("channels_last")
  video = np.zeros([1, 1, 16, 16, 3], np.float32)
  assert type(model).from_config(model.get_config())(video).shape == (1, 1)


@pytest.mark.parametrize("policy", ["float64", "float16"])
def test_a_dtype_policy_without_float32_variables_is_refused_in_one_line(policy):
  """Under keras.config.set_floatx("float64") (or a "float16" policy) a zoo network got
  float64 weights and failed deep inside: float32 clips met float64 weights in batch norm,
  and TensorFlow has no float64 3D pooling. The mixed policies keep float32 variables."""
  small = dict(video_shape=(1, 16, 16, 3), widths=(4, 8))
  model = registry.build("egan_dcgan_discriminator_3d", **small)
  keras.config.set_dtype_policy(policy)  # set_floatx's, where no policy was set
  try:
    for build in (
      lambda: registry.build("egan_dcgan_discriminator_3d", **small),
      lambda: type(model).from_config(model.get_config()),
    ):
      with pytest.raises(
        ValueError, match=r"^Expected Keras' dtype policy in .* to build DCG"
      ) as e:
        build()
      assert "\n" not in str(e.value) and "set_floatx('float32')" in str(e.value)
  finally:
    keras.config.set_dtype_policy("float32")
  keras.config.set_dtype_policy("mixed_bfloat16")
  try:
    registry.build("egan_dcgan_discriminator_3d", **small)
  finally:
    keras.config.set_dtype_policy("float32")
