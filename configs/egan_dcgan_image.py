"""Egan's 2D DCGAN (2019, Section 3.3.1): 128x128 frames, the image half of model inflation.

Paper: spectral norm on every conv, hinge loss, Adam 2e-4 betas (0, 0.999); frames resized
to 160, randomly cropped to 128 and flipped, each drawn uniformly from a 32-frame clip
(`data.frame_mode`). Table 4.2: G 7.5M, D 7.0M parameters.

  python -m trainers.train --config=egan_dcgan_image --workdir=/tmp/dcgan2d
  python -m trainers.train --config=egan_dcgan_image:smoke --workdir=/tmp/smoke2d

Then inflate into configs/egan_dcgan_video.py (python -m trainers.inflate, docs/training.md).
`:smoke` shrinks the networks to 16x16 frames for a seconds-long local run.
"""

from configs import common

SMOKE_G, SMOKE_D = (16, 8), (8, 16)


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.base()
  c.model.generator = common.network("egan_dcgan_generator_2d", latent_dim=64)
  c.model.discriminators.d = common.network(
    "egan_dcgan_discriminator_2d", video_shape=(1, 128, 128, 3)
  )
  c.model.discriminators.d.weight = 1.0
  c.data.num_frames, c.data.height, c.data.width = 32, 128, 128
  c.data.resize = 160
  c.data.random_flip = True
  c.data.frame_mode = True
  c.objective.gan_loss = "hinge"
  c.optimizer.name = "adam"
  c.optimizer.g_lr = c.optimizer.d_lr = 2e-4
  c.optimizer.beta1, c.optimizer.beta2 = 0.0, 0.999
  c.train.batch_size = 64  # the thesis fills the GPUs' memory; not stated
  c.train.steps = 100_000  # "100 epochs" of the Nature Videos frames
  if arg.smoke:
    smoke(c, frames=1)
  return c


def smoke(c, frames):
  """16x16 networks (two layers each) on 4-frame synthetic clips."""
  common.shrink_egan(c, frames, 16)
  c.model.generator.args.widths = SMOKE_G
  c.model.discriminators.d.args.widths = SMOKE_D
  return c
