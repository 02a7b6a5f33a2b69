r"""Learning check: does a config learn within its quickstart budget?

    python -m trainers.learning_check --config=quickstart --workdir=/tmp/lc
    python -m trainers.learning_check --config=vgan_image_to_video:smoke \
        --workdir=/tmp/lc_i2v --steps=2000 --every=250

Trains the config through the ordinary loop in chunks (a `loop.Trainer` with `train.steps`
raised to each evaluation point in turn, on the same workdir, so every chunk resumes from the
previous checkpoint, data iterator included) and measures, at the start and after each chunk:
- FD-R3D (`features.R3DEmbedder`, not FVD): `--num_videos` generated clips (clip k from noise
  seed [config.seed, k], the EMA generator when the run keeps one) against as many real clips
  of `config.data` in eval mode (the same clips every time; their statistics are cached under
  WORKDIR/eval);
- mask IoU (`trainers.eval.mask_iou`) for image-conditioned two-stream generators on
  synthetic data;
- for next-frame predictors (objective.task "prediction") instead of FD-R3D:
  the one-step (teacher-forced) MSE of `--num_videos` eval clips against the
  copy-the-last-frame baseline on the same clips, and the recursive MSE against its own
  baseline (`trainers.evaluate_prediction`); "mse_vs_copy_last" is their ratio.
Writes WORKDIR/learning_check.json (the table, targets, verdicts) and
WORKDIR/learning_check.png (the curves over steps, drawn with Pillow). Exits 1 when a learning
target is missed: FD-R3D falls by at least 50% from step 0 for vgan_two_stream; mask
IoU >= 0.5 at the end for vgan_image_to_video; one-step MSE below the copy-last-frame
baseline's (ratio < 1) at the end for the (Re)live Photos predictors. Other models are
measured without a verdict.

Decision: `train.steps` is what changes between chunks, so learning-rate schedules that
depend on it (cosine_restarts, linear_decay) would see different totals; the check warns
unless the schedule is "constant". A resumed workdir continues from its latest step.
"""

import json
import math
import os
import sys
import time

from absl import flags
from absl import logging
import numpy as np
from PIL import Image
from PIL import ImageDraw
from PIL import ImageFont
import tensorflow as tf

from trainers import cli
from trainers import config_files
from trainers import evaluate
from trainers import evaluate_prediction
from trainers import loop
from trainers import workdir as workdir_lib
from trainers.eval import mask_iou as mask_iou_lib
from trainers.eval import sources as sources_lib
from zoo import base

# What "learns" means per generator (docs/evaluation.md): name -> {target: threshold}.
TARGETS = {
  "vgan_two_stream": {"fd_r3d_drop": 0.5},
  "vgan_image_to_video": {"mask_iou": 0.5},
  # One-step MSE / copy-last-frame MSE on the same clips: below 1 beats the baseline.
  "relive_lstm": {"mse_vs_copy_last": 1.0},
  "relive_convlstm": {"mse_vs_copy_last": 1.0},
  "relive_cnn_next_frame": {"mse_vs_copy_last": 1.0},
}
NUM_VIDEOS = 256
RESULT_FILE = "learning_check.json"
PLOT_FILE = "learning_check.png"
PLOT_SIZE = (720, 480)


class StoppedError(RuntimeError):
  """SIGTERM / Ctrl-C stopped a chunk's training: the checkpoint is saved, no verdict."""


def eval_points(start, steps, every):
  """Steps at which to measure: `start`, then every `every` steps, ending exactly at `steps`."""
  if steps < 1 or every < 1:
    raise ValueError(f"Expected --steps >= 1 and --every >= 1, received {steps} and {every}.")
  points = [start]
  nxt = (start // every + 1) * every
  while nxt < steps:
    points.append(nxt)
    nxt += every
  if points[-1] < steps:
    points.append(steps)
  return points


def _start_step(workdir):
  """The step of the workdir's latest checkpoint (0 for a new workdir)."""
  path = tf.train.latest_checkpoint(workdir_lib.checkpoint_dir(workdir))
  return int(path.rsplit("-", 1)[-1]) if path else 0


def wants_mask_iou(generator, config):
  spec = base.contract(generator)
  return (
    spec.condition is base.Condition.IMAGE
    and "mask" in spec.streams
    and config.data.source == "synthetic"
  )


def is_predictor(config):
  return config.objective.get("task", "gan") == "prediction"


def prediction_row(generator, config, num_videos, batch_size):
  """MSE of a predictor and of the copy-last-frame baselines on the first eval clips."""
  batches = evaluate_prediction.clip_batches(config, None, num_videos, batch_size)
  r = evaluate_prediction.evaluate_predictor(generator, batches, names=("mse",))
  row = {
    "mse_one_step": r["one_step"]["mse"],
    "mse_copy_last": r["copy_last_one_step"]["mse"],
    "mse_recursive": r["recursive"]["mse"],
    "mse_copy_last_recursive": r["copy_last_recursive"]["mse"],
  }
  row["mse_vs_copy_last"] = row["mse_one_step"] / row["mse_copy_last"]
  return row


def _chunk_config(config, steps):
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.train.steps = steps
  return c


def _verdicts(name, rows):
  """(targets, passed) for the generator `name` from the measured rows."""
  targets = TARGETS.get(name, {})
  passed = {}
  fd = [r.get("fd_r3d") for r in rows]
  if "fd_r3d_drop" in targets:
    drop = (fd[0] - fd[-1]) / fd[0] if fd[0] > 0 else float("nan")
    passed["fd_r3d_drop"] = bool(drop >= targets["fd_r3d_drop"])
  if "mask_iou" in targets:
    last = rows[-1].get("mask_iou")
    passed["mask_iou"] = bool(last is not None and last >= targets["mask_iou"])
  if "mse_vs_copy_last" in targets:
    last = rows[-1].get("mse_vs_copy_last")
    passed["mse_vs_copy_last"] = bool(last is not None and last < targets["mse_vs_copy_last"])
  return targets, passed


def run_check(
  config, workdir, steps=None, every=None, num_videos=NUM_VIDEOS, batch_size=16, write=True
):
  """Trains `config` in `workdir` up to `steps`, measuring at each point; returns the table.

  Args:
    config: a full config; `train.steps` is replaced by `steps` (default: the config's own
      budget).
    workdir: the training workdir (resumed if it holds checkpoints).
    every: steps between measurements (default: a fifth of the budget).
    num_videos: real and generated clips per FD-R3D measurement (the same clips every time).
    batch_size: clips per batch when measuring.
    write: write WORKDIR/learning_check.json and .png.

  Returns:
    A dict: "rows" [{"step", "fd_r3d", "mask_iou"?, "seconds"}], "fd_r3d_drop", "targets",
    "passed" {target: bool}, "ok" (every target met), and the protocol.
  """
  start_time = time.perf_counter()
  steps = int(steps or config.train.steps)
  every = int(every or max(steps // 5, 1))
  if config.optimizer.get("schedule", "constant") != "constant":
    logging.warning(
      "optimizer.schedule %r depends on train.steps, which the check raises chunk "
      "by chunk: the curve is not exactly the one of a single run.",
      config.optimizer.schedule,
    )
  name = config.model.generator.name
  predictor = is_predictor(config)
  networks = real = None
  if not predictor:
    networks = evaluate.Networks(("fd_r3d",))
    real = evaluate.real_embeddings(
      config,
      networks,
      ("fd_r3d",),
      num_videos,
      batch_size,
      os.path.join(workdir, evaluate.EVAL_DIR),
    )
  spec = sources_lib.ClipSpec(
    config.data.num_frames, config.data.frame_stride, config.data.height, config.data.width
  )
  rows = []

  def measure(trainer):
    t0 = time.perf_counter()
    step = trainer.current_step()
    generator = trainer.ema or trainer.generator
    if predictor:
      rows.append(
        {
          "step": step,
          **prediction_row(generator, config, num_videos, batch_size),
          "seconds": round(time.perf_counter() - t0, 2),
        }
      )
      logging.info("learning check: %s", rows[-1])
      return
    fake = sources_lib.GeneratorSource(f"step {step}", generator, config, seed=config.seed)
    side = evaluate.embed_batches(
      fake.batches(num_videos, batch_size, spec), networks, num_videos, f"fake (step {step})"
    )
    row = {"step": step, "fd_r3d": evaluate.compute_metrics(("fd_r3d",), real, side)["fd_r3d"]}
    if wants_mask_iou(generator, config):
      row["mask_iou"] = mask_iou_lib.evaluate_mask_iou(
        generator, config.data, num_clips=num_videos, batch_size=batch_size, seed=config.seed
      )["mean"]
    row["seconds"] = round(time.perf_counter() - t0, 2)
    logging.info("learning check: %s", row)
    rows.append(row)

  points = eval_points(_start_step(workdir), steps, every)
  if len(points) == 1:  # the workdir is already at the budget: measure it once
    measure(loop.Trainer(_chunk_config(config, max(points[0], 1)), workdir))
  for i, target in enumerate(points[1:]):
    trainer = loop.Trainer(_chunk_config(config, target), workdir)
    if i == 0:
      measure(trainer)
    if not trainer.train():  # SIGTERM / Ctrl-C: checkpoint saved, no verdict on a part
      raise StoppedError(
        f"Stopped on request at step {trainer.current_step()} of {steps}: no verdict. Run "
        f"the same command again to resume from {workdir}."
      )
    measure(trainer)
    del trainer

  targets, passed = _verdicts(name, rows)
  fd = [r.get("fd_r3d") for r in rows]
  if predictor:
    protocol = {
      "metric": "MSE vs copy-last-frame",
      "num_videos": num_videos,
      "real": f"config.data eval clips 0..{num_videos - 1}, seed {config.seed}",
      "prediction": "trainers.evaluate_prediction.evaluate_predictor",
    }
  else:
    protocol = {
      "metric": evaluate.NAMES["fd_r3d"],
      "num_videos": num_videos,
      "real": f"config.data eval clips 0..{num_videos - 1}, seed {config.seed}",
      "fake": f"z_k = stateless_normal(seed=[{config.seed}, k]), k < {num_videos}, "
      f"{'EMA ' if config.train.get('ema_decay', 0) else ''}generator",
      "networks": networks.describe(),
    }
  result = {
    "generator": name,
    "workdir": workdir,
    "steps": [r["step"] for r in rows],
    "rows": rows,
    "fd_r3d_drop": (fd[0] - fd[-1]) / fd[0] if not predictor and fd[0] > 0 else None,
    "targets": targets,
    "passed": passed,
    "ok": all(passed.values()),
    "protocol": protocol,
    "seconds": round(time.perf_counter() - start_time, 1),
  }
  if write:
    path = os.path.join(workdir, RESULT_FILE)
    with open(path + ".tmp", "w") as f:
      json.dump(evaluate.json_safe(result), f, indent=2, sort_keys=True)
    os.replace(path + ".tmp", path)
    series = {"FD-R3D": fd}
    if predictor:
      series = {
        "one-step MSE": [r["mse_one_step"] for r in rows],
        "copy-last-frame MSE": [r["mse_copy_last"] for r in rows],
      }
    if any("mask_iou" in r for r in rows):
      series["mask IoU"] = [r.get("mask_iou", float("nan")) for r in rows]
    plot_curves(
      os.path.join(workdir, PLOT_FILE), result["steps"], series, title=f"learning check: {name}"
    )
  return result


# ----------------------------------------------------------------------------- the plot


def _ticks(lo, hi, n=5):
  """About n round tick values covering [lo, hi]."""
  if hi <= lo:
    hi = lo + 1.0
  raw = (hi - lo) / max(n - 1, 1)
  mag = 10 ** math.floor(math.log10(raw))
  step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
  first = math.floor(lo / step) * step
  ticks = [first]
  while ticks[-1] < hi - step * 1e-9:  # the last tick is the first at or above hi
    ticks.append(ticks[-1] + step)
  return ticks


def plot_curves(path, steps, series, title="", size=PLOT_SIZE, x_label="step"):
  """Draws each series (name -> values over `steps`) in its own panel, stacked; a PNG of `size`.

  Axes, round ticks with labels on both axes, a title per panel, points joined by lines; NaN
  values are skipped. Pillow only (no matplotlib).
  """
  width, height = size
  image = Image.new("RGB", size, "white")
  draw = ImageDraw.Draw(image)
  font = ImageFont.load_default()
  colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
  top_title = 22 if title else 0
  if title:
    draw.text((width // 2, 6), title, fill="black", font=font, anchor="mt")
  panel_h = (height - top_title) // max(len(series), 1)
  left, right, top, bottom = 70, 20, 22, 36
  xs = np.asarray(steps, np.float64)
  x_lo, x_hi = float(xs.min()), float(xs.max())
  if x_hi <= x_lo:
    x_hi = x_lo + 1.0
  x_ticks = [t for t in _ticks(x_lo, x_hi, 6) if x_lo - 1e-9 <= t <= x_hi + 1e-9]
  for i, (name, values) in enumerate(series.items()):
    y0 = top_title + i * panel_h
    box = (left, y0 + top, width - right, y0 + panel_h - bottom)
    vals = np.asarray(values, np.float64)
    finite = vals[np.isfinite(vals)]
    y_lo = float(finite.min()) if finite.size else 0.0
    y_hi = float(finite.max()) if finite.size else 1.0
    y_ticks = _ticks(y_lo, y_hi if y_hi > y_lo else y_lo + max(abs(y_lo) * 0.1, 1e-3))
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def to_px(x, y, box=box, y_lo=y_lo, y_hi=y_hi):
      px = box[0] + (x - x_lo) / (x_hi - x_lo) * (box[2] - box[0])
      py = box[3] - (y - y_lo) / (y_hi - y_lo) * (box[3] - box[1])
      return px, py

    draw.text((left, y0 + 6), name, fill="black", font=font)
    for t in y_ticks:
      _, py = to_px(x_lo, t)
      draw.line([(box[0], py), (box[2], py)], fill=(230, 230, 230))
      draw.line([(box[0] - 4, py), (box[0], py)], fill="black")
      draw.text((box[0] - 6, py), f"{t:.4g}", fill="black", font=font, anchor="rm")
    for t in x_ticks:
      px, _ = to_px(t, y_lo)
      draw.line([(px, box[3]), (px, box[3] + 4)], fill="black")
      draw.text((px, box[3] + 6), f"{t:.6g}", fill="black", font=font, anchor="mt")
    draw.line([(box[0], box[1]), (box[0], box[3]), (box[2], box[3])], fill="black", width=1)
    draw.text(((box[0] + box[2]) // 2, box[3] + 20), x_label, fill="black", font=font, anchor="mt")
    colour = colours[i % len(colours)]
    points = [to_px(x, y) for x, y in zip(xs, vals) if np.isfinite(y)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for px, py in points:
      draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
  tmp = path + ".tmp.png"
  image.save(tmp, format="PNG")
  os.replace(tmp, path)
  return path


def format_table(result):
  """The rows as a text table."""
  if "mse_one_step" in result["rows"][0]:
    keys = (
      "mse_one_step",
      "mse_copy_last",
      "mse_vs_copy_last",
      "mse_recursive",
      "mse_copy_last_recursive",
    )
    lines = [f"{'step':>8}" + "".join(f"  {k:>23}" for k in keys)]
    lines += [f"{r['step']:>8}" + "".join(f"  {r[k]:>23.6g}" for k in keys) for r in result["rows"]]
    for k, ok in result["passed"].items():
      lines.append(f"target {k} < {result['targets'][k]}: {'PASS' if ok else 'FAIL'}")
    return "\n".join(lines)
  has_iou = any("mask_iou" in r for r in result["rows"])
  lines = [f"{'step':>8}  {'FD-R3D':>12}" + (f"  {'mask IoU':>9}" if has_iou else "")]
  for r in result["rows"]:
    line = f"{r['step']:>8}  {r['fd_r3d']:>12.6g}"
    if has_iou:
      line += f"  {r.get('mask_iou', float('nan')):>9.4f}"
    lines.append(line)
  if result["fd_r3d_drop"] is not None:
    lines.append(f"FD-R3D drop: {100 * result['fd_r3d_drop']:.1f}%")
  for k, ok in result["passed"].items():
    lines.append(f"target {k} >= {result['targets'][k]}: {'PASS' if ok else 'FAIL'}")
  return "\n".join(lines)


# ----------------------------------------------------------------------------- the CLI


def main(argv):
  cli.no_positional(argv)
  f = flags.FLAGS
  logging.set_verbosity(logging.INFO)
  try:
    result = run_check(
      f.config,
      f.workdir,
      steps=f.steps,
      every=f.every,
      num_videos=f.num_videos,
      batch_size=f.batch_size,
    )
  except StoppedError as e:
    logging.warning("%s", e)
    sys.exit(130)
  print(format_table(result))
  print(f"Wrote {os.path.join(f.workdir, RESULT_FILE)} and {os.path.join(f.workdir, PLOT_FILE)}")
  sys.exit(0 if result["ok"] else 1)


if __name__ == "__main__":
  config_files.define_flag("config", lock_config=False)
  flags.DEFINE_string("workdir", None, "The training workdir (resumed if it exists).")
  flags.DEFINE_integer("steps", None, "Training budget (default: the config's train.steps).")
  flags.DEFINE_integer("every", None, "Steps between measurements (default: steps / 5).")
  flags.DEFINE_integer("num_videos", NUM_VIDEOS, "Real and generated clips per measurement.")
  flags.DEFINE_integer("batch_size", 16, "Clips per batch when measuring.")
  flags.mark_flags_as_required(["config", "workdir"])
  cli.run(main)
