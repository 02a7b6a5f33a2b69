"""Every VGAN name builds from the registry; get_config echoes every constructor argument."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import registry

NAMES = (
  "vgan_one_stream",
  "vgan_two_stream",
  "vgan_image_to_video",
  "vgan_discriminator",
  "vgan_image_to_video_discriminator",
  "vgan_action_classifier",
  "vgan_autoencoder_gmm",
)

# Non-default, small arguments: a round trip that drops one would change the rebuilt model.
SMALL = {
  "vgan_one_stream": dict(latent_dim=7, widths=(8, 4), init_std=0.02, gamma_std=0.01),
  "vgan_two_stream": dict(
    latent_dim=7, widths=(8, 4), background_widths=(6, 5), init_std=0.02, gamma_std=0.01
  ),
  "vgan_image_to_video": dict(
    encoder_widths=(4, 6), widths=(8, 4), background_widths=(5,), init_std=0.02, gamma_std=0.01
  ),
  "vgan_discriminator": dict(
    video_shape=(8, 16, 16, 3), widths=(4, 8), init_std=0.02, gamma_std=0.01
  ),
  "vgan_image_to_video_discriminator": dict(
    video_shape=(8, 16, 16, 3), widths=(4, 6), init_std=0.02, gamma_std=0.01
  ),
  "vgan_action_classifier": dict(
    num_classes=5,
    mode="last_layer",
    dropout=0.3,
    video_shape=(8, 16, 16, 3),
    widths=(4, 8),
    init_std=0.02,
    gamma_std=0.01,
  ),
  "vgan_autoencoder_gmm": dict(
    code_dim=6,
    num_components=3,
    encoder_widths=(4, 8),
    widths=(8, 4),
    background_widths=(6, 5),
    init_std=0.02,
    gamma_std=0.01,
  ),
}


def param_count(model):
  return sum(int(np.prod(w.shape)) for w in model.weights)


def example_input(name, model):
  if name in ("vgan_one_stream", "vgan_two_stream"):
    return tf.zeros([1, model.latent_dim])
  if name == "vgan_image_to_video":
    return tf.zeros([1] + list(model.video_shape[1:]))
  return tf.zeros([1] + list(model.video_shape))


def test_every_name_is_registered():
  assert set(NAMES) <= set(registry.names())


@pytest.mark.parametrize("name", NAMES)
def test_builds_at_paper_size(name):
  model = registry.build(name)  # no variables yet: cheap
  assert isinstance(model, keras.Model)
  assert tuple(model.video_shape) == (32, 64, 64, 3)


@pytest.mark.parametrize("name", NAMES)
def test_config_round_trip(name):
  model = registry.build(name, **SMALL[name])
  config = model.get_config()
  arguments = set(inspect.signature(type(model).__init__).parameters) - {"self", "kwargs"}
  assert arguments | {"name"} == set(config)
  for key, value in SMALL[name].items():
    assert config[key] == (list(value) if isinstance(value, tuple) else value), key
  clone = type(model).from_config(config)
  assert clone.get_config() == config
  model(example_input(name, model))
  clone(example_input(name, clone))
  assert param_count(clone) == param_count(model)
  assert [w.shape for w in clone.weights] == [w.shape for w in model.weights]


def test_keras_serialization_round_trip():
  model = registry.build("vgan_two_stream", **SMALL["vgan_two_stream"])
  clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(model))
  assert type(clone) is type(model)
  assert clone.get_config() == model.get_config()
