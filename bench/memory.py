r"""Where the peak resident memory of a GAN training step goes: measured RSS vs an analytic floor.

    python -m bench.memory --config=vgan_two_stream --batch_size=8
    python -m bench.memory --config=vgan_two_stream:smoke --batch_size=2 --steps=1

Builds `trainers.loop.Trainer` as bench/train_step.py does (XLA off, nothing written: the real
step) and prints, in MiB (2^20 bytes; the 1.2 GB target is 1200e6 bytes = 1144 MiB):

1. import: current RSS after `import tensorflow, keras` and bench.common (~2 MiB of the zoo),
   before any network, graph or tensor exists.
2. state: current RSS after building the trainer (task, networks, optimizers with their
   slots, EMA copy, input pipeline, checkpoint objects) and its increase over (1); next to
   it the analytic bytes of what the trainer holds, from its variables: the weights of G
   and of each D (trainable and BN statistics) x their dtype size, the optimizer slots
   (Adam/AdamW: 2 per trainable weight, RMSprop: 1), the EMA copy of G when
   `train.ema_decay` > 0, and their sum.
3. step: current RSS after tracing the train call (graph built, nothing run), after the
   first call (kernels and oneDNN primitives created, allocator grown) and after `--steps`
   more calls; the peak RSS (ru_maxrss: the process's high-water mark); and the peak of the
   bytes TensorFlow's CPU allocator handed out during the calls
   (`tf.config.experimental.get_memory_info`): the tensors themselves, without the
   libraries, graphs, kernel caches and allocator slack that RSS also holds. Then the RSS
   by kind of mapping after the imports, the build and the calls (`host.mapping_rss_mib`):
   large anonymous mappings (TensorFlow's allocator regions, which it keeps: their touched
   pages stay resident), malloc's `[heap]`, the libraries, the rest.
4. activations: what the backward passes must keep, from the output shapes of every call of
   a conv / dense layer (bench/flops.py `trace_costs`, the step's own shapes) x the compute
   dtype size (the float32 heads of a mixed-precision G are counted at the compute size):
     D step: for each D, 2 passes (real, fake) x (its conv/dense outputs + its input clip,
             which its first conv keeps for its weight gradient); G's forward is not kept
             (the fake is stop_gradient'ed);
     G step: G's conv/dense outputs + for each D, its conv/dense outputs + its input clip.
   Counted "x1": each conv/dense output once (a lower bound). Counted "x3": plus one copy
   each for the BN and activation outputs that follow a conv in a VGAN block (ReLU's
   gradient reads its output, so a G block keeps 2 copies; a D block with BN and LeakyReLU,
   whose gradient reads its input, keeps 3). Not counted: biases added before BN, the
   two-stream composition and losses (elementwise, O(clip)), oneDNN scratch buffers and
   reordered weights, the gradients flowing backwards (about two layer outputs at a time).
   Gradients: one per trainable weight of the networks the step differentiates (D in the D
   step, G in the G step) at the weights' dtype size.
5. floor = import + state + max over the two steps of (activations + gradients): the steps
   run one after the other, so the peak cannot be below the larger one (it can reach their
   sum if TF's executor overlaps them). Printed for x1 and x3, against the measured peak RSS
   and the 1.2 GB target.

`--out` writes every figure as JSON with the machine description. RSS does not depend on the
machine's load; the run (1 + `--steps` train calls, about a minute at batch 8 on 2 cores)
does disturb timings made beside it.
"""

import json
import os
import tempfile

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

from bench import common
from bench import host

# Read before the trainers, networks and bench modules below are imported: the stack alone.
IMPORT_RSS_MIB = host.rss_mib()
IMPORT_MAPPINGS_MIB = host.mapping_rss_mib()

from bench import flops
from bench import memory_budget as budget
from bench import train_step  # noqa: F401  (defines the shared flags)
from trainers import loop
from trainers import memory_limit

# --config, --steps, --precision, --input and --out are bench/train_step.py's flags.
flags.DEFINE_integer("batch_size", 8, "Global batch size.")
FLAGS = flags.FLAGS


def measure(config, batch_size, precision, steps, source="pipeline"):
  """Builds the trainer, runs 1 + `steps` train calls on `source` (`common.INPUTS`) and
  returns every figure as a dict."""
  cfg = common.bench_config(config, batch_size, False, precision)
  rss = {"import": IMPORT_RSS_MIB}
  with tempfile.TemporaryDirectory(prefix="bench_memory_") as workdir:
    trainer = loop.Trainer(cfg, workdir)
    common.feed(trainer, source)
    rss["state"] = host.rss_mib()
    mappings = {"import": IMPORT_MAPPINGS_MIB, "state": host.mapping_rss_mib()}
    state = budget.state_bytes(trainer)
    allocator_state = common.allocator_bytes()
    train_call = trainer.train_call
    train_call.get_concrete_function()
    rss["traced"] = host.rss_mib()
    if allocator_state is not None:
      tf.config.experimental.reset_memory_stats("CPU:0")
    fetch = lambda: tf.nest.map_structure(lambda t: t.numpy(), train_call())
    fetch()
    rss["first_call"] = host.rss_mib()
    for _ in range(steps):
      fetch()
    rss["after_calls"] = host.rss_mib()
    mappings["after_calls"] = host.mapping_rss_mib()
    rss["peak"] = host.peak_rss_mib()
    allocator_step = common.allocator_bytes()
    try:
      acts = budget.activation_bytes(trainer)
    except flops.NotCounted as e:  # the measured figures stand; no analytic floor
      acts, floor_note = None, f"n/a: {e}"
  floor = {}
  for c in ("x1", "x3") if acts else ():
    step = max(("d_step", "g_step"), key=lambda s, c=c: acts[s][c] + acts[s]["gradients"])
    floor[c] = {
      "step": step,
      "bytes": (
        IMPORT_RSS_MIB * budget.MIB + state["total"] + acts[step][c] + acts[step]["gradients"]
      ),
    }
  return {
    "batch_size": int(batch_size),
    "precision": precision,
    "calls": 1 + steps,
    "input": source,
    "steps_per_call": int(cfg.train.steps_per_call),
    "rss_mib": rss,
    "mappings_mib": mappings,
    "state": state,
    "allocator_after_build": allocator_state,
    "allocator_during_calls": allocator_step,
    "system_allocator": memory_limit.system_allocator(),
    "activations": acts,
    "floor": floor,
    "floor_note": None if acts else floor_note,
    "target_bytes": budget.TARGET_BYTES,
  }


def report_lines(r):
  """The figures of `measure` as printable lines, MiB throughout."""
  mib = lambda b: b / budget.MIB
  rss, state, acts = r["rss_mib"], r["state"], r["activations"]
  sizes = state["bytes"]
  held = " + ".join(
    f"{n} {count:,} weights {mib(sizes[n]):.1f}" for n, count in state["params"].items()
  )
  lines = [
    f"1. import tensorflow, keras: RSS {rss['import']:.0f} MiB",
    f"2. trainer built: RSS {rss['state']:.0f} MiB (+{rss['state'] - rss['import']:.0f}); "
    f"analytic state {mib(state['total']):.1f} MiB = {held} + optimizer slots "
    f"{mib(sizes['optimizer_slots']):.1f} + EMA {mib(sizes['ema']):.1f}",
  ]
  alloc = r["allocator_after_build"]
  if alloc is not None:
    lines.append(f"   TF CPU allocator in use after the build: {mib(alloc['current']):.1f} MiB")
  lines.append(
    f"3. step: RSS after tracing {rss['traced']:.0f} MiB (+{rss['traced'] - rss['state']:.0f}), "
    f"after the first call {rss['first_call']:.0f} (+{rss['first_call'] - rss['traced']:.0f}), "
    f"after {r['calls']} calls {rss['after_calls']:.0f}; peak RSS {rss['peak']:.0f} MiB"
  )
  alloc = r["allocator_during_calls"]
  if alloc is not None:
    lines.append(
      f"   TF CPU allocator during the calls: peak {mib(alloc['peak']):.1f} MiB, "
      f"in use after {mib(alloc['current']):.1f} MiB"
    )
  else:
    lines.append(
      "   TF CPU allocator: not counted ("
      + (
        "TF_ONEDNN_USE_SYSTEM_ALLOCATOR: malloc holds the tensors and keeps no count"
        if r.get("system_allocator")
        else "TensorFlow reports no bytes for it here"
      )
      + ")"
    )
  lines += host.mapping_lines(r.get("mappings_mib") or {})
  if acts is None:
    lines.append(f"4.-5. activations and the analytic floor: {r['floor_note']}")
    return lines
  per = ", ".join(f"{n} {v / 1e6:.2f}M" for n, v in acts["per_network"].items())
  lines.append(f"4. activations (conv/dense output elements per forward pass: {per}):")
  for s in ("d_step", "g_step"):
    a = acts[s]
    lines.append(
      f"   {s}: x1 {mib(a['x1']):.1f} MiB, x3 {mib(a['x3']):.1f} MiB; gradients "
      f"{mib(a['gradients']):.1f} MiB"
    )
  target = r["target_bytes"] / budget.MIB
  for c in ("x1", "x3"):
    step, floor = r["floor"][c]["step"], mib(r["floor"][c]["bytes"])
    lines.append(
      f"5. floor ({c}) = import {rss['import']:.0f} + state {mib(state['total']):.0f} + "
      f"activations {mib(acts[step][c]):.0f} + gradients {mib(acts[step]['gradients']):.0f} "
      f"({step}) = {floor:.0f} MiB; measured peak {rss['peak']:.0f} MiB = "
      f"{rss['peak'] / floor:.2f}x the floor; target 1.2 GB = {target:.0f} MiB: floor "
      f"{'under' if floor <= target else 'OVER'} it by {abs(target - floor):.0f} MiB"
    )
  return lines


def main(argv):
  del argv
  config = FLAGS.config
  if config is None:
    raise app.UsageError("--config is required, e.g. --config=vgan_two_stream")
  machine = common.describe_machine()
  record = measure(config, FLAGS.batch_size, FLAGS.precision, FLAGS.steps, FLAGS.input)
  record["config"] = config_flags.get_config_filename(FLAGS["config"])
  record["machine"] = machine
  print("machine:", common.machine_line(machine))
  print(
    f"{record['config']}, batch {record['batch_size']}, {record['precision']}, "
    f"{record['calls']} train calls of {record['steps_per_call']} step(s), input "
    f"{record['input']}; MiB = 2^20 B"
  )
  print("\n".join(report_lines(record)))
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)
    print(f"wrote {FLAGS.out}")


if __name__ == "__main__":
  app.run(main)
