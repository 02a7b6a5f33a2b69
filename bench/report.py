"""Tables of the bench scripts' figures: plain Python, no TensorFlow, no PyTorch, no flags.

bench/train_step.py and bench/torch_step.py print fixed-width tables, bench/run_all.py writes
RESULTS.md's markdown; the tests read them beside any binary (which defines absl flags).
A figure that does not exist is "n/a", never 0 or a guess.
"""

from bench import host

# The speed targets (docs/benchmarks.md), checked in the table.
TARGET_FP32_RATIO = 0.85
TARGET_BF16_SPEEDUP = 1.7
TARGET_RSS_MB = 1200.0  # "1.2 GB" at batch 8, vgan_two_stream (1 MiB = 1.048576 MB)
TARGET_I3D_CLIPS = 4.5
TARGET_INPUT_CLIPS = 1000.0


def not_done(row):
  """How a row with an "error" ended: "stopped" (over its first-call budget), "skipped" (not
  started: it would not fit in memory) or "failed"."""
  if row.get("over_budget"):
    return "stopped"
  return "skipped" if row.get("skipped") else "failed"


def step_table(rows, peak_fp32):
  """bench/train_step.py's rows as a fixed-width table; ratios over `peak_fp32` GFLOP/s."""
  header = (
    f"{'model':<28} {'batch':>5} {'xla':>3} {'s/step':>8} {'clips/s':>8} {'GFLOP':>8} "
    f"{'GFLOP/s':>8} {'/fp32mm':>7} {'build s':>7} {'1st call':>8} {'setup s':>7} {'peak RSS':>8} "
    f"{'step MiB':>8} {'TF alloc':>8}"
  )
  lines = [header, "-" * len(header)]
  for r in rows:
    head = f"{r['model']:<28} {r['batch_size']:>5} {'on' if r['jit'] else 'off':>3} "
    if "error" in r:
      lines.append(head + f"{not_done(r).upper()}: " + r["error"].splitlines()[0])
      continue
    gflops = r.get("gflops")
    alloc = r["allocator_mib"]["peak_during_calls"] if r.get("allocator_mib") else None
    lines.append(
      head + f"{r['s_per_step']:8.3f} {r['clips_per_s']:8.2f} "
      f"{cell(r['step_gflop'], '.4g', 8)} {cell(gflops, '.4g', 8)} "
      f"{cell(None if gflops is None else gflops / peak_fp32, '.1%', 7)} "
      f"{r['build_s']:7.1f} {r['first_call_s']:8.1f} {cell(r.get('setup_s'), '.1f', 7)} "
      f"{r['peak_rss_mib']:8.0f} "
      f"{r['step_mib']:8.0f} {cell(alloc, '.1f', 8)}"
    )
  return "\n".join(lines)


def step_notes(rows):
  """Lines under the table: each row's FLOP note (n/a reasons, estimates), once each, the
  rows whose first call included measuring convolution forms, and those whose first call
  spent over a second more kernel time (page faults) than twice a timed call's."""
  seen, lines = set(), []
  for r in rows:
    note = r.get("flops_note")
    if note and (r["model"], note) not in seen:
      seen.add((r["model"], note))
      lines.append(f"{r['model']}: GFLOP {note}")
  for r in rows:
    if r.get("forms_measured"):
      lines.append(
        f"{r['model']} batch {r['batch_size']}: its 1st call measured {r['forms_measured']} "
        "convolution forms this machine had not cached (once per machine; later runs skip it)"
      )
  for r in rows:
    first, call = r.get("first_run_kernel"), r.get("call_kernel")
    if first and call and first["system_s"] > 2 * call["system_s"] + 1:
      lines.append(
        f"{r['model']} batch {r['batch_size']}: its 1st call took {first['minor_faults']:,.0f} "
        f"page faults and {first['system_s']:.1f} s of kernel CPU time, a timed call "
        f"{call['minor_faults']:,.0f} and {call['system_s']:.1f} s (first touch of the step's "
        "memory, in its setup s)"
      )
  return lines


def torch_variant_table(rows, peak, headline):
  """bench/torch_step.py's variants as a fixed-width table; ratios over `peak` {dtype:
  GFLOP/s}, the torch.matmul of each variant's dtype."""
  header = (
    f"{'variant':<26} {'s/step':>8} {'best':>8} {'clips/s':>8} {'GFLOP':>8} {'GFLOP/s':>8} "
    f"{'/matmul':>7} {'1st call':>8} {'peak RSS':>8} {'step MiB':>8}"
  )
  lines = [header, "-" * len(header)]
  for r in rows:
    name = r["variant"] + (" (headline)" if r["variant"] == headline else "")
    if "error" in r:
      lines.append(f"{name:<26} FAILED: {r['error'].splitlines()[0]}")
      continue
    mm = peak["bfloat16" if r["variant"].endswith("_bf16") else "float32"]
    lines.append(
      f"{name:<26} {r['s_per_step']:8.3f} {r['best_s_per_step']:8.3f} {r['clips_per_s']:8.2f} "
      f"{r['step_gflop']:8.4g} {r['gflops']:8.4g} {r['gflops'] / mm:7.1%} "
      f"{r['first_call_s']:8.2f} {r['peak_rss_mib']:8.0f} {r['step_mib']:8.0f}"
    )
  return "\n".join(lines)


def first_line(error, width=80):
  """An error's first line, cut to `width` characters, for a table cell."""
  return error.splitlines()[0][:width] if error else ""


def md_head(titles):
  """A markdown table's header and separator lines from "title | title | ..."."""
  titles = [t.strip() for t in titles.split("|")]
  return [md_row(*titles, n=len(titles)), "|" + "---|" * len(titles)]


def md_row(*cells, n):
  """A markdown table row of `n` columns: `cells`, then empty ones."""
  texts = [str(c) for c in cells] + [""] * (n - len(cells))
  return "|" + "|".join(f" {t} " if t else " " for t in texts) + "|"


def cell(value, spec, width=0):
  """`value` formatted by `spec`, or "n/a" for None; right-aligned in `width` characters."""
  return ("n/a" if value is None else format(value, spec)).rjust(width)


def train_table(rows):
  """Markdown rows of the training steps, with the bf16 speed-up per (model, batch)."""
  lines = md_head(
    "model | clip | batch | precision | s/step | clips/s | GFLOP/step | GFLOP/s | / fp32 matmul "
    "| bf16 speed-up | 1st call s | setup s | peak RSS MiB | step MiB | TF alloc peak MiB"
  )
  for (model, batch, precision), r in rows.items():
    if "error" in r:
      lines.append(
        md_row(model, "", batch, precision, f"{not_done(r)}: {first_line(r['error'])}", n=15)
      )
      continue
    fp32 = rows.get((model, batch, "float32"), {})
    speedup = ""
    if precision != "float32" and "s_per_step" in fp32:
      speedup = f"{fp32['s_per_step'] / r['s_per_step']:.2f}x"
    alloc = (r.get("allocator_mib") or {}).get("peak_during_calls")
    lines.append(
      f"| {model} | {'x'.join(str(x) for x in r['clip'])} | {batch} | {precision} | "
      f"{r['s_per_step']:.3g} | {r['clips_per_s']:.3g} | {cell(r['step_gflop'], '.4g')} | "
      f"{cell(r.get('gflops'), '.4g')} | {cell(r.get('ratio_fp32_matmul'), '.0%')} | "
      f"{speedup} | {r['first_call_s']:.1f} | {cell(r.get('setup_s'), '.1f')} | "
      f"{r['peak_rss_mib']:.0f} | "
      f"{r['step_mib']:.0f} | {cell(alloc, '.1f')} |"
    )
  return lines


def train_notes(rows):
  """The FLOP notes (n/a reasons, estimates) once per model, and the allocator's status."""
  notes, seen = [], set()
  for (model, _, _), r in rows.items():
    note = r.get("flops_note")
    if note and model not in seen:
      seen.add(model)
      notes.append(f"- {model}: GFLOP/step {note}.")
  done = [r for r in rows.values() if "error" not in r]
  if done and not any(r.get("allocator_mib") for r in done):
    notes.append(
      "- TF alloc peak: n/a, TensorFlow did not report its CPU allocator's bytes "
      "(tf.config.experimental.get_memory_info('CPU:0')): TF_ONEDNN_USE_SYSTEM_ALLOCATOR "
      "hands them to malloc, which keeps no count, or this build does not count them."
    )
  return notes


def torch_table(torch_results, tf_fp32):
  """Markdown rows of the PyTorch reference: every variant of every batch."""
  lines = md_head(
    "batch | variant | s/step | clips/s | GFLOP/step | GFLOP/s | / TF fp32 matmul "
    "| / torch matmul (its dtype) | 1st call s | peak RSS MiB | step MiB"
  )
  for batch, report in torch_results.items():
    if "error" in report:
      lines.append(md_row(batch, "", f"failed: {first_line(report['error'])}", n=11))
      continue
    for name, r in report["variants"].items():
      label = f"**{name}** (headline)" if name == report["headline"] else name
      if "error" in r:
        lines.append(md_row(batch, label, f"failed: {first_line(r['error'])}", n=11))
        continue
      lines.append(
        f"| {batch} | {label} | {r['s_per_step']:.3g} | {r['clips_per_s']:.3g} | "
        f"{r['step_gflop']:.4g} | {r['gflops']:.4g} | "
        f"{cell(r['gflops'] / tf_fp32 if tf_fp32 else None, '.0%')} | "
        f"{r['ratio_torch_matmul']:.0%} | {r['first_call_s']:.2f} | {r['peak_rss_mib']:.0f} | "
        f"{r['step_mib']:.0f} |"
      )
  return lines


def targets(rows, fvd, pipeline, vgan_models):
  """One row per speed target: what was asked, what was measured, met or not (the step
  targets over the rows of `vgan_models`)."""
  lines = md_head("target | asked | measured | met")
  ratios, speedups, not_run = [], [], []
  for (model, batch, precision), r in rows.items():
    if model in vgan_models and r.get("slower_precision"):
      not_run.append(r["error"])
    if model not in vgan_models or "error" in r:
      continue
    if precision == "float32" and r.get("ratio_fp32_matmul") is not None:
      ratios.append((r["ratio_fp32_matmul"], f"{model} b{batch}"))
    base = rows.get((model, batch, "float32"), {})
    if precision == "mixed_bfloat16" and "s_per_step" in base:
      speedups.append((base["s_per_step"] / r["s_per_step"], f"{model} b{batch}"))
  if ratios:
    low = min(ratios)
    lines.append(
      f"| fp32 step / fp32 matmul, every VGAN GAN | >= {TARGET_FP32_RATIO:.0%} | lowest "
      f"{low[0]:.0%} ({low[1]}), highest {max(ratios)[0]:.0%} | "
      f"{_mark(low[0] >= TARGET_FP32_RATIO)} |"
    )
  if speedups:
    low = min(speedups)
    lines.append(
      f"| bf16 step speed-up over fp32 | >= {TARGET_BF16_SPEEDUP}x | lowest {low[0]:.2f}x "
      f"({low[1]}) | {_mark(low[0] >= TARGET_BF16_SPEEDUP)} |"
    )
  elif not_run:
    lines.append(
      f"| bf16 step speed-up over fp32 | >= {TARGET_BF16_SPEEDUP}x | {not_run[0]} | n/a: "
      "a machine with bf16 arithmetic (AVX512_BF16, AMX, a GPU or TPU) |"
    )
  run = rows.get(("vgan_two_stream", 8, "float32"), {})
  if "peak_rss_mib" in run:
    lines.append(
      f"| peak RSS, vgan_two_stream fp32 b8 | <= 1.2 GB | {run['peak_rss_mib']:.0f} MiB | "
      f"{_mark(run['peak_rss_mib'] * 1.048576 <= TARGET_RSS_MB)} |"
    )
  if "clips_per_s" in fvd and fvd.get("clip") == [16, 224, 224, 3]:
    lines.append(
      f"| Keras I3D, 16x224x224, b8 | >= {TARGET_I3D_CLIPS} clips/s | "
      f"{fvd['clips_per_s']:.2f} clips/s | {_mark(fvd['clips_per_s'] >= TARGET_I3D_CLIPS)} |"
    )
  rates = pipeline.get("clips_per_s", {})
  if "jpeg" in rates and pipeline.get("clip") == [32, 64, 64, 3]:
    best = max(rates.get("jpeg_mosaic", 0.0), rates["jpeg"])
    mosaic = f"jpeg_mosaic {rates['jpeg_mosaic']:.0f}, " if "jpeg_mosaic" in rates else ""
    lines.append(
      f"| JPEG TFRecord input, 32x64x64 | >= {TARGET_INPUT_CLIPS:.0f} clips/s | "
      f"{mosaic}one JPEG per frame {rates['jpeg']:.0f} clips/s | "
      f"{_mark(best >= TARGET_INPUT_CLIPS)} |"
    )
  if len(lines) == 2:
    lines.append("| none: no row a target reads ran in this run | | | |")
  return lines


def _mark(ok):
  return "yes" if ok else "**no**"


def batch_table(rows, models, batches):
  """Step time against batch: s/step and s/step per clip relative to the smallest batch."""
  lines = md_head(f"model | batch | s/step | s per clip | per clip vs batch {batches[0]}")
  for model in models:
    first = rows.get((model, batches[0], "float32"), {})
    for batch in batches:
      r = rows.get((model, batch, "float32"), {"error": "not run"})
      if "error" in r:
        lines.append(md_row(model, batch, first_line(r["error"]), n=5))
        continue
      per_clip = r["s_per_step"] / batch
      base = first["s_per_step"] / batches[0] if "s_per_step" in first else None
      lines.append(
        f"| {model} | {batch} | {r['s_per_step']:.3g} | {per_clip:.3g} | "
        f"{cell(per_clip / base if base else None, '.2f')} |"
      )
  return lines


def size_table(rows, models, batch):
  """Step time against frame size: s/step, GFLOP and seconds per analytic TFLOP."""
  lines = md_head("config | clip | batch | s/step | GFLOP/step | s per TFLOP | peak RSS MiB")
  for model in models:
    r = rows.get((model, batch, "float32"), {"error": "not run"})
    if "error" in r:
      lines.append(md_row(model, "", batch, first_line(r["error"]), n=7))
      continue
    gflop = r["step_gflop"]
    lines.append(
      f"| {model} | {'x'.join(str(x) for x in r['clip'])} | {batch} | {r['s_per_step']:.3g} | "
      f"{cell(gflop, '.4g')} | {cell(1000 * r['s_per_step'] / gflop if gflop else None, '.3g')} "
      f"| {r['peak_rss_mib']:.0f} |"
    )
  return lines


def fvd_table(report):
  """FVD / FD time and memory against the number of clips."""
  if "error" in report:
    return [f"bench/fvd.py --num_clips failed: {first_line(report['error'])}"]
  lines = [
    f"{report['metric']} of n real vs n generated random clips of "
    f"{'x'.join(str(x) for x in report['clip'][:3])} resized to {report['size']}^2 (random "
    "weights: cost only), each n in its own process:",
    "",
    *md_head(
      "clips per side | embedding s | s per 1000 clips | distance s | peak RSS MiB "
      "| over the RSS after building the embedder"
    ),
  ]
  for r in report["rows"]:
    if "error" in r:
      lines.append(md_row(r["num_clips"], f"failed: {first_line(r['error'])}", n=6))
      continue
    lines.append(
      f"| {r['num_clips']} | {r['embed_s']:.1f} | {r['embed_s_per_1000_clips']:.1f} | "
      f"{r['distance_s']:.2f} | {r['peak_rss_mib']:.0f} | {r['growth_mib']:.0f} |"
    )
  return lines


def consumption(rows, size):
  """[(model, frames/s)] the training steps of frame size `size` consumed in this run: each
  generator step reads d_steps real batches."""
  out = []
  for (model, _, precision), r in rows.items():
    if "error" in r or r["clip"][1:] != [size, size] or precision != "float32":
      continue
    out.append((f"{model} b{r['batch_size']}", r["input_clips_per_s"] * r["clip"][0]))
  return out


def input_table(inputs, rows):
  """Input frames/s at each size against the frames the steps of that size consume."""
  lines = md_head(
    "frame size | source | input frames/s | steps at this size: frames/s consumed "
    "| input / fastest consumer"
  )
  for size, report in inputs.items():
    if "error" in report:
      lines.append(md_row(f"{size}x{size}", f"failed: {first_line(report['error'])}", n=5))
      continue
    eaters = consumption(rows, size)
    eat = ", ".join(f"{m} {f:.0f}" for m, f in eaters) or "no step of this size in this run"
    fastest = max((f for _, f in eaters), default=None)
    for source, frames in report["frames_per_s"].items():
      lines.append(
        f"| {size}x{size} | {source} | {frames:.0f} | {eat} | "
        f"{cell(frames / fastest if fastest else None, '.1f')} |"
      )
  return lines


def header(start, end, tf_peak, torch_peak, torch_version, matmul_size, quick):
  cpu = start["cpu"]
  tf_mm = " / ".join(cell(tf_peak.get(k), ".1f") for k in ("float32", "bfloat16"))
  torch_mm = " / ".join(cell(torch_peak.get(k), ".1f") for k in ("float32", "bfloat16"))
  lines = [
    "# Benchmark results",
    "",
    f"Regenerate with `python -m bench.run_all{' --quick' if quick else ''}` (each "
    "figure comes from the bench script named in bench/run_all.py's docstring).",
    "",
    f"- date: {start['date']}",
    f"- CPU: {cpu['model_name']}; vendor {cpu['vendor'] or 'n/a'}, family "
    f"{cpu['family'] or 'n/a'}, model {cpu['model'] or 'n/a'}, stepping "
    f"{cpu['stepping'] or 'n/a'}",
    f"- CPU flags (of {', '.join(host.SIMD_FLAGS)}): {' '.join(cpu['flags']) or 'none'}",
    f"- cores: {start['usable_cpus']} usable of {start['logical_cpus']} logical"
    + (f"; GPUs {start['gpus']}" if start["gpus"] else ""),
    f"- load average before / after: {start['load_average']} / {end['load_average']}",
    f"- Python {start['python']}, TensorFlow {start['tensorflow']}, Keras {start['keras']}, "
    f"PyTorch {torch_version or 'not installed'}",
    f"- matmul {matmul_size}^2, best of this run: TensorFlow fp32 / bf16 {tf_mm} GFLOP/s; "
    f"PyTorch fp32 / bf16 {torch_mm} GFLOP/s (each training row's ratio uses the matmul of "
    "its own bench/train_step.py run)",
    "- training steps: each config at its own size (paper size unless the config name says "
    "otherwise), its own objective (d_steps, penalties), XLA off (on CPU XLA is far slower "
    "for 3D transposed convolutions), synthetic clips made inside the timed step",
  ]
  if quick:
    lines.append(
      "- **quick run**: smoke configs and tiny sizes; these figures check that the suite runs "
      "and measure nothing"
    )
  return lines
