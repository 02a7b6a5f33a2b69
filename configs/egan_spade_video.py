r"""Egan's 3D SPADE: segmentation mask -> 8x128x128 video (2019, Section 3.3.3), trained from
scratch or fine-tuned after inflating configs/egan_spade_image.py (same size argument).

The mask branch of every SPADE norm stays 2D (one affine map for all frames); the
discriminators see the mask tiled over time, the second scale halves T, H and W. 8 frames,
every 3rd, from a start in a clip's first 8. Table 4.2: G 19.5M / 70.3M, D 5.1M, encoder
1.8M / 5.0M.

  python -m trainers.inflate --from=/tmp/spade2d --config=egan_spade_video:size=small \
      --workdir=/tmp/spade3d
  python -m trainers.train --config=egan_spade_video:size=small --workdir=/tmp/spade3d
"""

from configs import common
from configs import egan_spade_image


def get_config(arg=None):
  arg = common.parse_arg(arg, size="mid", vae=False, smoke=False)
  c = egan_spade_image.get_config(f"size={arg.size},vae={arg.vae}")
  common.to_video(c, (8, 128, 128, 3))
  c.model.generator.args.frames = 8
  c.train.steps = 10_000  # "5 epochs" of fine-tuning
  if arg.smoke:
    egan_spade_image.smoke(c, frames=4)
    c.model.generator.args.update(dict(frames=4, temporal_scalings=1))
  return c
