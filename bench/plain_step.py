r"""The floor for bench/train_step.py: the same GAN step written plainly, without the loop.

    python -m bench.plain_step --config=vgan_two_stream --batch_size=8

Builds the config's task (`trainers.tasks`: the same networks and the same loss functions)
and times one `tf.function` holding `objective.d_steps` discriminator updates and one
generator update with two Keras Adam optimizers, on one random real batch made before timing.
Nothing else: no tf.distribute strategy, no input pipeline, no gradient accumulation or
clipping, no EMA, no non-finite guard. The gap between this and bench/train_step.py at the
same batch is what the generic loop costs. Prints s/step, analytic GFLOP/s (bench/flops.py)
and its ratio to the fp32 matmul measured in the same run, and the peak RSS.
"""

import json
import os

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import tensorflow as tf

from bench import common
from bench import flops
from bench import host
from trainers import config_files

config_files.define_flag(
  "config", None, "Config name or file, e.g. vgan_two_stream.", lock_config=False
)
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps.")
flags.DEFINE_integer("warmup", 1, "Untimed steps first (tracing).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"], "Keras dtype policy.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  c = FLAGS.config
  if c is None:
    raise app.UsageError("--config is required, e.g. --config=vgan_two_stream")
  machine = common.describe_machine()
  peak = common.matmul_gflops(tf.float32)["gflops"]
  task, batch = common.task_and_batch(c, FLAGS.batch_size, FLAGS.precision)
  b = FLAGS.batch_size
  d_vars = [v for d in task.discriminators.values() for v in d.trainable_variables]
  g_vars = task.generator.trainable_variables
  o = c.optimizer
  d_opt = keras.optimizers.Adam(o.d_lr, beta_1=o.beta1, beta_2=o.beta2)
  g_opt = keras.optimizers.Adam(o.g_lr, beta_1=o.beta1, beta_2=o.beta2)
  d_opt.build(d_vars)
  g_opt.build(g_vars)

  @tf.function
  def step(i):
    seed = tf.stack([tf.cast(i, tf.int32), 0])
    for _ in range(c.objective.d_steps):
      with tf.GradientTape() as tape:
        loss, _ = task.d_loss(batch, seed, i)
      d_opt.apply_gradients(zip(tape.gradient(loss, d_vars), d_vars))
    with tf.GradientTape() as tape:
      loss, _ = task.g_loss(batch, seed + 1, i)
    g_opt.apply_gradients(zip(tape.gradient(loss, g_vars), g_vars))
    return loss

  counter = iter(range(10**9))
  timing = host.time_callable(
    lambda: step(tf.constant(next(counter), tf.int64)).numpy(), FLAGS.warmup, FLAGS.steps
  )
  spec = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape, x.dtype), batch)
  gflop = flops.gan_step_flops(task, spec)["total"] / 1e9
  record = {
    "config": config_flags.get_config_filename(FLAGS["config"]),
    "batch_size": b,
    "precision": FLAGS.precision,
    "s_per_step": timing["median"],
    "best_s_per_step": timing["best"],
    "step_gflop": gflop,
    "gflops": gflop / timing["median"],
    "fp32_matmul_gflops": peak,
    "ratio_fp32_matmul": gflop / timing["median"] / peak,
    "peak_rss_mib": host.peak_rss_mib(),
    "machine": machine,
  }
  print("machine:", common.machine_line(machine))
  print(
    f"plain step, {record['config']}, batch {b}, {FLAGS.precision}: "
    f"{timing['median']:.3f} s/step (best {timing['best']:.3f}), {gflop:.1f} GFLOP, "
    f"{record['gflops']:.1f} GFLOP/s = {record['ratio_fp32_matmul']:.0%} of the fp32 matmul "
    f"({peak:.1f} GFLOP/s); peak RSS {record['peak_rss_mib']:.0f} MiB"
  )
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)


if __name__ == "__main__":
  app.run(main)
