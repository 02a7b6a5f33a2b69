"""Egan's 2D ResNet GAN (2019, Section 3.3.2; GAN-Stability, Mescheder et al. 2018).

Paper: non-saturating loss + R1 on real data weight 10 (10 x mean of the summed squared
gradients), RMSProp lr 1e-4, generator EMA 0.999 (GAN-Stability's); 128x128 frames from the
resize-160 / crop-128 / flip pipeline, drawn uniformly from clips. Table 4.2: G 33.3M, D 29.1M.

  python -m trainers.train --config=egan_resnet_image --workdir=/tmp/resnet2d
  python -m trainers.train --config=egan_resnet_image:smoke --workdir=/tmp/smoke

Then inflate into configs/egan_resnet_video.py (python -m trainers.inflate, docs/training.md).
"""

from configs import common

SMOKE = dict(nf=8, size=16, max_width=32)


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.base()
  c.model.generator = common.network("egan_resnet_generator_2d", latent_dim=256)
  c.model.discriminators.d = common.network(
    "egan_resnet_discriminator_2d", video_shape=(1, 128, 128, 3)
  )
  c.model.discriminators.d.weight = 1.0
  c.data.num_frames, c.data.frame_stride, c.data.max_start = 8, 3, 8
  c.data.height = c.data.width = 128
  c.data.resize = 160
  c.data.frame_mode = True
  c.objective.gan_loss = "non_saturating"
  c.objective.r1_weight = 10.0
  c.optimizer.name = "rmsprop"
  c.optimizer.rho = 0.99  # GAN-Stability's code uses PyTorch's RMSprop (alpha 0.99)
  c.optimizer.g_lr = c.optimizer.d_lr = 1e-4
  c.train.ema_decay = 0.999
  c.train.batch_size = 64  # not stated in the thesis
  c.train.steps = 400_000  # "400 epochs"
  if arg.smoke:
    smoke(c, frames=1)
  return c


def smoke(c, frames):
  """16x16 networks (two levels, widths 8-32) on 4-frame synthetic clips."""
  common.shrink_egan(c, frames, 16)
  c.model.generator.args.update(SMOKE)
  c.model.discriminators.d.args.nf = SMOKE["nf"]
  c.model.discriminators.d.args.max_width = SMOKE["max_width"]
  if frames > 1:
    c.model.generator.args.frames = frames
  return c
