r"""How high the image-to-video mask IoU can get within the learning check's budget when the
network is told the answer.

    python -m bench.mask_ceiling
    python -m bench.mask_ceiling --supervise=video
    python -m bench.mask_ceiling --steps=6000 --every=1000 --out=/tmp/mask_ceiling.json

The learning check (`trainers.learning_check`) asks vgan_image_to_video's mask stream to
cover the true future foreground within its budget (16x32x32 clips whose motion frame 0
determines, at batch 16, for the steps `learning_check.CHECKS` gives it). The oracle that
reads frame 0 scores 1.0: what a perfect model reaches, not what this network can learn in
this many steps. This bench measures that second ceiling. It trains the check's own
generator (same config, widths, batch, optimizer settings and seed;
`learning_check.check_config`) with direct supervision and no discriminator (`--supervise`):
- "mask": the binary cross-entropy of the mask stream against the true masks of every
  frame, plus the L1 distance of the composed clip to the real clip over every frame;
- "video": that L1 distance alone: the network is shown the true future, but its mask, as
  the GAN's, is judged only through the composed clip;
- "frame0": the L1 distance of the composed frame 0 to the input frame alone: the GAN's
  reconstruction term without its adversarial one.
The GAN sees neither of the first two: its mask is judged only through the composed clip,
and its future frames only by the discriminator. So "mask" bounds what any objective can be
expected to reach in the same steps, and "video" what one that never scores the mask itself
reaches; "frame0" bounds the check's other target, the fall of frame 0's error, for a
network whose every step serves that error alone.

Every `--every` steps it prints the mask IoU on the learning check's held-out clips
(`trainers.eval.mask_iou.evaluate_mask_iou`, the same clips and seed), the IoU of the
shapes the composed clip shows, and frame 0's error as the check measures it
(`trainers.eval.learning.conditioned_row`, the same clips and noise). One plain
`tf.function` step, as bench/plain_step.py: no strategy, no EMA (the check measures the
GAN's EMA generator), nothing written but `--out`. On 2 cores a step at batch 16 takes about
0.05 s (AMD EPYC Zen 4; 0.11 s on a Zen 3): the check's 1200 steps and four measurements
take about 2.5 minutes on a Zen 3.
"""

import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from bench import common
from trainers import learning_check
from trainers import optim
from trainers import workdir as workdir_lib
from trainers.data import pipeline
from trainers.eval import learning
from trainers.eval import mask_iou

CHECK = "vgan_image_to_video"

FLAGS = flags.FLAGS


def supervised_loss(streams, video, fg_masks, supervise="mask"):
  """The mean L1 distance of `streams["video"]` to `video` (`supervise` "frame0": of their
  frames 0), plus (`supervise` "mask") the mean binary cross-entropy of `streams["mask"]`
  [B, T, H, W, 1] against `fg_masks`."""
  fake = tf.cast(streams["video"], tf.float32)
  if supervise == "frame0":
    return tf.reduce_mean(tf.abs(fake[:, 0] - video[:, 0]))
  loss = tf.reduce_mean(tf.abs(fake - video))
  if supervise == "mask":
    mask = tf.cast(streams["mask"], tf.float32)
    loss += tf.reduce_mean(keras.losses.binary_crossentropy(fg_masks, mask))
  return loss


def run(config, steps, every, num_videos, supervise="mask", log=print):
  """Trains `config`'s generator on the true clips (and masks); returns the measured rows."""
  if config.data.source != "synthetic":
    raise ValueError(
      f"Expected data.source 'synthetic' (true masks), received {config.data.source!r}."
    )
  keras.utils.set_random_seed(config.seed)
  generator = workdir_lib.build_generator(config)
  data = config.data.copy_and_resolve_references()
  with data.unlocked():
    data.outputs = ("first_frame", "fg_masks")
  batches = iter(pipeline.make_dataset(data, config.train.batch_size, True, seed=config.seed))
  optimizer = optim.make_optimizer(config.optimizer, config.optimizer.g_lr, steps)

  @tf.function
  def train_step(batch):
    with tf.GradientTape() as tape:
      streams = generator(batch["first_frame"], training=True, return_streams=True)
      loss = supervised_loss(streams, batch["video"], batch["fg_masks"], supervise)
    weights = generator.trainable_variables
    optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
    return loss

  rows, start = [], time.perf_counter()
  for step in range(steps + 1):
    if step % every == 0 or step == steps:
      scored = mask_iou.evaluate_mask_iou(
        generator, config.data, num_clips=num_videos, seed=config.seed
      )
      frames = learning.conditioned_row(generator, config, num_videos, learning_check.BATCH_SIZE)
      rows.append(
        {
          "step": step,
          "mask_iou": scored["mean"],
          "mask_iou_per_frame": scored["per_frame"],
          "video_shape_iou": scored["video_shapes"]["mean"],
          "cond_error": frames["cond_error"],
          "motion_ratio": frames["motion_ratio"],
          "minutes": (time.perf_counter() - start) / 60.0,
        }
      )
      drop = 1.0 - frames["cond_error"] / rows[0]["cond_error"]
      log(
        f"step {step:5d}: mask IoU {scored['mean']:.3f} (frame 0 {scored['per_frame'][0]:.3f}, "
        f"last {scored['per_frame'][-1]:.3f}); shapes the clip shows "
        f"{scored['video_shapes']['mean']:.3f}; frame-0 error {frames['cond_error']:.4f} "
        f"({-drop:+.0%}), motion {frames['motion_ratio']:.2f}x the real clips'; "
        f"{rows[-1]['minutes']:.1f} min"
      )
    if step < steps:
      train_step(next(batches))
  return rows


def main(argv):
  del argv
  check = learning_check.CHECKS[CHECK]
  config = learning_check.check_config(CHECK)
  if FLAGS.seed >= 0:
    with config.unlocked():
      config.seed = FLAGS.seed
  steps, every = FLAGS.steps or check.steps, FLAGS.every or check.every
  if steps < 1 or every < 1:
    raise app.UsageError(f"Expected --steps >= 1 and --every >= 1, got {steps} and {every}.")
  machine = common.describe_machine()
  print("machine:", common.machine_line(machine))
  baselines = mask_iou.mask_baselines(config.data, FLAGS.num_videos, seed=config.seed)
  print(
    f"{check.config}, {check.note}; supervised by the true {FLAGS.supervise}; batch "
    f"{config.train.batch_size}, {steps} steps, seed "
    f"{config.seed}; baselines on the same clips: static {baselines['static']['mean']:.3f}, "
    f"input frame as background {baselines['with_frame_0']['mean']:.3f}, oracle "
    f"{baselines['oracle']['mean']:.3f}"
  )
  rows = run(config, steps, every, FLAGS.num_videos, FLAGS.supervise)
  if FLAGS.out:
    record = {
      "config": check.config,
      "overrides": [list(o) for o in check.overrides],
      "supervise": FLAGS.supervise,
      "seed": config.seed,
      "batch_size": config.train.batch_size,
      "steps": steps,
      "baselines": {k: baselines[k]["mean"] for k in ("static", "with_frame_0", "oracle")},
      "rows": rows,
      "machine": machine,
    }
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)
    print(f"wrote {FLAGS.out}")


def define_flags():
  """The command line's flags, defined only when run as a script: importing the module (its
  tests do) must not claim flag names other modules define."""
  flags.DEFINE_enum(
    "supervise", "mask", ["mask", "video", "frame0"], "What the loss compares (see above)."
  )
  flags.DEFINE_integer("steps", 0, "Training steps (0: the learning check's budget).")
  flags.DEFINE_integer("every", 0, "Steps between measurements (0: the learning check's).")
  flags.DEFINE_integer("seed", -1, "Seed of weights, data and measured clips (-1: the config's).")
  flags.DEFINE_integer("num_videos", learning_check.NUM_VIDEOS, "Held-out clips per measurement.")
  flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")


if __name__ == "__main__":
  define_flags()
  app.run(main)
