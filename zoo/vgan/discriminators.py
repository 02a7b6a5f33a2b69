"""VGAN discriminators and the UCF101 action classifier built on their trunk.

Registered names: `vgan_discriminator`, `vgan_image_to_video_discriminator`,
`vgan_action_classifier` (Vondrick et al. 2016, Sections 2.3, 3.3 and 3.4).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.vgan import blocks

VIDEO_SHAPE = (32, 64, 64, 3)
WIDTHS = (64, 128, 256, 512)
CLASSIFIER_MODES = ("finetune", "last_layer", "random_init")


def _check_video_shape(video_shape):
  if len(video_shape) != 4:
    raise ValueError(f"Expected video_shape (T, H, W, C), received {tuple(video_shape)!r}.")
  return tuple(int(s) for s in video_shape)


class _TrunkModel(base.SymbolicBuild, keras.Model):
  """A 3D "k4 s2" discriminator trunk, then one valid conv that collapses (T, H, W) to 1x1x1."""

  def __init__(self, video_shape, widths, outputs, init_std, gamma_std, **kwargs):
    super().__init__(**kwargs)
    self.video_shape = _check_video_shape(video_shape)
    self.widths = tuple(int(w) for w in widths)
    if not self.widths:
      raise ValueError(f"Expected at least one trunk width, received {widths!r}.")
    self.init_std = float(init_std)
    self.gamma_std = float(gamma_std)
    self.trunk = blocks.DownStack(
      3, self.widths, activation="leaky_relu", init_std=init_std, gamma_std=gamma_std, name="trunk"
    )
    self.final_kernel = blocks.final_kernel(self.video_shape, len(self.widths))
    # float32 so that mixed-precision logits come out in float32.
    self.final = blocks.conv(
      3, outputs, self.final_kernel, 1, "valid", init_std, dtype="float32", name="final"
    )
    self.outputs_dim = int(outputs)

  def _head(self, features):
    return tf.reshape(self.final(features), [-1, self.outputs_dim])

  def _base_config(self):
    return {
      "name": self.name,
      "video_shape": list(self.video_shape),
      "widths": list(self.widths),
      "init_std": self.init_std,
      "gamma_std": self.gamma_std,
    }


@registry.register("vgan_discriminator")
class Discriminator(_TrunkModel):
  """VGAN's video discriminator (Vondrick et al. 2016, Section 2.3).

  Conv3D "k4 s2": 64 (no BN) -> 128 -> 256 -> 512 (BN), LeakyReLU 0.2 after each; at
  32x64x64 that is 16x32x32x64 -> 8x16x16x128 -> 4x8x8x256 -> 2x4x4x512; then Conv3D 1,
  kernel (2,4,4), valid -> one logit [B, 1].

  Decisions: one sigmoid logit instead of the authors' 2-way softmax (the same loss). The
  input size is generic: the last kernel is whatever (T, H, W) remains after the strided
  layers, ceil(size / 2^len(widths)) per axis, so it is (2,4,4) at the paper's 32x64x64 and
  e.g. (1,2,2) at 16x32x32, and always yields 1x1x1. Bias on every conv, BN epsilon 1e-3
  (authors' code). Unconditional: `condition` is accepted and ignored.

  Args:
    video_shape: (T, H, W, C) of the clips it judges.
    widths: channels of the strided layers.
    init_std: std of the conv kernel initializer (paper: 0.01).
    gamma_std: std of the BN gamma initializer (around 1).
  """

  def __init__(
    self, video_shape=VIDEO_SHAPE, widths=WIDTHS, init_std=0.01, gamma_std=0.02, **kwargs
  ):
    super().__init__(video_shape, widths, 1, init_std, gamma_std, **kwargs)

  def call(self, video, condition=None, training=False):
    del condition  # unconditional
    video = base.float_frames(video, self.name)
    return self._head(self.trunk(video, training=training))

  def get_config(self):
    return self._base_config()


@registry.register("vgan_image_to_video_discriminator")
class ImageToVideoDiscriminator(Discriminator):
  """The discriminator of VGAN's future generator (Vondrick et al. 2016, Section 3.4).

  The paper keeps the discriminator "the same"; the authors' `main_conditional.lua` doubles
  its widths to (128, 256, 512, 1024), which is our default. It sees only the video (the
  condition is ignored), as in that code.
  """

  def __init__(
    self,
    video_shape=VIDEO_SHAPE,
    widths=(128, 256, 512, 1024),
    init_std=0.01,
    gamma_std=0.02,
    **kwargs,
  ):
    super().__init__(video_shape, widths, init_std, gamma_std, **kwargs)


@registry.register("vgan_action_classifier")
class ActionClassifier(_TrunkModel):
  """VGAN's discriminator transferred to action recognition (Vondrick et al. 2016, Section 3.3).

  The discriminator trunk (the same `DownStack` as `Discriminator`), dropout 0.5 on the
  penultimate layer, then Conv3D `num_classes`, kernel (2,4,4) valid -> [B, num_classes]
  logits (UCF101: 101).

  Modes (paper Fig. 4a): "finetune" trains everything from the GAN's trunk; "last_layer"
  ("logistic regression") freezes the trunk (`trainable=False`, BN in inference mode) and
  trains the final conv only; "random_init" trains everything from random weights. The
  trunk weights are not loaded here: the transfer config calls `load_trunk_from(d)` with a
  trained `vgan_discriminator` of the same widths (modes "finetune" and "last_layer").

  Decisions: the dropout drops whole feature maps (`SpatialDropout3D`), as the authors'
  `VolumetricDropout(0.5)` in `main_ucf.lua`.

  Args:
    num_classes: number of logits.
    mode: "finetune", "last_layer" or "random_init".
    dropout: dropout rate before the last layer.
    video_shape, widths, init_std, gamma_std: as `Discriminator`.
  """

  def __init__(
    self,
    num_classes=101,
    mode="finetune",
    dropout=0.5,
    video_shape=VIDEO_SHAPE,
    widths=WIDTHS,
    init_std=0.01,
    gamma_std=0.02,
    **kwargs,
  ):
    if mode not in CLASSIFIER_MODES:
      raise ValueError(f"Expected mode in {CLASSIFIER_MODES}, received {mode!r}.")
    super().__init__(video_shape, widths, num_classes, init_std, gamma_std, **kwargs)
    self.num_classes = int(num_classes)
    self.mode = mode
    self.dropout_rate = float(dropout)
    self.dropout = keras.layers.SpatialDropout3D(self.dropout_rate)
    if mode == "last_layer":
      self.trunk.trainable = False

  def call(self, video, training=False):
    video = base.float_frames(video, self.name)
    features = self.trunk(video, training=training and self.mode != "last_layer")
    return self._head(self.dropout(features, training=training))

  def load_trunk_from(self, discriminator):
    """Copies the trunk weights (convs and BN, moving statistics included) of a discriminator."""
    if tuple(discriminator.widths) != self.widths:
      raise ValueError(
        f"Expected a discriminator with widths {self.widths}, received "
        f"{tuple(discriminator.widths)}."
      )
    for model in (self, discriminator):
      if not model.built:
        model.build((None,) + model.video_shape)
    for target, source in zip(self.trunk.weights, discriminator.trunk.weights, strict=True):
      if tuple(target.shape) != tuple(source.shape):
        raise ValueError(
          f"Expected weight {source.path} of shape {tuple(target.shape)}, "
          f"received {tuple(source.shape)}."
        )
      target.assign(source)

  def get_config(self):
    return {
      **self._base_config(),
      "num_classes": self.num_classes,
      "mode": self.mode,
      "dropout": self.dropout_rate,
    }
