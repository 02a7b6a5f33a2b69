"""(Re)live Photos WGAN-GP video GAN (Chen, Kang, Kim, sec. 4.1-4.3), one- or two-stream.

Report and docs/architecture.md: z 100 -> FC -> 2x4x4x512 -> 32x64x64 clips; the critic with
layer norm (`critic_norm`: layer / none / batch; batch is refused with the gradient penalty);
`common.relive`: WGAN-GP lambda 10, 5 critic steps, Adam 1e-3 (0.5, 0.9), batch 32.

  python -m trainers.train --config=relive_wgan --workdir=/tmp/relive_wgan
  python -m trainers.train --config=relive_wgan:two_stream --workdir=/tmp/relive2
  python -m trainers.train --config=relive_wgan:smoke --workdir=/tmp/smoke

The argument is a comma-separated set of `two_stream` and `smoke` (8x16x16 clips, tiny nets).
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, two_stream=False, smoke=False)
  c = common.relive(common.base())
  c.model.generator = common.network("relive_wgan", latent_dim=100, two_stream=arg.two_stream)
  c.model.discriminators.d = common.network(
    "relive_critic", video_shape=(32, 64, 64, 3), critic_norm="layer"
  )
  c.model.discriminators.d.weight = 1.0
  if arg.smoke:
    common.relive_smoke(c)
    common.shrink_vgan(c, frames=8, size=16, widths=(32, 16), d_widths=(8, 16))
  return c
