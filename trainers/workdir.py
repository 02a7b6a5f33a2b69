"""The layout of a training workdir, shared by the trainer, the CLIs and export.

    WORKDIR/config.json            the resolved config of the run
    WORKDIR/checkpoints/ckpt-N     tf.train.Checkpoint: generator, ema_generator,
                                   discriminators, optimizers, step, data iterator
    WORKDIR/samples/               MP4 / GIF sample grids from the fixed noise
    WORKDIR/train/                 TensorBoard summaries
    WORKDIR/metrics.json           the latest evaluation of the generator (`write_metrics`),
                                   which the exported model card reports
"""

import datetime
import json
import os

import ml_collections
import tensorflow as tf

from zoo import inputs as zoo_inputs
from zoo import registry

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.json"


def checkpoint_dir(workdir):
  return os.path.join(workdir, "checkpoints")


def samples_dir(workdir):
  return os.path.join(workdir, "samples")


def save_config(config, workdir):
  tf.io.gfile.makedirs(workdir)
  path = os.path.join(workdir, CONFIG_FILE)
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(config.to_json_best_effort(indent=2, sort_keys=True))
  tf.io.gfile.rename(tmp, path, overwrite=True)


def load_config(workdir):
  path = os.path.join(workdir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
        f"{path} does not exist: {workdir!r} is not a training workdir "
        "(expected config.json and checkpoints/ written by trainers.train).")
  with tf.io.gfile.GFile(path) as f:
    return ml_collections.ConfigDict(json.load(f))


def build_network(entry):
  """Builds a network from a config entry {name, args}."""
  return registry.build(entry.name, **entry.args.to_dict())


def build_generator(config, batch_size=1):
  """Builds the config's generator and creates its variables with a dummy call."""
  generator = build_network(config.model.generator)
  generator(zoo_inputs.generator_inputs(generator, batch_size, tf.constant([0, 0])),
            training=False)
  return generator


def trackable_weights(model):
  """The model's weights as a checkpointable object, keyed by position: `0003_kernel`, ...

  Keras 3 (3.15) does not give tf.train.Checkpoint the layers a model keeps in Python lists,
  so `Checkpoint(generator=model)` silently drops them (BN moving statistics included). Every
  weight is listed here instead, in `model.weights` order, which the same code always
  produces; restoring into a model of another shape fails on the shapes.
  """
  return tf.train.Checkpoint(**{f"{i:04d}_{v.name}": v for i, v in enumerate(model.weights)})


def latest_checkpoint(workdir, step=None):
  directory = checkpoint_dir(workdir)
  if step is None:
    path = tf.train.latest_checkpoint(directory)
  else:
    path = os.path.join(directory, f"ckpt-{step}")
    if not tf.io.gfile.exists(path + ".index"):
      path = None
  if path is None:
    which = "any checkpoint" if step is None else f"a checkpoint for step {step}"
    raise FileNotFoundError(f"No {which} under {directory}.")
  return path


def restore_generator(workdir, step=None, ema=True):
  """Restores the generator of a workdir: (generator, config, checkpoint path).

  With `ema=True` the EMA copy is returned when the run kept one (the trainer saves it as
  `ema_generator`); otherwise the raw generator.
  """
  config = load_config(workdir)
  path = latest_checkpoint(workdir, step)
  generator = build_generator(config)
  use_ema = ema and config.train.get("ema_decay", 0.0) > 0
  ckpt = tf.train.Checkpoint(
      **{"ema_generator" if use_ema else "generator": trackable_weights(generator)})
  ckpt.restore(path).expect_partial().assert_existing_objects_matched()
  return generator, config, path


def write_metrics(workdir, metrics, *, step, names, num_real_clips, num_fake_clips, networks,
                  real, written_by):
  """Records an evaluation of the workdir's generator as WORKDIR/metrics.json.

  `metrics` {name: value}, `names` {name: display name}, `step` the checkpoint evaluated,
  `networks` which feature network and weights each metric used, `real` what the real clips
  were. The latest evaluation replaces the previous one; the file is written under a
  temporary name and renamed, so a reader never sees half of it.
  """
  record = {
      "step": None if step is None else int(step),
      "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
      "metrics": {k: float(v) for k, v in metrics.items()},
      "names": dict(names),
      "num_real_clips": int(num_real_clips),
      "num_fake_clips": int(num_fake_clips),
      "networks": networks,
      "real": real,
      "written_by": written_by,
  }
  path = os.path.join(workdir, METRICS_FILE)
  tmp = path + ".tmp"
  with tf.io.gfile.GFile(tmp, "w") as f:
    f.write(json.dumps(record, indent=2, sort_keys=True, allow_nan=True))
  tf.io.gfile.rename(tmp, path, overwrite=True)
  return record


def load_metrics(workdir):
  """The record `write_metrics` wrote, or None when the workdir was never evaluated."""
  path = os.path.join(workdir, METRICS_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(f"Expected {path} to be JSON written by trainers.evaluate, "
                       f"received unreadable content: {e}.") from e
