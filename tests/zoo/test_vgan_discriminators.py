"""VGAN discriminators and the action classifier: shapes, Torch parameter counts, transfer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from vgan_counts import bn_params
from vgan_counts import conv_params
from vgan_counts import torch_count
from vgan_counts import trainable_count
from zoo import registry
from zoo.vgan import discriminators


def trunk_params(widths):
  """Conv3D k4 (64 taps) from 3 channels through `widths`, BN on all but the first."""
  count, cin = 0, 3
  for i, width in enumerate(widths):
    count += conv_params(64, cin, width) + (bn_params(width) if i else 0)
    cin = width
  return count


def shapes_through(layers, x):
  shapes = []
  for layer in layers:
    x = layer(x, training=False)
    shapes.append(tuple(x.shape[1:]))
  return shapes


def random_video(shape, seed):
  return tf.random.stateless_uniform((1,) + tuple(shape), seed=seed, minval=-1, maxval=1)


@pytest.fixture(scope="module")
def discriminator():
  keras.utils.set_random_seed(0)
  return registry.build("vgan_discriminator")


def test_discriminator_layer_shapes(discriminator):
  video = random_video((32, 64, 64, 3), [1, 2])
  assert shapes_through(discriminator.trunk.blocks, video) == [
    (16, 32, 32, 64),
    (8, 16, 16, 128),
    (4, 8, 8, 256),
    (2, 4, 4, 512),
  ]
  assert discriminator.final_kernel == (2, 4, 4)
  assert tuple(discriminator(video).shape) == (1, 1)
  assert discriminator.trunk.blocks[0].norm is None  # no BN on the first layer
  assert all(b.norm is not None for b in discriminator.trunk.blocks[1:])


def test_discriminator_parameter_count(discriminator):
  discriminator.build((None, 32, 64, 64, 3))
  expected = trunk_params((64, 128, 256, 512)) + conv_params(2 * 4 * 4, 512, 1)
  assert expected == 11_041_473
  assert trainable_count(discriminator) == expected
  assert torch_count(discriminator) == expected


def test_discriminator_ignores_the_condition(discriminator):
  video = random_video((32, 64, 64, 3), [3, 4])
  np.testing.assert_array_equal(
    discriminator(video), discriminator(video, condition=tf.ones([1, 64, 64, 3]))
  )


@pytest.mark.parametrize(
  "video_shape,kernel",
  [
    ((16, 32, 32, 3), (1, 2, 2)),
    ((8, 48, 40, 3), (1, 3, 3)),
  ],
)
def test_discriminator_final_kernel_follows_the_input(video_shape, kernel):
  d = discriminators.Discriminator(video_shape=video_shape, widths=(8, 8, 16, 16))
  assert d.final_kernel == kernel
  video = tf.zeros((2,) + video_shape)
  assert tuple(d(video).shape) == (2, 1)


def test_image_to_video_discriminator_parameter_count():
  d = registry.build("vgan_image_to_video_discriminator")
  assert d.widths == (128, 256, 512, 1024)
  d.build((None, 32, 64, 64, 3))
  expected = trunk_params((128, 256, 512, 1024)) + conv_params(2 * 4 * 4, 1024, 1)
  assert trainable_count(d) == expected
  assert torch_count(d) == expected


def test_action_classifier_shapes_and_parameter_count():
  classifier = registry.build("vgan_action_classifier")
  video = random_video((32, 64, 64, 3), [5, 6])
  assert tuple(classifier(video).shape) == (1, 101)
  expected = trunk_params((64, 128, 256, 512)) + conv_params(2 * 4 * 4, 512, 101)
  assert trainable_count(classifier) == expected
  assert torch_count(classifier) == expected


def test_action_classifier_last_layer_trains_only_the_head():
  classifier = registry.build("vgan_action_classifier", mode="last_layer")
  classifier.build((None, 32, 64, 64, 3))
  assert [w.path for w in classifier.trainable_weights] == [
    classifier.final.kernel.path,
    classifier.final.bias.path,
  ]
  head = conv_params(2 * 4 * 4, 512, 101)
  assert trainable_count(classifier) == head
  # The frozen trunk's gamma and beta are still parameters in Torch's count.
  assert torch_count(classifier) == trunk_params((64, 128, 256, 512)) + head


def test_last_layer_mode_keeps_bn_in_inference():
  small = dict(video_shape=(8, 16, 16, 3), widths=(4, 8))
  classifier = discriminators.ActionClassifier(num_classes=5, mode="last_layer", **small)
  finetune = discriminators.ActionClassifier(num_classes=5, mode="finetune", **small)
  video = random_video((8, 16, 16, 3), [7, 8])
  for model in (classifier, finetune):
    model(video, training=True)
  np.testing.assert_array_equal(classifier.trunk.blocks[1].norm.moving_mean.numpy(), 0.0)
  assert np.abs(finetune.trunk.blocks[1].norm.moving_mean.numpy()).max() > 0.0


def test_load_trunk_from_copies_the_discriminator():
  small = dict(video_shape=(8, 16, 16, 3), widths=(4, 8))
  keras.utils.set_random_seed(3)
  d = discriminators.Discriminator(**small)
  video = random_video((8, 16, 16, 3), [9, 10])
  d(video, training=True)  # moves the BN statistics away from their initial values
  classifier = discriminators.ActionClassifier(num_classes=7, mode="last_layer", **small)
  classifier.load_trunk_from(d)
  assert len(classifier.trunk.weights) == len(d.trunk.weights) == 8  # 2 convs, 1 BN
  for mine, theirs in zip(classifier.trunk.weights, d.trunk.weights, strict=True):
    np.testing.assert_array_equal(mine.numpy(), theirs.numpy())
  # Same features: the classifier's trunk is the discriminator's trunk.
  np.testing.assert_array_equal(classifier.trunk(video), d.trunk(video))
  with pytest.raises(ValueError, match="Expected a discriminator with widths"):
    discriminators.ActionClassifier(video_shape=(8, 16, 16, 3), widths=(4, 16)).load_trunk_from(d)


def test_action_classifier_rejects_an_unknown_mode():
  with pytest.raises(ValueError, match="Expected mode in .* received 'frozen'"):
    discriminators.ActionClassifier(mode="frozen")
