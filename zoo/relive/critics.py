"""(Re)live Photos critics (WGAN-GP), unconditional, photo-conditioned and Inception-conditioned.

Registered names: `relive_critic`, `relive_inception_critic` (docs/architecture.md).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.relive import inception
from zoo.relive import layers
from zoo.vgan import blocks as vgan_blocks

VIDEO_SHAPE = (32, 64, 64, 3)
WIDTHS = (64, 128, 256, 512)


def photo_of(condition):
  """The photo of a critic condition: the tensor itself, or the "image" of a dict."""
  return condition["image"] if isinstance(condition, dict) else condition


@registry.register("relive_critic")
class Critic(keras.Model):
  """The (Re)live Photos critic (report sec. 4.3; poster "Discriminator").

  Conv3D "k4 s2" 64 -> 128 -> 256 -> 512 (16x32x32 -> 8x16x16 -> 4x8x8 -> 2x4x4), LeakyReLU
  0.2, then Conv3D 1, kernel (2,4,4), valid -> an unbounded score [B, 1].
  With `conditional=True` (the conditional WGAN, sec. 4.4) the photo [B, H, W, 3] is tiled
  over time and concatenated to the clip on channels (6 input channels); a dict condition
  gives its "image".

  Decisions: the poster says batch norm, which mixes the samples whose per-sample gradient
  the WGAN-GP penalty constrains; `critic_norm` is "layer" by default (see
  `zoo.relive.layers`), "none" or "batch" (which the trainer refuses together with a
  gradient penalty). No norm on the first layer (DCGAN, WGAN-GP's critics). The last kernel
  is whatever (T, H, W) remains, as `vgan_discriminator`.

  Args:
    video_shape: (T, H, W, C) of the clips it scores.
    widths: channels of the strided layers.
    critic_norm: "layer", "none" or "batch".
    conditional: concatenate the tiled photo.
  """

  def __init__(
    self, video_shape=VIDEO_SHAPE, widths=WIDTHS, critic_norm="layer", conditional=False, **kwargs
  ):
    super().__init__(**kwargs)
    if critic_norm not in layers.NORMS:
      raise ValueError(f"Expected critic_norm in {layers.NORMS}, received {critic_norm!r}.")
    self.video_shape = tuple(int(s) for s in video_shape)
    self.widths = tuple(int(w) for w in widths)
    self.critic_norm = critic_norm
    self.conditional = bool(conditional)
    self.trunk = layers.stack(
      3,
      self.widths,
      transpose=False,
      norm=critic_norm,
      activation="leaky_relu",
      first_norm="none",
      prefix="down",
    )
    self.final = layers.conv(
      3,
      1,
      vgan_blocks.final_kernel(self.video_shape, len(self.widths)),
      1,
      "valid",
      dtype="float32",
      name="final",
    )

  needs_photo = property(lambda self: self.conditional)

  def build(self, input_shape):
    """Creates every variable from the clip's shape (and a photo of its frame size)."""
    shape = tuple(input_shape)
    photo = keras.KerasTensor(shape[:1] + shape[2:4] + (3,)) if self.needs_photo else None
    self.compute_output_spec(keras.KerasTensor(shape), condition=photo)

  def inputs_of(self, video, condition):
    if not self.conditional:
      return video
    if condition is None:
      raise ValueError("Expected a photo condition for a conditional relive_critic, received None.")
    photo = layers.tile_over_time(tf.cast(photo_of(condition), video.dtype), video.shape[1])
    # The concatenation on channels, as a stack and a reshape: a concat's gradient slices, and
    # the gradient penalty's second backward pass turns the slice into a Pad that Grappler's
    # remapper fuses into the next convolution and then fails on ("fanout
    # 'Conv3DBackpropFilterV2' exist for missing node '.../Pad'"), dropping every fusion of
    # the critic's step. A stack's gradient unstacks, twice over without a Pad.
    both = tf.stack([video, photo], axis=-2)  # [..., 2, C]: the clip's channels, the photo's
    return tf.reshape(both, [-1, *video.shape[1:-1], 2 * video.shape[-1]])

  def score(self, features):
    return tf.reshape(self.final(features), [-1, 1])

  def call(self, video, condition=None, training=False):
    video = base.float_frames(video, self.name)
    x = layers.run(self.trunk, self.inputs_of(video, condition), training)
    return self.score(x)

  def get_config(self):
    return {
      "name": self.name,
      "video_shape": list(self.video_shape),
      "widths": list(self.widths),
      "critic_norm": self.critic_norm,
      "conditional": self.conditional,
    }


@registry.register("relive_inception_critic")
class InceptionCritic(Critic):
  """The critic of `relive_inception_conditional` (report sec. 4.4.1).

  `Critic` (unconditional input), plus the photo's frozen InceptionV3 features (the 8x8 stage)
  through a 1x1 conv to `feature_width` (64), tiled over time and concatenated on channels
  to the input of the last strided layer (the 4x8x8 stage at 32x64x64). The critic holds its
  own frozen backbone (same weights rule as the generator's: `zoo.relive.inception`).

  Args:
    weights, input_size: of the InceptionV3 backbone.
    feature_width: channels of the projected features.
    video_shape, widths, critic_norm: as `Critic`.
  """

  def __init__(
    self,
    weights="imagenet",
    input_size=299,
    feature_width=64,
    video_shape=VIDEO_SHAPE,
    widths=WIDTHS,
    critic_norm="layer",
    **kwargs,
  ):
    super().__init__(video_shape, widths, critic_norm, conditional=False, **kwargs)
    self.weights_source = weights
    self.input_size = int(input_size)
    self.feature_width = int(feature_width)
    # (T, H, W) entering the last strided layer: what remains after the others.
    self.stage_shape = vgan_blocks.final_kernel(self.video_shape, len(self.widths) - 1)
    self.features = inception.FrozenFeatures(
      weights, self.input_size, self.stage_shape[1:], name="inception"
    )
    self.project = layers.conv(2, self.feature_width, 1, 1, "same", name="project")

  needs_photo = True

  def call(self, video, condition=None, training=False):
    if condition is None:
      raise ValueError("Expected a photo condition for relive_inception_critic, received None.")
    x = layers.run(self.trunk[:-1], base.float_frames(video, self.name), training)
    features = tf.cast(self.project(self.features(photo_of(condition))), x.dtype)
    x = tf.concat([x, layers.tile_over_time(features, self.stage_shape[0])], axis=-1)
    return self.score(self.trunk[-1](x, training=training))

  def get_config(self):
    config = super().get_config()
    del config["conditional"]
    return {
      **config,
      "weights": self.weights_source,
      "input_size": self.input_size,
      "feature_width": self.feature_width,
    }
