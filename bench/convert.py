r"""Measures the TFRecord converter: clips/s and peak RSS against video length and resolution.

    python -m bench.convert                          # 10, 60 and 300 s of 1080p: ~15 minutes
    python -m bench.convert --lengths=10,60 --resolutions=720,1080

Generates one H.264 video per (length, resolution) once in a temporary directory (a texture
panning across the frame at --fps, libx264 ultrafast so that generating 300 s stays cheap),
then converts each in a child process of its own with the converter's default options
(trainers.data.make_tfrecords.WriterOptions: 32-frame clips at full size, JPEG 95), so each
peak RSS (ru_maxrss) is the converter's alone. Prints, per video, clips/s, the peak RSS, its
excess over the RSS after importing TensorFlow and the converter, and its ratio to the
shortest video's peak at the same resolution: the converter holds a few clips at a time, so
the peak should stay flat in the length (at most 1.5x) and within 600 MiB of the import.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
import av
import numpy as np

from bench import common as bench_common
from bench import host

flags.DEFINE_list("lengths", ["10", "60", "300"], "Video lengths, seconds.")
flags.DEFINE_list("resolutions", ["1080"], "Frame heights (16:9 frames).")
flags.DEFINE_integer("fps", 25, "Frames per second of the generated videos.")
flags.DEFINE_string("child", "", "Internal: convert this video and print JSON.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS

TARGET_RATIO = 1.5  # peak RSS of the longest video over the shortest's
TARGET_OVER_IMPORT_MIB = 600.0


def make_video(path, seconds, height, fps):
  """A texture panning across a 16:9 frame, H.264 ultrafast (cheap to make and to decode)."""
  width = (height * 16 // 9) // 2 * 2
  rng = np.random.default_rng(0)
  tile = rng.integers(0, 256, (height // 8 + 1, (2 * width) // 8 + 1, 3), np.uint8)
  texture = np.repeat(np.repeat(tile, 8, 0), 8, 1)[:height]
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"preset": "ultrafast", "crf": "28"}
    for i in range(int(seconds * fps)):
      x = (4 * i) % width
      frame = av.VideoFrame.from_ndarray(
        np.ascontiguousarray(texture[:, x : x + width]), format="rgb24"
      )
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def child(video):
  """Converts `video` with the default options; prints JSON figures of this process."""
  from trainers.data import make_tfrecords  # pylint: disable=g-import-not-at-top

  after_import = host.rss_mib()
  options = make_tfrecords.WriterOptions(num_shards=1)
  with tempfile.TemporaryDirectory() as tmp:
    sources, skipped = make_tfrecords.resolve_inputs(video)
    start = time.perf_counter()
    manifest = make_tfrecords.write_tfrecords(sources, os.path.join(tmp, "train"), options, skipped)
    seconds = time.perf_counter() - start
  print(
    json.dumps(
      {
        "clips": manifest["num_clips"],
        "seconds": seconds,
        "frames": manifest["sources"][0]["frames_decoded"],
        "after_import_mib": after_import,
        "peak_rss_mib": host.peak_rss_mib(),
      }
    )
  )


def main(argv):
  del argv
  if FLAGS.child:
    child(FLAGS.child)
    return
  machine = bench_common.describe_machine()
  print(f"machine: {bench_common.machine_line(machine)}")
  report = {"machine": machine, "runs": []}
  with tempfile.TemporaryDirectory(prefix="bench_convert_") as tmp:
    for height in (int(r) for r in FLAGS.resolutions):
      first = None
      for seconds in (float(s) for s in FLAGS.lengths):
        path = os.path.join(tmp, f"{height}p_{seconds:g}s.mp4")
        start = time.perf_counter()
        make_video(path, seconds, height, FLAGS.fps)
        made = time.perf_counter() - start
        proc = subprocess.run(
          [sys.executable, "-m", "bench.convert", f"--child={path}"],
          capture_output=True,
          text=True,
          check=False,
        )
        os.remove(path)
        if proc.returncode:
          print(f"{height}p {seconds:g} s: FAILED\n{proc.stderr[-2000:]}")
          report["runs"].append({"height": height, "seconds": seconds, "error": proc.stderr})
          continue
        run = json.loads(proc.stdout.strip().splitlines()[-1])
        first = first or run
        run.update(
          height=height,
          video_seconds=seconds,
          generate_seconds=made,
          clips_per_s=run["clips"] / run["seconds"],
          over_import_mib=run["peak_rss_mib"] - run["after_import_mib"],
          ratio_to_shortest=run["peak_rss_mib"] / first["peak_rss_mib"],
        )
        report["runs"].append(run)
        ok = (
          run["ratio_to_shortest"] <= TARGET_RATIO
          and run["over_import_mib"] <= TARGET_OVER_IMPORT_MIB
        )
        print(
          f"{height}p {seconds:5g} s: {run['frames']} frames -> {run['clips']} clips, "
          f"{run['clips_per_s']:.2f} clips/s; peak RSS {run['peak_rss_mib']:.0f} MiB "
          f"({run['over_import_mib']:.0f} over the import's {run['after_import_mib']:.0f}, "
          f"{run['ratio_to_shortest']:.2f}x the shortest's) "
          f"{'within' if ok else 'OUTSIDE'} the targets (<= {TARGET_RATIO}x, "
          f"<= {TARGET_OVER_IMPORT_MIB:.0f} MiB over the import)",
          flush=True,
        )
  host.finish(report, FLAGS.out)


if __name__ == "__main__":
  app.run(main)
