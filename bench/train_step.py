r"""Times one GAN training step of any config, with and without XLA, against analytic FLOPs.

    python -m bench.train_step --config=vgan_two_stream --batch_sizes=8 --steps=3
    python -m bench.train_step --config=vgan_two_stream:smoke --jit=off
    python -m bench.train_step --config=vgan_image_to_video --batch_sizes=4,8 \
        --precision=mixed_bfloat16 --out=/tmp/i2v_step.json

For each batch size and XLA setting, builds `trainers.loop.Trainer` for the config in a
temporary workdir (checkpoints, samples, logs and summaries off) and times
`trainer.train_call()` (`train.steps_per_call` generator steps in one tf.function call;
each call is synced by fetching its outputs to numpy). Prints seconds per generator step,
clips/s, the step's analytic GFLOP (bench/flops.py: the D steps and the G step, 2 x
multiply-adds of the conv and dense layers), the achieved GFLOP/s and its ratio to an fp32
4096^2 matmul measured in the same run (bf16 too), and the peak RSS; `--out` writes it all as
JSON with the machine description.

Each (batch, XLA) run goes to a child process by default (`--isolate`), so that its peak RSS
is its own and one run's allocator state does not slow the next. XLA on CPU was measured
~100x slower than the oneDNN kernels for 3D transposed convolutions in TF 2.21, so XLA runs
are capped at `--jit_max_steps` timed calls after one compiling call; `--jit=off` skips them.
The input pipeline (synthetic clips unless the config says otherwise) runs inside the timed
call on the same cores, as it does in training.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags
import tensorflow as tf

from bench import common
from bench import flops
from trainers import config_files
from trainers import loop

config_files.define_flag(
  "config",
  None,
  "Config name or file, e.g. vgan_two_stream or X:smoke; "
  "--config.a.b=v overrides fields as in trainers/train.py.",
  lock_config=False,
)
flags.DEFINE_list("batch_sizes", [], "Global batch sizes to time; empty: the config's.")
flags.DEFINE_integer("steps", 5, "Timed calls per run (XLA runs: at most --jit_max_steps).")
flags.DEFINE_integer("warmup", 2, "Untimed calls before timing (XLA runs: 1, which compiles).")
flags.DEFINE_enum("jit", "both", ["both", "on", "off"], "XLA settings to time.")
flags.DEFINE_integer("jit_max_steps", 2, "Cap on timed calls with XLA on (slow on CPU).")
flags.DEFINE_enum("precision", "float32", list(loop.PRECISIONS), "runtime.precision.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
flags.DEFINE_integer("matmul_size", 4096, "Size of the square matmul that measures the peak.")
flags.DEFINE_integer("matmul_repeats", 3, "Timed matmuls (best kept) per dtype.")
flags.DEFINE_bool("isolate", True, "Run each (batch, XLA) setting in a child process.")
flags.DEFINE_integer("run_timeout", 7200, "Seconds before an isolated run is abandoned.")
flags.DEFINE_string("child_out", "", "Internal: run one setting and write its JSON here.")
FLAGS = flags.FLAGS

# Flags the parent sets itself on a child's command line.
_PER_RUN_FLAGS = ("batch_sizes", "jit", "out", "child_out", "isolate")
_BOOL_PER_RUN_FLAGS = ("isolate",)


def run_one(config, batch_size, jit, precision, steps, warmup):
  """Builds a Trainer and times its train call; returns the run's figures as a dict."""
  c = common.bench_config(config, batch_size, jit, precision)
  if jit:
    steps, warmup = min(steps, FLAGS.jit_max_steps), 1
  record = {
    "batch_size": int(batch_size),
    "jit": bool(jit),
    "precision": precision,
    "steps_per_call": int(c.train.steps_per_call),
    "load_before": os.getloadavg(),
  }
  with tempfile.TemporaryDirectory(prefix="bench_train_step_") as workdir:
    start = time.perf_counter()
    trainer = loop.Trainer(c, workdir)
    record["build_s"] = time.perf_counter() - start
    step_flops = flops.trainer_step_flops(trainer)

    train_call = trainer.train_call

    def call():  # fetching every output to numpy waits for the step to finish
      tf.nest.map_structure(lambda t: t.numpy(), train_call())

    warm = common.time_callable(call, warmup=0, repeats=warmup)["times"] if warmup else []
    cpu = time.process_time()
    timing = common.time_callable(call, warmup=0, repeats=steps)
    cpu = time.process_time() - cpu
    record["steps_done"] = trainer.current_step()
  n = record["steps_per_call"]
  per_step = {k: timing[k] / n for k in ("median", "best")}
  gflop = step_flops["total"] / 1e9
  record.update(
    timed_calls=steps,
    warmup_calls=warmup,
    warmup_s=warm,
    call_s=timing["times"],
    s_per_step=per_step["median"],
    best_s_per_step=per_step["best"],
    clips_per_s=batch_size / per_step["median"],
    step_gflop=gflop,
    d_step_gflop=step_flops["d_step"] / 1e9,
    g_step_gflop=step_flops["g_step"] / 1e9,
    gflops=gflop / per_step["median"],
    best_gflops=gflop / per_step["best"],
    cpu_util=cpu / sum(timing["times"]),
    peak_rss_mib=common.peak_rss_mib(),
    load_after=os.getloadavg(),
    flop_terms_gflop={k: v / 1e9 for k, v in step_flops["terms"].items()},
    uncounted_layers=step_flops["uncounted"],
  )
  return record


def _child_argv(batch_size, jit, out):
  """This script's command line for one setting: the user's flags minus the per-run ones."""
  argv, skip = [], False
  for arg in sys.argv[1:]:
    if skip:  # the value of a "--flag value" pair dropped below
      skip = False
      continue
    name, eq, _ = arg.lstrip("-").partition("=")
    if arg.startswith("-") and (name in _PER_RUN_FLAGS or name[2:] in _BOOL_PER_RUN_FLAGS):
      skip = not eq and name not in _BOOL_PER_RUN_FLAGS and name[2:] not in _BOOL_PER_RUN_FLAGS
      continue
    argv.append(arg)
  return [
    sys.executable,
    "-m",
    "bench.train_step",
    *argv,
    f"--batch_sizes={batch_size}",
    f"--jit={'on' if jit else 'off'}",
    f"--child_out={out}",
  ]


def run_isolated(batch_size, jit):
  """`run_one` in a child process; a failed run comes back as {"error": ...}."""
  with tempfile.TemporaryDirectory(prefix="bench_train_step_child_") as tmp:
    out = os.path.join(tmp, "run.json")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL=os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2"))
    try:
      proc = subprocess.run(
        _child_argv(batch_size, jit, out),
        capture_output=True,
        text=True,
        env=env,
        timeout=FLAGS.run_timeout or None,
        check=False,
      )
    except subprocess.TimeoutExpired:
      return {
        "batch_size": batch_size,
        "jit": jit,
        "error": f"timed out after {FLAGS.run_timeout} s",
      }
    if proc.returncode or not os.path.exists(out):
      tail = "\n".join((proc.stderr or "").strip().splitlines()[-15:])
      return {
        "batch_size": batch_size,
        "jit": jit,
        "error": f"exit code {proc.returncode}:\n{tail}",
      }
    with open(out) as f:
      return json.load(f)


def measure_matmul():
  return {
    dtype.name: common.matmul_gflops(dtype, FLAGS.matmul_size, 1, FLAGS.matmul_repeats)
    for dtype in (tf.float32, tf.bfloat16)
  }


def format_table(runs, peak_fp32, peak_bf16):
  """The runs as a fixed-width table; ratios are to the best matmul rates of this run."""
  header = (
    f"{'batch':>5} {'xla':>4} {'s/step':>8} {'best':>8} {'clips/s':>8} "
    f"{'GFLOP':>8} {'GFLOP/s':>8} {'/fp32mm':>7} {'/bf16mm':>7} {'cpu':>5} "
    f"{'RSS MiB':>8} {'1st call':>8}"
  )
  lines = [header, "-" * len(header)]
  for r in runs:
    head = f"{r['batch_size']:>5} {'on' if r['jit'] else 'off':>4} "
    if "error" in r:
      lines.append(head + "FAILED: " + r["error"].splitlines()[0])
      continue
    first = r["warmup_s"][0] if r["warmup_s"] else float("nan")
    lines.append(
      head + f"{r['s_per_step']:8.3f} {r['best_s_per_step']:8.3f} {r['clips_per_s']:8.2f} "
      f"{r['step_gflop']:8.4g} {r['gflops']:8.4g} {r['gflops'] / peak_fp32:7.3f} "
      f"{r['gflops'] / peak_bf16:7.3f} {r['cpu_util']:5.2f} {r['peak_rss_mib']:8.0f} "
      f"{first:8.2f}"
    )
  return "\n".join(lines)


def main(argv):
  del argv
  config = FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config=vgan_two_stream")
  batch_sizes = [int(b) for b in FLAGS.batch_sizes] or [int(config.train.batch_size)]
  jits = {"both": [False, True], "on": [True], "off": [False]}[FLAGS.jit]
  if FLAGS.child_out:  # one setting, for the parent
    record = run_one(config, batch_sizes[0], jits[0], FLAGS.precision, FLAGS.steps, FLAGS.warmup)
    with open(FLAGS.child_out, "w") as f:
      json.dump(record, f)
    return

  machine = common.describe_machine()
  print(f"machine: {common.machine_line(machine)}")
  matmul_before = measure_matmul()
  print(
    "matmul {}^2: fp32 {:.1f} GFLOP/s, bf16 {:.1f} GFLOP/s (best of {})".format(
      FLAGS.matmul_size,
      matmul_before["float32"]["gflops"],
      matmul_before["bfloat16"]["gflops"],
      FLAGS.matmul_repeats,
    )
  )
  runs = []
  for batch_size in batch_sizes:
    for jit in jits:
      logging.info("Timing batch %d, XLA %s.", batch_size, "on" if jit else "off")
      if FLAGS.isolate:
        record = run_isolated(batch_size, jit)
      else:
        try:
          record = run_one(config, batch_size, jit, FLAGS.precision, FLAGS.steps, FLAGS.warmup)
        except (tf.errors.OpError, RuntimeError, ValueError) as e:
          record = {"batch_size": batch_size, "jit": jit, "error": f"{type(e).__name__}: {e}"}
      runs.append(record)
      if "error" in record:
        print(f"batch {batch_size} xla {'on' if jit else 'off'}: FAILED {record['error']}")
      else:
        print(
          f"batch {batch_size} xla {'on' if jit else 'off'}: "
          f"{record['s_per_step']:.3f} s/step, {record['gflops']:.1f} GFLOP/s"
        )
  matmul_after = measure_matmul()
  peak = {
    d: max(matmul_before[d]["gflops"], matmul_after[d]["gflops"]) for d in ("float32", "bfloat16")
  }
  for r in runs:
    if "error" not in r:
      r["ratio_fp32_matmul"] = r["gflops"] / peak["float32"]
      r["ratio_bf16_matmul"] = r["gflops"] / peak["bfloat16"]
  machine["load_average_end"] = [round(x, 2) for x in os.getloadavg()]

  print()
  config_name = config_flags.get_config_filename(FLAGS["config"])
  print(
    f"config {config_name}, precision {FLAGS.precision}, "
    f"steps_per_call {config.train.steps_per_call}; analytic FLOPs: exact convention "
    f"(bench/flops.py); ratios to the best matmul of this run: fp32 "
    f"{peak['float32']:.1f}, bf16 {peak['bfloat16']:.1f} GFLOP/s "
    f"(before {matmul_before['float32']['gflops']:.1f} / "
    f"{matmul_before['bfloat16']['gflops']:.1f}, after "
    f"{matmul_after['float32']['gflops']:.1f} / {matmul_after['bfloat16']['gflops']:.1f})"
  )
  print(format_table(runs, peak["float32"], peak["bfloat16"]))
  for batch_size in batch_sizes:
    done = [r for r in runs if r["batch_size"] == batch_size and "error" not in r]
    if done:
      terms = ", ".join(f"{k} {v:.4g}" for k, v in done[0]["flop_terms_gflop"].items())
      print(
        f"GFLOP per generator step at batch {batch_size}: D steps "
        f"{done[0]['d_step_gflop']:.4g} + G step {done[0]['g_step_gflop']:.4g} ({terms})"
      )
  print(
    f"load average: start {machine['load_average']}, end {machine['load_average_end']}; "
    "RSS: peak of the run's process"
    + ("" if FLAGS.isolate else " (one process: cumulative over runs)")
  )
  if FLAGS.out:
    report = {
      "config": config_name,
      "precision": FLAGS.precision,
      "machine": machine,
      "matmul": {"before": matmul_before, "after": matmul_after, "peak_gflops": peak},
      "flop_convention": "exact (bench/flops.py)",
      "isolated": FLAGS.isolate,
      "runs": runs,
    }
    with open(FLAGS.out, "w") as f:
      json.dump(report, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  flags.mark_flag_as_required("config")
  app.run(main)
