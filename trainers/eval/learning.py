"""What the learning check measures beside FD-R3D: baselines, conditioned-frame error, motion.

A number that falls says little without the numbers around it. For every kind of model the
learning check (`trainers.learning_check`) reports, on the same held-out clips:

- unconditional generators: FD-R3D of the samples, and two baselines of real clips measured
  once: the floor (two disjoint sets of real clips, the best a generator can expect from a
  finite sample) and a static clip (real first frames held for T frames: the right
  appearance and no motion). A generator below the static baseline has learned motion.
- conditioned generators (a photo, a frame or a mask in): the error of the generated frame
  that shows the condition (`condition_frame`: frame 0 for a first frame or a mask, the middle
  frame for (Re)live Photos) against the real one, and how much the clip moves (mean absolute
  difference of consecutive frames) against the real clips' motion: a static copy of the
  input scores 0 error and 0 motion, so both numbers are needed.
- mask-conditioned generators on synthetic data: whether the shapes land where the input mask
  puts them. The synthetic shapes are saturated (every channel within 0.2 of 0 or 1) and the
  background is not (every channel within [0.17, 0.83]), so `shape_pixels` recovers the
  foreground of a frame by colour alone; its mean IoU over the two classes (background,
  shape) against the input mask is reported for the generated frame and, as the recovery's
  own ceiling, for the real one (1.0 on the synthetic data).

Values are on the data's [-1, 1] scale; means over every pixel, frame and clip.
"""

import numpy as np
import tensorflow as tf

from trainers import evaluate
from trainers import evaluate_prediction
from trainers import tasks
from trainers.eval import sources as sources_lib
from zoo import base


def condition_frame(config):
  """The index of the real frame a conditioned generator's input shows (its first key's)."""
  keys = tasks.condition_keys(config.objective.get("condition", ""))
  if keys and keys[0] == "middle_frame":
    return (config.data.num_frames - 1) // 2
  return 0


SATURATED = 0.55  # |value| on [-1, 1] every channel of a shape pixel exceeds (shapes: >= 0.6)


def shape_pixels(frames):
  """Frames [..., H, W, 3] in [-1, 1] -> bool [..., H, W]: pixels whose every channel is
  saturated, the synthetic shapes' colours."""
  return (np.abs(np.asarray(frames, np.float32)) > SATURATED).all(axis=-1)


def two_class_miou(pred, true):
  """Mean over the classes (background, shape) of their IoU, per frame [..., H, W] -> [...];
  a class absent from both counts as 1."""
  scores = []
  for p, t in ((pred, true), (~pred, ~true)):
    inter = np.logical_and(p, t).sum(axis=(-2, -1)).astype(np.float64)
    union = np.logical_or(p, t).sum(axis=(-2, -1)).astype(np.float64)
    scores.append(np.where(union > 0, inter / np.maximum(union, 1.0), 1.0))
  return (scores[0] + scores[1]) / 2.0


def motion(clips):
  """Mean |x_{t+1} - x_t| of clips [B, T, H, W, C]: 0 for a still clip."""
  clips = np.asarray(clips, np.float32)
  if clips.ndim != 5 or clips.shape[1] < 2:
    raise ValueError(f"Expected clips [B, T >= 2, H, W, C], received shape {clips.shape}.")
  return float(np.abs(np.diff(clips, axis=1)).mean())


def conditioned_row(generator, config, num_videos, batch_size):
  """Conditioned-frame error and motion of a conditioned generator on the eval clips.

  Clip k is generated from the condition of eval clip k and noise z_k (seed `config.seed`),
  as `sources.GeneratorSource` does for FD-R3D. A generator with an encoder (SPADE trained
  as a VAE) takes its encoder's mean code of real clip k instead, as in training: the mask
  alone does not say the frame's colours and texture: with z from the prior, even a perfect
  sampler's error is that of another real frame with the same layout (docs/evaluation.md).

  Returns:
    {"cond_error": mean |generated[f] - real[f]| at f = `condition_frame`, "motion":
    `motion` of the generated clips, "motion_real": of the real ones, "motion_ratio":
    their ratio}; for a condition with a segmentation also "segmentation_miou" (frame f's
    `shape_pixels` against the mask, `two_class_miou`) and "segmentation_miou_real" (the
    same recovery on the real frame: its ceiling).
  """
  spec = base.contract(generator)
  keys = tasks.condition_keys(sources_lib.condition_key(generator, config))
  frame = condition_frame(config)
  t = config.data.num_frames
  sample = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)
  encode = None
  if tasks.vae_encoder(generator):
    encode = tf.function(lambda v: generator.encode(v, training=False), reduce_retracing=True)
  error = moved = moved_real = miou = miou_real = 0.0
  done = 0
  for batch in evaluate_prediction.clip_batches(config, None, num_videos, batch_size):
    n = int(batch["video"].shape[0])
    z = sources_lib.noise(spec.latent_dim, config.seed, range(done, done + n))
    condition = tasks.batch_condition(batch, keys, spec.key)
    real = np.asarray(batch["video"], np.float32)
    if encode is not None:
      z = tf.cast(encode(tf.constant(real))[0], tf.float32)
    fake = sample(spec.inputs(z if spec.takes_noise else None, condition))
    fake = np.asarray(tf.cast(fake, tf.float32))[:, :t]
    error += float(np.abs(fake[:, frame] - real[:, frame]).mean()) * n
    moved += motion(fake) * n
    moved_real += motion(real) * n
    if "segmentation" in keys:
      mask = np.asarray(batch["segmentation"]) > 0
      miou += float(two_class_miou(shape_pixels(fake[:, frame]), mask).sum())
      miou_real += float(two_class_miou(shape_pixels(real[:, frame]), mask).sum())
    done += n
  if not done:
    raise ValueError("Expected eval clips for the conditioned-frame error, received none.")
  row = {"cond_error": error / done, "motion": moved / done, "motion_real": moved_real / done}
  row["motion_ratio"] = row["motion"] / row["motion_real"] if row["motion_real"] else float("nan")
  if "segmentation" in keys:
    row["segmentation_miou"] = miou / done
    row["segmentation_miou_real"] = miou_real / done
  return row


def fd_baselines(config, networks, real, num_videos, batch_size):
  """FD-R3D of two real-clip baselines against the real side `real` (eval clips 0..N-1).

  Args:
    config: the run's config (its `data`, eval mode, seed `config.seed`).
    networks: `evaluate.Networks` with FD-R3D.
    real: the real side's `evaluate.Embeddings`.
    num_videos: N; the baselines use eval clips N..2N-1, disjoint from the real side's.
    batch_size: clips per batch.

  Returns:
    {"floor": FD-R3D(real, other real clips), "static": FD-R3D(real, their first frames held
    for T frames), "motion_real": `motion` of those clips}.
  """
  other, still = evaluate.Embeddings(networks), evaluate.Embeddings(networks)
  seen = moved = 0
  for batch in evaluate_prediction.clip_batches(config, None, 2 * num_videos, batch_size):
    video = np.asarray(batch["video"], np.float32)
    keep = video[max(num_videos - seen, 0) :]
    seen += len(video)
    if len(keep):
      other.update(keep)
      still.update(np.repeat(keep[:, :1], keep.shape[1], axis=1))
      moved += motion(keep) * len(keep)
  if other.count < num_videos:
    raise ValueError(
      f"Expected {2 * num_videos} eval clips for the real-vs-real floor, received {seen}."
    )
  fd = lambda side: evaluate.compute_metrics(("fd_r3d",), real, side)["fd_r3d"]
  return {"floor": fd(other), "static": fd(still), "motion_real": moved / other.count}
