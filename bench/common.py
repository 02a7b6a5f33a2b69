"""Helpers shared by the bench scripts: what machine, how fast its matmul is, timing, memory.

A figure without the machine and load it was measured on is not a figure: every bench prints
`describe_machine()` and, for compute-bound benches, the fp32 / bf16 matmul rate measured in
the same process, so that achieved GFLOP/s can be read as a fraction of what this machine
(with its current load) can do at best.
"""

import keras
import tensorflow as tf

from bench import host
from trainers import memory_limit
from trainers import tasks


def describe_machine():
  """`host.describe_host()` (CPU name, family, model, flags, cores, load, Python, date) plus
  the TensorFlow and Keras versions and the GPUs TensorFlow sees."""
  return dict(
    host.describe_host(),
    tensorflow=tf.__version__,
    keras=keras.__version__,
    gpus=[d.name for d in tf.config.list_physical_devices("GPU")],
  )


def machine_line(machine):
  """`describe_machine()` as one printable line."""
  return (
    f"{host.host_line(machine)}, TensorFlow {machine['tensorflow']}, Keras {machine['keras']}"
    + (f"; GPUs {machine['gpus']}" if machine["gpus"] else "")
  )


def matmul_gflops(dtype=tf.float32, size=4096, warmup=1, repeats=3):
  """Best-of-`repeats` GFLOP/s of one size x size matmul (2 n^3 FLOPs) in a tf.function.

  The inputs are made (and cast) before timing; the product is summed to a scalar (n^2
  adds, next to 2 n^3) and fetched, which forces the work to finish and keeps graph
  optimizers from dropping it.
  """
  dtype = tf.as_dtype(dtype)
  a = tf.cast(tf.random.stateless_normal([size, size], seed=[1, 2]), dtype)
  b = tf.cast(tf.random.stateless_normal([size, size], seed=[3, 4]), dtype)

  @tf.function
  def product(x, y):
    return tf.reduce_sum(tf.linalg.matmul(x, y))

  timing = host.time_callable(lambda: product(a, b).numpy(), warmup, repeats)
  flops = 2 * size**3
  return {
    "gflops": flops / timing["best"] / 1e9,
    "median_gflops": flops / timing["median"] / 1e9,
    "dtype": dtype.name,
    "size": size,
    "seconds": timing,
  }


def task_and_batch(config, batch_size, precision="float32"):
  """The config's GAN task, seeded and built under `precision`, and a random real batch.

  The batch is what the pipeline yields for the task: "video" [B, T, H, W, 3] and each of the
  task's other data outputs as a frame [B, H, W, 3], uniform in [-1, 1] (fixed seeds), but a
  "segmentation" as int32 class ids [B, H, W] (class 0) and a "label" as int32 [B] (0).
  """
  keras.utils.set_random_seed(0)
  keras.config.set_dtype_policy(precision)
  task = tasks.make_task(config)
  b, t = int(batch_size), config.data.num_frames
  h, w = config.data.height, config.data.width
  batch = {"video": tf.random.stateless_uniform([b, t, h, w, 3], [1, 2], -1.0, 1.0)}
  for key in task.data_outputs:
    if key == "segmentation":
      batch[key] = tf.zeros([b, h, w], tf.int32)
    elif key == "label":
      batch[key] = tf.zeros([b], tf.int32)
    else:
      batch[key] = tf.random.stateless_uniform([b, h, w, 3], [3, 4], -1.0, 1.0)
  task.build(batch)
  return task, batch


def bench_config(config, batch_size, jit, precision):
  """A copy of `config` that trains forever at `batch_size` on synthetic clips of the config's
  shape, and writes nothing.

  The clips are synthetic whatever the config reads (a TFDS set or TFRecords the machine may
  not hold): a step's cost does not depend on the pixels, and bench/input_pipeline.py
  measures reading and decoding apart. A schedule given in epochs gets 1000 steps per epoch,
  which changes learning rates only.
  """
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.data.source = "synthetic"
    c.data.resize = 0
    c.train.steps_per_epoch = c.train.steps_per_epoch or 1000
    c.train.batch_size = int(batch_size)
    c.train.steps = 10**9
    for field in ("checkpoint_every", "sample_every", "log_every", "summary_every", "keep_every"):
      c.train[field] = 0
    c.eval.every = 0
    c.runtime.jit_compile = "true" if jit else "false"
    c.runtime.precision = precision
  return c


# Where a bench's train step reads its real clips: the run's input pipeline (as training
# does), or one batch of it again and again (as bench/torch_step.py feeds PyTorch one random
# batch): the step alone, without the pipeline's threads and buffers.
INPUTS = ("pipeline", "fixed")


def feed(trainer, source):
  """Points `trainer`'s train call at `source` (one of INPUTS); before its first call."""
  if source not in INPUTS:
    raise ValueError(f"Expected an input in {INPUTS}, received {source!r}.")
  if source == "fixed":
    batch = next(iter(trainer.dataset))
    trainer.iterator = iter(tf.data.Dataset.from_tensors(batch).repeat())


def allocator_bytes():
  """{"current", "peak"} bytes of TensorFlow's CPU allocator, or None where TensorFlow does
  not report them (the system allocator, `memory_limit.system_allocator`: it would report 0;
  the figures also stay 0 until the first op has run)."""
  if memory_limit.system_allocator():
    return None
  try:
    return tf.config.experimental.get_memory_info("CPU:0")
  except (ValueError, tf.errors.OpError):
    return None
