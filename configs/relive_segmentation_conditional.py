"""(Re)live Photos segmentation-conditioned WGAN-GP (Chen, Kang, Kim, sec. 4.4.2).

The encoder reads the middle-frame photo and its one-hot semantic segmentation (23 classes,
the record's `segmentation` feature: `objective.condition = "middle_frame+segmentation"` hands
the generator {"image", "segmentation"}); the critic and the reconstruction term see the
photo. Objective as configs/relive_conditional_wgan.py. Records without a segmentation get
one from your segmentation SavedModel when written (`make_tfrecords --segmenter`); the export
can embed the same model (`export.export --segmenter`: segment_and_animate(image)).

  python -m trainers.data.make_tfrecords --input='/videos/*.mp4' --output=/data/train \
      --clip_length=32 --resize=64 --crop=64x64 --segmenter=/models/seg
  python -m trainers.train --config=relive_segmentation_conditional \
      --workdir=/tmp/relive_seg --config.data.source=tfrecord \
      --config.data.train_files=/data/train-*.tfrecord
  python -m trainers.evaluate_prediction --workdir=/tmp/relive_seg --data=/data/test-*.tfrecord
  python -m export.export --workdir=/tmp/relive_seg --out=/tmp/exported --segmenter=/models/seg
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.relive(common.base(), condition="middle_frame+segmentation")
  c.model.generator = common.network("relive_segmentation_conditional", num_classes=23)
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
    c.model.generator.args.num_classes = 4  # synthetic clips: background, square, disc, triangle
  return c
