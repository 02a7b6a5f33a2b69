"""(Re)live Photos LSTM next-frame predictor (Chen, Kang, Kim, sec. 4.6, Figure 3).

Each frame -> CNN -> 1024 -> LSTM 1024 -> deconv -> the next frame; dropout 0.2 between layers
and frames; L2 loss at every step with teacher forcing (objective.task "prediction"); rollout
from the first frame in evaluation. Adam lr 1e-3, beta1 0.5, batch 32 (report sec. 4.7).

  python -m trainers.train --config=relive_lstm --workdir=/tmp/relive_lstm
  python -m trainers.evaluate_prediction --workdir=/tmp/relive_lstm --data=/data/test-*.tfrecord
  python -m export.export --workdir=/tmp/relive_lstm --out=/tmp/exported  # predict(frames, horizon)
  python -m trainers.train --config=relive_lstm:smoke --workdir=/tmp/smoke
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.relive(common.base(), task="prediction")
  c.model.generator = common.network(
    "relive_lstm", video_shape=(32, 64, 64, 3), units=1024, dropout=0.2
  )
  if arg.smoke:
    common.relive_smoke(c)
    g = c.model.generator.args
    g.video_shape, g.encoder_widths = (8, 16, 16, 3), (8, 16)
    g.units, g.decoder_widths = 32, (16, 8)
  return c
