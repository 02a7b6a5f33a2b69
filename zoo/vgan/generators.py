"""VGAN generators (Vondrick, Pirsiavash, Torralba, NIPS 2016, Sections 2.2 and 3.4).

Registered names: `vgan_one_stream`, `vgan_two_stream`, `vgan_image_to_video`.
Shared decisions (bias on every conv, BN epsilon and momentum) are in `zoo.vgan.blocks`.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.vgan import blocks

VIDEO_WIDTHS = (512, 256, 128, 64)
BACKGROUND_WIDTHS = (512, 256, 128, 64)
STREAMS = ("foreground", "background", "mask")


def _check_widths(name, widths, length):
  if len(widths) != length:
    raise ValueError(f"Expected {name} with {length} entries, received {tuple(widths)!r}.")
  return tuple(int(w) for w in widths)


def video_shape_for(num_layers):
  """(T, H, W, 3) after a 2x4x4 projection and `num_layers` doublings: 32x64x64 for 4 layers.

  The hidden layers are 2x4x4 ... (2^n)x(2^(n+1))x(2^(n+1)) and the output layer doubles
  once more, so n hidden widths give 2^(n+1) frames of 2^(n+2) pixels squared.
  """
  if num_layers < 1:
    raise ValueError(f"Expected at least one hidden width, received {num_layers}.")
  return (2 ** (num_layers + 1), 2 ** (num_layers + 2), 2 ** (num_layers + 2), 3)


class VideoTrunk(keras.layers.Layer):
  """The foreground trunk f(z) without its output layer: z -> 16x32x32x64 (Section 2.2).

  z [B, latent_dim] is viewed as a 1x1x1 volume; a transposed 3D conv with kernel (2,4,4),
  valid, gives 2x4x4x512; three "k4 s2" transposed convs give 4x8x8x256, 8x16x16x128 and
  16x32x32x64, each followed by BN and ReLU. One-stream and two-stream generators (and the
  autoencoder's decoder) share this one class.
  """

  def __init__(self, widths=VIDEO_WIDTHS, init_std=0.01, gamma_std=0.02, **kwargs):
    super().__init__(**kwargs)
    self.stack = blocks.UpStack(
      3,
      widths,
      first_kernel=(2, 4, 4),
      first_strides=1,
      first_padding="valid",
      init_std=init_std,
      gamma_std=gamma_std,
      name="stack",
    )

  def call(self, z, training=False):
    x = tf.reshape(z, [-1, 1, 1, 1, z.shape[-1]])
    return self.stack(x, training=training)


class BackgroundStream(keras.layers.Layer):
  """The static background b(z): a 2D DCGAN generator, z -> 64x64x3 (Section 2.2).

  z viewed as 1x1 -> transposed conv 512 k4 valid (4x4) -> "k4 s2": 256 (8), 128 (16),
  64 (32) with BN + ReLU -> 3 (64), tanh. The paper uses Radford et al.'s architecture
  without their weights.
  """

  def __init__(self, widths=BACKGROUND_WIDTHS, init_std=0.01, gamma_std=0.02, **kwargs):
    super().__init__(**kwargs)
    self.stack = blocks.UpStack(
      2,
      widths,
      first_kernel=4,
      first_strides=1,
      first_padding="valid",
      init_std=init_std,
      gamma_std=gamma_std,
      name="stack",
    )
    self.head = blocks.output_head(2, 3, "tanh", init_std, name="image")

  def call(self, z, training=False):
    x = tf.reshape(z, [-1, 1, 1, z.shape[-1]])
    return self.head(self.stack(x, training=training))


@registry.register("vgan_one_stream")
class OneStreamGenerator(base.SymbolicBuild, keras.Model):
  """VGAN's one-stream generator (Vondrick et al. 2016, Section 2.2, "One Stream Architecture").

  z (100, N(0, 1)) -> 2x4x4x512 -> 4x8x8x256 -> 8x16x16x128 -> 16x32x32x64 -> 32x64x64x3,
  five transposed 3D convs, BN + ReLU after all but the last, tanh output.

  Decisions: every conv has a bias (Torch's default); kernels N(0, `init_std`) (paper: 0.01),
  BN gamma N(1, `gamma_std`), beta 0 (authors' code). The depth follows `widths` (for small
  smoke models): n hidden widths give `video_shape` (2^(n+1), 2^(n+2), 2^(n+2), 3), the
  paper's 32x64x64x3 for the default 4.

  Args:
    latent_dim: size of z.
    widths: channels of the hidden layers (paper: 512, 256, 128, 64).
    init_std: std of the conv kernel initializer.
    gamma_std: std of the BN gamma initializer (around 1).
  """

  condition = None
  streams = ()

  def __init__(self, latent_dim=100, widths=VIDEO_WIDTHS, init_std=0.01, gamma_std=0.02, **kwargs):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.video_shape = video_shape_for(len(widths))
    self.widths = tuple(int(w) for w in widths)
    self.init_std = float(init_std)
    self.gamma_std = float(gamma_std)
    self.trunk = VideoTrunk(self.widths, init_std, gamma_std, name="trunk")
    self.video_head = blocks.output_head(3, 3, "tanh", init_std, name="video")

  def call(self, z, training=False):
    return self.video_head(self.trunk(z, training=training))

  def get_config(self):
    return {
      "name": self.name,
      "latent_dim": self.latent_dim,
      "widths": list(self.widths),
      "init_std": self.init_std,
      "gamma_std": self.gamma_std,
    }


@registry.register("vgan_two_stream")
class TwoStreamGenerator(base.SymbolicBuild, keras.Model):
  """VGAN's two-stream generator (Vondrick et al. 2016, Section 2.2, Figure 1).

  G(z) = m(z) * f(z) + (1 - m(z)) * b(z): the foreground f is the one-stream network, the
  mask m a second 1-channel sigmoid output layer on the same trunk's last hidden layer
  (16x32x32x64), the background b a 2D DCGAN generator whose image is replicated over time.
  The paper's mask sparsity prior (lambda * |m|_1, lambda 0.1) is the trainer's: it reads the
  mask from `call(z, return_streams=True)`.

  Decisions: as `OneStreamGenerator`; with `return_streams=True` the background is returned
  broadcast to [B, T, H, W, 3] (a view of one image per clip) so that every stream has the
  video's layout; the mask is [B, T, H, W, 1]. The depth follows `widths` as in
  `OneStreamGenerator`; `background_widths` has as many entries.

  Args:
    latent_dim: size of z (shared by the two streams, as in the paper).
    widths: hidden channels of the foreground trunk (paper: 512, 256, 128, 64).
    background_widths: hidden channels of the background stream (paper: 512, 256, 128, 64).
    init_std: std of the conv kernel initializer.
    gamma_std: std of the BN gamma initializer (around 1).
  """

  condition = None
  streams = STREAMS

  def __init__(
    self,
    latent_dim=100,
    widths=VIDEO_WIDTHS,
    background_widths=BACKGROUND_WIDTHS,
    init_std=0.01,
    gamma_std=0.02,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.video_shape = video_shape_for(len(widths))
    self.widths = tuple(int(w) for w in widths)
    self.background_widths = _check_widths("background_widths", background_widths, len(self.widths))
    self.init_std = float(init_std)
    self.gamma_std = float(gamma_std)
    self.trunk = VideoTrunk(self.widths, init_std, gamma_std, name="trunk")
    self.video_head = blocks.output_head(3, 3, "tanh", init_std, name="video")
    self.mask_head = blocks.output_head(3, 1, "sigmoid", init_std, name="mask")
    self.background = BackgroundStream(
      self.background_widths, init_std, gamma_std, name="background"
    )

  def call(self, z, training=False, return_streams=False):
    hidden = self.trunk(z, training=training)
    foreground, mask = blocks.heads_on_one_input(hidden, [self.video_head, self.mask_head])
    background = self.background(z, training=training)
    return _two_stream_outputs(foreground, background, mask, return_streams)

  def get_config(self):
    return {
      "name": self.name,
      "latent_dim": self.latent_dim,
      "widths": list(self.widths),
      "background_widths": list(self.background_widths),
      "init_std": self.init_std,
      "gamma_std": self.gamma_std,
    }


def _two_stream_outputs(foreground, background, mask, return_streams):
  video = blocks.compose(foreground, background, mask)
  if not return_streams:
    return video
  return {
    "video": video,
    "foreground": foreground,
    "background": tf.broadcast_to(background[:, tf.newaxis], tf.shape(foreground)),
    "mask": mask,
  }


@registry.register("vgan_image_to_video")
class ImageToVideoGenerator(base.SymbolicBuild, keras.Model):
  """VGAN's future generator: one frame -> 32 frames (Vondrick et al. 2016, Section 3.4).

  The paper attaches a convolutional encoder to the two-stream generator. Decisions, following
  the authors' `main_conditional.lua` (the paper's "five layers" is not what their code has):
  encoder Conv2D "k4 s2" 3 -> 128 (ReLU, no BN) -> 256 -> 512 -> 1024 (BN, ReLU) = 4x4x1024.
  Background: transposed 2D "k4 s2" from 4x4x1024: 512 (8) -> 256 (16) -> 128 (32) with
  BN + ReLU -> 3 (64), tanh. Foreground: 4x4x1024 viewed as 1x4x4x1024 -> transposed 3D conv
  1024, kernel (2,1,1), stride (2,1,1) -> 2x4x4x1024 -> "k4 s2" 512 -> 256 -> 128
  (16x32x32) -> heads 3 (tanh) and 1 (sigmoid mask) at 32x64x64. Video = m*f + (1-m)*b.
  The first-frame reconstruction loss (L1, lambda 10) is the trainer's. No noise input
  (`latent_dim` 0); the condition is the first frame, [B, 64, 64, 3] in [-1, 1].
  The depth follows `widths` (n entries: `video_shape` as `OneStreamGenerator`);
  `encoder_widths` then has n entries (an image of 2^(n+2) pixels down to 4x4) and
  `background_widths` n - 1 (4x4 up to the video's size, the output layer included).

  Args:
    encoder_widths: channels of the encoder layers (code: 128, 256, 512, 1024).
    widths: hidden channels of the foreground stream (code: 1024, 512, 256, 128).
    background_widths: hidden channels of the background decoder (code: 512, 256, 128).
    init_std: std of the conv kernel initializer.
    gamma_std: std of the BN gamma initializer (around 1).
  """

  latent_dim = 0
  condition = "image"
  streams = STREAMS

  def __init__(
    self,
    encoder_widths=(128, 256, 512, 1024),
    widths=(1024, 512, 256, 128),
    background_widths=(512, 256, 128),
    init_std=0.01,
    gamma_std=0.02,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.video_shape = video_shape_for(len(widths))
    self.widths = tuple(int(w) for w in widths)
    self.encoder_widths = _check_widths("encoder_widths", encoder_widths, len(self.widths))
    self.background_widths = _check_widths(
      "background_widths", background_widths, len(self.widths) - 1
    )
    self.init_std = float(init_std)
    self.gamma_std = float(gamma_std)
    self.encoder = blocks.DownStack(
      2,
      self.encoder_widths,
      activation="relu",
      init_std=init_std,
      gamma_std=gamma_std,
      name="encoder",
    )
    self.trunk = blocks.UpStack(
      3,
      self.widths,
      first_kernel=(2, 1, 1),
      first_strides=(2, 1, 1),
      first_padding="valid",
      init_std=init_std,
      gamma_std=gamma_std,
      name="trunk",
    )
    self.video_head = blocks.output_head(3, 3, "tanh", init_std, name="video")
    self.mask_head = blocks.output_head(3, 1, "sigmoid", init_std, name="mask")
    self.background = blocks.UpStack(
      2,
      self.background_widths,
      first_kernel=4,
      first_strides=2,
      first_padding="same",
      init_std=init_std,
      gamma_std=gamma_std,
      name="background",
    )
    self.background_head = blocks.output_head(2, 3, "tanh", init_std, name="background_image")

  def call(self, image, training=False, return_streams=False):
    code = self.encoder(base.unit_frames(image, self.name), training=training)
    hidden = self.trunk(code[:, tf.newaxis], training=training)
    foreground, mask = blocks.heads_on_one_input(hidden, [self.video_head, self.mask_head])
    background = self.background_head(self.background(code, training=training))
    return _two_stream_outputs(foreground, background, mask, return_streams)

  def get_config(self):
    return {
      "name": self.name,
      "encoder_widths": list(self.encoder_widths),
      "widths": list(self.widths),
      "background_widths": list(self.background_widths),
      "init_std": self.init_std,
      "gamma_std": self.gamma_std,
    }
