r"""VGAN's discriminator transferred to action recognition on UCF101 (Vondrick et al. 2016,
sec. 3.3, Fig. 4a): the trunk of a trained VGAN discriminator, dropout 0.5, a 101-way conv.

  # 1. a VGAN trained on unlabelled video (the paper: 5000 hours of Flickr)
  python -m trainers.train --config=vgan_two_stream --workdir=/tmp/vgan2
  # 2. labelled UCF101 TFRecords (trainers.data.make_tfrecords), then the classifier
  python -m trainers.train --config=vgan_ucf101_transfer --workdir=/tmp/ucf_ft \
      --config.objective.transfer_from=/tmp/vgan2 \
      --config.data.train_files='/data/ucf101/train-*' \
      --config.data.eval_files='/data/ucf101/test-*'
  # 3. top-1 on the evaluation split (paper: 52.1 / 49.3 / 36.7 %)
  python -m trainers.classify --workdir=/tmp/ucf_ft

Modes (`--config.model.generator.args.mode=`): "finetune" (default; all layers from the
VGAN), "last_layer" (frozen trunk, "logistic regression" on its features), "random_init"
(no transfer; `objective.transfer_from` is ignored).

Paper values: Adam lr 2e-4, beta1 0.5, dropout 0.5, 101 classes, 32x64x64 clips. Unstated
and ours: batch 64 (VGAN's) and the number of steps.

`:smoke` trains a 3-way classifier (synthetic clips, label = number of shapes - 1) of
8x16x16 clips in mode "random_init", as no trained VGAN exists in a smoke run; add
`--config.model.generator.args.mode=finetune --config.objective.transfer_from=WORKDIR` with
the workdir of a `configs/vgan_two_stream.py:smoke` run (same widths) to try the transfer.
"""

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.base()
  c.model.generator = common.network(
    "vgan_action_classifier",
    num_classes=101,
    mode="finetune",
    dropout=0.5,
    video_shape=(32, 64, 64, 3),
    widths=(64, 128, 256, 512),
  )
  c.objective.task = "classification"
  # The workdir of a trained VGAN whose discriminator starts the trunk (finetune,
  # last_layer), and which of its model.discriminators that is.
  c.objective.transfer_from = ""
  c.objective.transfer_discriminator = "d"
  c.data.source = "tfrecord"
  c.data.train_files = ""  # UCF101 train split (TFRecords with labels), set on the command line
  c.data.eval_files = ""  # UCF101 test split, read by trainers.classify
  c.data.outputs = ("label",)
  c.optimizer.g_lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.train.batch_size = 64
  c.train.steps = 20_000  # unstated: ~135 passes over split 1's 9.5k training videos
  c.train.sample_every = 0  # a classifier draws no samples
  if arg.smoke:
    common.smoke(c)
    c.train.sample_every = 0
    c.data.source = "synthetic"
    c.data.num_frames, c.data.height, c.data.width = 8, 16, 16
    g = c.model.generator.args
    g.num_classes = c.data.synthetic.max_shapes  # labels 0 .. max_shapes - 1
    g.mode = "random_init"
    g.video_shape = (8, 16, 16, 3)
    g.widths = (8, 16)  # the discriminator widths of vgan_two_stream.py:smoke
  return c
