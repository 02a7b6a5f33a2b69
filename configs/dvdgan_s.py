"""DVD-GAN-S, Radner's scaled-down DVD-GAN baseline (Radner 2020, Sec. 3.10, Table 4.1).

Argument (comma separated): "image" (the image-conditional variant: the GResNet encoder
initialises the GRU states, z still used, D_S sees the input frame), "landscape" (128x128,
25 frames; default BAIR 64x64, 30 frames), "resolution=256" (landscape at 256x256) and
"smoke". The thesis gives DVD-GAN-S
the style model's channel multipliers (G / D_S / D_T: 32 / 16 / 64 at 128x128) and its
discriminators, loss and schedule; it notes DVD-GAN's batch norm wanted batch 128
(train.batch_size / grad_accum to raise it).

  python -m trainers.train --config=dvdgan_s --workdir=/tmp/dvdgan_s
  python -m trainers.train --config=dvdgan_s:image --workdir=/tmp/dvdgan_s_image
  python -m trainers.train --config=dvdgan_s:image,smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, image=False, landscape=False, resolution=0, smoke=False)
  dataset = "landscape" if arg.landscape or arg.resolution else "bair"
  conditional = arg.image
  c = common.base()
  common.radner(c, dataset, arg.resolution)
  c.objective.condition = "first_frame" if conditional else ""
  g_args, d_args = common.RADNER_WIDTHS[c.data.height]
  c.model.generator = common.network(
    "dvdgan_s", latent_dim=128, conditional=conditional, num_frames=c.data.num_frames, **g_args
  )
  common.radner_discriminators(c, conditional=conditional, **d_args)
  if arg.smoke:
    common.radner_smoke(c)
  return c
