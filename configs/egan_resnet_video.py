r"""Egan's 3D ResNet GAN (2019, Section 3.3.2): 8x128x128 clips, every 3rd frame from a start
in a clip's first 8; inflated from configs/egan_resnet_image.py (from scratch it collapsed in
the thesis).

Paper: as the 2D model, RMSProp G lr 1e-5, D lr 3e-5. Table 4.2: G 102.7M, D 85.8M.

  python -m trainers.inflate --from=/tmp/resnet2d --config=egan_resnet_video \
      --workdir=/tmp/resnet3d
  python -m trainers.train --config=egan_resnet_video --workdir=/tmp/resnet3d
"""

from configs import common
from configs import egan_resnet_image


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = egan_resnet_image.get_config()
  common.to_video(c, (8, 128, 128, 3))
  c.model.generator.args.frames = 8
  c.optimizer.g_lr, c.optimizer.d_lr = 1e-5, 3e-5
  c.train.steps = 20_000  # "finetuning for 20 epochs"
  # The G step after the D update: TF's allocator peaked at 9443-11902 MiB at batch 8
  # against 12273-15016 MiB overlapped, for the same step time (docs/benchmarks.md, "Steps
  # in order").
  c.runtime.overlap_steps = False
  if arg.smoke:
    egan_resnet_image.smoke(c, frames=4)
  return c
