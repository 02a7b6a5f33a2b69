r"""Measures input pipeline throughput (clips/s and frames/s) for clips of any size.

    python -m bench.input_pipeline                 # 32x64x64: ~1.5 minutes on 2 CPU cores
    python -m bench.input_pipeline --write_clips=512 --clips=2048 --rounds=5 --batch_size=16
    python -m bench.input_pipeline --size=256 --num_frames=25 --formats=jpeg,jpeg_mosaic

Writes --write_clips synthetic clips of --num_frames x --size^2 to JPEG, JPEG mosaic (one
JPEG per clip) and PNG shards (`--formats`) in a temporary directory (with the writer of
trainers.data.make_tfrecords), then times `make_dataset` in training mode (which repeats the
shards) on each, and on the synthetic source directly: --clips clips after a warm-up of
--warmup batches, in --rounds rounds that take the sources in turn, so that a change of load
hits them all. Prints the median clips/s, frames/s (what bench/run_all.py compares with the
frames a training step of the same frame size consumes) and CPU ms per clip (process time,
every thread, the consumer's included) of each source, and their ratios to the first
format's. On a shared machine only the ratios of one run mean something; absolute figures
need an idle machine (the load average is printed).
"""

import os
import statistics
import tempfile
import time

from absl import app
from absl import flags

from bench import common as bench_common
from bench import host
from configs import common
from trainers.data import make_tfrecords
from trainers.data import pipeline

FORMATS = ("jpeg", "jpeg_mosaic", "png")

flags.DEFINE_integer("write_clips", 128, "Clips written to each shard set.")
flags.DEFINE_integer("clips", 1024, "Clips timed per source and round.")
flags.DEFINE_integer("rounds", 3, "Rounds over the sources; the median is reported.")
flags.DEFINE_integer("batch_size", 16, "Per-replica batch.")
flags.DEFINE_integer(
  "warmup",
  8,
  "Batches before timing starts (fills the shuffle buffer, lets tf.data's autotuning settle).",
)
flags.DEFINE_integer("num_frames", 32, "T.")
flags.DEFINE_integer("size", 64, "H = W.")
flags.DEFINE_list("formats", list(FORMATS), "Shard formats to write and read (and synthetic).")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS


def _time(ds, clips, batch_size, warmup):
  """(clips/s, CPU ms per clip) of a fresh iterator over `ds`, after `warmup` batches."""
  it = iter(ds)
  for _ in range(warmup):
    next(it)
  steps = max(clips // batch_size, 1)
  cpu, start = time.process_time(), time.perf_counter()
  for _ in range(steps):
    next(it)
  seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
  return steps * batch_size / seconds, 1e3 * cpu / (steps * batch_size)


def main(argv):
  del argv
  t, s, b = FLAGS.num_frames, FLAGS.size, FLAGS.batch_size
  unknown = sorted(set(FLAGS.formats) - set(FORMATS))
  if unknown:
    raise app.UsageError(f"Expected --formats among {FORMATS}, received {unknown}.")
  machine = bench_common.describe_machine()
  print(f"machine: {bench_common.machine_line(machine)}; clips {t}x{s}x{s}, batch {b}")
  report = {
    "machine": machine,
    "clip": [t, s, s, 3],
    "batch_size": b,
    "clips_per_s": {},
    "cpu_ms_per_clip": {},
    "rounds": {},
  }
  data = common.base().data
  data.num_frames, data.height, data.width = t, s, s
  with tempfile.TemporaryDirectory() as tmp:
    configs = {}
    for fmt in FLAGS.formats:
      options = make_tfrecords.WriterOptions(
        fmt=fmt, clip_length=t, crop=(s, s), num_shards=4, num_clips=FLAGS.write_clips
      )
      prefix = os.path.join(tmp, fmt)
      start = time.perf_counter()
      manifest = make_tfrecords.write_tfrecords(
        make_tfrecords.synthetic_sources(FLAGS.write_clips), prefix, options
      )
      write_rate = manifest["num_clips"] / (time.perf_counter() - start)
      size = sum(os.path.getsize(os.path.join(tmp, x["path"])) for x in manifest["shards"])
      kib = size / manifest["num_clips"] / 1024
      print(f"wrote {fmt:11s}: {write_rate:6.1f} clips/s, {kib:.0f} KiB/clip")
      configs[fmt] = data.copy_and_resolve_references()
      configs[fmt].source, configs[fmt].train_files = "tfrecord", prefix + "-*"
    configs["synthetic"] = data.copy_and_resolve_references()
    configs["synthetic"].source = "synthetic"
    for _ in range(FLAGS.rounds):
      for name, config in configs.items():
        ds = pipeline.make_dataset(config, b, training=True)
        report["rounds"].setdefault(name, []).append(_time(ds, FLAGS.clips, b, FLAGS.warmup))
  for name, runs in report["rounds"].items():
    report["clips_per_s"][name] = statistics.median(rate for rate, _ in runs)
    report["cpu_ms_per_clip"][name] = statistics.median(cpu for _, cpu in runs)
  first = (list(FLAGS.formats) + ["synthetic"])[0]
  rate0, cpu0 = report["clips_per_s"][first], report["cpu_ms_per_clip"][first]
  report["frames_per_s"] = {k: t * v for k, v in report["clips_per_s"].items()}
  for name, rate in report["clips_per_s"].items():
    cpu = report["cpu_ms_per_clip"][name]
    rounds = " ".join(f"{r:.0f}" for r, _ in report["rounds"][name])
    print(
      f"{name:11s}: read {rate:7.1f} clips/s = {t * rate:7.0f} frames/s ({rate / rate0:.2f}x "
      f"{first}'s), {cpu:.2f} ms CPU/clip ({cpu / cpu0:.2f}x {first}'s); rounds: {rounds}"
    )
  host.finish(report, FLAGS.out)


if __name__ == "__main__":
  app.run(main)
