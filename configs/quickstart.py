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
  return vgan_two_stream.get_config("quickstart,smoke" if arg.smoke else "quickstart")
