r"""Inflates a trained 2D (image) run into the first checkpoint of a 3D (video) run.

Egan 2019's recipe (Section 3.1): pretrain a 2D GAN on frames, inflate it, fine-tune it in 3D.

  python -m trainers.train --config=egan_resnet_image --workdir=/tmp/resnet2d
  python -m trainers.inflate --from=/tmp/resnet2d --config=egan_resnet_video \
      --workdir=/tmp/resnet3d
  python -m trainers.train --config=egan_resnet_video --workdir=/tmp/resnet3d

The 2D networks are rebuilt from --from's config.json and restored from its latest checkpoint
(or --step); each is inflated (`zoo.inflation.inflate`) into the network of the 3D config in
the same slot: the generator, the EMA generator (the 2D run's EMA when it kept one, else its
generator) and each discriminator of the same name. The result is written as --workdir's
checkpoint of step 0 with the 3D config.json, so `trainers.train` with that workdir resumes
from it: optimizer states and the data iterator start fresh.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app
from absl import flags
from absl import logging
import tensorflow as tf

from trainers import cli
from trainers import tasks as tasks_lib
from trainers import workdir as workdir_lib
from zoo import inflation
from zoo import registry
from zoo.layers import form_choice


def define_flags():
  """The CLI's flags, defined only when run as a program (importing this module next to
  other binaries, as the tests do, adds none): trainers.train's --config (which puts the
  config's folder on sys.path) and --workdir, plus --from and --step."""
  from trainers import train

  del train
  flags.DEFINE_string("from", None, "The 2D run's workdir (config.json and checkpoints/).")
  flags.DEFINE_integer("step", None, "The 2D checkpoint's step; default: the latest.")


def zero_batch(config):
  """A one-example batch of zeros with the shapes the config's pipeline yields."""
  d = config.data
  frames = 1 if d.get("frame_mode", False) else d.num_frames
  batch = {"video": tf.zeros([1, frames, d.height, d.width, 3])}
  key = config.objective.get("condition", "")
  if key == "segmentation":
    batch[key] = tf.zeros([1, d.height, d.width], tf.int32)
  elif key:
    batch[key] = tf.zeros([1, d.height, d.width, 3])
  return batch


def _networks(config, with_ema):
  """The config's task networks, built: {checkpoint key: network}."""
  task = tasks_lib.make_task(config)
  batch = zero_batch(config)
  with form_choice.unmeasured():  # one clip, to create variables: no form is worth timing
    task.build(batch)
    nets = {"generator": task.generator}
    nets.update({f"discriminator_{k}": d for k, d in task.discriminators.items()})
    if with_ema:
      ema = workdir_lib.build_network(config.model.generator)
      ema(task.generator_inputs(batch, tf.constant([0, 0])), training=False)
      nets["ema_generator"] = ema
  return nets


def inflate_workdir(source_dir, config, workdir, step=None):
  """Writes `workdir`'s step-0 checkpoint: the 2D run in `source_dir` inflated into `config`.

  Returns:
    The checkpoint path written.
  """
  source_config = workdir_lib.load_config(source_dir)
  path = workdir_lib.latest_checkpoint(source_dir, step)
  source_ema = source_config.train.get("ema_decay", 0.0) > 0
  target_ema = config.train.get("ema_decay", 0.0) > 0
  source = _networks(source_config, source_ema)
  wanted = ["generator"] + [f"discriminator_{k}" for k in config.model.discriminators.keys()]
  missing = sorted(set(wanted) - set(source))
  if missing:
    raise ValueError(
      f"Expected the 2D run {source_dir} to have the networks {missing} of the "
      f"3D config; received a run with {sorted(source)}."
    )
  ckpt = tf.train.Checkpoint(**{k: registry.weights_in_order(n) for k, n in source.items()})
  ckpt.restore(path).expect_partial().assert_existing_objects_matched()
  target = _networks(config, target_ema)
  for key, network in target.items():
    origin = source.get(key, source["generator"])  # a 2D run without EMA: its generator
    inflation.inflate(origin, network)
    logging.info("Inflated %s: %s -> %s", key, origin.name, network.name)
  items = {k: registry.weights_in_order(n) for k, n in target.items()}
  counter = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
  manager = tf.train.CheckpointManager(
    workdir_lib.AtomicCheckpoint(step=counter, **items),  # complete or absent, as the loop's
    workdir_lib.checkpoint_dir(workdir),
    max_to_keep=config.train.keep_checkpoints,
    step_counter=counter,
  )
  # The trainer's lock: a run started on the same workdir meanwhile would write beside it.
  with workdir_lib.WorkdirLock(workdir):
    if manager.latest_checkpoint:
      raise FileExistsError(
        f"Expected a workdir without checkpoints, received {workdir} with "
        f"{manager.latest_checkpoint}."
      )
    # The checkpoint first: a config.json without it (an inflation stopped while it saved) is
    # what a fresh run leaves, and training would start from random weights without a word.
    written = manager.save(checkpoint_number=0)
    workdir_lib.save_config(config, workdir)
  logging.info("Wrote %s from %s.", written, path)
  return written


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  source = flags.FLAGS["from"].value
  if not source:
    raise app.UsageError("--from (the 2D run's workdir) is required.")
  inflate_workdir(source, flags.FLAGS.config, flags.FLAGS.workdir, flags.FLAGS.step)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
