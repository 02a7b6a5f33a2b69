"""Radner's style-based image-to-video generator and the DVD-GAN-S baseline generator.

Registered names: `radner_style_generator`, `dvdgan_s`. Both run their ConvGRU pyramid
level by level: each level's GRU is unrolled over every frame (`zoo.layers.conv_gru.unroll`,
one `tf.scan`), then the level's convolutions run on all frames at once (time folded into
the batch). That is the same network as unrolling the whole pyramid frame by frame, since
only the GRUs carry state from frame to frame, and it makes the frame count a free
argument: `call(..., num_frames=150)` on a model trained on 30 frames (Radner 2020, Sec. 4).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.layers import batch_norm
from zoo.layers import biggan_blocks
from zoo.layers import conv_gru
from zoo.layers import modulated
from zoo.layers import noise as noise_lib
from zoo.radner import pyramid


class _VideoGenerator(keras.Model):
  """Attributes and symbolic build shared by the two generators (zoo.base contract)."""

  streams = ()

  def build(self, input_shape):
    del input_shape  # the inputs are known from the contract; trace one call symbolically
    if self.built:
      return
    _, h, w, c = self.video_shape
    spec = {}
    if self.latent_dim:
      spec["z"] = keras.KerasTensor((None, self.latent_dim))
    if self.condition == "image":
      spec["image"] = keras.KerasTensor((None, h, w, c))
    self.compute_output_spec(spec if len(spec) > 1 else next(iter(spec.values())))

  def _unpack(self, inputs):
    if isinstance(inputs, dict):
      z, image = inputs.get("z"), inputs.get("image")
    else:
      z, image = (None, inputs) if self.condition == "image" else (inputs, None)
    return z, None if image is None else base.unit_frames(image, self.name)


@registry.register("radner_style_generator")
class StyleGenerator(_VideoGenerator):
  """Radner's style-based generator: one image -> a video (Radner 2020, Sec. 3.5, Fig. 3.7).

  Encoder: a GResNet block per level, bilinear 2x downsampling after each, down to 4x4; the
  feature of each level initialises that level's ConvGRU hidden state. Style head: two more
  GResNet blocks (`style_multipliers` x ch: 8ch, 4ch) at 4x4, flatten, one Dense -> the
  256-d style vector every style block (and toRGB) is modulated by.
  Decoder, from 4x4 upward: per level a ConvGRU (3x3, input width = hidden width = the
  level's width) unrolled once per frame, bilinear 2x upsampling, two style blocks
  (modulated + demodulated 3x3 conv, per-pixel noise with a learned per-channel strength,
  bias, LeakyReLU 0.2) whose output is the next level's GRU input. The lowest GRU's input is
  a learned constant (StyleGAN's). The last level's output goes through toRGB (1x1
  modulated conv, no demodulation, bias).

  Decisions where the thesis is silent: the style blocks of level i output level i+1's width
  (the last level keeps its own); the encoder's first block takes the RGB image directly;
  tanh after toRGB keeps videos in [-1, 1]; every generated frame comes from the decoder
  (frame 0 included: no copy of the input frame); the noise is drawn only when `call` gets a
  stateless `seed` (the training task passes one per step), so inference is deterministic.

  Parameter counts (trainable; printed by `summary()`): 64x64 (ch 16, [8, 4, 2, 1]):
  2,409,529; 128x128 (ch 32, [8, 8, 4, 2, 1]): 14,935,657 (tests/zoo/test_radner_generators.py).

  Args:
    resolution: frame height = width, a power of two; depth = log2(resolution / 4).
    ch: the channel multiplier (thesis: 16 at 64x64, 32 at 128x128, 8 at 256x256).
    multipliers: per-level width constants, lowest resolution first.
    style_multipliers: widths of the style head's two GResNet blocks, x ch.
    style_dim: size of the style vector (thesis: 256).
    num_frames: frames per video when `call` gets no `num_frames` (the training length).
  """

  latent_dim = 0
  condition = "image"

  def __init__(
    self,
    resolution=64,
    ch=16,
    multipliers=(8, 4, 2, 1),
    style_multipliers=(8, 4),
    style_dim=256,
    num_frames=30,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.resolution, self.ch = int(resolution), int(ch)
    self.multipliers = tuple(multipliers)
    self.style_multipliers = tuple(style_multipliers)
    self.style_dim, self.num_frames = int(style_dim), int(num_frames)
    self.video_shape = (self.num_frames, self.resolution, self.resolution, 3)
    self.widths = pyramid.level_widths(self.resolution, self.ch, self.multipliers)
    self.encoder = pyramid.Encoder(self.widths, name="encoder")
    self.style_blocks = [
      biggan_blocks.GResBlock(2, int(m * self.ch), name=f"style_block{i}")
      for i, m in enumerate(self.style_multipliers)
    ]
    self.style_dense = keras.layers.Dense(self.style_dim, name="style")
    outs = self.widths[1:] + self.widths[-1:]
    self.grus = [conv_gru.ConvGRUCell(w, name=f"gru{i}") for i, w in enumerate(self.widths)]
    self.upsample = keras.layers.UpSampling2D(2, interpolation="bilinear", name="upsample")
    self.blocks = [
      [modulated.StyleBlock(o, name=f"level{i}_style{j}") for j in range(2)]
      for i, o in enumerate(outs)
    ]
    self.to_rgb = modulated.ModulatedConv2D(3, 1, demodulate=False, use_bias=True, name="to_rgb")
    self.constant = self.add_weight(
      shape=(1, 1, 4, 4, self.widths[0]), initializer="random_normal", name="constant"
    )

  def style(self, feature, training=False):
    """The style vector [B, style_dim] from the encoder's 4x4 feature."""
    x = feature
    for block in self.style_blocks:
      x = block(x, training=training)
    return self.style_dense(tf.reshape(x, [-1, x.shape[1] * x.shape[2] * x.shape[3]]))

  def levels(self, inputs, training=False, num_frames=None, seed=None):
    """(style [B * T, style_dim], [each level's output [B, T, h, w, c], lowest first])."""
    _, image = self._unpack(inputs)
    frames = pyramid.num_frames_of(self, num_frames)
    features = self.encoder(image, training=training)
    style = self.style(features[0], training=training)
    style = tf.repeat(style, frames, axis=0)  # one per folded frame, batch-major
    batch = tf.shape(image)[0]
    x = tf.tile(tf.cast(self.constant, image.dtype), tf.stack([batch, frames, 1, 1, 1]))
    outputs = []
    for i, (gru, blocks) in enumerate(zip(self.grus, self.blocks)):
      h = pyramid.fold(conv_gru.unroll(gru, x, features[i]))
      h = self.upsample(h)
      for j, block in enumerate(blocks):
        h = block(h, style, seed=None if seed is None else noise_lib.fold_seed(seed, 2 * i + j))
      x = pyramid.unfold(h, frames)
      outputs.append(x)
    return style, outputs

  def call(self, inputs, training=False, num_frames=None, seed=None):
    """Returns the video [B, T, H, W, 3] in [-1, 1].

    Args:
      inputs: the image [B, H, W, 3] in [-1, 1] (or {"image": ...}).
      training: batch-norm mode of the encoder.
      num_frames: T, an int or a scalar int tensor; default `video_shape[0]`.
      seed: a stateless seed [2] for the noise inputs; None: no noise (deterministic).
    """
    frames = pyramid.num_frames_of(self, num_frames)
    style, outputs = self.levels(inputs, training, frames, seed)
    rgb = self.to_rgb(pyramid.fold(outputs[-1]), style)
    return pyramid.finish(self, rgb, frames)

  def get_config(self):
    return {
      "name": self.name,
      "resolution": self.resolution,
      "ch": self.ch,
      "multipliers": list(self.multipliers),
      "style_multipliers": list(self.style_multipliers),
      "style_dim": self.style_dim,
      "num_frames": self.num_frames,
    }


@registry.register("dvdgan_s")
class DvdGanSGenerator(_VideoGenerator):
  """DVD-GAN-S, Radner's scaled-down DVD-GAN baseline (Radner 2020, Sec. 3.10; Clark et al.
  2019, Fig. 2.2).

  z -> Dense -> 4x4 x width[0], the lowest ConvGRU's input at every frame; per level a
  ConvGRU (3x3) unrolled over the frames, then a GResNet block with 2x (nearest) upsampling
  to the next level's width, on every frame; BN - ReLU - conv3 - tanh to RGB. Unconditional
  GRU states start at zero; the image-conditional variant (`conditional=True`, condition
  "image", inputs {"z", "image"}) initialises them with the same GResNet encoder as
  `radner_style_generator`, and still takes z.

  Decisions: one upsampling GResNet block per level (DVD-GAN's "ResNet block up"); plain
  batch norm (no class-conditional BN: there are no classes); the thesis's multipliers
  (ch 32 at 128x128, the same width constants as the style generator).

  Parameter counts (trainable): 64x64 (ch 16, [8, 4, 2, 1], z 128): 1,602,307 unconditional,
  1,907,577 conditional; 128x128 (ch 32, [8, 8, 4, 2, 1]): 10,662,915 / 13,061,353.

  Args:
    resolution, ch, multipliers, num_frames: as `radner_style_generator`.
    latent_dim: size of z.
    conditional: image-conditional variant.
  """

  def __init__(
    self,
    resolution=64,
    ch=16,
    multipliers=(8, 4, 2, 1),
    latent_dim=128,
    num_frames=30,
    conditional=False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.resolution, self.ch = int(resolution), int(ch)
    self.multipliers = tuple(multipliers)
    self.latent_dim, self.num_frames = int(latent_dim), int(num_frames)
    self.conditional = bool(conditional)
    self.condition = "image" if self.conditional else None
    self.video_shape = (self.num_frames, self.resolution, self.resolution, 3)
    self.widths = pyramid.level_widths(self.resolution, self.ch, self.multipliers)
    self.encoder = pyramid.Encoder(self.widths, name="encoder") if self.conditional else None
    self.project = keras.layers.Dense(4 * 4 * self.widths[0], name="project")
    outs = self.widths[1:] + self.widths[-1:]
    self.grus = [conv_gru.ConvGRUCell(w, name=f"gru{i}") for i, w in enumerate(self.widths)]
    self.blocks = [
      biggan_blocks.GResBlock(2, o, upsample=True, name=f"level{i}") for i, o in enumerate(outs)
    ]
    self.out_norm = batch_norm.FusedBatchNormalization(
      momentum=biggan_blocks.BN_MOMENTUM, epsilon=biggan_blocks.BN_EPSILON, name="out_norm"
    )
    self.out_conv = keras.layers.Conv2D(3, 3, padding="same", name="out_conv")

  def levels(self, inputs, training=False, num_frames=None):
    """Each level's output [B, T, h, w, c], lowest first."""
    z, image = self._unpack(inputs)
    frames = pyramid.num_frames_of(self, num_frames)
    batch = tf.shape(z)[0]
    if self.encoder is not None:
      states = self.encoder(image, training=training)
    else:
      states = [
        tf.zeros(tf.stack([batch, 4 * 2**i, 4 * 2**i, w]), z.dtype)
        for i, w in enumerate(self.widths)
      ]
    x = tf.reshape(self.project(z), [-1, 1, 4, 4, self.widths[0]])
    x = tf.tile(x, tf.stack([1, frames, 1, 1, 1]))
    outputs = []
    for gru, block, state in zip(self.grus, self.blocks, states):
      h = pyramid.fold(conv_gru.unroll(gru, x, state))
      x = pyramid.unfold(block(h, training=training), frames)
      outputs.append(x)
    return outputs

  def call(self, inputs, training=False, num_frames=None):
    """Returns the video [B, T, H, W, 3] in [-1, 1] from z (and the image when conditional)."""
    frames = pyramid.num_frames_of(self, num_frames)
    x = self.levels(inputs, training, frames)[-1]
    h = tf.nn.relu(self.out_norm(pyramid.fold(x), training=training))
    return pyramid.finish(self, self.out_conv(h), frames)

  def get_config(self):
    return {
      "name": self.name,
      "resolution": self.resolution,
      "ch": self.ch,
      "multipliers": list(self.multipliers),
      "latent_dim": self.latent_dim,
      "num_frames": self.num_frames,
      "conditional": self.conditional,
    }
