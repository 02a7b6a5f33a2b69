r"""FVD / FD cost: I3D embedding throughput, and time and memory against the number of clips.

    python -m bench.fvd                       # ~1-2 minutes on 2 CPU cores: throughput
    python -m bench.fvd --batch_size=16 --batches=5
    python -m bench.fvd --num_clips=256,1024,2048               # scaling: ~2 x 5000 clips
    python -m bench.fvd --num_clips=16,32,64 --size=64 --num_frames=8 --clip_size=32  # tiny

Throughput (no --num_clips): builds `zoo.registry.build("i3d")` with RANDOM weights
(throughput does not depend on the weights; no checkpoint is needed, and the numbers it would
produce are not FVD), compiles its inference call with tf.function, runs --warmup batches,
then times --batches batches of random clips already in [-1, 1] at --size (FVD's
`preprocess` resize is not timed). Prints the machine with the figure, and the convolutions'
forward GFLOP (bench/flops.py) per second next to an fp32 4096^2 matmul of the same run.

Scaling (--num_clips=N,...): each N in its own child process (so that each peak RSS is its
own) computes the whole distance the evaluation computes: N real and N generated random
clips of --num_frames x --clip_size^2, made batch by batch, through `fvd.preprocess` (the
resize to --size) and the embedder (`--embedder`: the Keras I3D with random weights, or
FD-R3D's fixed random network) in `fvd.embed_stream`'s groups of 16, into streaming
`GaussianStats`, then the Frechet distance. One group is embedded first, untimed (tracing).
Prints per N the embedding and distance seconds, embedding seconds per 1000 clips, peak RSS and its
growth over the RSS after imports and the embedder's build. `embed_stream` holds one group of
clips at a time and the statistics are D x D, so time should grow linearly with N and memory
stay flat: the table shows whether it does.
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import tensorflow as tf

from bench import common
from bench import flops
from bench import host
from trainers.eval import features
from trainers.eval import fvd
from trainers.eval import i3d_keras
from zoo import registry
from zoo.i3d import i3d

IMPORT_RSS_MIB = host.rss_mib()

flags.DEFINE_integer("batch_size", 8, "Clips per batch (scaling: per batch the source makes).")
flags.DEFINE_integer("batches", 3, "Timed batches.")
flags.DEFINE_integer("warmup", 1, "Untimed batches first (tracing, allocation).")
flags.DEFINE_integer("num_frames", 16, "T of each clip (FVD: 16).")
flags.DEFINE_integer("size", 224, "H = W (FVD: 224).")
flags.DEFINE_list("num_clips", [], "Scaling: clips per side, one child process each.")
flags.DEFINE_enum("embedder", "i3d_keras", ["i3d_keras", "r3d"], "Scaling: the embedder.")
flags.DEFINE_integer("clip_size", 64, "Scaling: H = W of the clips given to the metric.")
flags.DEFINE_integer("run_timeout", 7200, "Scaling: seconds before a child is abandoned.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
flags.DEFINE_string("child_out", "", "Internal: measure one --num_clips and write it here.")
FLAGS = flags.FLAGS


def throughput():
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
          "peak_rss_mib": host.peak_rss_mib(),
        },
        f,
        indent=1,
      )


def random_clips(n, batch_size, shape, seed):
  """n random clips in [-1, 1] of `shape` (T, H, W, 3), `batch_size` at a time."""
  rng = np.random.default_rng(seed)
  for start in range(0, n, batch_size):
    yield rng.uniform(-1, 1, (min(batch_size, n - start), *shape)).astype(np.float32)


def make_embedder(name, size):
  """The scaling's embedder: the Keras I3D with random weights at size x size, or FD-R3D's."""
  if name == "r3d":
    return features.R3DEmbedder()
  return i3d_keras.I3DEmbedder(
    model=i3d.InceptionI3D(num_classes=fvd.I3D_DIM), resolution=(size, size)
  )


def measure_distance(n, embedder_name, batch_size, shape, size):
  """Embeds n real and n generated clips and computes their distance; returns the figures."""
  embedder = make_embedder(embedder_name, size)
  start = time.perf_counter()
  fvd.embed_stream(embedder, random_clips(fvd.I3D_BATCH_SIZE, batch_size, shape, 0))
  warmup = time.perf_counter() - start
  rss_built = host.rss_mib()
  start = time.perf_counter()
  real = fvd.embed_stream(embedder, random_clips(n, batch_size, shape, 1))
  fake = fvd.embed_stream(embedder, random_clips(n, batch_size, shape, 2))
  embed = time.perf_counter() - start
  start = time.perf_counter()
  distance = fvd.compute_fvd(real.stats, fake.stats)
  distance_s = time.perf_counter() - start
  peak = host.peak_rss_mib()
  return {
    "num_clips": n,
    "counted": [real.count, fake.count],
    "embedder": embedder_name,
    "warmup_s": warmup,
    "embed_s": embed,
    "distance_s": distance_s,
    "embed_s_per_1000_clips": 1000 * embed / (2 * n),
    "distance": distance,
    "rss_import_mib": IMPORT_RSS_MIB,
    "rss_built_mib": rss_built,
    "peak_rss_mib": peak,
    "growth_mib": peak - rss_built,
  }


def scaling_table(rows):
  """Fixed-width lines of the scaling rows."""
  header = (
    f"{'clips/side':>10} {'embed s':>8} {'dist. s':>8} {'s/1000':>8} {'peak RSS':>8} "
    f"{'over import':>11} {'over build':>10}"
  )
  lines = [header, "-" * len(header)]
  for r in rows:
    if "error" in r:
      lines.append(f"{r['num_clips']:>10} FAILED: {r['error'].splitlines()[0]}")
      continue
    lines.append(
      f"{r['num_clips']:>10} {r['embed_s']:8.1f} {r['distance_s']:8.3f} "
      f"{r['embed_s_per_1000_clips']:8.1f} {r['peak_rss_mib']:8.0f} "
      f"{r['peak_rss_mib'] - r['rss_import_mib']:11.0f} {r['growth_mib']:10.0f}"
    )
  return lines


def scaling():
  shape = (FLAGS.num_frames, FLAGS.clip_size, FLAGS.clip_size, 3)
  if FLAGS.child_out:
    record = measure_distance(
      int(FLAGS.num_clips[0]), FLAGS.embedder, FLAGS.batch_size, shape, FLAGS.size
    )
    with open(FLAGS.child_out, "w") as f:
      json.dump(record, f)
    return
  machine = common.describe_machine()
  print("machine:", common.machine_line(machine))
  name = fvd.metric_name(FLAGS.embedder)
  print(
    f"{name} ({FLAGS.embedder}, random weights: cost only, not a metric) of n real vs n "
    f"generated clips of {shape[0]}x{shape[1]}x{shape[2]}, resized to {FLAGS.size}x{FLAGS.size}, "
    f"each n in its own process",
    flush=True,
  )
  rows = []
  with tempfile.TemporaryDirectory(prefix="bench_fvd_") as tmp:
    for n in FLAGS.num_clips:
      out = os.path.join(tmp, f"{n}.json")
      argv = host.child_argv(
        "bench.fvd", sys.argv[1:], ("num_clips", "out"), [f"--num_clips={n}", f"--child_out={out}"]
      )
      record = host.run_child(argv, out, timeout=FLAGS.run_timeout)
      rows.append(dict(record, num_clips=int(n)))
  print("\n".join(scaling_table(rows)))
  print(
    f"load average: start {machine['load_average']}, end {host.load_average()}. s/1000: "
    "embedding seconds per 1000 clips embedded (linear time: constant; the distance is one "
    "D x D computation whatever n); MiB: peak "
    "RSS, and its growth over the RSS after imports and after building the embedder (flat "
    "memory: constant)"
  )
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(
        {"machine": machine, "metric": name, "clip": list(shape), "size": FLAGS.size, "rows": rows},
        f,
        indent=1,
      )


def main(argv):
  del argv
  if FLAGS.num_clips:
    scaling()
  else:
    throughput()


if __name__ == "__main__":
  app.run(main)
