r"""Times one training step of any config, with and without XLA, against analytic FLOPs.

    python -m bench.train_step --config=vgan_two_stream --batch=8 --steps=3
    python -m bench.train_step --config=vgan_two_stream:smoke --jit=off
    python -m bench.train_step --models=egan_dcgan_video,relive_wgan,radner_style \
        --batch=8 --jit=off --max_first_call_secs=900
    python -m bench.train_step --config=vgan_image_to_video --batch=4,8 \
        --precision=mixed_bfloat16 --out=/tmp/i2v_step.json

One row per (model, batch, XLA setting): `--models` names configs (each at its own, paper,
size; "NAME:ARG" for a config argument without commas), `--config` one config with
`--config.a.b=v` overrides. Each row builds `trainers.loop.Trainer` in a temporary workdir
(checkpoints, samples, logs and summaries off; synthetic clips of the config's shape, see
`common.bench_config`) and times `trainer.train_call()` (`train.steps_per_call` generator
steps in one tf.function call; each call is synced by fetching its outputs to numpy).

Per row: seconds per generator step (its `objective.d_steps` D steps and gradient penalty
included, as the config sets them), clips/s (generated) and input clips/s (the loop reads
`d_steps` real batches per generator step); the step's analytic GFLOP (bench/flops.py;
"n/a" with the reason when the counter does not model the task or misses a layer with
weights: never a guess), the achieved GFLOP/s and its ratio to an fp32 4096^2 matmul measured
in the same run (before and after the rows; the better one counts); the first call (tracing,
graph building, measuring convolution forms if this machine's forms cache lacks them, and the
first execution), timed apart from the steps, and that call less one step ("setup": tracing
and building alone), next to the trainer's build time; memory: the
row's peak RSS, the step's own share of it (peak RSS minus the RSS after importing
TensorFlow, Keras and the zoo) and the peak of TensorFlow's CPU allocator during the calls
(the tensors alone; "n/a" where TensorFlow does not report it).

Each row runs in a child process by default (`--isolate`), so that its peak RSS is its own
and one row's allocator state does not slow the next. A row whose first call runs over
`--max_first_call_secs` is stopped and reported as such. XLA on CPU was measured ~54x slower
than the oneDNN kernels for 3D transposed convolutions in TF 2.21, so XLA rows are capped at
`--jit_max_steps` timed calls after the compiling call; `--jit=off` skips them. The
synthetic input pipeline runs inside the timed call on the same cores, as in training.
"""

import json
import os
import sys
import tempfile
import time

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from bench import common
from bench import flops
from bench import host
from bench import report
from trainers import config_files
from trainers import loop
from trainers import precision as precision_lib
from zoo.layers import form_choice

# What this process holds before any network, graph or tensor exists: the step's own memory is
# measured from here.
IMPORT_RSS_MIB = host.rss_mib()

config_files.define_flag(
  "config",
  None,
  "One config name or file, e.g. vgan_two_stream or X:smoke; "
  "--config.a.b=v overrides fields as in trainers/train.py.",
  lock_config=False,
)
flags.DEFINE_list(
  "models", [], "Config names, one row each (instead of --config), e.g. relive_wgan,dvdgan_s."
)
flags.DEFINE_list("batch", [], "Global batch sizes, one row each; empty: each config's own.")
flags.DEFINE_integer("steps", 5, "Timed calls per row (XLA rows: at most --jit_max_steps).")
flags.DEFINE_integer("warmup", 2, "Untimed calls before timing, the first call included.")
flags.DEFINE_enum("jit", "both", ["both", "on", "off"], "XLA settings to time.")
flags.DEFINE_integer("jit_max_steps", 2, "Cap on timed calls with XLA on (slow on CPU).")
flags.DEFINE_enum("precision", "float32", list(loop.PRECISIONS), "runtime.precision.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
flags.DEFINE_enum(
  "input",
  "pipeline",
  list(common.INPUTS),
  "The step's real clips: the input pipeline, as training reads them, or one batch of it "
  "repeated, as bench/torch_step.py feeds PyTorch (the step's memory without the pipeline's).",
)
flags.DEFINE_integer("matmul_size", 4096, "Size of the square matmul that measures the peak.")
flags.DEFINE_integer("matmul_repeats", 3, "Timed matmuls (best kept) per dtype.")
flags.DEFINE_bool(
  "slower_precision",
  False,
  "Time --precision rows even where it runs slower than float32 (trainers.precision's probe: "
  "a CPU without its arithmetic, whose fallback kernels take hours at paper size).",
)
flags.DEFINE_bool("isolate", True, "Run each row in a child process.")
flags.DEFINE_integer("run_timeout", 7200, "Seconds before an isolated row is abandoned.")
flags.DEFINE_float(
  "max_first_call_secs",
  0,
  "Stop an isolated row whose first call (tracing, building, first step) takes longer; 0: none.",
)
flags.DEFINE_string("child_out", "", "Internal: run one row and write its JSON here.")
flags.DEFINE_string("child_progress", "", "Internal: the row's progress marks.")
FLAGS = flags.FLAGS

# Flags the parent sets itself on a row's command line ("config" only in its bare form).
PER_ROW_FLAGS = ("config", "models", "batch", "jit", "out", "child_out", "child_progress")


def run_one(config, batch_size, jit, precision, steps, warmup, progress=""):
  """Builds a Trainer and times its train call; returns the row's figures as a dict."""
  c = common.bench_config(config, batch_size, jit, precision)
  if jit:
    steps = min(steps, FLAGS.jit_max_steps)
  warmup = max(int(warmup), 1)  # the first call is always apart
  record = {
    "batch_size": int(batch_size),
    "jit": bool(jit),
    "precision": precision,
    "clip": [c.data.num_frames, c.data.height, c.data.width],
    "steps_per_call": int(c.train.steps_per_call),
    "d_steps": int(c.objective.d_steps),
    "grad_accum": int(c.train.grad_accum),
    "forms_policy": form_choice.policy(),
    "forms_cached": os.path.exists(form_choice.cache_path()),
    "forms_known_before": len(form_choice.cached_choices()),
    "load_before": host.load_average(),
    "rss_import_mib": IMPORT_RSS_MIB,
    "input": FLAGS.input,
  }
  with tempfile.TemporaryDirectory(prefix="bench_train_step_") as workdir:
    start = time.perf_counter()
    trainer = loop.Trainer(c, workdir)
    record["build_s"] = time.perf_counter() - start
    record["rss_built_mib"] = host.rss_mib()
    allocator_built = common.allocator_bytes()
    common.feed(trainer, FLAGS.input)
    train_call = trainer.train_call

    def call():  # fetching every output to numpy waits for the step to finish
      tf.nest.map_structure(lambda t: t.numpy(), train_call())

    host.mark(progress, "first_call")
    start = time.perf_counter()
    train_call.get_concrete_function()
    record["trace_s"] = time.perf_counter() - start
    if allocator_built is not None:
      tf.config.experimental.reset_memory_stats("CPU:0")
    kernel = host.kernel_use()
    start = time.perf_counter()
    call()
    record["first_run_s"] = time.perf_counter() - start
    record["first_run_kernel"] = host.kernel_use_since(kernel)
    record["first_call_s"] = record["trace_s"] + record["first_run_s"]
    # Forms measured while building and in the first call count in its time (once a machine).
    record["forms_measured"] = len(form_choice.cached_choices()) - record["forms_known_before"]
    host.mark(progress, "first_call_done")
    warm = host.time_callable(call, warmup=0, repeats=warmup - 1)["times"] if warmup > 1 else []
    cpu, kernel = time.process_time(), host.kernel_use()
    timing = host.time_callable(call, warmup=0, repeats=steps)
    cpu = time.process_time() - cpu
    record["call_kernel"] = host.kernel_use_since(kernel, calls=steps)
    record["peak_rss_mib"] = host.peak_rss_mib()
    allocator = common.allocator_bytes()
    record["steps_done"] = trainer.current_step()
    # Counted last: tracing the networks again must not add to the memory figures.
    try:
      step_flops = flops.check_counted(flops.trainer_step_flops(trainer))
    except flops.NotCounted as e:
      step_flops, record["flops_note"] = None, f"n/a: {e}"
    except (ValueError, TypeError) as e:
      step_flops, record["flops_note"] = None, f"n/a: the counter failed: {type(e).__name__}: {e}"
  n = record["steps_per_call"]
  per_step = {k: timing[k] / n for k in ("median", "best")}
  record.update(
    timed_calls=steps,
    warmup_calls=warmup,
    warmup_s=warm,
    call_s=timing["times"],
    s_per_step=per_step["median"],
    # What the first call costs beyond a step: tracing, graph building (and measuring
    # convolution forms when the cache lacks them), the cost the first-call goal is about.
    setup_s=record["first_call_s"] - per_step["median"] * n,
    best_s_per_step=per_step["best"],
    clips_per_s=batch_size / per_step["median"],
    input_clips_per_s=batch_size * record["d_steps"] / per_step["median"],
    cpu_util=cpu / sum(timing["times"]),
    step_mib=record["peak_rss_mib"] - IMPORT_RSS_MIB,
    allocator_mib=(
      None
      if allocator is None
      else {
        "after_build": allocator_built["current"] / 2**20,
        "peak_during_calls": allocator["peak"] / 2**20,
      }
    ),
    load_after=host.load_average(),
    step_gflop=None,
  )
  if step_flops is not None:
    gflop = step_flops["total"] / 1e9
    record.update(
      step_gflop=gflop,
      d_step_gflop=step_flops["d_step"] / 1e9,
      g_step_gflop=step_flops["g_step"] / 1e9,
      gflops=gflop / per_step["median"],
      best_gflops=gflop / per_step["best"],
      flop_terms_gflop={k: v / 1e9 for k, v in step_flops["terms"].items()},
    )
    if step_flops["estimated"]:
      record["flops_note"] = (
        f"{', '.join(step_flops['estimated'])}: 6 x the critic's forward FLOPs "
        "(bench/flops.py's estimate of a penalty's double backward pass)"
      )
  return record


def run_isolated(model, batch_size, jit):
  """`run_one` for one row in a child process; a failed row comes back as {"error": ...}."""
  with tempfile.TemporaryDirectory(prefix="bench_train_step_row_") as tmp:
    out, progress = os.path.join(tmp, "row.json"), os.path.join(tmp, "progress")
    row_args = [
      f"--config={model}",
      f"--batch={batch_size}",
      f"--jit={'on' if jit else 'off'}",
      f"--child_out={out}",
      f"--child_progress={progress}",
    ]
    argv = host.child_argv("bench.train_step", sys.argv[1:], PER_ROW_FLAGS, row_args)
    return host.run_child(
      argv,
      out,
      timeout=FLAGS.run_timeout,
      progress=progress,
      first_call_budget=FLAGS.max_first_call_secs,
    )


def measure_matmul():
  return {
    dtype.name: common.matmul_gflops(dtype, FLAGS.matmul_size, 1, FLAGS.matmul_repeats)
    for dtype in (tf.float32, tf.bfloat16)
  }


def _rows(config):
  """[(model, config)] of the rows' configs: --models, else --config."""
  if FLAGS.models and config is not None:
    raise app.UsageError("Expected --models or --config, received both.")
  if FLAGS.models:
    return [(name, config_files.load(name)) for name in FLAGS.models]
  if config is None:
    raise app.UsageError("Expected --config or --models, e.g. --models=vgan_two_stream.")
  return [(config_flags.get_config_filename(FLAGS["config"]), config)]


def slower_line(slower):
  """Why rows of a precision slower than float32 here are not run (`slower`:
  `trainers.precision.slower_than_float32`'s answer)."""
  dtype, ms, ms32 = slower
  return (
    f"not run: {dtype} runs slower than float32 on this machine (a 3D convolution took "
    f"{ms:.1f} ms against {ms32:.1f} ms), which has no {dtype} arithmetic: the rows would "
    "time TensorFlow's fallback kernels (--slower_precision times them)"
  )


def main(argv):
  del argv
  models = _rows(FLAGS.config)
  jits = {"both": [False, True], "on": [True], "off": [False]}[FLAGS.jit]
  if FLAGS.child_out:  # one row, for the parent
    (model, config), batch = models[0], int(FLAGS.batch[0])
    record = run_one(
      config, batch, jits[0], FLAGS.precision, FLAGS.steps, FLAGS.warmup, FLAGS.child_progress
    )
    with open(FLAGS.child_out, "w") as f:
      json.dump(record, f)
    return

  machine = common.describe_machine()
  print(f"machine: {common.machine_line(machine)}")
  matmul_before = measure_matmul()
  print(
    f"matmul {FLAGS.matmul_size}^2 before the rows: fp32 "
    f"{matmul_before['float32']['gflops']:.1f} GFLOP/s, bf16 "
    f"{matmul_before['bfloat16']['gflops']:.1f} GFLOP/s (best of {FLAGS.matmul_repeats})",
    flush=True,
  )
  slower = None if FLAGS.slower_precision else precision_lib.slower_than_float32(FLAGS.precision)
  if slower:
    print(f"{FLAGS.precision}: {slower_line(slower)}", flush=True)
  rows = []
  for model, config in models:
    measured = None  # the model's last row that ran: predicts a larger batch's memory
    for batch in sorted(int(b) for b in FLAGS.batch) or [int(config.train.batch_size)]:
      for jit in jits:
        too_big = host.memory_shortfall(measured, batch, host.available_mib())
        if slower:
          record = {"error": slower_line(slower), "skipped": True, "slower_precision": True}
        elif too_big:
          record = {"error": too_big, "skipped": True}
        elif FLAGS.isolate:
          record = run_isolated(model, batch, jit)
        else:
          try:
            record = run_one(config, batch, jit, FLAGS.precision, FLAGS.steps, FLAGS.warmup)
          except (tf.errors.OpError, RuntimeError, ValueError) as e:
            record = {"error": f"{type(e).__name__}: {e}"}
        record.update(model=model, batch_size=batch, jit=jit, precision=FLAGS.precision)
        rows.append(record)
        if not record.get("skipped"):
          measured = record
        what = f"{model} batch {batch} xla {'on' if jit else 'off'}"
        if "error" in record:
          ended = report.not_done(record).upper()
          print(f"{what}: {ended} {record['error'].splitlines()[0]}", flush=True)
        else:
          print(f"{what}: {record['s_per_step']:.3f} s/step", flush=True)
  matmul_after = measure_matmul()
  peak = {
    d: max(matmul_before[d]["gflops"], matmul_after[d]["gflops"]) for d in ("float32", "bfloat16")
  }
  for r in rows:
    if r.get("gflops") is not None:
      r["ratio_fp32_matmul"] = r["gflops"] / peak["float32"]
      r["ratio_bf16_matmul"] = r["gflops"] / peak["bfloat16"]
  machine["load_average_end"] = host.load_average()

  print()
  print(
    f"precision {FLAGS.precision}; analytic FLOPs: exact convention (bench/flops.py); "
    f"ratios to the better fp32 matmul of this run, {peak['float32']:.1f} GFLOP/s (before "
    f"{matmul_before['float32']['gflops']:.1f}, after {matmul_after['float32']['gflops']:.1f}; "
    f"bf16 {peak['bfloat16']:.1f})"
  )
  print(report.step_table(rows, peak["float32"]))
  for line in report.step_notes(rows):
    print(line)
  done = [r for r in rows if "error" not in r]
  allocator = not done or any(r.get("allocator_mib") for r in done)
  print(
    f"load average: start {machine['load_average']}, end {machine['load_average_end']}. "
    "1st call: tracing + graph building + first step (build s: the trainer, apart; setup s: "
    "the 1st call less one step). "
    "Memory in MiB: peak RSS of the row's process"
    + ("" if FLAGS.isolate else " (one process: cumulative over rows)")
    + "; step MiB = peak RSS - RSS after importing TF, Keras and the zoo; TF alloc = peak of "
    + (
      "TensorFlow's CPU allocator during the calls"
      if allocator
      else "TensorFlow's CPU allocator: not reported on this machine (n/a)"
    )
  )
  if FLAGS.out:
    summary = {
      "precision": FLAGS.precision,
      "machine": machine,
      "matmul": {"before": matmul_before, "after": matmul_after, "peak_gflops": peak},
      "flop_convention": "exact (bench/flops.py)",
      "isolated": FLAGS.isolate,
      "runs": rows,
    }
    with open(FLAGS.out, "w") as f:
      json.dump(summary, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
