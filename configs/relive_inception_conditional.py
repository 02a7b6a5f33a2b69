"""(Re)live Photos Inception-conditioned WGAN-GP (Chen, Kang, Kim, sec. 4.4.1).

A frozen InceptionV3 (the report's InceptionV4 is not in Keras) encodes the middle-frame photo
at 299x299; its 8x8x2048 features feed the generator (1x1 conv 512, tiled to 4x8x8) and the
critic (1x1 conv 64 at its 4x8x8 stage). ImageNet weights come from the Keras cache
(~/.keras/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5) or
`--config.model.generator.args.weights=/path/file.h5` (and the same for the critic); without
them the model refuses to build. Objective as configs/relive_conditional_wgan.py.

  python -m trainers.train --config=relive_inception_conditional --workdir=/tmp/ri
  python -m trainers.train --config=relive_inception_conditional:smoke --workdir=/tmp/s

`:smoke` uses the explicitly test-only random Inception weights at input size 75.
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.relive(common.base(), condition="middle_frame")
  c.model.generator = common.network(
    "relive_inception_conditional", weights="imagenet", input_size=299, video_shape=(32, 64, 64, 3)
  )
  c.model.discriminators.d = common.network(
    "relive_inception_critic",
    weights="imagenet",
    input_size=299,
    video_shape=(32, 64, 64, 3),
    critic_norm="layer",
  )
  c.model.discriminators.d.weight = 1.0
  if arg.smoke:
    common.relive_smoke(c)
    for entry in (c.model.generator, c.model.discriminators.d):
      entry.args.weights = "untrained_for_tests_only"  # zoo.relive.inception: never a default
      entry.args.input_size = 75
      entry.args.video_shape = (8, 16, 16, 3)
    c.model.generator.args.widths = (16, 8)
    c.model.discriminators.d.args.widths = (8, 16)
    c.model.discriminators.d.args.feature_width = 8
  return c
