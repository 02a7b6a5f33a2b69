"""Egan's 2D SPADE: segmentation mask -> 128x128 image (2019, Section 3.3.3; Park et al. 2019).

Paper: hinge + feature matching 10 + VGG19 perceptual 10 (+ KL 0.05 with the VAE encoder),
Adam 2e-4 betas (0, 0.9); a two-scale PatchGAN on frame + mask. Sizes "small" (G filters / 4,
one block fewer) and "mid" (G filters / 2), optionally with the encoder; Table 4.2: G 12.5M /
35.2M, D 1.7M, encoder 1.3M / 3.1M. The VGG term needs a local VGG19 weights file
(--config.objective.vgg_weights=/path/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5);
without it the term is off and the log says so.

  python -m trainers.train --config=egan_spade_image:size=small --workdir=/tmp/spade2d
  python -m trainers.train --config=egan_spade_image:vae --workdir=/tmp/spade2d
  python -m trainers.train --config=egan_spade_image:smoke --workdir=/tmp/smoke

Argument (comma separated): size=small or size=mid (the default), vae (with the encoder),
smoke (tiny, with the encoder).
"""

from configs import common

SIZES = ("small", "mid")


def get_config(arg=None):
  arg = common.parse_arg(arg, size="mid", vae=False, smoke=False)
  if arg.size not in SIZES:
    raise ValueError(f"Expected size in {SIZES}, received {arg.size!r}.")
  c = common.base()
  c.model.generator = common.network(
    "egan_spade_generator_2d", size=arg.size, num_classes=183, use_vae=arg.vae
  )
  for scale in (0, 1):  # two scales, each weighted 1 / 2 (SPADE averages its discriminators)
    d = common.network(
      "egan_spade_discriminator_2d", video_shape=(1, 128, 128, 3), num_classes=183, scale=scale
    )
    d.weight = 0.5
    c.model.discriminators[f"d{scale}"] = d
  c.data.num_frames, c.data.frame_stride, c.data.max_start = 8, 3, 8
  c.data.height = c.data.width = 128
  c.data.resize = 160
  c.data.frame_mode = True
  c.data.outputs = ("segmentation",)
  c.objective.task = "spade"
  c.objective.condition = "segmentation"
  c.objective.gan_loss = "hinge"
  c.objective.feature_matching = 10.0
  c.objective.vgg_weight = 10.0
  c.objective.vgg_weights = ""  # a local VGG19 (no top) weights file; "" = term off
  c.objective.kl_weight = 0.05 if arg.vae else 0.0
  c.optimizer.name = "adam"
  c.optimizer.g_lr = c.optimizer.d_lr = 2e-4
  c.optimizer.beta1, c.optimizer.beta2 = 0.0, 0.9
  c.train.batch_size = 16  # not stated in the thesis
  c.train.steps = 50_000
  if arg.smoke:
    smoke(c, frames=1)
  return c


def smoke(c, frames):
  """16x16 networks (nf 4, two upsamplings, 4 synthetic classes) with the encoder."""
  common.shrink_egan(c, frames, 16)
  c.model.generator.args.update(dict(nf=4, up_mults=(1,), num_classes=4, use_vae=True))
  for d in c.model.discriminators.values():
    d.args.update(dict(num_classes=4, widths=(4, 8)))
  c.objective.kl_weight = 0.05
  return c
