r"""Measures input pipeline throughput (clips/s) for 32x64x64 clips.

    python bench/input_pipeline.py                 # ~1 minute on 2 CPU cores
    python bench/input_pipeline.py --write_clips=512 --clips=2000 --batch_size=16

Writes --write_clips synthetic clips to JPEG, JPEG mosaic (one JPEG per clip) and PNG shards in
a temporary directory (with the writer of trainers.data.make_tfrecords), then times --clips clips of `make_dataset` in
training mode (which repeats the shards) on each, and on the synthetic source directly, after
a warm-up of --warmup batches. The machine is shared in CI: compare figures from one run.
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tensorflow as tf  # pylint: disable=g-import-not-at-top

from bench import common as bench_common  # pylint: disable=g-import-not-at-top
from configs import common  # pylint: disable=g-import-not-at-top
from trainers.data import make_tfrecords  # pylint: disable=g-import-not-at-top
from trainers.data import pipeline  # pylint: disable=g-import-not-at-top

flags.DEFINE_integer("write_clips", 128, "Clips written to each shard set.")
flags.DEFINE_integer("clips", 256, "Clips timed per source.")
flags.DEFINE_integer("batch_size", 16, "Per-replica batch.")
flags.DEFINE_integer("warmup", 4, "Batches before timing starts.")
flags.DEFINE_integer("num_frames", 32, "T.")
flags.DEFINE_integer("size", 64, "H = W.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS


def _time(ds, clips, batch_size, warmup):
  it = iter(ds)
  for _ in range(warmup):
    next(it)
  steps = max(clips // batch_size, 1)
  start = time.perf_counter()
  for _ in range(steps):
    next(it)
  return steps * batch_size / (time.perf_counter() - start)


def main(argv):
  del argv
  t, s, b = FLAGS.num_frames, FLAGS.size, FLAGS.batch_size
  machine = bench_common.describe_machine()
  print(f"machine: {bench_common.machine_line(machine)}; clips {t}x{s}x{s}, batch {b}")
  report = {"machine": machine, "clip": [t, s, s, 3], "batch_size": b, "clips_per_s": {}}
  data = common.base().data
  data.num_frames, data.height, data.width = t, s, s
  with tempfile.TemporaryDirectory() as tmp:
    for fmt in ("jpeg", "jpeg_mosaic", "png"):
      options = make_tfrecords.WriterOptions(fmt=fmt, clip_length=t, crop=(s, s), num_shards=4,
                                             num_clips=FLAGS.write_clips)
      prefix = os.path.join(tmp, fmt)
      start = time.perf_counter()
      manifest = make_tfrecords.write_tfrecords(
          make_tfrecords.synthetic_sources(FLAGS.write_clips), prefix, options)
      write_rate = manifest["num_clips"] / (time.perf_counter() - start)
      size = sum(os.path.getsize(os.path.join(tmp, x["path"])) for x in manifest["shards"])
      data.source, data.train_files = "tfrecord", prefix + "-*"
      rate = _time(pipeline.make_dataset(data, b, training=True), FLAGS.clips, b, FLAGS.warmup)
      report["clips_per_s"][fmt] = rate
      print(f"tfrecord {fmt:11s}: read {rate:8.1f} clips/s   (write {write_rate:6.1f} clips/s, "
            f"{size / manifest['num_clips'] / 1024:.0f} KiB/clip)")
  data.source = "synthetic"
  rate = _time(pipeline.make_dataset(data, b, training=True), FLAGS.clips, b, FLAGS.warmup)
  report["clips_per_s"]["synthetic"] = rate
  print(f"synthetic           : read {rate:8.1f} clips/s")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(report, f, indent=1)


if __name__ == "__main__":
  app.run(main)
