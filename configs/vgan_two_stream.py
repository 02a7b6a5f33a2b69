"""VGAN two-stream generator (Vondrick et al. 2016, sec. 2.2): foreground, background, mask.

Paper size: 32x64x64 clips, z 100, batch 64, Adam 2e-4 beta1 0.5, one D step per G step,
non-saturating loss, mask sparsity 0.1 * mean|m|.

  python -m trainers.train --config=vgan_two_stream --workdir=/tmp/vgan2
  python -m trainers.train --config=vgan_two_stream:smoke --workdir=/tmp/smoke

`:smoke` shrinks the networks to 8x16x16 clips for a seconds-long local run.
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.base()
  c.model.generator = common.network("vgan_two_stream", latent_dim=100)
  c.model.discriminators.d = common.network("vgan_discriminator", video_shape=(32, 64, 64, 3))
  c.model.discriminators.d.weight = 1.0
  c.objective.gan_loss = "non_saturating"
  c.objective.mask_sparsity = 0.1
  c.optimizer.g_lr = c.optimizer.d_lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.train.batch_size = 64
  c.train.steps = 100_000  # the paper trains "a fixed number of iterations" (unstated)
  if arg.smoke:
    common.smoke(c)
    common.shrink_vgan(c, frames=8, size=16, widths=(32, 16), d_widths=(8, 16))
  return c
