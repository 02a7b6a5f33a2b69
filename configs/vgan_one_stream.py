"""VGAN one-stream generator (Vondrick et al. 2016, sec. 2.2): one 3D transposed-conv stack.

Paper size: 32x64x64 clips, z 100, batch 64, Adam 2e-4 beta1 0.5, non-saturating loss.

  python -m trainers.train --config=vgan_one_stream --workdir=/tmp/vgan1
  python -m trainers.train --config=vgan_one_stream:smoke --workdir=/tmp/smoke
"""

from configs import vgan_two_stream


def get_config(arg=None):
  c = vgan_two_stream.get_config(arg)
  c.model.generator.name = "vgan_one_stream"
  if "background_widths" in c.model.generator.args:
    del c.model.generator.args["background_widths"]
  c.objective.mask_sparsity = 0.0  # no mask
  return c
