"""(Re)live Photos conditional WGAN-GP (Chen, Kang, Kim, sec. 4.4): a photo -> 32 frames.

The photo is the clip's middle frame (index 15 of 32, `data.outputs` middle_frame); the encoder
maps it to the generator's 2x4x4x512 code; the critic sees the photo tiled over time on
channels. `common.relive`: WGAN-GP as configs/relive_wgan.py, and the curriculum: MSE between
generated frame 15 and the photo, `objective.recon_weight` (1.0), off before
`objective.recon_start_step` (5000); the report gives neither number.

  python -m trainers.train --config=relive_conditional_wgan --workdir=/tmp/relive_c
  python -m trainers.train --config=relive_conditional_wgan:two_stream --workdir=...
  python -m trainers.evaluate_prediction --workdir=/tmp/relive_c --data=/data/test-*.tfrecord
  python -m export.export --workdir=/tmp/relive_c --out=/tmp/exported    # animate(image)

The argument is a comma-separated set of `two_stream` and `smoke`.
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, two_stream=False, smoke=False)
  c = common.relive(common.base(), condition="middle_frame")
  c.model.generator = common.network("relive_conditional_wgan", two_stream=arg.two_stream)
  c.model.discriminators.d = common.network(
    "relive_critic", video_shape=(32, 64, 64, 3), critic_norm="layer", conditional=True
  )
  c.model.discriminators.d.weight = 1.0
  if arg.smoke:
    common.relive_smoke(c)
    common.shrink_vgan(
      c, frames=8, size=16, widths=(32, 16), d_widths=(8, 16), encoder_widths=(8, 16)
    )
    c.model.generator.args.background_widths = (32, 16)
  return c
