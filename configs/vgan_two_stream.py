"""VGAN two-stream generator (Vondrick et al. 2016, sec. 2.2): foreground, background, mask.

Paper size: 32x64x64 clips, z 100, batch 64, Adam 2e-4 beta1 0.5, one D step per G step,
non-saturating loss, mask sparsity 0.1 * mean|m|.

  python -m trainers.train --config=vgan_two_stream --workdir=/tmp/vgan2
  python -m trainers.train --config=vgan_two_stream:smoke --workdir=/tmp/smoke

`:smoke` shrinks the networks to 8x16x16 clips for a seconds-long local run; `:quickstart`
to 16x32x32 clips and quartered widths, the scale that learns on 2 CPU cores in about 10
minutes (configs/quickstart.py, and the learning check of vgan_one_stream).
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False, quickstart=False)
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
  if arg.quickstart:
    # Every width quartered (generator 128-64-32, discriminator 32-64-128), 16x32x32 clips:
    # ~1/33 of the paper's FLOPs per clip (bench/flops.py: 1.53 vs 50.5 GFLOP per clip and step).
    common.shrink_vgan(c, frames=16, size=32, widths=(128, 64, 32), d_widths=(32, 64, 128))
    c.data.synthetic.max_shapes = 2
    c.train.batch_size = 16
    c.train.steps = 2000
    c.train.ema_decay = 0.99  # half-life ~70 steps: a 0.999 EMA still shows the init at 2000
    c.train.log_every = c.train.summary_every = 50
    c.train.sample_every = c.train.checkpoint_every = 500
    c.train.num_samples = 16
    if arg.smoke:
      common.smoke(c)
  elif arg.smoke:
    common.smoke(c)
    common.shrink_vgan(c, frames=8, size=16, widths=(32, 16), d_widths=(8, 16))
  return c
