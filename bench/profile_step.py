r"""Where a training step's time goes: the real train call under the TF profiler, by op type.

    python -m bench.profile_step --config=vgan_two_stream --batch_size=8

Builds `trainers.loop.Trainer` as bench/train_step.py does (XLA off, nothing written), runs
`--warmup` calls, then records `--steps` calls with `tf.profiler.experimental` and reads the
trace (the XSpace protobuf the profiler writes) itself: every TensorFlow op executed on the
host, its duration summed by op type (Conv3DBackpropFilterV2, FusedBatchNormGradV3, AddV2,
...) and by group (convolutions, batch norm, elementwise, optimizer, copies/reshapes, input,
other). Durations are the ops' own wall times on their executor threads, so with ops running
in parallel their sum can exceed the wall time; the shares are what to read, with care: an
op that waits for threads busy with a convolution beside it counts the wait (measured: the
I3D's weight-folding Muls showed 9% of op time, but computing them once saved 1.4% of the
wall time). Measure a change with bench/train_step.py before believing a share. Prints the
table and the wall time per step; `--out` writes it as JSON.
"""

import collections
import glob
import json
import os
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf
from tensorflow.tsl.profiler.protobuf import xplane_pb2

from bench import common
from bench import host
from bench import train_step  # noqa: F401  (defines the shared flags)
from trainers import loop

# --config, --steps, --warmup, --precision and --out are bench/train_step.py's flags.
flags.DEFINE_integer("batch_size", 8, "Global batch size.")
flags.DEFINE_integer("profile_steps", 2, "Train calls recorded by the profiler.")
flags.DEFINE_integer("top", 25, "Op types listed.")
FLAGS = flags.FLAGS

GROUPS = (
  ("convolution", ("Conv", "MatMul", "BatchMatMul", "FusedConv", "FusedMatMul")),
  ("batch norm", ("FusedBatchNorm",)),
  (
    "optimizer",
    (
      "ResourceApply",
      "AssignVariable",
      "AssignAdd",
      "AssignSub",
      "ReadVariableOp",
      "ResourceGather",
    ),
  ),
  (
    "copies / layout",
    (
      "Transpose",
      "Reshape",
      "Tile",
      "Pad",
      "Slice",
      "StridedSlice",
      "ConcatV2",
      "Split",
      "Pack",
      "Unpack",
      "Identity",
      "BroadcastTo",
      "ToTf",
      "InputConversion",
      "Cast",
    ),
  ),
  ("input", ("Iterator", "Dataset", "Random", "Stateless")),
  ("reductions", ("Sum", "Mean", "Max", "Min", "Prod", "L2Loss", "All")),
)


def group_of(op_type):
  """The group of an op type, oneDNN's "_MklNative" / "_Mkl" prefixes ignored."""
  base = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
  for group, prefixes in GROUPS:
    if base.startswith(prefixes):
      return group
  return "elementwise / other"


def op_times(logdir):
  """{op type: (total seconds, count)} of the TF ops in the trace(s) under `logdir`."""
  totals = collections.defaultdict(lambda: [0.0, 0])
  paths = glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True)
  if not paths:
    raise RuntimeError(f"Expected a *.xplane.pb under {logdir}, found none: did the profiler run?")
  for path in paths:
    space = xplane_pb2.XSpace()
    with open(path, "rb") as f:
      space.ParseFromString(f.read())
    for plane in space.planes:
      if not plane.name.startswith("/host:CPU"):
        continue
      for line in plane.lines:
        for event in line.events:
          meta = plane.event_metadata[event.metadata_id]
          # A TF op's event is "name:Type" with the type as its display name (oneDNN
          # kernels: "_MklNativeConv3D", ...); executor and runtime events have none.
          op_type = meta.display_name
          if not op_type or "::" in op_type:
            continue
          totals[op_type][0] += event.duration_ps * 1e-12
          totals[op_type][1] += 1
  return {k: tuple(v) for k, v in totals.items()}


def main(argv):
  del argv
  c = FLAGS.config
  if c is None:
    raise app.UsageError("--config is required, e.g. --config=vgan_two_stream")
  machine = common.describe_machine()
  cfg = common.bench_config(c, FLAGS.batch_size, False, FLAGS.precision)
  with tempfile.TemporaryDirectory(prefix="bench_profile_") as workdir:
    trainer = loop.Trainer(cfg, workdir)
    call = trainer.train_call
    fetch = lambda: tf.nest.map_structure(lambda t: t.numpy(), call())
    host.time_callable(fetch, warmup=0, repeats=FLAGS.warmup)
    wall = host.time_callable(fetch, warmup=0, repeats=FLAGS.steps)
    logdir = os.path.join(workdir, "profile")
    tf.profiler.experimental.start(logdir)
    start = time.perf_counter()
    for _ in range(FLAGS.profile_steps):
      fetch()
    profiled = time.perf_counter() - start
    tf.profiler.experimental.stop()
    ops = op_times(logdir)
  n = FLAGS.profile_steps * cfg.train.steps_per_call
  total = sum(t for t, _ in ops.values())
  groups = collections.defaultdict(float)
  for op_type, (t, _) in ops.items():
    groups[group_of(op_type)] += t
  per_step = wall["median"] / cfg.train.steps_per_call
  print("machine:", common.machine_line(machine))
  print(
    f"{config_flags.get_config_filename(FLAGS['config'])}, batch "
    f"{FLAGS.batch_size}, {FLAGS.precision}: {per_step:.3f} s/step unprofiled (median of "
    f"{FLAGS.steps}); {profiled / n:.3f} s/step profiled; op time {total / n:.3f} s/step"
  )
  print("\nby group (share of op time):")
  for group, t in sorted(groups.items(), key=lambda kv: -kv[1]):
    print(f"  {group:<22} {t / n:8.3f} s/step  {t / total:6.1%}")
  print(f"\ntop {FLAGS.top} op types:")
  for op_type, (t, count) in sorted(ops.items(), key=lambda kv: -kv[1][0])[: FLAGS.top]:
    print(f"  {op_type:<36} {t / n:8.3f} s/step  {t / total:6.1%}  {count // n:5d} calls/step")
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(
        {
          "batch_size": FLAGS.batch_size,
          "precision": FLAGS.precision,
          "s_per_step": per_step,
          "op_s_per_step": total / n,
          "groups_s_per_step": {g: t / n for g, t in groups.items()},
          "ops_s_per_step": {k: t / n for k, (t, _) in ops.items()},
          "machine": machine,
        },
        f,
        indent=1,
      )


if __name__ == "__main__":
  app.run(main)
