"""(Re)live Photos convolutional LSTM next-frame predictor (Chen, Kang, Kim, sec. 4.6.1).

Conv encoder to 16x16x128 -> ConvLSTM2D 128 (kernel 3) -> deconv decoder; dropout 0.2; L2 with
teacher forcing in training, recursive rollout in evaluation; Adam 1e-3, beta1 0.5, batch 32.

  python -m trainers.train --config=relive_convlstm --workdir=/tmp/relive_convlstm
  python -m trainers.evaluate_prediction --workdir=/tmp/relive_convlstm --data=synthetic
  python -m trainers.train --config=relive_convlstm:smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.relive(common.base(), task="prediction")
  c.model.generator = common.network(
    "relive_convlstm", video_shape=(32, 64, 64, 3), filters=128, dropout=0.2
  )
  if arg.smoke:
    common.relive_smoke(c)
    g = c.model.generator.args
    g.video_shape, g.encoder_widths = (8, 16, 16, 3), (8, 16)
    g.filters, g.decoder_widths = 16, (8,)
  return c
