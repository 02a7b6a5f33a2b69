r"""Measures what going on with an interrupted conversion costs, against converting again.

    python -m bench.convert_resume                     # 6144 clips of 32x64x64: ~2 minutes
    python -m bench.convert_resume --num_clips=4096 --gzip

Runs the converter's command (`python -m trainers.data.make_tfrecords --source=synthetic`)
three times in child processes, each timed from its start to its exit:

1. the whole conversion, never stopped;
2. the same conversion stopped by SIGTERM once --stop_at of its inputs are journalled;
3. the same command again, which goes on from there: it copies the finished inputs' records
   into fresh shards (the carry-over, timed between the log lines before and after it),
   then converts the rest.

Prints the three times, the carry-over's time and rate (MB/s of shard bytes) and its ratio
to the time run 1 spent converting the same inputs (from its manifest: without starting
the process), with the machine. The records of runs 1 and 3 are compared: they must be the same.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags

from bench import common as bench_common
from bench import host

flags.DEFINE_integer("num_clips", 6144, "Synthetic clips to convert.")
flags.DEFINE_string("clip", "32x64x64", "Frames x height x width of each clip.")
flags.DEFINE_integer("num_shards", 8, "Output shards.")
flags.DEFINE_float("stop_at", 0.5, "Fraction of the inputs finished when run 2 is stopped.")
flags.DEFINE_bool("gzip", False, "GZIP-compressed shards.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS

INPUT_CLIPS = 16  # clips per synthetic input (trainers.data.make_tfrecords.synthetic_sources)


def _command(output):
  frames, height, width = (int(v) for v in FLAGS.clip.split("x"))
  return [
    sys.executable,
    "-m",
    "trainers.data.make_tfrecords",
    "--source=synthetic",
    f"--num_clips={FLAGS.num_clips}",
    f"--clip_length={frames}",
    f"--crop={height}x{width}",
    f"--num_shards={FLAGS.num_shards}",
    f"--gzip={FLAGS.gzip}",
    f"--output={output}",
  ]


def _run(output):
  """(seconds, stderr) of the converter's command run to its end."""
  start = time.perf_counter()
  proc = subprocess.run(_command(output), capture_output=True, text=True, check=False)
  seconds = time.perf_counter() - start
  if proc.returncode:
    raise RuntimeError(f"the converter failed:\n{proc.stderr[-3000:]}")
  return seconds, proc.stderr


def _run_until(output, inputs):
  """Seconds until SIGTERM stopped the command once `inputs` inputs were journalled."""
  journal = output + ".resume.tmp"
  start = time.perf_counter()
  proc = subprocess.Popen(_command(output), stderr=subprocess.PIPE, text=True)
  while not os.path.exists(journal) or _lines(journal) < inputs + 1:  # the header, too
    if proc.poll() is not None:
      raise RuntimeError(f"the converter ended before it was stopped:\n{proc.stderr.read()}")
    time.sleep(0.05)
  proc.send_signal(signal.SIGTERM)
  proc.communicate(timeout=600)
  return time.perf_counter() - start


def _lines(path):
  with open(path, "rb") as f:
    return f.read().count(b"\n")


def _log_time(line):
  """Seconds since midnight of an absl log line's timestamp (I1205 05:13:10.680154 ...)."""
  h, m, s = re.match(r"[IWEF]\d{4} (\d+):(\d+):([\d.]+)", line).groups()
  return int(h) * 3600 + int(m) * 60 + float(s)


def _records(prefix):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  compression = "GZIP" if FLAGS.gzip else ""
  return [
    [
      tf.train.Example.FromString(r)
      for r in tf.data.TFRecordDataset(p, compression).as_numpy_iterator()
    ]
    for p in sorted(glob.glob(prefix + "-*-of-*.tfrecord"))
  ]


def main(argv):
  del argv
  machine = bench_common.describe_machine()
  print(f"machine: {bench_common.machine_line(machine)}", flush=True)
  inputs = -(-FLAGS.num_clips // INPUT_CLIPS)
  stop_inputs = max(1, int(inputs * FLAGS.stop_at))
  with tempfile.TemporaryDirectory(prefix="bench_convert_resume_") as tmp:
    whole, stopped = os.path.join(tmp, "whole", "train"), os.path.join(tmp, "stopped", "train")
    whole_seconds, _ = _run(whole)
    print(f"1. whole conversion: {whole_seconds:.1f} s", flush=True)
    stopped_seconds = _run_until(stopped, stop_inputs)
    finished = _lines(stopped + ".resume.tmp") - 1
    carried_bytes = sum(os.path.getsize(p) for p in glob.glob(stopped + "-*.tmp"))
    resumed_seconds, log = _run(stopped)
    copying = [line for line in log.splitlines() if "Going on from an interrupted" in line]
    resuming = [line for line in log.splitlines() if "Resuming " in line]
    if not (copying and resuming):
      raise RuntimeError(f"the third run did not resume:\n{log[-3000:]}")
    with open(stopped + ".manifest.json") as f:
      resumed_after = json.load(f)["resumed_after_inputs"]
    with open(whole + ".manifest.json") as f:
      converting = json.load(f)["seconds"]  # the whole run's, without starting the process
    expected = _records(whole)
    same = sum(map(len, expected)) == FLAGS.num_clips and _records(stopped) == expected
  carry_seconds = _log_time(resuming[0]) - _log_time(copying[0])
  again = converting * finished / inputs  # converting the finished inputs again
  report = {
    "machine": machine,
    "num_clips": FLAGS.num_clips,
    "clip": FLAGS.clip,
    "num_shards": FLAGS.num_shards,
    "gzip": FLAGS.gzip,
    "inputs": inputs,
    "whole_seconds": whole_seconds,
    "stopped_seconds": stopped_seconds,
    "finished_inputs": finished,
    "resumed_after_inputs": resumed_after,
    "carried_mb": carried_bytes / 1e6,
    "resumed_seconds": resumed_seconds,
    "carry_over_seconds": carry_seconds,
    "whole_converting_seconds": converting,
    "carry_over_over_converting_again": carry_seconds / again,
    "resumed_over_whole": resumed_seconds / whole_seconds,
    "same_records": same,
  }
  print(
    f"2. stopped by SIGTERM after {stopped_seconds:.1f} s, {finished} of {inputs} inputs "
    f"finished ({carried_bytes / 1e6:.0f} MB of shards, what follows the last finished "
    "input included)\n"
    f"3. resumed: {resumed_seconds:.1f} s in all, of which the carry-over {carry_seconds:.2f} s "
    f"({carried_bytes / 1e6 / carry_seconds:.0f} MB/s of shards read and written)\n"
    f"   the carry-over took {carry_seconds / again:.1%} of the {again:.1f} s run 1 spent "
    f"converting those inputs; run 3 took {report['resumed_over_whole']:.2f}x run 1's time; "
    f"records the same as run 1's: {same}",
    flush=True,
  )
  host.finish(report, FLAGS.out)


if __name__ == "__main__":
  app.run(main)
