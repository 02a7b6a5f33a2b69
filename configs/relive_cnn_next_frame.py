"""(Re)live Photos CNN next-frame baselines (Chen, Kang, Kim): `direct` or `residual`.

An encoder-decoder from one frame to the next (no memory); `residual` predicts the change.
Trained like the LSTM (L2, teacher forcing, Adam 1e-3 beta1 0.5, batch 32).

  python -m trainers.train --config=configs/relive_cnn_next_frame.py --workdir=/tmp/cnn
  python -m trainers.train --config=configs/relive_cnn_next_frame.py:residual --workdir=/tmp/res
  python -m trainers.train --config=configs/relive_cnn_next_frame.py:smoke --workdir=/tmp/smoke

The argument is a comma-separated set of `residual` and `smoke`.
"""

from configs import common

ARGS = ("residual", "smoke")


def get_config(arg=""):
  args = common.parse_flags(arg, ARGS)
  c = common.relive(common.base(), task="prediction")
  c.model.generator = common.network(
      "relive_cnn_next_frame", video_shape=(32, 64, 64, 3),
      mode="residual" if "residual" in args else "direct")
  if "smoke" in args:
    common.relive_smoke(c)
    g = c.model.generator.args
    g.video_shape, g.encoder_widths, g.decoder_widths = (8, 16, 16, 3), (8, 16), (8,)
  return c
