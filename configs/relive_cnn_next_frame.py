"""(Re)live Photos CNN next-frame baselines (Chen, Kang, Kim): `direct` or `residual`.

An encoder-decoder from one frame to the next (no memory); `residual` predicts the change.
Trained like the LSTM (L2, teacher forcing, Adam 1e-3 beta1 0.5, batch 32).

  python -m trainers.train --config=relive_cnn_next_frame --workdir=/tmp/cnn
  python -m trainers.train --config=relive_cnn_next_frame:residual --workdir=/tmp/res
  python -m trainers.train --config=relive_cnn_next_frame:smoke --workdir=/tmp/smoke

The argument is a comma-separated set of `residual` and `smoke`.
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, residual=False, smoke=False)
  c = common.relive(common.base(), task="prediction")
  c.model.generator = common.network(
    "relive_cnn_next_frame",
    video_shape=(32, 64, 64, 3),
    mode="residual" if arg.residual else "direct",
  )
  if arg.smoke:
    common.relive_smoke(c)
    g = c.model.generator.args
    g.video_shape, g.encoder_widths, g.decoder_widths = (8, 16, 16, 3), (8, 16), (8,)
  return c
