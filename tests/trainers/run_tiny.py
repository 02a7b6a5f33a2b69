"""Runs the trainer on the tiny test networks in a fresh process.

For the distribution, kill and signal tests. Usage:
python run_tiny.py WORKDIR '{json overrides}' [OUT.npz]

Overrides are dotted config paths, e.g. {"train.steps": 4, "runtime.strategy": "mirrored"};
the special key "logical_cpus" splits the CPU into that many logical devices first.
"""

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf


def main(workdir, overrides, out=None):
  overrides = json.loads(overrides)
  cpus = overrides.pop("logical_cpus", 0)
  if cpus:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpus)
  from absl import logging

  logging.set_verbosity(logging.INFO)
  logging.use_absl_handler()
  import trainer_helpers
  from trainers import loop

  config = trainer_helpers.tiny_config()
  for key, value in overrides.items():
    node = config
    *path, last = key.split(".")
    for p in path:
      node = node[p]
    node[last] = tuple(value) if isinstance(value, list) else value
  trainer = loop.run(config, workdir)
  if out:
    weights = {f"g{i}": v.numpy() for i, v in enumerate(trainer.generator.weights)}
    for name, d in trainer.task.discriminators.items():
      weights.update({f"{name}{i}": v.numpy() for i, v in enumerate(d.weights)})
    np.savez(out, step=trainer.current_step(), **weights)


if __name__ == "__main__":
  main(*sys.argv[1:])
