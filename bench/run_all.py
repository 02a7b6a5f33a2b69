r"""Regenerates bench/RESULTS.md: every speed figure of the project, with the machine it ran on.

    python -m bench.run_all            # hours on 2 CPU cores: every family at paper size
    python -m bench.run_all --models=vgan_two_stream,relive_wgan --batch=8 --precisions=float32
    python -m bench.run_all --quick    # minutes: tiny sizes, checks that every part runs

Runs, each script in its own processes (each training row, PyTorch variant and FVD size in a
child of its own, so that each peak RSS is its own), one after the other:

* bench/train_step.py for every family at paper size (`MODELS`: the VGAN GANs, (Re)live's
  WGAN-GP critic with its 5 critic steps and gradient penalty, Egan's 3D DCGAN / ResNet /
  SPADE, Radner's style-based GAN with D_S and D_T, DVD-GAN-S, (Re)live's three next-frame
  predictors), each config's own objective, at `--batch` and `--precisions` (bf16 for the
  VGAN GANs only unless --models names the rows), XLA off: s/step,
  clips/s, analytic GFLOP/step ("n/a" where bench/flops.py cannot count it), the ratio to the
  fp32 matmul measured in the same run, the first call, peak RSS, the step's own memory
  (peak RSS minus the RSS after imports) and TensorFlow's allocator peak; a row whose first
  call runs over `--max_first_call_secs` is stopped and reported so;
* bench/plain_step.py: the two-stream step without the loop (the floor to beat);
* bench/torch_step.py (when PyTorch is installed: `pip install torch==2.13.0`): the same
  two-stream step in PyTorch eager, in processes that never import TensorFlow:
  channels_last_3d (the headline), the default layout, and autocast bf16; its GFLOP/s over
  TensorFlow's fp32 matmul of this run and over PyTorch's own;
* scaling: step time against batch (`SCALE_MODELS` at 8, 16, 32) and frame size (the
  configs' 64 and 128 pixel variants); FVD's time and memory against the number of
  clips (bench/fvd.py --num_clips=256,1024,2048); input frames/s at 128x128 and 256x256
  (bench/input_pipeline.py) against the frames the training steps of that size consume;
* bench/fvd.py: clips/s of 16x224x224 clips through the Keras I3D at batch 8;
* bench/input_pipeline.py at 32x64x64; bench/convert.py on 10, 60 and 300 s of 1080p.

The table names the machine (CPU model name, vendor, family, model and stepping, its SIMD and
AMX flags, cores, load average before and after), the date, the Python / TensorFlow / Keras /
PyTorch versions, and states each speed target next to what was measured. Run it on an
otherwise idle machine. `--quick` runs every part at tiny sizes (smoke configs, a few clips)
and writes to a temporary file unless --out is given: its figures measure nothing.

Each part's figures are kept in OUT.partial.json as it finishes (`host.KeptResults`): a run
stopped or killed after hours, run again with the same --out on the same machine and
commit, takes the parts already measured and measures the rest (the report lists the parts
it took and when they ran); --noresume measures everything again.
"""

import dataclasses
import datetime
import importlib.util
import json
import os
import tempfile

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import common
from bench import host
from bench import report

VGAN_MODELS = ("vgan_one_stream", "vgan_two_stream", "vgan_image_to_video")
MODELS = VGAN_MODELS + (
  "relive_wgan",
  "egan_dcgan_video",
  "egan_resnet_video",
  "egan_spade_video",
  "radner_style",
  "dvdgan_s",
  "relive_lstm",
  "relive_convlstm",
  "relive_cnn_next_frame",
)
SCALE_MODELS = ("vgan_two_stream", "relive_wgan", "radner_style", "dvdgan_s")
# Frame size: each config's variants at 64 (BAIR) and 128 (landscape) pixels. The 256-pixel
# variants exist too, but one paper-size step of them takes minutes on a 2-core CPU (16x the
# 64-pixel work): run them with --models when the machine has the time.
SIZE_MODELS = (
  "radner_style",
  "radner_style:resolution=128",
  "dvdgan_s",
  "dvdgan_s:resolution=128",
)

flags.DEFINE_bool("quick", False, "Tiny sizes: checks that every part runs; measures nothing.")
flags.DEFINE_list("models", [], "Training-step rows (config names); empty: MODELS (quick: smoke).")
flags.DEFINE_list("batch", [], "Training-step batch sizes; empty: 8,16 (quick: 2).")
flags.DEFINE_list("precisions", [], "runtime.precision of the rows; empty: fp32 and bf16.")
flags.DEFINE_integer("steps", 0, "Timed calls per row; 0: 3 (quick: 1).")
flags.DEFINE_float("max_first_call_secs", 0, "Per row; 0: 1800 s (quick: 120 s).")
flags.DEFINE_bool("scaling", True, "Run the scaling section.")
flags.DEFINE_string("out", "", "Markdown path; empty: bench/RESULTS.md (quick: a temp file).")
flags.DEFINE_string("json", "", "Also write every raw figure as JSON here.")
flags.DEFINE_bool(
  "resume",
  True,
  "Take the parts an interrupted run with the same --out measured on this machine and commit "
  "(OUT.partial.json); --noresume measures everything again.",
)
FLAGS = flags.FLAGS


@dataclasses.dataclass
class Plan:
  """What one run measures (`FULL` or `QUICK`, then the flags)."""

  models: tuple
  batches: tuple
  precisions: tuple
  half_models: tuple  # the models also measured in mixed_bfloat16 (empty: all of them)
  steps: int
  max_first_call_secs: float
  scale_models: tuple
  scale_batches: tuple
  size_models: tuple
  size_batch: int
  matmul_size: int
  torch_config: str
  fvd_clips: tuple
  fvd_args: tuple  # bench/fvd.py's scaling flags
  i3d_args: tuple  # bench/fvd.py's throughput flags
  input_sizes: tuple
  input_args: tuple  # bench/input_pipeline.py's flags at every size
  convert_args: tuple


FULL = Plan(
  models=MODELS,
  batches=(8, 16),
  precisions=("float32", "mixed_bfloat16"),
  # The bf16 target (>= 1.7x fp32) is the VGAN steps'; the other families in fp32 only.
  half_models=VGAN_MODELS,
  steps=3,
  max_first_call_secs=1800,
  scale_models=SCALE_MODELS,
  scale_batches=(8, 16, 32),
  size_models=SIZE_MODELS,
  size_batch=8,
  matmul_size=4096,
  torch_config="vgan_two_stream",
  fvd_clips=(256, 1024, 2048),
  fvd_args=(),
  i3d_args=("--batch_size=8", "--batches=3"),
  input_sizes=(128, 256),
  input_args=("--num_frames=32", "--formats=jpeg,jpeg_mosaic"),
  convert_args=(),
)
QUICK = Plan(
  models=(
    "vgan_two_stream:smoke",
    "relive_wgan:smoke",
    "egan_dcgan_video:smoke",
    "radner_style:smoke",
    "relive_lstm:smoke",
  ),
  batches=(2,),
  precisions=("float32",),
  half_models=(),
  steps=1,
  max_first_call_secs=120,
  scale_models=("vgan_two_stream:smoke",),
  scale_batches=(2, 4),
  size_models=(),
  size_batch=2,
  matmul_size=512,
  torch_config="vgan_two_stream:smoke",
  fvd_clips=(16, 32),
  fvd_args=("--size=64", "--num_frames=8", "--clip_size=32"),
  i3d_args=("--batch_size=2", "--batches=1", "--size=64", "--num_frames=8"),
  input_sizes=(128,),
  input_args=(
    "--num_frames=4",
    "--formats=jpeg",
    "--write_clips=8",
    "--clips=16",
    "--rounds=1",
    "--batch_size=4",
    "--warmup=1",
  ),
  convert_args=("--lengths=2,3", "--resolutions=144"),
)


def plan_from_flags():
  """`FULL` or `QUICK`, with the fields the flags set."""
  plan = QUICK if FLAGS.quick else FULL
  return dataclasses.replace(
    plan,
    models=tuple(FLAGS.models) or plan.models,
    batches=tuple(int(b) for b in FLAGS.batch) or plan.batches,
    precisions=tuple(FLAGS.precisions) or plan.precisions,
    half_models=() if FLAGS.models else plan.half_models,
    steps=FLAGS.steps or plan.steps,
    max_first_call_secs=FLAGS.max_first_call_secs or plan.max_first_call_secs,
  )


def train_steps(kept, plan, models, batches, precision):
  """{(model, batch, precision): row} of one bench/train_step.py run, with its matmuls."""
  result = kept.run(
    "train_step",
    [
      f"--models={','.join(models)}",
      f"--batch={','.join(str(b) for b in batches)}",
      "--jit=off",
      f"--precision={precision}",
      f"--steps={plan.steps}",
      "--warmup=1",
      f"--matmul_size={plan.matmul_size}",
      f"--max_first_call_secs={plan.max_first_call_secs:g}",
    ],
    f"training steps, {precision}, {', '.join(models)}, batch {batches}",
  )
  rows = {}
  for model in models:
    for batch in batches:
      error = result.get("error", "no row")
      rows[(model, batch, precision)] = {"error": error, "batch_size": batch}
  for r in result.get("runs", []):
    rows[(r["model"], r["batch_size"], precision)] = r
  return rows, result.get("matmul", {}).get("peak_gflops", {})


def main(argv):
  del argv
  plan = plan_from_flags()
  out_path = FLAGS.out or (
    os.path.join(tempfile.gettempdir(), "videogan_bench_quick.md")
    if FLAGS.quick
    else os.path.join(ROOT, "bench", "RESULTS.md")
  )
  start = common.describe_machine()
  print(f"[run_all] machine: {common.machine_line(start)}", flush=True)
  kept = host.KeptResults(out_path, start, FLAGS.resume)
  rows, tf_peaks = {}, []

  def add(models, batches, precision):  # one bench/train_step.py run per set of missing batches
    groups = {}
    for m in models:
      for b in batches:  # a larger batch that a smaller one says would not fit or fail
        smaller = [
          r
          for (m2, b2, p2), r in rows.items()
          if (m2, p2) == (m, precision) and b2 < b and not r.get("skipped")
        ]
        reason = smaller and host.memory_shortfall(
          max(smaller, key=lambda r: r["batch_size"]), b, host.available_mib()
        )
        if reason and (m, b, precision) not in rows:
          rows[(m, b, precision)] = {"error": reason, "skipped": True, "batch_size": b}
      missing = tuple(b for b in batches if (m, b, precision) not in rows)
      if missing:
        groups.setdefault(missing, []).append(m)
    for missing, todo in groups.items():
      got, peak = train_steps(kept, plan, todo, missing, precision)
      rows.update(got)
      tf_peaks.append(peak)

  for precision in plan.precisions:
    half = precision != "float32" and plan.half_models
    add([m for m in plan.models if not half or m in half], plan.batches, precision)
  if FLAGS.scaling:
    add(plan.scale_models, plan.scale_batches, "float32")
    if plan.size_models:
      add(plan.size_models, (plan.size_batch,), "float32")
  tf_peak = {
    k: max((p.get(k, 0.0) for p in tf_peaks), default=0.0) or None for k in ("float32", "bfloat16")
  }

  plain = kept.run(
    "plain_step",
    [f"--config={plan.torch_config}", f"--batch_size={plan.batches[0]}", f"--steps={plan.steps}"],
    "plain step (no loop)",
  )
  torch_results, torch_version = {}, None
  if importlib.util.find_spec("torch") is None:
    print(
      "[run_all] PyTorch is not installed (pip install torch==2.13.0): skipping the PyTorch "
      "reference (bench/torch_step.py).",
      flush=True,
    )
  else:
    for batch in plan.batches:
      torch_results[batch] = kept.run(
        "torch_step",
        [
          f"--config={plan.torch_config}",
          f"--batch_size={batch}",
          f"--steps={plan.steps}",
          "--warmup=1",
          f"--matmul_size={plan.matmul_size}",
        ],
        f"PyTorch reference batch {batch} (no TensorFlow in its processes)",
      )
    done = [r for r in torch_results.values() if "torch" in r]
    torch_version = done[0]["torch"] if done else None
  torch_peak = {
    k: max(
      (r["torch_matmul"]["peak_gflops"][k] for r in torch_results.values() if "torch" in r),
      default=None,
    )
    for k in ("float32", "bfloat16")
  }

  fvd_scaling, inputs = {}, {}
  if FLAGS.scaling:
    fvd_scaling = kept.run(
      "fvd",
      [f"--num_clips={','.join(str(n) for n in plan.fvd_clips)}", *plan.fvd_args],
      "FVD against the number of clips",
    )
    for size in plan.input_sizes:
      inputs[size] = kept.run(
        "input_pipeline", [f"--size={size}", *plan.input_args], f"input at {size}x{size}"
      )
  fvd = kept.run("fvd", list(plan.i3d_args), "Keras I3D throughput")
  pipeline_args = list(plan.input_args) if FLAGS.quick else []
  pipeline = kept.run("input_pipeline", pipeline_args, "input pipeline")
  convert = kept.run("convert", list(plan.convert_args), "converter")
  end = common.describe_machine()

  lines = report.header(
    start, end, tf_peak, torch_peak, torch_version, plan.matmul_size, FLAGS.quick
  )
  lines += kept.note()
  lines += ["", "## Targets", "", *report.targets(rows, fvd, pipeline, VGAN_MODELS), ""]
  lines += ["## Training steps", "", *report.train_table(rows), "", *report.train_notes(rows)]
  lines += [
    "- 1st call: tracing, graph building (measuring convolution forms when this machine's "
    "cache lacks them) and the first step, timed apart from the steps; setup: the first call "
    "less one median step (tracing and building alone); step MiB: peak RSS "
    "minus the RSS after importing TensorFlow, Keras and the zoo; TF alloc peak: "
    "TensorFlow's CPU allocator during the calls (the tensors alone).",
    "",
    "## PyTorch reference",
    "",
  ]
  if torch_results:
    lines += [
      f"The two-stream step of {plan.torch_config} in PyTorch {torch_version} eager "
      "(bench/torch_step.py), in processes that never import TensorFlow; GFLOP counted from "
      "the step with bench/flops.py's convention; '/ TF fp32 matmul' is over TensorFlow's "
      "best fp32 matmul of this run, as the training rows; step MiB: peak RSS minus the RSS "
      "after importing PyTorch.",
      "",
      *report.torch_table(torch_results, tf_peak["float32"]),
    ]
  else:
    lines.append("Skipped: PyTorch is not installed (`pip install torch==2.13.0`).")
  lines += [
    "",
    "The floor (bench/plain_step.py): the same networks and losses in one plain tf.function "
    "with two Adam optimizers, no strategy, input pipeline or EMA:",
    "",
    (
      f"- {plan.torch_config}, batch {plan.batches[0]}, fp32: {plain['s_per_step']:.3g} "
      f"s/step, {plain['gflops']:.1f} GFLOP/s = {plain['ratio_fp32_matmul']:.0%} of its run's "
      f"fp32 matmul, peak RSS {plain['peak_rss_mib']:.0f} MiB"
      if "gflops" in plain
      else f"- plain step failed: {report.first_line(plain.get('error', ''))}"
    ),
  ]
  if FLAGS.scaling:
    lines += [
      "",
      "## How cost grows",
      "",
      "### Step time against batch (fp32)",
      "",
      *report.batch_table(rows, plan.scale_models, plan.scale_batches),
      "",
      "### Step time against frame size (fp32)",
      "",
      *(
        report.size_table(rows, plan.size_models, plan.size_batch)
        if plan.size_models
        else ["Not run (the quick run's smoke configs have one size)."]
      ),
      "",
      "### FVD against the number of clips",
      "",
      *report.fvd_table(fvd_scaling),
      "",
      "### Input against what the step consumes",
      "",
      "Frames/s leaving `make_dataset` (bench/input_pipeline.py) against the real frames the "
      "fp32 training rows of the same frame size read (batch x d_steps x T per generator "
      "step):",
      "",
      *report.input_table(inputs, rows),
    ]
  lines += ["", "## Evaluation and input", "", "| what | figure |", "|---|---|"]
  if "clips_per_s" in fvd:
    lines.append(
      f"| Keras I3D (random weights: throughput only), "
      f"{'x'.join(str(x) for x in fvd['clip'][:3])}, batch {fvd['batch_size']} | "
      f"{fvd['clips_per_s']:.2f} clips/s; {fvd['gflop_per_batch']:.1f} GFLOP per batch at "
      f"{fvd['gflops']:.1f} GFLOP/s = {fvd['gflops'] / fvd['fp32_matmul_gflops']:.0%} of its "
      "run's fp32 matmul |"
    )
  else:
    lines.append(f"| Keras I3D | failed: {report.first_line(fvd.get('error', ''))} |")
  clip = "x".join(str(x) for x in pipeline.get("clip", [])[:3])
  for source, rate in pipeline.get("clips_per_s", {}).items():
    lines.append(f"| input pipeline, {clip}, {source} | {rate:.0f} clips/s |")
  if "error" in pipeline:
    lines.append(f"| input pipeline | failed: {report.first_line(pipeline['error'])} |")
  for run in convert.get("runs", []):
    if "clips_per_s" in run:
      lines.append(
        f"| converter, {run['height']}p video of {run['video_seconds']:g} s, default "
        f"options | {run['clips_per_s']:.2f} clips/s (peak RSS {run['peak_rss_mib']:.0f} MiB, "
        f"{run['ratio_to_shortest']:.2f}x the shortest's) |"
      )
  if "error" in convert:
    lines.append(f"| converter | failed: {report.first_line(convert['error'])} |")
  host.write_atomically(out_path, "\n".join(lines) + "\n")
  kept.remove()
  print("\n".join(lines))
  print(f"[run_all] wrote {out_path}")
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump(
        {
          "plan": dataclasses.asdict(plan),
          "machine_start": start,
          "machine_end": end,
          "train": {f"{m} b{b} {p}": r for (m, b, p), r in rows.items()},
          "torch_step": {f"b{b}": r for b, r in torch_results.items()},
          "plain_step": plain,
          "fvd_scaling": fvd_scaling,
          "input_scaling": {str(s): r for s, r in inputs.items()},
          "fvd": fvd,
          "input": pipeline,
          "convert": convert,
          "date": datetime.datetime.now().isoformat(timespec="seconds"),
        },
        f,
        indent=1,
      )


if __name__ == "__main__":
  app.run(main)
