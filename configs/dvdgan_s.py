"""DVD-GAN-S, Radner's scaled-down DVD-GAN baseline (Radner 2020, Sec. 3.10, Table 4.1).

Argument words (comma separated): "image" (the image-conditional variant: the GResNet
encoder initialises the GRU states, z still used, D_S sees the input frame), "landscape"
(128x128, 25 frames; default BAIR 64x64, 30 frames), "256" (landscape at 256x256) and
"smoke". The thesis gives DVD-GAN-S
the style model's channel multipliers (G / D_S / D_T: 32 / 16 / 64 at 128x128) and its
discriminators, loss and schedule; it notes DVD-GAN's batch norm wanted batch 128
(train.batch_size / grad_accum to raise it).

  python -m trainers.train --config=configs/dvdgan_s.py --workdir=/tmp/dvdgan_s
  python -m trainers.train --config=configs/dvdgan_s.py:image --workdir=/tmp/dvdgan_s_image
  python -m trainers.train --config=configs/dvdgan_s.py:image,smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=""):
  words = common.parse_flags(arg, ("image", "landscape", "256", "smoke"))
  dataset = "landscape" if "landscape" in words or "256" in words else "bair"
  conditional = "image" in words
  c = common.base()
  common.radner(c, dataset, 256 if "256" in words else 0)
  c.objective.condition = "first_frame" if conditional else ""
  g_args, d_args = common.RADNER_WIDTHS[c.data.height]
  c.model.generator = common.network("dvdgan_s", latent_dim=128, conditional=conditional,
                                     num_frames=c.data.num_frames, **g_args)
  common.radner_discriminators(c, conditional=conditional, **d_args)
  if "smoke" in words:
    common.radner_smoke(c)
  return c
