"""Quickstart: a two-stream VGAN small enough to learn on 2 CPU cores in about 10 minutes.

The README's first command runs this on the built-in synthetic data (no download):

  python -m trainers.train --workdir=/tmp/videogan_quickstart

It is vgan_two_stream (Vondrick et al. 2016) with every width quartered (generator
128-64-32, discriminator 32-64-128) and clips of 16x32x32 instead of 32x64x64, so a
clip costs ~1/33 of the paper's FLOPs (bench/flops.py: 1.53 vs 50.5 GFLOP per clip and
step). Samples (composite, and foreground | background | mask | video
side by side) land in WORKDIR/samples every `train.sample_every` steps.
"""

from configs import common
from configs import vgan_two_stream


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = vgan_two_stream.get_config()
  common.shrink_vgan(c, frames=16, size=32, widths=(128, 64, 32), d_widths=(32, 64, 128))
  c.data.synthetic.max_shapes = 2
  c.train.batch_size = 16
  c.train.steps = 2000
  c.train.ema_decay = 0.99  # half-life ~70 steps: a 0.999 EMA still shows the init at 2000
  c.train.log_every = 50
  c.train.summary_every = 50
  c.train.sample_every = 500
  c.train.checkpoint_every = 500
  c.train.num_samples = 16
  if arg.smoke:
    common.smoke(c)
  return c
