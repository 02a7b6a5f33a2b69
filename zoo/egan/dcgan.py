"""Egan's DCGAN in 2D and 3D (Egan 2019, Section 3.3.1, Figures 3-2 and 3-3).

Registered names: `egan_dcgan_generator_2d` / `_3d`, `egan_dcgan_discriminator_2d` / `_3d`.
The figures are missing from the thesis text; the widths below reproduce its Table 4.2
(image G 7.5M, D 7.0M; video G 28.3M, D 27.8M; see docs/architecture.md).
"""

import keras
import tensorflow as tf

from zoo import base
from zoo.egan import contract
from zoo.layers import activations
from zoo.layers import batch_norm
from zoo.layers import resblocks
from zoo.vgan import blocks

G_WIDTHS = (512, 512, 256, 128, 64)
D_WIDTHS = (64, 128, 256, 512, 512)
BN_MOMENTUM = 0.9  # PyTorch's momentum 0.1
BN_EPSILON = 1e-5  # PyTorch's default


class DCGANGenerator(base.SymbolicBuild, keras.Model):
  """DCGAN generator with spectral norm (Radford et al. 2016; Egan 2019, Figure 3-2).

  2D: z (64) viewed as 1x1 -> ConvT 512 k4 valid (4x4) -> "k4 s2" ConvT: 512 (8), 256 (16),
  128 (32), 64 (64), BN + ReLU after each -> ConvT 3 k4 s2 (128), tanh. An image model fits
  the video contract as one-frame clips: `video_shape` (1, 128, 128, 3), outputs
  [B, 1, H, W, 3]. 3D (the one-stream VGAN shape): the first kernel is 1x4x4 (one frame),
  every further 4x4x4 stride-2 transposed conv doubles time too, 1 -> 32 frames.

  Decisions: spectral norm (Keras `SpectralNormalization`) on every convolution, as the
  thesis says it "added spectral normalization to the convolutional layers"; BN momentum and
  epsilon are PyTorch's defaults; Keras's default initializers.

  Args:
    rank: 2 (image) or 3 (video).
    latent_dim: size of z.
    widths: channels of the hidden layers; n widths give 4 * 2^n pixels (and 2^n frames).
    spectral_norm: wrap every convolution in spectral normalisation.
  """

  condition = None
  streams = ()

  def __init__(self, rank=2, latent_dim=64, widths=G_WIDTHS, spectral_norm=True, **kwargs):
    super().__init__(**kwargs)
    self.rank = contract.check_rank(rank)
    self.latent_dim = int(latent_dim)
    self.widths = tuple(int(w) for w in widths)
    self.spectral_norm = bool(spectral_norm)
    n = len(self.widths)
    size = 4 * 2**n
    self.video_shape = (2**n if rank == 3 else 1, size, size, 3)
    first = (1, 4, 4) if rank == 3 else (4, 4)
    self.convs, self.norms = [], []
    for i, width in enumerate(self.widths):
      self.convs.append(
        resblocks.conv_transpose(
          rank,
          width,
          first if i == 0 else 4,
          1 if i == 0 else 2,
          "valid" if i == 0 else "same",
          spectral_norm,
          name=f"up{i}",
        )
      )
      self.norms.append(
        batch_norm.FusedBatchNormalization(momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name=f"bn{i}")
      )
    self.out = resblocks.conv_transpose(rank, 3, 4, 2, "same", spectral_norm, name="out")

  def call(self, z, training=False):
    x = tf.reshape(z, [-1] + [1] * self.rank + [z.shape[-1]])
    for conv, norm in zip(self.convs, self.norms):
      x = tf.nn.relu(norm(conv(x, training=training), training=training))
    x = tf.tanh(tf.cast(self.out(x, training=training), tf.float32))
    return contract.as_video(x, self.rank)

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "latent_dim": self.latent_dim,
      "widths": list(self.widths),
      "spectral_norm": self.spectral_norm,
    }


class DCGANDiscriminator(base.SymbolicBuild, keras.Model):
  """DCGAN discriminator with spectral norm (Egan 2019, Figure 3-3).

  2D: Conv k4 s2 3 -> 64 -> 128 -> 256 -> 512 -> 512 (4x4 at 128), LeakyReLU 0.2, then
  Conv 1 k4 valid -> one logit. A 2D discriminator judges each frame of a clip and averages
  the logits (one frame in frame mode). 3D: the same with 4x4x4 kernels, stride 2 in time
  too (32 -> 1 frame), and a last kernel of whatever (T, H, W) remains.

  Decisions: no batch norm (spectral norm takes its place, as in SN-GAN); time padded by
  replication, never zeros (inflation, Section 3.1.2); a hinge logit in float32.

  Args:
    rank: 2 or 3.
    video_shape: (T, H, W, 3) of the clips judged (T = 1 for images).
    widths: channels of the strided layers.
    spectral_norm: wrap every convolution in spectral normalisation.
    temporal_padding: "replicate" or "reflect" (3D).
  """

  def __init__(
    self,
    rank=2,
    video_shape=(1, 128, 128, 3),
    widths=D_WIDTHS,
    spectral_norm=True,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.rank = contract.check_rank(rank)
    self.video_shape = tuple(int(s) for s in video_shape)
    self.widths = tuple(int(w) for w in widths)
    self.spectral_norm = bool(spectral_norm)
    self.temporal_padding = temporal_padding
    self.convs = [
      resblocks.PaddedConv(
        rank,
        w,
        4,
        2,
        spectral_norm=spectral_norm,
        temporal_padding=temporal_padding,
        name=f"down{i}",
      )
      for i, w in enumerate(self.widths)
    ]
    kernel = blocks.final_kernel(self.video_shape, len(self.widths))
    final = (keras.layers.Conv3D if rank == 3 else keras.layers.Conv2D)(
      1, kernel if rank == 3 else kernel[1:], padding="valid", dtype="float32", name="final"
    )
    self.final = resblocks.maybe_spectral(final, spectral_norm)

  def call(self, video, condition=None, training=False):
    del condition  # unconditional
    x = contract.fold_frames(base.float_frames(video, self.name), self.rank)
    for conv in self.convs:
      x = activations.leaky_relu(conv(x, training=training))
    return contract.unfold_logits(self.final(x, training=training), video, self.rank)

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "video_shape": list(self.video_shape),
      "widths": list(self.widths),
      "spectral_norm": self.spectral_norm,
      "temporal_padding": self.temporal_padding,
    }


contract.register_pair("egan_dcgan_generator", DCGANGenerator)
contract.register_pair(
  "egan_dcgan_discriminator", DCGANDiscriminator, {2: (1, 128, 128, 3), 3: (32, 128, 128, 3)}
)
