r"""Regenerates bench/RESULTS.md: every speed figure of the project, in one table.

    python -m bench.run_all            # ~30 minutes on 2 CPU cores: every VGAN GAN model
    python -m bench.run_all --quick    # ~10 minutes: vgan_two_stream only

Runs, each in its own process (so that each peak RSS is its own), one after the other:

* bench/train_step.py for every VGAN GAN model at paper size (32x64x64; vgan_one_stream,
  vgan_two_stream, vgan_image_to_video; `--quick`: vgan_two_stream), batch 8 and 16, fp32
  and mixed_bfloat16, XLA off: seconds per step, clips/s, analytic GFLOP/s, its ratio to the
  fp32 matmul GFLOP/s measured in the same run, the bf16 speed-up and the peak RSS;
* bench/plain_step.py: the same two-stream step without the loop (the floor to beat);
* bench/torch_step.py: the same two-stream step in PyTorch eager (the reference step), fp32,
  batch 8 and 16, when PyTorch is installed (`pip install -e '.[bench]'`), else skipped;
* bench/fvd.py: clips/s of 16x224x224 clips through the Keras I3D at batch 8;
* bench/input_pipeline.py: clips/s of 32x64x64 clips from JPEG (one per frame), JPEG mosaic
  (one per clip) and PNG TFRecords and from the synthetic source;
* bench/convert.py: the TFRecord converter's clips/s and peak RSS on 10, 60 and 300 s of
  generated 1080p video.

The table names the machine (CPU, cores, SIMD flags, load average before and after), the
Python / TensorFlow / Keras versions and the date, and states each speed target next to
what was measured. The machine must be otherwise idle: the load averages are printed so that
a reader can tell.
"""

import datetime
import importlib.util
import json
import os
import subprocess
import sys
import tempfile

from absl import app
from absl import flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from bench import common

flags.DEFINE_bool("quick", False, "Only vgan_two_stream in the training-step rows.")
flags.DEFINE_list(
  "configs",
  [],
  "Config names (configs/NAME.py) for the training-step rows; "
  "empty: every VGAN GAN model (or vgan_two_stream with --quick).",
)
flags.DEFINE_list("batch_sizes", ["8", "16"], "Training-step batch sizes.")
flags.DEFINE_integer("steps", 3, "Timed training calls per setting.")
flags.DEFINE_string("out", os.path.join(ROOT, "bench", "RESULTS.md"), "Markdown table path.")
flags.DEFINE_string("json", "", "Also write every raw figure as JSON here.")
FLAGS = flags.FLAGS

GAN_CONFIGS = ("vgan_one_stream", "vgan_two_stream", "vgan_image_to_video")
PRECISIONS = ("float32", "mixed_bfloat16")

# The speed targets (docs/benchmarks.md), checked in the table.
TARGET_FP32_RATIO = 0.85
TARGET_BF16_SPEEDUP = 1.7
TARGET_RSS_MB = 1200.0  # "1.2 GB" at batch 8, vgan_two_stream (1 MiB = 1.048576 MB)
TARGET_I3D_CLIPS = 4.5
TARGET_INPUT_CLIPS = 1000.0


def _run(script, args, label):
  """Runs `python -m bench.<script>` with args and --out=JSON; returns the JSON, or
  {"error": ...}."""
  with tempfile.TemporaryDirectory(prefix="bench_run_all_") as tmp:
    out = os.path.join(tmp, "out.json")
    cmd = [sys.executable, "-m", f"bench.{script}", *args, f"--out={out}"]
    print(f"[run_all] {label}: {' '.join(cmd[1:])}", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
    if proc.returncode or not os.path.exists(out):
      tail = "\n".join((proc.stderr or "").strip().splitlines()[-10:])
      print(f"[run_all] {label} FAILED (exit {proc.returncode}):\n{tail}", flush=True)
      return {"error": f"exit {proc.returncode}: {tail.splitlines()[-1] if tail else ''}"}
    with open(out) as f:
      return json.load(f)


def _mark(ok):
  return "yes" if ok else "**no**"


def train_rows(results):
  """Markdown rows of the training-step runs, with the bf16 speed-up per (config, batch)."""
  rows = [
    "| model | batch | precision | s/step | clips/s | GFLOP/step | GFLOP/s | "
    "/ fp32 matmul | bf16 speed-up | peak RSS MiB |",
    "|---|---|---|---|---|---|---|---|---|---|",
  ]
  for (name, batch), by_precision in results.items():
    fp32 = by_precision.get("float32", {})
    for precision, report in by_precision.items():
      run = (report.get("runs") or [{}])[0] if "error" not in report else report
      if "error" in run:
        rows.append(f"| {name} | {batch} | {precision} | failed: {run['error'][:80]} | | | | | | |")
        continue
      speedup = ""
      base = (fp32.get("runs") or [{}])[0] if "error" not in fp32 else {}
      if precision != "float32" and "s_per_step" in base:
        speedup = f"{base['s_per_step'] / run['s_per_step']:.2f}x"
      rows.append(
        f"| {name} | {batch} | {precision} | {run['s_per_step']:.2f} | "
        f"{run['clips_per_s']:.2f} | {run['step_gflop']:.1f} | {run['gflops']:.1f} | "
        f"{run['ratio_fp32_matmul']:.0%} | {speedup} | {run['peak_rss_mib']:.0f} |"
      )
  return rows


def torch_rows(torch_results):
  """Rows of the PyTorch eager reference in the training-step table's columns."""
  rows = []
  for batch, run in torch_results.items():
    name = "PyTorch eager reference (vgan_two_stream)"
    if "error" in run:
      rows.append(f"| {name} | {batch} | float32 | failed: {run['error'][:80]} | | | | | | |")
      continue
    rows.append(
      f"| {name} | {batch} | float32 | {run['s_per_step']:.2f} | {run['clips_per_s']:.2f} | "
      f"{run['step_gflop']:.1f} | {run['gflops']:.1f} | {run['ratio_fp32_matmul']:.0%} | | "
      f"{run['peak_rss_mib']:.0f} |"
    )
  return rows


def torch_note(torch_results):
  """The line under the table: what the PyTorch rows are, their ratio to torch's own matmul."""
  if not torch_results:
    return (
      "The PyTorch eager reference (bench/torch_step.py) was skipped: PyTorch is not "
      "installed (`pip install -e '.[bench]'`)."
    )
  ratios = ", ".join(
    f"batch {b}: {r['ratio_torch_matmul']:.0%} of its run's torch.matmul "
    f"({r['torch_matmul_gflops']:.0f} GFLOP/s)"
    for b, r in torch_results.items()
    if "ratio_torch_matmul" in r
  )
  return (
    "PyTorch eager reference (bench/torch_step.py): the same two-stream step, networks "
    "and FLOP count in PyTorch eager with two torch.optim.Adam; their '/ fp32 matmul' is "
    "over TensorFlow's matmul measured in the same run, as in the other rows"
    + (f"; over PyTorch's own: {ratios}." if ratios else ".")
  )


def targets(results, fvd, pipeline):
  """One row per speed target: what was asked, what was measured, met or not."""
  rows = ["| target | asked | measured | met |", "|---|---|---|---|"]
  ratios, speedups = [], []
  for (name, batch), by_precision in results.items():
    runs = {p: (r.get("runs") or [{}])[0] for p, r in by_precision.items() if "error" not in r}
    f32, b16 = runs.get("float32", {}), runs.get("mixed_bfloat16", {})
    if "ratio_fp32_matmul" in f32:
      ratios.append((f32["ratio_fp32_matmul"], f"{name} b{batch}"))
    if "s_per_step" in f32 and "s_per_step" in b16:
      speedups.append((f32["s_per_step"] / b16["s_per_step"], f"{name} b{batch}"))
  if ratios:
    low = min(ratios)
    rows.append(
      f"| fp32 step / fp32 matmul, every VGAN GAN, b8 and b16 | >= "
      f"{TARGET_FP32_RATIO:.0%} | lowest {low[0]:.0%} ({low[1]}), highest "
      f"{max(ratios)[0]:.0%} | {_mark(low[0] >= TARGET_FP32_RATIO)} |"
    )
  if speedups:
    low = min(speedups)
    rows.append(
      f"| bf16 step speed-up over fp32 | >= {TARGET_BF16_SPEEDUP}x | lowest "
      f"{low[0]:.2f}x ({low[1]}) | {_mark(low[0] >= TARGET_BF16_SPEEDUP)} |"
    )
  two = results.get(("vgan_two_stream", 8), {}).get("float32", {})
  run = (two.get("runs") or [{}])[0] if "error" not in two else {}
  if "peak_rss_mib" in run:
    rows.append(
      f"| peak RSS, vgan_two_stream fp32 b8 | <= 1.2 GB | {run['peak_rss_mib']:.0f} MiB "
      f"| {_mark(run['peak_rss_mib'] * 1.048576 <= TARGET_RSS_MB)} |"
    )
  if "clips_per_s" in fvd:
    rows.append(
      f"| Keras I3D, 16x224x224, b8 | >= {TARGET_I3D_CLIPS} clips/s | "
      f"{fvd['clips_per_s']:.2f} clips/s | "
      f"{_mark(fvd['clips_per_s'] >= TARGET_I3D_CLIPS)} |"
    )
  rates = pipeline.get("clips_per_s", {})
  if "jpeg" in rates:
    best = max(rates.get("jpeg_mosaic", 0.0), rates["jpeg"])
    mosaic = f"jpeg_mosaic {rates['jpeg_mosaic']:.0f}, " if "jpeg_mosaic" in rates else ""
    rows.append(
      f"| JPEG TFRecord input, 32x64x64 | >= {TARGET_INPUT_CLIPS:.0f} clips/s | "
      f"{mosaic}one JPEG per frame {rates['jpeg']:.0f} clips/s | "
      f"{_mark(best >= TARGET_INPUT_CLIPS)} |"
    )
  return rows


def main(argv):
  del argv
  start = common.describe_machine()
  configs = FLAGS.configs or (("vgan_two_stream",) if FLAGS.quick else GAN_CONFIGS)
  results = {}
  for name in configs:
    for batch in (int(b) for b in FLAGS.batch_sizes):
      for precision in PRECISIONS:
        results.setdefault((name, batch), {})[precision] = _run(
          "train_step",
          [
            f"--config={name}",
            f"--batch_sizes={batch}",
            "--jit=off",
            f"--precision={precision}",
            f"--steps={FLAGS.steps}",
            "--warmup=1",
          ],
          f"{name} batch {batch} {precision}",
        )
  plain = _run(
    "plain_step",
    ["--config=vgan_two_stream", "--batch_size=8", f"--steps={FLAGS.steps}"],
    "plain step (no loop)",
  )
  torch_results = {}
  if importlib.util.find_spec("torch") is None:
    print(
      "[run_all] PyTorch is not installed (pip install -e '.[bench]'): skipping the "
      "PyTorch eager reference (bench/torch_step.py).",
      flush=True,
    )
  else:
    for batch in (int(b) for b in FLAGS.batch_sizes):
      torch_results[batch] = _run(
        "torch_step",
        [
          "--config=vgan_two_stream",
          f"--batch_size={batch}",
          f"--steps={FLAGS.steps}",
          "--warmup=1",
        ],
        f"PyTorch eager reference batch {batch}",
      )
  fvd = _run("fvd", ["--batch_size=8", "--batches=3"], "Keras I3D throughput")
  pipeline = _run("input_pipeline", [], "input pipeline")
  convert = _run("convert", [], "converter")
  end = common.describe_machine()

  peaks = [
    r.get("matmul", {}).get("peak_gflops", {})
    for by in results.values()
    for r in by.values()
    if "matmul" in r
  ]
  fp32 = max((p.get("float32", 0.0) for p in peaks), default=0.0)
  bf16 = max((p.get("bfloat16", 0.0) for p in peaks), default=0.0)
  lines = [
    "# Benchmark results",
    "",
    f"Regenerate with `python -m bench.run_all{' --quick' if FLAGS.quick else ''}` "
    "(each figure comes from the bench script named in its docstring).",
    "",
    f"- date: {datetime.date.today().isoformat()}",
    f"- machine: {common.machine_line(start)}",
    f"- load average before / after: {start['load_average']} / {end['load_average']}",
    f"- fp32 / bf16 matmul 4096^2, best of the training-step runs: {fp32:.1f} / "
    f"{bf16:.1f} GFLOP/s (each row's ratio uses the matmul measured in its own run)",
    "- training steps: each config at its own size (paper size, 32x64x64, for the vgan_* "
    "configs), XLA off (on CPU XLA is far slower for 3D "
    "transposed convolutions), synthetic input inside the timed step, analytic FLOPs "
    "(bench/flops.py)",
    "",
    "## Targets",
    "",
    *targets(results, fvd, pipeline),
    "",
    "## Training steps",
    "",
    *train_rows(results),
    *torch_rows(torch_results),
    "",
    torch_note(torch_results),
    "",
    "The floor (bench/plain_step.py): the same networks and losses in one plain tf.function "
    "with two Adam optimizers, no strategy, input pipeline or EMA:",
    "",
    (
      f"- vgan_two_stream, batch 8, fp32: {plain['s_per_step']:.2f} s/step, "
      f"{plain['gflops']:.1f} GFLOP/s = {plain['ratio_fp32_matmul']:.0%} of its run's fp32 "
      f"matmul, peak RSS {plain['peak_rss_mib']:.0f} MiB"
      if "gflops" in plain
      else f"- plain step failed: {plain.get('error', '')[:80]}"
    ),
    "",
    "## Evaluation and input",
    "",
    "| what | clips/s |",
    "|---|---|",
  ]
  if "clips_per_s" in fvd:
    lines.append(
      f"| Keras I3D (random weights: throughput only), 16x224x224, batch 8 | "
      f"{fvd['clips_per_s']:.2f} |"
    )
  else:
    lines.append(f"| Keras I3D | failed: {fvd.get('error', '')[:80]} |")
  for source, rate in pipeline.get("clips_per_s", {}).items():
    lines.append(f"| input pipeline, 32x64x64, {source} | {rate:.0f} |")
  if "error" in pipeline:
    lines.append(f"| input pipeline | failed: {pipeline['error'][:80]} |")
  for run in convert.get("runs", []):
    if "clips_per_s" in run:
      lines.append(
        f"| converter, {run['height']}p video of {run['video_seconds']:g} s, default "
        f"options | {run['clips_per_s']:.2f} (peak RSS {run['peak_rss_mib']:.0f} MiB, "
        f"{run['ratio_to_shortest']:.2f}x the shortest's) |"
      )
  if "error" in convert:
    lines.append(f"| converter | failed: {convert['error'][:80]} |")
  if "gflops" in fvd:
    lines += [
      "",
      f"Keras I3D: {fvd['gflop_per_batch']:.1f} GFLOP per batch of 8 (its "
      f"convolutions, bench/flops.py) at {fvd['gflops']:.1f} GFLOP/s = "
      f"{fvd['gflops'] / fvd['fp32_matmul_gflops']:.0%} of the fp32 matmul of its run "
      f"({fvd['fp32_matmul_gflops']:.1f} GFLOP/s).",
    ]
  with open(FLAGS.out, "w") as f:
    f.write("\n".join(lines) + "\n")
  print("\n".join(lines))
  print(f"[run_all] wrote {FLAGS.out}")
  if FLAGS.json:
    with open(FLAGS.json, "w") as f:
      json.dump(
        {
          "machine_start": start,
          "machine_end": end,
          "fvd": fvd,
          "input": pipeline,
          "convert": convert,
          "plain_step": plain,
          "torch_step": {f"vgan_two_stream b{b}": r for b, r in torch_results.items()},
          "train": {f"{n} b{b}": r for (n, b), r in results.items()},
        },
        f,
        indent=1,
      )


if __name__ == "__main__":
  app.run(main)
