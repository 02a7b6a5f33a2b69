"""Egan's SPADE segmentation-to-image and -to-video GAN (Egan 2019, Section 3.3.3; Park et al.
2019), in 2D and 3D: generator (+ optional VAE encoder) and a PatchGAN discriminator.

Registered names: `egan_spade_generator_2d` / `_3d`, `egan_spade_discriminator_2d` / `_3d`.
The figures are missing from the thesis text; these decisions reproduce Table 4.2:

* 183 mask classes (COCO-Stuff's 182 + "don't care", SPADE's label_nc for COCO), z 256;
* the generator always starts from Dense(z) (SPADE's VAE-mode first layer, with or without
  the encoder: the table gives the same G size for both): image G 12.5M small / 35.2M mid,
  video G 19.5M / 70.3M (the Dense emits 2 frames, the first two upsamplings double time);
* sizes: "mid" = G filters / 2 (nf 32), "small" = G filters / 4 (nf 16) and the second block
  (G_middle_0) removed; the mask branch keeps SPADE's 128 hidden channels;
* encoder: SPADE's ConvEncoder with ndf = the generator's nf, five k3 s2 convs (3D: 3x3x3,
  stride 2 in time too, 8 -> 1 frame), mu / logvar Dense 256: 1.3M / 3.1M, video 1.8M / 5.0M;
* discriminator, per scale: PatchGAN k4 convs 64 s2, 128 s2, 256 s2, then 1 s1 (128x128 ->
  16x16 decisions, 64 -> 8 at the second scale, as the thesis says), input frames + one-hot
  mask; 3D kernels 3x4x4, stride 1 in time (8x128x128 -> 8x16x16). Two scales = two
  registered discriminators (`scale` 0 and 1; the second sees the input average-pooled 3 s2,
  in 3D over time too: 4x64x64 -> 4x8x8): 2 x 0.85M = 1.7M, video 5.1M.
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import base
from zoo.egan import contract
from zoo.layers import activations
from zoo.layers import resblocks
from zoo.layers import spade as spade_layers

SIZES = {"full": (64, False), "mid": (32, False), "small": (16, True)}  # nf, drop G_middle_0
UP_MULTS = (8, 4, 2, 1)  # up_0 .. up_3 output widths in nf (SPADE's "normal" generator)
NUM_CLASSES = 183


def _lrelu(x):
  return activations.leaky_relu(x)


class SPADEEncoder(keras.layers.Layer):
  """SPADE's ConvEncoder: k3 s2 convs (spectral norm, instance norm), LeakyReLU, Dense mu and
  logvar. 3D: 3x3x3 convs, stride 2 in time too."""

  def __init__(self, rank, ndf, num_layers, latent_dim=256, temporal_padding="replicate", **kwargs):
    super().__init__(**kwargs)
    self.rank = rank
    self.convs = [
      resblocks.PaddedConv(
        rank,
        ndf * min(2**i, 8),
        3,
        2,
        spectral_norm=True,
        temporal_padding=temporal_padding,
        name=f"layer{i}",
      )
      for i in range(num_layers)
    ]
    self.mu = keras.layers.Dense(latent_dim, name="fc_mu")
    self.logvar = keras.layers.Dense(latent_dim, name="fc_var")

  def call(self, video, training=False):
    x = video[:, 0] if self.rank == 2 else video  # an image model encodes its one frame
    for i, conv in enumerate(self.convs):
      x = spade_layers.instance_norm(conv(x if i == 0 else _lrelu(x), training=training))
    x = tf.reshape(_lrelu(x), [-1, int(np.prod(x.shape[1:]))])
    return self.mu(x), self.logvar(x)


class SPADEGenerator(base.SymbolicBuild, keras.Model):
  """SPADE generator, segmentation mask (+ z) -> image or video (Egan 2019, Figs. 3-7, 3-10).

  Dense(z) -> 4x4x16nf -> head_0 -> up -> G_middle_0 (not in "small") -> G_middle_1 -> up ->
  up_0 (8nf) -> up -> up_1 (4nf) -> up -> up_2 (2nf) -> up -> up_3 (nf) -> LeakyReLU ->
  conv3 3 -> tanh; every block a `SPADEResBlock` conditioned on the mask. Inputs
  {"z": [B, 256], "mask": int32 [B, H, W]}; z ~ N(0, 1), or the encoder's sample when the
  model is trained as a VAE (`use_vae`; the task encodes, see `encode`). An image model is
  a one-frame clip model (`video_shape` (1, H, W, 3)); 3D: convs 3x3x3, the mask branch 2D
  and broadcast over frames, the Dense emits frames / 2^temporal_scalings frames and the
  first `temporal_scalings` upsamplings are 2x2x2.

  Args:
    rank: 2 or 3.
    size: "small", "mid" or "full" (module docstring).
    num_classes: mask classes (one-hot width).
    latent_dim: z.
    up_mults: widths of the up blocks in nf; the image is 4 * 2^(len + 1) pixels.
    frames, temporal_scalings: 3D clip length and how many upsamplings double time.
    use_vae: own an encoder (`encode(video)` -> mu, logvar).
    nf: overrides the size's filter count (smoke configs).
    temporal_padding: "replicate" or "reflect".
  """

  condition = "mask"
  streams = ()

  def __init__(
    self,
    rank=2,
    size="mid",
    num_classes=NUM_CLASSES,
    latent_dim=256,
    up_mults=UP_MULTS,
    frames=8,
    temporal_scalings=2,
    use_vae=False,
    nf=0,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    if size not in SIZES:
      raise ValueError(f"Expected size in {sorted(SIZES)}, received {size!r}.")
    self.rank = contract.check_rank(rank)
    # `mask_classes`, not `num_classes`: that attribute marks a classifier (trainers).
    self.size, self.mask_classes, self.latent_dim = size, int(num_classes), int(latent_dim)
    self.up_mults = tuple(int(m) for m in up_mults)
    self.frames, self.temporal_scalings = int(frames), int(temporal_scalings)
    self.use_vae, self.temporal_padding = bool(use_vae), temporal_padding
    self.nf = int(nf) or SIZES[size][0]
    num_ups = len(self.up_mults) + 1
    pixels = 4 * 2**num_ups
    if rank == 3 and (self.frames % 2**self.temporal_scalings or self.temporal_scalings > num_ups):
      raise ValueError(
        f"Expected frames divisible by 2^temporal_scalings (at most {num_ups}), "
        f"received frames={frames}, temporal_scalings={temporal_scalings}."
      )
    self.dense_frames = self.frames // 2**self.temporal_scalings if rank == 3 else 1
    self.video_shape = (self.frames if rank == 3 else 1, pixels, pixels, 3)
    block = lambda fin, fout, name: spade_layers.SPADEResBlock(
      rank,
      fin * self.nf,
      fout * self.nf,
      temporal_padding=temporal_padding,
      num_classes=self.mask_classes,
      name=name,
    )
    self.fc = keras.layers.Dense(self.dense_frames * 16 * 16 * self.nf, name="fc")
    self.head = block(16, 16, "head_0")
    self.middle = [] if SIZES[size][1] else [block(16, 16, "G_middle_0")]
    self.middle.append(block(16, 16, "G_middle_1"))
    widths = (16,) + self.up_mults
    self.up_blocks = [block(widths[i], widths[i + 1], f"up_{i}") for i in range(len(self.up_mults))]
    self.ups = [
      resblocks.upsample(rank, 2 if rank == 2 else (2 if i < self.temporal_scalings else 1, 2, 2))
      for i in range(num_ups)
    ]
    self.conv_img = resblocks.PaddedConv(
      rank, 3, 3, temporal_padding=temporal_padding, name="conv_img"
    )
    self.encoder = (
      SPADEEncoder(rank, self.nf, num_ups, self.latent_dim, temporal_padding, name="encoder")
      if self.use_vae
      else None
    )

  def call(self, inputs, training=False):
    z, mask = inputs["z"], inputs["mask"]
    seg = spade_layers.segmentation(mask, self.mask_classes, self.name)
    shape = ([self.dense_frames] if self.rank == 3 else []) + [4, 4, 16 * self.nf]
    x = tf.reshape(self.fc(z), [-1] + shape)
    x = self.ups[0](self.head(x, seg, training=training))
    for b in self.middle:
      x = b(x, seg, training=training)
    for i, b in enumerate(self.up_blocks):
      x = b(self.ups[i + 1](x), seg, training=training)
    x = self.conv_img(_lrelu(x))
    return contract.as_video(tf.tanh(tf.cast(x, tf.float32)), self.rank)

  def build(self, input_shape=None):
    """Creates every variable (the encoder's too) from the model's own shapes."""
    del input_shape
    self.built = True  # so that the call below does not come back here
    t, h, w, _ = self.video_shape
    # Traced on symbolic inputs: creates the variables without computing anything. The batch
    # stays unknown, so that no form is timed (`zoo.layers.form_choice`) for a shape that
    # training never runs.
    self.compute_output_spec(
      {
        "z": keras.KerasTensor((None, self.latent_dim)),
        "mask": keras.KerasTensor((None, h, w), dtype="int32"),
      }
    )
    if self.encoder is not None:
      self.encoder.compute_output_spec(keras.KerasTensor((None, t, h, w, 3)))

  def encode(self, video, training=False):
    """(mu, logvar) [B, latent_dim] of real clips (VAE mode only)."""
    if self.encoder is None:
      raise ValueError("Expected a generator built with use_vae=True, received use_vae=False.")
    return self.encoder(video, training=training)

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "size": self.size,
      "num_classes": self.mask_classes,
      "latent_dim": self.latent_dim,
      "up_mults": list(self.up_mults),
      "frames": self.frames,
      "temporal_scalings": self.temporal_scalings,
      "use_vae": self.use_vae,
      "nf": self.nf,
      "temporal_padding": self.temporal_padding,
    }


class PatchDiscriminator(base.SymbolicBuild, keras.Model):
  """One scale of SPADE's multi-scale PatchGAN (Egan 2019, Fig. 3-8): frames + mask -> patches.

  Input: the clip's frames with the one-hot mask concatenated on channels (3D: the mask tiled
  over time). `scale` s average-pools the input s times (3 s2, padding left out of the mean;
  3D: over time too). Conv k4: 64 s2 (LeakyReLU) -> 128 s2 -> 256 s2 (spectral norm +
  instance norm, LeakyReLU) -> 1 s1; 3D kernels 3x4x4, stride 1 in time. Returns patch
  logits [B, N] (the zoo's losses average them: pix2pix's per-patch loss); a 2D model judges
  each frame, so N = T x patches. `return_features=True` also returns the intermediate
  activations, for SPADE's feature matching.

  Args:
    rank: 2 or 3.
    video_shape: (T, H, W, 3) judged.
    num_classes: mask classes.
    widths: the strided layers' channels.
    scale: input downsamplings (0 or 1 in SPADE's two-scale setting).
    temporal_padding: "replicate" or "reflect".
  """

  def __init__(
    self,
    rank=2,
    video_shape=(1, 128, 128, 3),
    num_classes=NUM_CLASSES,
    widths=(64, 128, 256),
    scale=0,
    temporal_padding="replicate",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.rank = contract.check_rank(rank)
    self.video_shape = tuple(int(s) for s in video_shape)
    self.num_classes, self.widths = int(num_classes), tuple(int(w) for w in widths)
    self.scale, self.temporal_padding = int(scale), temporal_padding
    kernel = 4 if rank == 2 else (3, 4, 4)
    stride = 2 if rank == 2 else (1, 2, 2)
    self.pools = [resblocks.avg_pool(rank, 3, 2) for _ in range(self.scale)]
    self.convs = [
      resblocks.PaddedConv(
        rank,
        w,
        kernel,
        stride,
        spectral_norm=i > 0,
        temporal_padding=temporal_padding,
        name=f"conv{i}",
      )
      for i, w in enumerate(self.widths)
    ]
    self.final = resblocks.PaddedConv(
      rank, 1, kernel, temporal_padding=temporal_padding, dtype="float32", name="final"
    )

  def call(self, video, condition=None, training=False, return_features=False):
    if condition is None:
      raise ValueError(
        "Expected the segmentation mask as `condition` (objective.condition "
        "'segmentation'), received None."
      )
    video = base.float_frames(video, self.name)
    x = self._first_conv(video, spade_layers.one_hot_mask(condition, self.num_classes, self.name))
    features = [_lrelu(x)]
    for conv in self.convs[1:]:
      x = _lrelu(spade_layers.instance_norm(conv(features[-1], training=training)))
      features.append(x)
    x = features[-1]
    logits = tf.reshape(self.final(x, training=training), [tf.shape(video)[0], -1])
    return (logits, features) if return_features else logits

  def _first_conv(self, video, seg):
    """`convs[0]` over the frames with the one-hot mask `seg` [B, H, W, L] concatenated on
    channels (3D: tiled over time), computed as a convolution of the frames plus one of the
    mask. The mask is the same in every frame, and so are its time padding and its pooling
    (padding left out of the mean), so its part of every output frame is one 2D convolution
    with the kernel summed over time: the tiled [B, T, H, W, L] input (97.5 MiB per 8x128x128
    clip at 183 classes), its padded copies and their gradients are never made.
    """
    layer = self.convs[0]
    conv = layer.conv  # no spectral norm on the first layer: the kernel is the variable
    frames = video.shape[-1]
    if not conv.built:
      conv.build((None,) * (self.rank + 1) + (frames + seg.shape[-1],))
      layer.built = True
    dtype = conv.compute_dtype
    x = contract.fold_frames(tf.cast(video, dtype), self.rank)
    seg = tf.cast(seg, dtype)
    for pool in self.pools:
      x = pool(x)
      seg = tf.nn.avg_pool2d(seg, 3, 2, "SAME")
    kernel = tf.cast(conv.kernel, dtype)
    k_frames, k_seg = kernel[..., :frames, :], kernel[..., frames:, :]
    strides = layer.strides[-2:]
    if self.rank == 3:
      pads = layer.paddings(x.shape[1:4])
      out = tf.nn.conv3d(layer.pad(x), k_frames, (1, *layer.strides, 1), "VALID")
      seg = tf.pad(seg, [[0, 0], list(pads[1]), list(pads[2]), [0, 0]])
      mask_part = tf.nn.conv2d(seg, tf.reduce_sum(k_seg, 0), strides, "VALID")
      out += mask_part[:, tf.newaxis]
    else:
      out = tf.nn.conv2d(x, k_frames, strides, "SAME")
      mask_part = tf.nn.conv2d(seg, k_seg, strides, "SAME")
      out += tf.repeat(mask_part, tf.shape(out)[0] // tf.shape(mask_part)[0], axis=0)
    return out + tf.cast(conv.bias, dtype) if conv.use_bias else out

  def build(self, input_shape=None):
    """Creates every variable from the model's own shapes (a zero mask as condition)."""
    del input_shape
    self.built = True  # so that the call below does not come back here
    t, h, w, c = self.video_shape
    self.compute_output_spec(  # the batch unknown, as in SPADEGenerator.build
      keras.KerasTensor((None, t, h, w, c)),
      condition=keras.KerasTensor((None, h, w), dtype="int32"),
    )

  def get_config(self):
    return {
      "name": self.name,
      "rank": self.rank,
      "video_shape": list(self.video_shape),
      "num_classes": self.num_classes,
      "widths": list(self.widths),
      "scale": self.scale,
      "temporal_padding": self.temporal_padding,
    }


contract.register_pair("egan_spade_generator", SPADEGenerator)
contract.register_pair(
  "egan_spade_discriminator", PatchDiscriminator, {2: (1, 128, 128, 3), 3: (8, 128, 128, 3)}
)
