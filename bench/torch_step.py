r"""The PyTorch eager reference for bench/plain_step.py: the same VGAN two-stream step, timed.

    pip install torch==2.13.0   # the bench extra: a local CPU wheel on the project's machines
    python -m bench.torch_step --config=vgan_two_stream --batch_size=8
    python -m bench.torch_step --config=vgan_two_stream:smoke --batch_size=2 --steps=2 \
        --variants=channels_last

The speed targets compare our step with a PyTorch eager implementation of the same full step,
as achieved GFLOP/s over matmul GFLOP/s; this measures that reference on the same machine, in
a process that never imports TensorFlow (asserted), so that its threads, allocator and memory
are PyTorch's alone. Builds the config's networks in PyTorch (`bench/torch_vgan.py`: the
Keras models' layers, initializers, losses, d_steps and Adam settings; tests/bench check them
against Keras) and times `torch_vgan.Step` on one random real batch made before timing.

Variants, each in its own child process (`--isolate`) so that each memory figure is its own:
  channels_last        channels_last_3d weights and clips, fp32: the headline
  contiguous           PyTorch's default layout (NCDHW), fp32
  channels_last_bf16   channels_last_3d under torch.autocast bf16 (weights, gradients and
                       Adam stay fp32, as Keras's mixed_bfloat16)
(contiguous_bf16 on request.) Per variant: s/step (median, best), clips/s; GFLOP per step
counted from the step itself (`torch_vgan.FlopCounter` on the first call: bench/flops.py's
count, which tests/bench check it equals) and GFLOP/s over a 4096^2 torch.matmul of this run
(fp32; bf16 for the bf16 variants); the first call (allocator growth, oneDNN primitives),
timed apart; peak RSS and the step's own memory: peak RSS minus the RSS after importing
PyTorch. The ratio to TensorFlow's matmul is bench/run_all.py's, which measures both in one
run.
"""

import json
import math
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags

from bench import host
from bench import report

try:
  import torch
except ImportError:
  sys.exit("bench/torch_step.py needs PyTorch, the bench extra: pip install torch==2.13.0")

from bench import torch_vgan
from trainers import config_files
from trainers import cpu_quota

IMPORT_RSS_MIB = host.rss_mib()  # Python, absl, ml_collections and PyTorch

VARIANTS = ("channels_last", "contiguous", "channels_last_bf16", "contiguous_bf16")
HEADLINE = "channels_last"

config_files.define_flag(
  "config",
  "vgan_two_stream",
  "Config name or file, e.g. vgan_two_stream or ...:smoke.",
  lock_config=False,
)
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps.")
flags.DEFINE_integer("warmup", 1, "Untimed steps first, the first call included.")
flags.DEFINE_integer(
  "threads", cpu_quota.usable_cpus(), "torch.set_num_threads; default: the usable CPUs."
)
flags.DEFINE_list("variants", list(VARIANTS[:3]), f"Any of {', '.join(VARIANTS)}.")
flags.DEFINE_integer("matmul_size", 4096, "Size of the square matmul that measures the peak.")
flags.DEFINE_bool("isolate", True, "Run each variant in a child process.")
flags.DEFINE_integer("run_timeout", 3600, "Seconds before an isolated variant is abandoned.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
flags.DEFINE_string("child_out", "", "Internal: run one variant and write its JSON here.")
FLAGS = flags.FLAGS


def assert_no_tensorflow():
  if "tensorflow" in sys.modules:
    raise AssertionError(
      "Expected a process without TensorFlow for the PyTorch reference, received one that "
      "imported it."
    )


def run_variant(config, variant, batch_size, steps, warmup):
  """Builds the networks, times `steps` steps of `variant`; returns its figures as a dict."""
  channels_last, bf16 = variant.startswith("channels_last"), variant.endswith("_bf16")
  torch_vgan.check_objective(config)
  torch.manual_seed(config.seed)
  g, ds, d_weights = torch_vgan.networks(config)
  memory_format = torch.contiguous_format
  if channels_last:
    memory_format = torch.channels_last_3d
    g.to_channels_last()
    for d in ds.values():
      d.to_channels_last()
  t, h, w = config.data.num_frames, config.data.height, config.data.width
  real = torch.rand(batch_size, 3, t, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1
  real = real.contiguous(memory_format=memory_format)
  step = torch_vgan.Step(g, ds, d_weights, config, memory_format, autocast=bf16)
  losses = []
  counter = torch_vgan.FlopCounter([g, *ds.values()])
  start = time.perf_counter()
  with counter:
    losses.append(step(real))
  first_call_s = time.perf_counter() - start
  warm = max(int(warmup), 1) - 1
  timing = host.time_callable(lambda: losses.append(step(real)), warm, steps)
  if not all(math.isfinite(x) for x in losses[-1]):
    raise FloatingPointError(f"Expected finite losses, received {losses[-1]}.")
  gflop = counter.total / 1e9
  peak = host.peak_rss_mib()
  return {
    "variant": variant,
    "memory_format": "channels_last_3d" if channels_last else "contiguous (NCDHW)",
    "precision": "autocast bfloat16" if bf16 else "float32",
    "batch_size": batch_size,
    "s_per_step": timing["median"],
    "best_s_per_step": timing["best"],
    "step_seconds": timing["times"],
    "first_call_s": first_call_s,
    "warmup_seconds": timing["warmup"],
    "clips_per_s": batch_size / timing["median"],
    "step_gflop": gflop,
    "gflops": gflop / timing["median"],
    "params": {"generator": torch_vgan.trainable_count(g)}
    | {f"d_{n}": torch_vgan.trainable_count(d) for n, d in ds.items()},
    "last_losses": {"d": losses[-1][0], "g": losses[-1][1]},
    "rss_import_mib": IMPORT_RSS_MIB,
    "peak_rss_mib": peak,
    "step_mib": peak - IMPORT_RSS_MIB,
  }


def run_isolated(variant):
  """`run_variant` in a child process; a failed variant comes back as {"error": ...}."""
  with tempfile.TemporaryDirectory(prefix="bench_torch_step_") as tmp:
    out = os.path.join(tmp, "variant.json")
    argv = host.child_argv(
      "bench.torch_step",
      sys.argv[1:],
      ("variants", "out", "child_out"),
      [f"--variants={variant}", f"--child_out={out}"],
    )
    return host.run_child(argv, out, timeout=FLAGS.run_timeout)


def matmuls(cpu):
  return {
    "float32": torch_vgan.torch_matmul_gflops(torch.float32, FLAGS.matmul_size),
    "bfloat16": torch_vgan.torch_matmul_gflops(
      torch.bfloat16, torch_vgan.bf16_matmul_size(cpu, FLAGS.matmul_size)
    ),
  }


def main(argv):
  del argv
  assert_no_tensorflow()
  unknown = sorted(set(FLAGS.variants) - set(VARIANTS))
  if unknown:
    raise app.UsageError(f"Expected --variants among {VARIANTS}, received {unknown}.")
  torch.set_num_threads(FLAGS.threads)
  c = FLAGS.config
  if FLAGS.child_out:  # one variant, for the parent
    record = run_variant(c, FLAGS.variants[0], FLAGS.batch_size, FLAGS.steps, FLAGS.warmup)
    assert_no_tensorflow()
    with open(FLAGS.child_out, "w") as f:
      json.dump(record, f)
    return

  machine = host.describe_host()
  print("machine:", host.host_line(machine))
  before = matmuls(machine["cpu"])
  rows = []
  for variant in FLAGS.variants:
    if FLAGS.isolate:
      record = run_isolated(variant)
    else:
      record = run_variant(c, variant, FLAGS.batch_size, FLAGS.steps, FLAGS.warmup)
    rows.append(dict(record, variant=variant))
  after = matmuls(machine["cpu"])
  peak = {k: max(before[k]["gflops"], after[k]["gflops"]) for k in before}
  for r in rows:
    if "gflops" in r:
      r["ratio_torch_matmul"] = (
        r["gflops"] / peak["bfloat16" if "_bf16" in r["variant"] else "float32"]
      )
  machine["load_average_end"] = host.load_average()
  assert_no_tensorflow()
  print(
    f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN "
    f"{'on' if torch.backends.mkldnn.is_available() else 'off'}; no TensorFlow in this process "
    f"or its children; {config_flags.get_config_filename(FLAGS['config'])}, batch "
    f"{FLAGS.batch_size}; torch.matmul {FLAGS.matmul_size}^2 (better of before / after): fp32 "
    f"{peak['float32']:.1f}, bf16 {peak['bfloat16']:.1f} GFLOP/s"
    + (
      f" (bf16 at {before['bfloat16']['size']}^2: this CPU has no bf16 instructions)"
      if before["bfloat16"]["size"] != FLAGS.matmul_size
      else ""
    )
  )
  print(report.torch_variant_table(rows, peak, HEADLINE))
  print(
    f"load average: start {machine['load_average']}, end {machine['load_average_end']}. "
    "GFLOP: counted from the step (bench/flops.py's convention); /matmul: over torch.matmul "
    "of the variant's dtype; 1st call apart; MiB: peak RSS of the variant's process"
    + ("" if FLAGS.isolate else " (one process: cumulative)")
    + ", step MiB = peak RSS - RSS after importing PyTorch"
  )
  if FLAGS.out:
    record = {
      "config": config_flags.get_config_filename(FLAGS["config"]),
      "batch_size": FLAGS.batch_size,
      "framework": "pytorch eager",
      "torch": torch.__version__,
      "threads": torch.get_num_threads(),
      "tensorflow_imported": False,
      "headline": HEADLINE,
      "torch_matmul": {"before": before, "after": after, "peak_gflops": peak},
      "variants": {r["variant"]: r for r in rows},
      "machine": machine,
    }
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)


if __name__ == "__main__":
  app.run(main)
