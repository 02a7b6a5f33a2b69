"""Radner's style-based video synthesis from one image (Radner 2020, Sec. 3.5-3.8).

Argument (comma separated): "landscape" (128x128, 25 frames, the user's TFRecords; default
BAIR robot pushing 64x64, 30 frames, TFDS), "resolution=256" (landscape at 256x256, the
thesis's Sec. 4 attempt: ch 8 / 8 / 32, D_T pooled 2x2) and "smoke" (a tiny synthetic run).
Widths (Sec. 3.7): BAIR G ch 16 [8, 4, 2, 1], D_S and D_T ch 32 [2, 4, 8, 16, 16], D_T on
2x2-pooled clips; landscape G / D_S / D_T ch 32 / 16 / 64, [8, 8, 4, 2, 1] and
[1, 2, 4, 8, 16, 16], no pooling. D_S sees the input frame; D_T does not.

  python -m trainers.train --config=radner_style --workdir=/tmp/radner_bair
  python -m trainers.train --config=radner_style:landscape --workdir=/tmp/radner_l \
      --config.data.train_files='/data/landscape/train-*' \
      --config.data.eval_files='/data/landscape/test-*'
  python -m trainers.train --config=radner_style:smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, landscape=False, resolution=0, smoke=False)
  dataset = "landscape" if arg.landscape or arg.resolution else "bair"
  c = common.base()
  common.radner(c, dataset, arg.resolution)
  c.objective.condition = "first_frame"
  g_args, d_args = common.RADNER_WIDTHS[c.data.height]
  c.model.generator = common.network(
    "radner_style_generator",
    style_multipliers=(8, 4),
    style_dim=256,
    num_frames=c.data.num_frames,
    **g_args,
  )
  common.radner_discriminators(c, conditional=True, **d_args)
  if arg.smoke:
    common.radner_smoke(c)
  return c
