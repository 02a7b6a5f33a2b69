"""Helpers of the fault tests: shards good and bad, tiny configs, trainers in subprocesses."""

import json
import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from configs import common
from trainers.data import format as record_format

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
RUN_TINY = os.path.join(ROOT, "tests", "trainers", "run_tiny.py")
ENV = dict(
  os.environ,
  TF_CPP_MIN_LOG_LEVEL="2",
  PYTHONPATH=os.pathsep.join([ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
)


def good_examples(n, frames=4, size=8, seed=0):
  rng = np.random.default_rng(seed)
  return [
    record_format.encode_clip(rng.integers(0, 255, (frames, size, size, 3), np.uint8))
    for _ in range(n)
  ]


def label_only_examples(n):
  """tf.train.Examples of another schema: a `label` feature only."""
  feature = {"label": tf.train.Feature(int64_list=tf.train.Int64List(value=[1]))}
  return [tf.train.Example(features=tf.train.Features(feature=feature)) for _ in range(n)]


def write_shard(path, examples):
  with tf.io.TFRecordWriter(str(path)) as w:
    for e in examples:
      w.write(e.SerializeToString())
  return str(path)


def data_config(**overrides):
  c = common.base().data
  c.num_frames, c.height, c.width = 4, 8, 8
  c.shuffle_buffer = 8
  for key, value in overrides.items():
    c[key] = value
  return c


def config_file(tmp_path, overrides, name="tiny.py"):
  """A config file of the tiny test networks with dotted `overrides`, for trainers.train."""
  path = tmp_path / name
  path.write_text(f"""import sys
sys.path[:0] = [{os.path.join(ROOT, "tests", "trainers")!r}, {ROOT!r}]
import trainer_helpers


def get_config():
  c = trainer_helpers.tiny_config()
  for key, value in {overrides!r}.items():
    node = c
    *parents, last = key.split(".")
    for p in parents:
      node = node[p]
    node[last] = tuple(value) if isinstance(value, list) else value
  return c
""")
  return str(path)


def _train_args(config, workdir):
  return [sys.executable, "-m", "trainers.train", f"--config={config}", f"--workdir={workdir}"]


def train_cli(config, workdir, *flags, timeout=300, **kwargs):
  """Runs `python -m trainers.train` on a config file; returns the CompletedProcess."""
  return subprocess.run(
    _train_args(config, workdir) + list(flags),
    env=ENV,
    capture_output=True,
    text=True,
    timeout=timeout,
    cwd=ROOT,
    **kwargs,
  )


def start_logged(args, log, env=None):
  """Starts `args` in the environment ENV updated by `env`, its stderr written to the file
  `log`; returns the Popen."""
  with open(log, "w") as f:
    return subprocess.Popen(args, env=dict(ENV, **(env or {})), stderr=f, cwd=ROOT)


def start_train_cli(config, workdir, log, env=None):
  """Starts `python -m trainers.train` as `start_logged` does."""
  return start_logged(_train_args(config, workdir), log, env)


def checkpoint_arrays(prefix):
  """{name: array} of every numeric tensor of the checkpoint `prefix` (not the iterators')."""
  reader = tf.train.load_checkpoint(str(prefix))
  dtypes = reader.get_variable_to_dtype_map()
  return {
    k: reader.get_tensor(k) for k, d in dtypes.items() if d.is_numpy_compatible and d != tf.string
  }


def start_tiny(workdir, overrides, **kwargs):
  """Starts tests/trainers/run_tiny.py in a subprocess (stderr piped, text)."""
  return subprocess.Popen(
    [sys.executable, RUN_TINY, str(workdir), json.dumps(overrides)],
    env=ENV,
    stderr=subprocess.PIPE,
    text=True,
    **kwargs,
  )


def run_tiny(workdir, overrides, timeout=300):
  proc = start_tiny(workdir, overrides)
  _, err = proc.communicate(timeout=timeout)
  return proc.returncode, err


def last_line(text):
  lines = [line for line in text.strip().splitlines() if line.strip()]
  return lines[-1] if lines else ""
