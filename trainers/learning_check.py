r"""Learning check: does a model learn, measured against baselines on the same clips?

    python -m trainers.learning_check --config=quickstart --workdir=/tmp/lc
    python -m trainers.learning_check --config=vgan_image_to_video:smoke \
        --workdir=/tmp/lc_i2v --steps=2000 --every=250
    python -m trainers.learning_check --all --workdir=/tmp/lc_all [--models=a,b]

Trains the config through the ordinary loop in chunks (one `loop.Trainer` whose
`train.steps` is the whole budget, trained to each evaluation point in turn and saving a
checkpoint there) and measures, at the start and after each chunk,
on the same held-out clips every time (`--num_videos` eval clips of `config.data`, noise z_k
from seed [config.seed, k], the EMA generator when the run keeps one):

- unconditional generators: FD-R3D (`features.R3DEmbedder`, not FVD), with two baselines
  measured once (`trainers.eval.learning.fd_baselines`): the floor (two disjoint sets of real
  clips) and a static clip (real first frames held: right appearance, no motion); and how
  much the samples move against the real clips;
- conditioned generators (a photo, a frame or a mask in): FD-R3D, the error of the generated
  frame that shows the condition, and the clip's motion against the real clips'
  (`trainers.eval.learning.conditioned_row`); for a two-stream image-to-video generator on
  synthetic data also the mask IoU (`trainers.eval.mask_iou`) beside three baselines on the
  same clips: frame 0's true mask held static, the true masks joined with frame 0's (a
  perfect generator whose background is its input frame), and the oracle reading frame 0;
- next-frame predictors (objective.task "prediction"): the one-step (teacher-forced) MSE and
  the recursive rollout's over `ROLLOUT_STEPS` frames, each against copying the last frame on
  the same clips (`trainers.evaluate_prediction`).

`TARGETS` says what "learns" means for each kind of model; `TARGET_NOTES` what each number
means and which ceiling it sits under. A target above its own measured oracle is reported as
unreachable instead of passed or failed. Writes WORKDIR/learning_check.json (the table,
baselines, targets, verdicts) and WORKDIR/learning_check.png (the curves, baselines as
lines), and exits 1 when a target is missed.

`--all` runs every model of `CHECKS` at its CPU scale (about 15 minutes or less each on two
cores), each in WORKDIR/NAME, and writes WORKDIR/learning_checks.json, .md (the table that
docs/evaluation.md carries) and .png (a curve per model).

Decision: `train.steps` is the budget in every chunk, so a learning-rate schedule that
depends on it (cosine_restarts, linear_decay) follows the single run's curve. A resumed
workdir continues from its latest step.
"""

import dataclasses
import datetime
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
from trainers.eval import learning
from trainers.eval import mask_iou as mask_iou_lib
from trainers.eval import sources as sources_lib
from zoo import base
from zoo.layers import form_choice

NUM_VIDEOS = 256
BATCH_SIZE = 16  # clips per batch when measuring
ROLLOUT_STEPS = 8
# A static clip's FD-R3D this many times the real-vs-real floor or more: the metric sees motion.
MOTION_VISIBLE = 1.2
PRETRAIN_CHUNK = 100  # 2D steps between wall-clock checks of the inflation row
PRETRAIN_MAX_STEPS = 1_000_000  # the inflation row's 2D train.steps: its wall-clock ends it
INFLATION = "inflation"  # --all's name of the inflation row (`run_inflation`)
RESULT_FILE = "learning_check.json"
PLOT_FILE = "learning_check.png"
ALL_PREFIX = "learning_checks"
PLOT_SIZE = (720, 480)

# What "learns" means, by kind of model: target -> (comparison, threshold).
TARGETS = {
  "unconditional": {"fd_r3d_drop": (">=", 0.5)},
  "conditioned": {"cond_error_drop": (">=", 0.5), "motion_ratio": ("within", (0.5, 2.0))},
  "predictor": {"mse_vs_copy_last": ("<", 1.0), "rollout_vs_copy_last": ("<", 1.0)},
}
# Extra targets of conditioned models, by what they generate.
MASK_TARGET = {"mask_iou": (">=", 0.5)}
SEGMENTATION_TARGET = {"segmentation_miou": (">=", 0.5)}
TARGET_NOTES = {
  "fd_r3d_drop": "(FD-R3D at step 0 - at the end) / at step 0. Ceiling: the drop that reaches "
  "the real-vs-real floor; the static baseline shows whether motion is learned.",
  "cond_error_drop": "fall of the mean |generated - real| of the frame the condition shows, "
  "from step 0. Ceiling 1.0 (the frame reproduced); a static copy of the input reaches it "
  "too, hence motion_ratio. A generator with an encoder (SPADE as a VAE) generates from its "
  "code of the real clip, as it trains: a mask alone does not say the frame's texture.",
  "motion_ratio": "mean |x_t+1 - x_t| of the generated clips / of the real clips. 1 moves as "
  "much as the data; a static copy scores 0.",
  "mask_iou": "IoU of the thresholded mask stream with the true future foreground masks, "
  "frames 0..T-1. Ceiling: the oracle reading frame 0 (1.0 with data.synthetic.motion="
  "by_appearance); baseline: frame 0's mask held static. A perfect generator whose "
  "background is the input frame, shapes included, scores the true masks joined with "
  "frame 0's (input frame as background). Beside it, the same IoU of the shapes the "
  "generated clip shows (their saturated colours; 1.0 on real clips): the objective judges "
  "only the composed clip, so a mask can mark only shapes the clip draws. What the network "
  "reaches in the same steps when told the true masks: docs/evaluation.md.",
  "segmentation_miou": "mean IoU (background, shape) of the shapes recovered by colour from "
  "the generated frame 0 with the input mask. Ceiling: the same recovery on the real frame "
  "(1.0 on the synthetic data).",
  "mse_vs_copy_last": "one-step (teacher-forced) MSE / copying the last frame's, same clips. "
  "Below 1 beats the baseline; ceiling 0.",
  "rollout_vs_copy_last": f"MSE of the recursive {ROLLOUT_STEPS}-frame rollout / holding the "
  "last context frame's, same clips. Below 1 beats the baseline; ceiling 0.",
}


@dataclasses.dataclass(frozen=True)
class Check:
  """One model's learning check at a CPU scale: the config, its budget and its changes."""

  config: str  # as --config takes it: NAME[:ARG]
  steps: int
  every: int
  overrides: tuple = ()  # (dotted field, value) pairs applied to the config
  note: str = ""


_SMALL = (
  ("train.batch_size", 16),
  ("train.sample_every", 0),
  # The smoke configs log every step and write summaries every 2: seconds of a long check.
  ("train.log_every", 100),
  ("train.summary_every", 100),
  ("data.synthetic.max_shapes", 2),
  ("optimizer.schedule", "constant"),
)
# Samples from an exponential moving average of the generator's weights: the swings of the
# last steps' weights average out, and the (Re)live conditional checks need half the steps.
_AVERAGED = (("train.ema_decay", 0.998),)
# The (Re)live conditional checks' critic at twice the smoke config's widths (8, 16).
_WIDE_CRITIC = (("model.discriminators.d.args.widths", (16, 32)),)


def _radner_widths(ch):
  """Overrides giving Radner's generator and both discriminators (and DVD-GAN-S's) `ch`."""
  return tuple(
    (f"model.{part}.args.ch", ch)
    for part in ("generator", "discriminators.spatial", "discriminators.temporal")
  )


# Every family's check, each within about 15 minutes on two cores. At 8x16x16 (the smoke
# sizes) FD-R3D gives a static clip the real-vs-real floor's score (0.418 vs 0.421 for
# vgan_one_stream's smoke networks, 2026-12-02): such checks show appearance learned, not
# motion, and the table says so beside each (MOTION_VISIBLE). The VGAN GANs run at 16x32x32
# (their quickstart scale), where a static clip scores 0.27 against a floor of 0.22.
CHECKS = {
  "vgan_two_stream": Check("quickstart", 2000, 400, (("train.sample_every", 0),)),
  "vgan_one_stream": Check("vgan_one_stream:quickstart", 2000, 400, (("train.sample_every", 0),)),
  "egan_dcgan_video": Check("egan_dcgan_video:smoke", 1500, 300, _SMALL),
  "egan_resnet_video": Check("egan_resnet_video:smoke", 1500, 300, _SMALL),
  "relive_wgan": Check("relive_wgan:smoke", 1500, 300, _SMALL),
  # The smoke widths (ch 2: 4 and 2 channels) learn little: FD-R3D fell 25% in 1500 steps,
  # 72% at ch 8 (2026-12-02).
  "dvdgan_s": Check("dvdgan_s:smoke", 1500, 300, _SMALL + _radner_widths(8)),
  # At 8x16x16 frame 0's mask held static already scores IoU 0.51: the check runs at
  # 16x32x32, where the static mask scores 0.31 and the target sits between it and the oracle.
  # 1200 steps on the quickstart config's EMA (its comment has the seeds' errors): 12 minutes
  # on an AMD EPYC Zen 3, where the former 2000 steps would take 19-23 (2026-12-06).
  "vgan_image_to_video": Check(
    "vgan_image_to_video:quickstart",
    1200,
    400,
    (("train.sample_every", 0), ("data.synthetic.motion", "by_appearance")),
    "motion by appearance: frame 0 determines the future masks",
  ),
  # Two-stream, as the report's conditional network (sec. 6.2.3: "We use the two-stream
  # generator for our conditional network"). One-stream, the clips flickered at 4.8x the
  # real clips' motion after 1500 steps; two-stream, 2.1x after 4500 and falling (2026-12-02).
  # Judged on the generator's average (EMA 0.998, 4500 steps; with the smoke critic the raw
  # generator needed 9000).
  # The smoke critic (widths 8, 16) let the frames flicker, a checkerboard redrawn each frame:
  # motion 1.69-2.14x, over 2 at seed 1 for both models. Twice as wide (16, 32) it does not:
  # seeds 0-2 of both: error -66..-69%, motion 1.07-1.64x, 11-12.5 minutes (2026-12-06, AMD
  # EPYC Zen 3, docs/experiments.md). The report's 5 critic steps stay: with 2, the clips
  # flickered at 3.2-3.8x.
  "relive_conditional_wgan": Check(
    "relive_conditional_wgan:two_stream,smoke", 4500, 1500, _SMALL + _AVERAGED + _WIDE_CRITIC
  ),
  "relive_segmentation_conditional": Check(
    "relive_segmentation_conditional:smoke",
    4500,
    1500,
    _SMALL + _AVERAGED + _WIDE_CRITIC + (("model.generator.args.two_stream", True),),
  ),
  # At the smoke widths (ch 2) training was unstable: frame 0's error rose from 0.24 to 0.82
  # in 1500 steps. At ch 8 it fell 43% by step 1500, 47% by 3000, 54% by 4200 (2026-12-02).
  # The batch in one pass, not the config's two micro-batches: the step is bound by its count
  # of small operations, which the micro-batches double (0.128 against 0.238 s per step).
  # Seeds 0 and 1 both pass at 3600 steps (error -55% / -63%, motion 0.76x / 1.37x); the
  # clips then grow still (0.38x / 1.04x at 4200; 2026-12-06, AMD EPYC Zen 3).
  "radner_style": Check(
    "radner_style:smoke",
    3600,
    600,
    _SMALL + _radner_widths(8) + (("train.grad_accum", 1),),
  ),
  # The smoke generator (nf 4) flickered from step 1200 (motion 1.2x -> 5.0x the real clips')
  # and its error fell 46%; at nf 8: -63% (0.562 -> 0.205), motion 1.72x (2026-12-02). Every
  # target is met by step 1000 (-65%, 1.79x, mIoU 0.54): 16.2 minutes measured on an AMD EPYC
  # Zen 3 on a day of slow steps (about 14 at its quiet 0.8 s/step), where 1500 steps take 22
  # (2026-12-06; the "small" generator, 20% faster, starts from a lower error and fell 43%).
  "egan_spade_video": Check(
    "egan_spade_video:smoke", 1000, 500, _SMALL + (("model.generator.args.nf", 8),)
  ),
  # 512 LSTM units (the smoke config's 32 cannot carry a 16x16 frame: 2.6x copy-last's
  # one-step error after 6000 steps; the report's 1024: 1.25x, 2026-12-02). No dropout (the
  # report's 0.2 guards a finite set of clips; the synthetic stream never repeats) and the
  # rate decayed linearly to 0 over the budget. 1024 units reached 1.06x in 6000 steps
  # (11.3 min) and 0.986x in 10000 (20.6 min); 512 units run a step 2.4x faster: 0.963x in
  # 12000 steps, 8.8 min (2026-12-06, AMD EPYC Zen 3, docs/experiments.md).
  "relive_lstm": Check(
    "relive_lstm:smoke",
    12000,
    3000,
    _SMALL
    + (
      ("model.generator.args.units", 512),
      ("model.generator.args.encoder_widths", (16, 64)),
      ("model.generator.args.decoder_widths", (64, 16)),
      ("model.generator.args.dropout", 0.0),
      ("optimizer.schedule", "linear_decay"),
    ),
  ),
  # The report's 128 ConvLSTM filters, at a quarter of the frame's size as in the report
  # (the smoke config's 16 filters on 4x4 cannot carry the frame: 1.31x copy-last's error).
  "relive_convlstm": Check(
    "relive_convlstm:smoke",
    6000,
    1500,
    _SMALL
    + (
      ("model.generator.args.filters", 128),
      ("model.generator.args.encoder_widths", (16, 64)),
      ("model.generator.args.decoder_widths", (32,)),
    ),
  ),
  "relive_cnn_next_frame": Check("relive_cnn_next_frame:smoke", 6000, 1500, _SMALL),
}


class StoppedError(RuntimeError):
  """SIGTERM / Ctrl-C stopped a chunk's training: the checkpoint is saved, no verdict."""


def check_config(name):
  """The full config of `CHECKS[name]`, overrides applied."""
  if name not in CHECKS:
    raise ValueError(f"Expected a model among {sorted(CHECKS)}, received {name!r}.")
  check = CHECKS[name]
  config = _overridden(check.config, check.overrides)
  with config.unlocked():
    # A checkpoint per measurement (the smoke configs save every 2 steps).
    config.train.checkpoint_every = check.every
  return config


def _overridden(spec, overrides):
  """The config `spec` (as --config takes it) with (dotted field, value) `overrides` set."""
  config = config_files.load(spec)
  with config.unlocked():
    for field, value in overrides:
      *parents, leaf = field.split(".")
      node = config
      for p in parents:
        node = node[p]
      node[leaf] = value
  return config


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
  """The step of the workdir's latest loadable checkpoint (0 for a new workdir)."""
  paths = workdir_lib.readable_checkpoints(workdir_lib.checkpoint_dir(workdir))
  return int(paths[0].rsplit("-", 1)[-1]) if paths else 0


def wants_mask_iou(generator, config):
  """A two-stream generator conditioned on frame 0 of synthetic clips: the mask IoU feeds it
  frame 0 and its oracle reads frame 0. Not the (Re)live Photos models, which read the
  middle frame."""
  spec = base.contract(generator)
  return (
    spec.condition is base.Condition.IMAGE
    and "mask" in spec.streams
    and config.data.source == "synthetic"
    and learning.condition_frame(config) == 0
  )


def wants_segmentation_miou(generator, config):
  """A generator conditioned on a mask (SPADE), on synthetic data whose shapes `learning`
  recovers by colour."""
  spec = base.contract(generator)
  key = config.objective.get("condition", "")
  return (
    spec.condition is not base.Condition.NONE
    and key.split("+")[0] == "segmentation"
    and config.data.source == "synthetic"
  )


def is_predictor(config):
  return config.objective.get("task", "gan") == "prediction"


def model_kind(generator, config):
  """The kind of model: predictor, conditioned or unconditional (keys of TARGETS)."""
  if is_predictor(config):
    return "predictor"
  return (
    "unconditional"
    if base.contract(generator).condition is base.Condition.NONE
    else ("conditioned")
  )


def targets_for(generator, config):
  targets = dict(TARGETS[model_kind(generator, config)])
  if wants_mask_iou(generator, config):
    targets.update(MASK_TARGET)
  if wants_segmentation_miou(generator, config):
    targets.update(SEGMENTATION_TARGET)
  return targets


def prediction_row(generator, config, num_videos, batch_size):
  """MSE of a predictor and of the copy-last-frame baselines on the first eval clips; the
  recursive rollout runs `ROLLOUT_STEPS` frames past the context."""
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.data.num_frames = generator.context_frames + ROLLOUT_STEPS
  batches = evaluate_prediction.clip_batches(c, None, num_videos, batch_size)
  r = evaluate_prediction.evaluate_predictor(generator, batches, names=("mse",))
  row = {
    "mse_one_step": r["one_step"]["mse"],
    "mse_copy_last": r["copy_last_one_step"]["mse"],
    "mse_recursive": r["recursive"]["mse"],
    "mse_copy_last_recursive": r["copy_last_recursive"]["mse"],
  }
  row["mse_vs_copy_last"] = row["mse_one_step"] / row["mse_copy_last"]
  row["rollout_vs_copy_last"] = row["mse_recursive"] / row["mse_copy_last_recursive"]
  return row


def _budget_config(config, steps):
  c = config.copy_and_resolve_references()
  with c.unlocked():
    c.train.steps = steps
  return c


def _passes(op, threshold, value):
  if value is None or not math.isfinite(value):
    return False
  if op == ">=":
    return value >= threshold
  if op == "<":
    return value < threshold
  lo, hi = threshold
  return lo <= value <= hi


def summary_values(rows):
  """The numbers the targets read, from the measured rows."""
  first, last = rows[0], rows[-1]
  out = {}
  for key in ("fd_r3d", "cond_error"):
    if key in first and first[key] and first[key] > 0:
      out[f"{key}_drop"] = (first[key] - last[key]) / first[key]
  for key in (
    "motion_ratio",
    "mask_iou",
    "segmentation_miou",
    "mse_vs_copy_last",
    "rollout_vs_copy_last",
  ):
    if key in last:
      out[key] = last[key]
  return out


def verdicts(targets, values, baselines):
  """{target: "pass" | "fail" | "unreachable"}: unreachable when the target sits above its
  own measured oracle (the mask IoU of the oracle reading frame 0)."""
  out = {}
  for name, (op, threshold) in targets.items():
    oracle = baselines.get(name, {}).get("oracle")
    if oracle is not None and op == ">=" and oracle < threshold:
      out[name] = "unreachable"
    else:
      out[name] = "pass" if _passes(op, threshold, values.get(name)) else "fail"
  return out


def run_check(
  config, workdir, steps=None, every=None, num_videos=NUM_VIDEOS, batch_size=BATCH_SIZE, write=True
):
  """Trains `config` in `workdir` up to `steps`, measuring at each point; returns the table.

  Args:
    config: a full config; `train.steps` is replaced by `steps` (default: the config's own
      budget).
    workdir: the training workdir (resumed if it holds checkpoints).
    every: steps between measurements (default: a fifth of the budget).
    num_videos: held-out clips per measurement (the same clips every time).
    batch_size: clips per batch when measuring.
    write: write WORKDIR/learning_check.json and .png.

  Returns:
    A dict: "rows" [{"step", measured values..., "seconds"}], "baselines", "values" (what
    the targets read), "targets", "verdicts", "ok" (no target failed), and the protocol.
  """
  start_time = time.perf_counter()
  steps = int(steps or config.train.steps)
  every = int(every or max(steps // 5, 1))
  name = config.model.generator.name
  points = eval_points(_start_step(workdir), steps, every)
  # One trainer for the whole budget (a learning-rate schedule spans all of it), trained to
  # each evaluation point in turn.
  trainer = loop.Trainer(_budget_config(config, max(steps, points[0], 1)), workdir)
  kind = model_kind(trainer.generator, config)
  targets = targets_for(trainer.generator, config)
  networks = real = None
  baselines = {}
  if kind != "predictor":
    networks = evaluate.Networks(("fd_r3d",))
    real = evaluate.real_embeddings(
      config,
      networks,
      ("fd_r3d",),
      num_videos,
      batch_size,
      os.path.join(workdir, evaluate.EVAL_DIR),
    )
    baselines["fd_r3d"] = learning.fd_baselines(config, networks, real, num_videos, batch_size)
  if "mask_iou" in targets:
    m = mask_iou_lib.mask_baselines(config.data, num_videos, seed=config.seed)
    baselines["mask_iou"] = {
      "static": m["static"]["mean"],
      "with_frame_0": m["with_frame_0"]["mean"],
      "oracle": m["oracle"]["mean"],
      "oracle_reads": m["oracle_reads"],
    }
  logging.info("learning check baselines: %s", baselines)
  spec = sources_lib.ClipSpec(
    config.data.num_frames, config.data.frame_stride, config.data.height, config.data.width
  )
  rows = []

  def measure(trainer):
    t0 = time.perf_counter()
    step = trainer.current_step()
    generator = trainer.ema or trainer.generator
    row = {"step": step}
    if kind == "predictor":
      row.update(prediction_row(generator, config, num_videos, batch_size))
    else:
      fake = sources_lib.GeneratorSource(f"step {step}", generator, config, seed=config.seed)
      batches = fake.batches(num_videos, batch_size, spec)
      moved = []  # (motion, clips) of each batch the FD-R3D embeds, unconditional models

      def measured(batches):
        for clips in batches:
          moved.append((learning.motion(clips), len(clips)))
          yield clips

      if kind == "unconditional":  # conditioned rows measure motion in `conditioned_row`
        batches = measured(batches)
      side = evaluate.embed_batches(batches, networks, num_videos, f"fake (step {step})")
      row["fd_r3d"] = evaluate.compute_metrics(("fd_r3d",), real, side)["fd_r3d"]
      if moved:
        # Beside FD-R3D, which does not see motion at the smallest sizes (MOTION_VISIBLE).
        total = sum(m * n for m, n in moved) / sum(n for _, n in moved)
        row["motion_ratio"] = total / baselines["fd_r3d"]["motion_real"]
    if kind == "conditioned":
      row.update(learning.conditioned_row(generator, config, num_videos, batch_size))
    if "mask_iou" in targets:
      scored = mask_iou_lib.evaluate_mask_iou(
        generator, config.data, num_clips=num_videos, batch_size=batch_size, seed=config.seed
      )
      row["mask_iou"] = scored["mean"]
      row["video_shape_iou"] = scored["video_shapes"]["mean"]
    row["seconds"] = round(time.perf_counter() - t0, 2)
    logging.info("learning check: %s", row)
    rows.append(row)

  train_seconds = 0.0  # training only (building and tracing included), not measuring
  if len(points) == 1:  # the workdir is already at the budget: measure it once
    measure(trainer)
  for i, target in enumerate(points[1:]):
    if not i:
      measure(trainer)
    t0 = time.perf_counter()
    finished = trainer.train(until=target)
    train_seconds += time.perf_counter() - t0
    if not finished:  # SIGTERM / Ctrl-C: checkpoint saved, no verdict on a part
      raise StoppedError(
        f"Stopped on request at step {trainer.current_step()} of {steps}: no verdict. Run "
        f"the same command again to resume from {workdir}."
      )
    measure(trainer)
  del trainer

  if "segmentation_miou" in targets:  # the recovery's ceiling, the same at every row
    baselines["segmentation_miou"] = {"oracle": rows[-1]["segmentation_miou_real"]}
  values = summary_values(rows)
  verdict = verdicts(targets, values, baselines)
  result = {
    "generator": name,
    "kind": kind,
    "workdir": workdir,
    "steps": [r["step"] for r in rows],
    "rows": rows,
    "baselines": baselines,
    "values": values,
    "targets": {k: list(v) for k, v in targets.items()},
    "verdicts": verdict,
    "ok": "fail" not in verdict.values(),
    "protocol": _protocol(config, kind, networks, num_videos),
    "seconds": round(time.perf_counter() - start_time, 1),
    "train_seconds": round(train_seconds, 1),
  }
  if write:
    _write_json(os.path.join(workdir, RESULT_FILE), result)
    curves = panels(result)
    plot_panels(
      os.path.join(workdir, PLOT_FILE),
      curves,
      title=f"learning check: {name}",
      size=(PLOT_SIZE[0], max(PLOT_SIZE[1], 60 + 150 * len(curves))),
    )
  return result


def _protocol(config, kind, networks, num_videos):
  real = f"config.data eval clips 0..{num_videos - 1}, seed {config.seed}"
  if kind == "predictor":
    return {
      "metric": "MSE vs copy-last-frame",
      "num_videos": num_videos,
      "real": real,
      "rollout_steps": ROLLOUT_STEPS,
      "prediction": "trainers.evaluate_prediction.evaluate_predictor",
    }
  return {
    "metric": evaluate.NAMES["fd_r3d"],
    "num_videos": num_videos,
    "real": real,
    "baselines": f"eval clips {num_videos}..{2 * num_videos - 1}: as they are (floor) and "
    "their first frames held (static)",
    "fake": f"z_k = stateless_normal(seed=[{config.seed}, k]), k < {num_videos}, "
    f"{'EMA ' if config.train.get('ema_decay', 0) else ''}generator",
    "networks": networks.describe(),
  }


def _write_json(path, obj):
  workdir_lib.write_json(path, evaluate.json_safe(obj))


# The curve each kind of model is judged by, and its reference lines.
def panels(result):
  """Plot panels of one check: each measured series, with its baselines as lines."""
  rows, b = result["rows"], result["baselines"]
  steps = [r["step"] for r in rows]
  out = []

  def add(key, title, lines=None):
    if key in rows[0]:
      out.append(
        {"name": title, "steps": steps, "values": [r.get(key) for r in rows], "lines": lines or {}}
      )

  fd = b.get("fd_r3d", {})
  add("fd_r3d", "FD-R3D", {k: fd[k] for k in ("floor", "static") if k in fd})
  add("cond_error", "conditioned-frame error")
  add("motion_ratio", "motion / real motion", {"real": 1.0})
  mask = b.get("mask_iou", {})
  add(
    "mask_iou",
    "mask IoU",
    {k: mask[k] for k in ("static", "with_frame_0", "oracle") if k in mask},
  )
  seg = b.get("segmentation_miou", {})
  add("segmentation_miou", "shapes where the mask puts them (mIoU)", {"real": seg.get("oracle")})
  add("mse_vs_copy_last", "one-step MSE / copy-last", {"copy-last": 1.0})
  add("rollout_vs_copy_last", f"{ROLLOUT_STEPS}-step rollout MSE / copy-last", {"copy-last": 1.0})
  return out


def headline_panel(name, result):
  """The one curve of `name` in the --all picture: its first panel."""
  panel = dict(panels(result)[0])
  panel["name"] = f"{name}: {panel['name']}"
  return panel


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
  """Draws each series (name -> values over `steps`) in its own panel, stacked (`plot_panels`)."""
  curves = [{"name": k, "steps": steps, "values": v} for k, v in series.items()]
  return plot_panels(path, curves, title=title, size=size, x_label=x_label)


def plot_panels(path, curves, title="", size=PLOT_SIZE, x_label="step"):
  """Draws curves stacked, one panel each; a PNG of `size`.

  Each curve is {"name", "steps", "values", "lines" (optional): {label: y}}: points joined by
  lines (NaN and None skipped), the reference lines dashed grey with their labels, axes with
  round ticks on both. Pillow only.
  """
  width, height = size
  image = Image.new("RGB", size, "white")
  draw = ImageDraw.Draw(image)
  font = ImageFont.load_default()
  colours = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189)]
  top_title = 22 if title else 0
  if title:
    draw.text((width // 2, 6), title, fill="black", font=font, anchor="mt")
  panel_h = (height - top_title) // max(len(curves), 1)
  left, right, top, bottom = 70, 20, 22, 36
  for i, curve in enumerate(curves):
    xs = np.asarray(curve["steps"], np.float64)
    vals = np.asarray([np.nan if v is None else v for v in curve["values"]], np.float64)
    lines = curve.get("lines") or {}
    x_lo, x_hi = float(xs.min()), float(xs.max())
    if x_hi <= x_lo:
      x_hi = x_lo + 1.0
    x_ticks = [t for t in _ticks(x_lo, x_hi, 6) if x_lo - 1e-9 <= t <= x_hi + 1e-9]
    y0 = top_title + i * panel_h
    box = (left, y0 + top, width - right, y0 + panel_h - bottom)
    finite = np.concatenate(
      [vals[np.isfinite(vals)], [v for v in lines.values() if v is not None and math.isfinite(v)]]
    )
    y_lo = float(finite.min()) if finite.size else 0.0
    y_hi = float(finite.max()) if finite.size else 1.0
    y_ticks = _ticks(y_lo, y_hi if y_hi > y_lo else y_lo + max(abs(y_lo) * 0.1, 1e-3))
    y_lo, y_hi = y_ticks[0], y_ticks[-1]

    def to_px(x, y, box=box, y_lo=y_lo, y_hi=y_hi, x_lo=x_lo, x_hi=x_hi):
      px = box[0] + (x - x_lo) / (x_hi - x_lo) * (box[2] - box[0])
      py = box[3] - (y - y_lo) / (y_hi - y_lo) * (box[3] - box[1])
      return px, py

    draw.text((left, y0 + 6), curve["name"], fill="black", font=font)
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
    for j, (label, y) in enumerate(lines.items()):
      if y is None or not math.isfinite(y):
        continue
      _, py = to_px(x_lo, y)
      for x in range(box[0], box[2], 8):
        draw.line([(x, py), (min(x + 4, box[2]), py)], fill=(120, 120, 120))
      # Labels alternate between the right and the left end, so close lines stay readable.
      at, anchor = ((box[2] - 2, "rb"), (box[0] + 4, "lb"))[j % 2]
      draw.text((at, py - 2), label, fill=(90, 90, 90), font=font, anchor=anchor)
    colour = colours[i % len(colours)]
    points = [to_px(x, y) for x, y in zip(xs, vals, strict=True) if np.isfinite(y)]
    if len(points) > 1:
      draw.line(points, fill=colour, width=2)
    for px, py in points:
      draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
  tmp = path + ".tmp.png"
  image.save(tmp, format="PNG")
  os.replace(tmp, path)
  return path


# ----------------------------------------------------------------------------- every model


def model_names(names=None):
  """`names` (default: every check and the inflation row) after checking each is known."""
  known = list(CHECKS) + [INFLATION]
  names = list(names or known)
  unknown = [n for n in names if n not in known]
  if unknown:
    raise ValueError(f"Expected models among {known}, received {unknown}.")
  return names


def run_all(workdir, names=None, num_videos=NUM_VIDEOS, batch_size=BATCH_SIZE, steps=None):
  """Runs `CHECKS` and the inflation row (or `names` of them), each in WORKDIR/NAME, and
  writes the summary files after each.

  A model whose check fails with an error is recorded with the error and the next one runs.
  `steps` (tests, quick looks) replaces every check's budget; measurements then come every
  `steps` // 2 steps. Models of an earlier summary in `workdir` that this run does not
  repeat are kept, each with the date and machine it was measured on.

  Returns:
    {"machine", "date", "models": {name: result or {"error": ...}}, "seconds"}.
  """
  names = model_names(names)
  start = time.perf_counter()
  summary = {
    "date": datetime.date.today().isoformat(),
    "machine": machine(),
    "num_videos": num_videos,
    "models": {},
  }
  earlier = os.path.join(workdir, ALL_PREFIX + ".json")
  if os.path.exists(earlier):
    with open(earlier) as f:
      kept = json.load(f).get("models", {})
    summary["models"] = {k: v for k, v in kept.items() if k not in names}
  for i, name in enumerate(names):
    logging.info("learning check %d / %d: %s", i + 1, len(names), name)
    try:
      if name == INFLATION:
        result = run_inflation(os.path.join(workdir, name), num_videos, batch_size, steps)
      else:
        check = CHECKS[name]
        budget = steps or check.steps
        result = run_check(
          check_config(name),
          os.path.join(workdir, name),
          steps=budget,
          every=max(budget // 2, 1) if steps else check.every,
          num_videos=num_videos,
          batch_size=batch_size,
        )
        result["check"] = {
          "config": check.config,
          "overrides": dict(check.overrides),
          "note": check.note,
        }
    except StoppedError:
      raise
    except Exception as e:  # noqa: BLE001 -- one model's failure is a row, not the end
      logging.exception("learning check of %s failed", name)
      result = {"generator": name, "error": f"{type(e).__name__}: {e}"}
    result["date"], result["machine"] = summary["date"], summary["machine"]
    summary["models"][name] = result
    summary["seconds"] = round(time.perf_counter() - start, 1)
    write_summary(workdir, summary)
  return summary


def run_inflation(workdir, num_videos=NUM_VIDEOS, batch_size=BATCH_SIZE, steps=None):
  """Egan's claim that 2D pretraining then inflation helps (thesis ch. 4), as a measured row.

  The DCGAN 3D check's config (`CHECKS["egan_dcgan_video"]`) is trained twice for the same 3D
  steps: from scratch, and from the inflation (`trainers.inflate`) of the 2D DCGAN
  (egan_dcgan_image at the same size and overrides) pretrained on single frames for the
  wall-clock the scratch run's training took (building and tracing included, once in each),
  in chunks of `PRETRAIN_CHUNK` steps of one run. FD-R3D is measured at the same 3D steps for
  both; no target.

  Returns:
    {"scratch": result, "inflated": result, "pretrain_2d": {"steps", "seconds"}}.
  """
  from trainers import inflate  # the 2D -> 3D step, only needed here

  check = CHECKS["egan_dcgan_video"]
  budget = steps or check.steps
  every = max(budget // 2, 1) if steps else check.every
  video = check_config("egan_dcgan_video")
  scratch = run_check(
    video, os.path.join(workdir, "scratch"), budget, every, num_videos, batch_size
  )
  image = _overridden("egan_dcgan_image:smoke", check.overrides)
  if image.optimizer.schedule != "constant":
    raise ValueError(
      "Expected a constant learning rate for the 2D pretraining (its length is set by the "
      f"wall-clock), received optimizer.schedule {image.optimizer.schedule!r}."
    )
  with image.unlocked():  # the smoke config saves every 2 steps: once per chunk is enough
    image.train.checkpoint_every = PRETRAIN_CHUNK
  pretrain_dir = os.path.join(workdir, "pretrain_2d")
  # One trainer, trained on to each chunk's end: its build and first trace count in the
  # wall-clock once, as they do in the scratch run's `train_seconds`.
  t0 = time.perf_counter()
  trainer = loop.Trainer(_budget_config(image, PRETRAIN_MAX_STEPS), pretrain_dir)
  done = trainer.current_step()
  elapsed = time.perf_counter() - t0
  while elapsed < scratch["train_seconds"]:
    done += PRETRAIN_CHUNK
    t0 = time.perf_counter()
    if not trainer.train(until=done):
      raise StoppedError(f"Stopped on request during the 2D pretraining in {pretrain_dir}.")
    elapsed += time.perf_counter() - t0
  del trainer
  inflated_dir = os.path.join(workdir, "inflated")
  if not workdir_lib.readable_checkpoints(workdir_lib.checkpoint_dir(inflated_dir)):
    inflate.inflate_workdir(pretrain_dir, video, inflated_dir)
  inflated = run_check(video, inflated_dir, budget, every, num_videos, batch_size)
  return {
    "generator": "egan_dcgan_video",
    "scratch": scratch,
    "inflated": inflated,
    "pretrain_2d": {"steps": done, "seconds": round(elapsed, 1)},
  }


def machine():
  """The device the checks ran on (its name, or the CPU's with family and model), for the
  summary."""
  return f"{form_choice.device_name()}, {os.cpu_count()} CPUs; TensorFlow {tf.__version__}"


def write_summary(workdir, summary):
  """WORKDIR/learning_checks.json, .md and .png."""
  path = os.path.join(workdir, ALL_PREFIX)
  _write_json(path + ".json", summary)
  with open(path + ".md.tmp", "w") as f:
    f.write(markdown(summary))
  os.replace(path + ".md.tmp", path + ".md")
  curves = []
  for name, r in summary["models"].items():
    if name == INFLATION and "scratch" in r:
      curves += [headline_panel(f"{name} ({k})", r[k]) for k in ("scratch", "inflated")]
    elif r.get("rows"):
      curves.append(headline_panel(name, r))
  if curves:
    plot_panels(path + ".png", curves, title="learning checks", size=(720, 60 + 150 * len(curves)))


def _fmt(x):
  if x is None or (isinstance(x, float) and not math.isfinite(x)):
    return "n/a"
  return f"{x:.3g}" if isinstance(x, float) else str(x)


def _target_text(op, threshold):
  if op == "within":
    return f"in [{threshold[0]:g}, {threshold[1]:g}]"
  return f"{op} {threshold:g}"


def markdown(summary):
  """The table of every model: each target with its value, baselines and verdict."""
  measured = sorted(
    {
      (r.get("date", summary["date"]), r.get("machine", summary["machine"]))
      for r in summary["models"].values()
    }
  )
  where = (
    "; ".join(f"{d} on {m}" for d, m in measured) or f"{summary['date']} on {summary['machine']}"
  )
  lines = [
    f"Learning checks of {where}, {summary['num_videos']} held-out clips per measurement.",
    "",
    "| model | kind | steps | minutes | target | value | baselines | verdict |",
    "|---|---|---|---|---|---|---|---|",
  ]
  for name, r in summary["models"].items():
    if name == INFLATION:
      continue
    if "error" in r:
      lines.append(f"| {name} | | | | | | | error: {r['error'][:200]} |")
      continue
    b = r["baselines"]
    for target, (op, threshold) in r["targets"].items():
      notes = ""
      if target == "fd_r3d_drop":
        fd = b["fd_r3d"]
        notes = (
          f"FD-R3D {_fmt(r['rows'][0]['fd_r3d'])} -> {_fmt(r['rows'][-1]['fd_r3d'])}; "
          f"floor {_fmt(fd['floor'])}, static {_fmt(fd['static'])}"
        )
        if fd["static"] < MOTION_VISIBLE * fd["floor"]:
          notes += " (static near the floor: FD-R3D does not see motion at this size)"
        if "motion_ratio" in r["rows"][-1]:
          notes += f"; motion {_fmt(r['rows'][-1]['motion_ratio'])} x the real clips'"
      elif target == "motion_ratio":
        notes = "static copy: 0"
      elif target == "cond_error_drop":
        notes = f"error {_fmt(r['rows'][0]['cond_error'])} -> {_fmt(r['rows'][-1]['cond_error'])}"
      elif target == "mask_iou":
        m = b["mask_iou"]
        notes = f"static {_fmt(m['static'])}, oracle {_fmt(m['oracle'])}"
        if "with_frame_0" in m:  # summaries written before it have no such baseline
          notes += f", input frame as background {_fmt(m['with_frame_0'])}"
        if "video_shape_iou" in r["rows"][-1]:
          notes += f"; shapes the generated clip shows {_fmt(r['rows'][-1]['video_shape_iou'])}"
      elif target == "segmentation_miou":
        notes = f"real frames: {_fmt(b['segmentation_miou']['oracle'])}"
      elif target in ("mse_vs_copy_last", "rollout_vs_copy_last"):
        notes = "copy-last: 1"
      lines.append(
        f"| {name} | {r['kind']} | {r['steps'][-1]} | {r['seconds'] / 60:.1f} | {target} "
        f"{_target_text(op, threshold)} | {_fmt(r['values'].get(target))} | {notes} | "
        f"{r['verdicts'][target]} |"
      )
  row = summary["models"].get(INFLATION, {})
  if "scratch" in row:
    fd = lambda r: " -> ".join(f"{x['fd_r3d']:.3g} ({x['step']})" for x in r["rows"])
    lines += [
      "",
      "2D pretraining then inflation (Egan's DCGAN; FD-R3D at equal 3D steps, no target):",
      "",
      "| start | FD-R3D (3D step) | 3D training minutes |",
      "|---|---|---|",
      f"| from scratch | {fd(row['scratch'])} | {row['scratch']['train_seconds'] / 60:.1f} |",
      f"| inflated from {row['pretrain_2d']['steps']} 2D steps "
      f"({row['pretrain_2d']['seconds'] / 60:.1f} min) | {fd(row['inflated'])} | "
      f"{row['inflated']['train_seconds'] / 60:.1f} |",
    ]
  elif "error" in row:
    lines += ["", f"Inflation row: error: {row['error'][:200]}"]
  lines += ["", "What each number means:", ""]
  lines += [f"- `{k}`: {v}" for k, v in TARGET_NOTES.items()]
  return "\n".join(lines) + "\n"


def format_table(result):
  """One check's rows as a text table, then its baselines and verdicts."""
  keys = [k for k in result["rows"][0] if k not in ("step", "seconds")]
  lines = [f"{'step':>8}" + "".join(f"  {k:>16}" for k in keys)]
  for r in result["rows"]:
    lines.append(f"{r['step']:>8}" + "".join(f"  {_fmt(r.get(k)):>16}" for k in keys))
  for name, values in result["baselines"].items():
    shown = ", ".join(f"{k} {_fmt(v)}" for k, v in values.items())
    lines.append(f"baselines of {name}: {shown}")
  for k, verdict in result["verdicts"].items():
    op, threshold = result["targets"][k]
    lines.append(
      f"target {k} {_target_text(op, threshold)}: {_fmt(result['values'].get(k))} {verdict.upper()}"
    )
  return "\n".join(lines)


# ----------------------------------------------------------------------------- the CLI


def main(argv):
  cli.no_positional(argv)
  f = flags.FLAGS
  logging.set_verbosity(logging.INFO)
  if f.all == bool(f.config):
    raise cli.UserError("Expected either --config or --all.")
  try:
    if f.all:
      try:
        names = model_names([n for n in f.models.split(",") if n])
      except ValueError as e:
        raise cli.UserError(f"--models: {e}") from None
      summary = run_all(f.workdir, names, f.num_videos, f.batch_size, steps=f.steps)
      print(markdown(summary))
      print(f"Wrote {os.path.join(f.workdir, ALL_PREFIX)}.json, .md and .png")
      failed = [n for n, r in summary["models"].items() if "error" in r or not r.get("ok", True)]
      sys.exit(1 if failed else 0)
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
  flags.DEFINE_bool("all", False, "Run every model of CHECKS, each in WORKDIR/NAME.")
  flags.DEFINE_string("models", "", "With --all: comma-separated models (default: all).")
  flags.DEFINE_integer("steps", None, "Training budget (default: the config's or the check's).")
  flags.DEFINE_integer("every", None, "Steps between measurements (default: steps / 5).")
  flags.DEFINE_integer("num_videos", NUM_VIDEOS, "Held-out clips per measurement.")
  flags.DEFINE_integer("batch_size", BATCH_SIZE, "Clips per batch when measuring.")
  flags.mark_flags_as_required(["workdir"])
  cli.run(main)
