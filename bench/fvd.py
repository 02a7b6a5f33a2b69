r"""Measures FVD embedding throughput: clips/s of 16x224x224 clips through the Keras I3D.

    python -m bench.fvd                       # ~1-2 minutes on 2 CPU cores
    python -m bench.fvd --batch_size=16 --batches=5

Builds `zoo.registry.build("i3d")` with RANDOM weights (throughput does not depend on the
weights; no checkpoint is needed, and the numbers it would produce are not FVD), compiles its
inference call with tf.function, runs --warmup batches, then times --batches batches of
random clips already in [-1, 1] at 224x224 (FVD's `preprocess` resize is not timed). Prints
the machine (bench.common.describe_machine) with the figure, and the convolutions' forward
GFLOP (bench/flops.py) per second next to an fp32 4096^2 matmul of the same run: how close
the I3D runs to what this machine's matrix units deliver.
"""

import json
import os
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from bench import common
from bench import flops
from zoo import registry

flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
flags.DEFINE_integer("batches", 3, "Timed batches.")
flags.DEFINE_integer("warmup", 1, "Untimed batches first (tracing, allocation).")
flags.DEFINE_integer("num_frames", 16, "T of each clip (FVD: 16).")
flags.DEFINE_integer("size", 224, "H = W (FVD: 224).")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  b, t, s = FLAGS.batch_size, FLAGS.num_frames, FLAGS.size
  machine = common.describe_machine()
  print("machine:", common.machine_line(machine))
  print(
    f"Keras I3D (zoo 'i3d', 400 logits) with RANDOM weights: throughput only, not FVD; "
    f"clips {t}x{s}x{s}x3, batch {b}, {FLAGS.warmup} warm-up + {FLAGS.batches} timed batches"
  )
  model = registry.build("i3d")
  call = tf.function(lambda x: model(x, training=False))
  clips = tf.constant(np.random.RandomState(0).uniform(-1, 1, (b, t, s, s, 3)), tf.float32)
  start = time.perf_counter()
  for _ in range(FLAGS.warmup):
    call(clips).numpy()
  warm = time.perf_counter() - start
  times = []
  for _ in range(FLAGS.batches):
    start = time.perf_counter()
    call(clips).numpy()
    times.append(time.perf_counter() - start)
  rate = b * len(times) / sum(times)
  # Forward FLOPs of the convolutions (bench/flops.py): traced with training=True, where each
  # Unit3D calls its Keras Conv3D (inference folds BN into the same convolution by hand).
  gflop = flops.model_flops(model, (b, t, s, s, 3), training=True)[0] / 1e9
  peak = common.matmul_gflops(tf.float32)["gflops"]
  gflops = gflop * len(times) / sum(times)
  print(f"warm-up {warm:.1f}s; per batch {', '.join(f'{x:.2f}s' for x in times)}")
  print(
    f"I3D throughput: {rate:.2f} clips/s ({1000.0 / rate:.0f} ms/clip); 2048 clips "
    f"(one FVD side) ~{2048 / rate / 60:.1f} min"
  )
  print(
    f"{gflop:.1f} GFLOP per batch of {b} (convolutions) = {gflops:.1f} GFLOP/s = "
    f"{gflops / peak:.0%} of this run's fp32 matmul ({peak:.1f} GFLOP/s)"
  )
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(
        {
          "machine": machine,
          "batch_size": b,
          "clip": [t, s, s, 3],
          "clips_per_s": rate,
          "gflop_per_batch": gflop,
          "gflops": gflops,
          "fp32_matmul_gflops": peak,
          "batch_s": times,
          "warmup_s": warm,
          "peak_rss_mib": common.peak_rss_mib(),
        },
        f,
        indent=1,
      )


if __name__ == "__main__":
  app.run(main)
