r"""Egan's 3D DCGAN (2019, Section 3.3.1): 32x128x128 clips, trained from scratch or fine-tuned
after inflating configs/egan_dcgan_image.py.

Paper: as the 2D model (spectral norm, hinge, Adam 2e-4 betas (0, 0.999)), every kernel 4x4x4
(the generator's first 1x4x4); whole 32-frame clips. Table 4.2: G 28.3M, D 27.8M.

  python -m trainers.train --config=egan_dcgan_video --workdir=/tmp/dcgan3d
  python -m trainers.inflate --from=/tmp/dcgan2d --config=egan_dcgan_video \
      --workdir=/tmp/dcgan3d   # then the train command above fine-tunes it
"""

from configs import common
from configs import egan_dcgan_image


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = egan_dcgan_image.get_config()
  common.to_video(c, (32, 128, 128, 3))
  c.train.steps = 80_000  # "80 epochs"
  if arg.smoke:
    egan_dcgan_image.smoke(c, frames=4)
  return c
