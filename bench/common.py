"""Helpers shared by the bench scripts: what machine, how fast its matmul is, timing, memory.

A figure without the machine and load it was measured on is not a figure: every bench prints
`describe_machine()` and, for compute-bound benches, the fp32 / bf16 matmul rate measured in
the same process, so that achieved GFLOP/s can be read as a fraction of what this machine
(with its current load) can do at best.
"""

import os
import platform
import resource
import statistics
import sys
import time

import keras
import tensorflow as tf

from trainers import tasks

# CPU flags worth knowing when reading CPU figures (oneDNN picks kernels on them).
SIMD_FLAGS = (
  "avx",
  "avx2",
  "fma",
  "avx512f",
  "avx512_bf16",
  "avx512_fp16",
  "avx512_vnni",
  "amx_tile",
  "amx_bf16",
  "amx_int8",
)


def _cpuinfo():
  try:
    with open("/proc/cpuinfo") as f:
      return f.read()
  except OSError:
    return ""


def describe_machine():
  """A dict: CPU model and flags (from /proc/cpuinfo), cores, load, Python, TF and Keras."""
  info = _cpuinfo()
  model, flags = platform.processor() or platform.machine(), set()
  for line in info.splitlines():
    key, _, value = line.partition(":")
    key = key.strip()
    if key == "model name" and model in ("", platform.machine(), platform.processor()):
      model = value.strip()
    elif key == "flags" and not flags:
      flags = set(value.split())
  try:
    usable = len(os.sched_getaffinity(0))
  except AttributeError:
    usable = os.cpu_count()
  return {
    "cpu": model,
    "logical_cpus": os.cpu_count(),
    "usable_cpus": usable,
    "simd": [f for f in SIMD_FLAGS if f in flags],
    "load_average": [round(x, 2) for x in os.getloadavg()],
    "python": platform.python_version(),
    "tensorflow": tf.__version__,
    "keras": keras.__version__,
    "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
  }


def machine_line(machine):
  """`describe_machine()` as one printable line."""
  return (
    f"{machine['cpu']}, {machine['usable_cpus']}/{machine['logical_cpus']} CPUs, "
    f"{' '.join(machine['simd']) or 'no AVX'}; load {machine['load_average']}; "
    f"Python {machine['python']}, TensorFlow {machine['tensorflow']}, "
    f"Keras {machine['keras']}" + (f"; GPUs {machine['gpus']}" if machine["gpus"] else "")
  )


def time_callable(fn, warmup=2, repeats=5):
  """Times `fn()` (which must block until its work is done, e.g. by fetching to numpy).

  The `warmup` calls (tracing, compilation, allocator growth) are timed apart and excluded.

  Returns:
    A dict of seconds: "median", "best", "mean" and "times" of the `repeats` timed calls,
    and "warmup" (the warm-up calls' times; the first one includes tracing / compiling).
  """
  if repeats < 1:
    raise ValueError(f"Expected repeats >= 1, received {repeats}.")
  warm = []
  for _ in range(warmup):
    start = time.perf_counter()
    fn()
    warm.append(time.perf_counter() - start)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return {
    "median": statistics.median(times),
    "best": min(times),
    "mean": statistics.fmean(times),
    "times": times,
    "warmup": warm,
  }


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

  timing = time_callable(lambda: product(a, b).numpy(), warmup, repeats)
  flops = 2 * size**3
  return {
    "gflops": flops / timing["best"] / 1e9,
    "median_gflops": flops / timing["median"] / 1e9,
    "dtype": dtype.name,
    "size": size,
    "seconds": timing,
  }


def rss_mib():
  """Current resident set size of this process, MiB (Linux; 0 elsewhere)."""
  try:
    with open("/proc/self/status") as f:
      for line in f:
        if line.startswith("VmRSS:"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return 0.0


def task_and_batch(config, batch_size, precision="float32"):
  """The config's GAN task, seeded and built under `precision`, and a random real batch.

  The batch is what the pipeline yields for the task: "video" [B, T, H, W, 3] and each of the
  task's other data outputs as a frame [B, H, W, 3], uniform in [-1, 1] (fixed seeds).
  """
  keras.utils.set_random_seed(0)
  keras.config.set_dtype_policy(precision)
  task = tasks.make_task(config)
  b, t = int(batch_size), config.data.num_frames
  h, w = config.data.height, config.data.width
  batch = {"video": tf.random.stateless_uniform([b, t, h, w, 3], [1, 2], -1.0, 1.0)}
  for key in task.data_outputs:
    batch[key] = tf.random.stateless_uniform([b, h, w, 3], [3, 4], -1.0, 1.0)
  task.build(batch)
  return task, batch


def peak_rss_mib():
  """Peak resident set size of this process so far, MiB (ru_maxrss: KiB on Linux)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def bench_config(config, batch_size, jit, precision):
  """A copy of `config` that trains forever at `batch_size` and writes nothing."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.train.batch_size = int(batch_size)
    c.train.steps = 10**9
    for field in ("checkpoint_every", "sample_every", "log_every", "summary_every", "keep_every"):
      c.train[field] = 0
    c.eval.every = 0
    c.runtime.jit_compile = "true" if jit else "false"
    c.runtime.precision = precision
  return c
