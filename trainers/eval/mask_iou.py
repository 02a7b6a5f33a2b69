"""Mask IoU of two-stream generators against the synthetic data's true foreground.

A two-stream generator (VGAN, Vondrick et al. 2016, sec. 2.2) composes its clip as
m * foreground + (1 - m) * background; whether m learns to cover the moving objects is not
visible in FVD. The synthetic source knows the truth (`fg_masks`: 1 where a shape covers the
pixel), so for an image-to-video generator conditioned on a held-out clip's first frame its
`mask` stream can be scored against that clip's masks:

    IoU(t) = |{m_t > 0.5} & {g_t > 0.5}| / |{m_t > 0.5} | {g_t > 0.5}|

per clip and frame t. Decision: IoU is 1 when the union is empty (neither predicts nor has any
foreground: a perfect answer), so all-background frames are not undefined. Reported: the IoU
per frame averaged over clips ("per_frame", [T]), per clip averaged over frames ("per_clip"),
and the mean over every (clip, frame) pair ("mean"; each frame weighs the same, however much
foreground it has).

The mask is not what the objective judges: the discriminator and the first-frame
reconstruction see only the composed clip, which many (m, foreground, background) triples
give alike. So the same IoU is also reported for the shapes the generated clip itself shows
("video_shapes": pixels of the shapes' saturated colours, `learning.shape_pixels`; 1.0 on
the real clips): a mask can only mark shapes the clip draws.
"""

import numpy as np
import tensorflow as tf

from trainers.data import pipeline
from trainers.data import synthetic
from trainers.eval import learning
from trainers.eval import sources as sources_lib
from zoo import base

THRESHOLD = 0.5


def frame_iou(pred, true, threshold=THRESHOLD):
  """IoU of each frame: masks [..., T, H, W(, 1)] -> [..., T] float64; empty union -> 1."""
  pred, true = np.asarray(pred), np.asarray(true)
  if pred.shape != true.shape:
    raise ValueError(f"Expected masks of equal shape, received {pred.shape} and {true.shape}.")
  if pred.ndim < 3:
    raise ValueError(f"Expected masks [..., H, W] of rank >= 3, received shape {pred.shape}.")
  if pred.shape[-1] == 1 and pred.ndim >= 4:
    pred, true = pred[..., 0], true[..., 0]
  p, g = pred > threshold, true > threshold
  inter = np.logical_and(p, g).sum(axis=(-2, -1)).astype(np.float64)
  union = np.logical_or(p, g).sum(axis=(-2, -1)).astype(np.float64)
  return np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)


def mask_iou(pred, true, threshold=THRESHOLD):
  """Masks [B, T, H, W(, 1)] -> {"mean", "per_frame" [T], "per_clip" [B]} (see the module)."""
  ious = frame_iou(pred, true, threshold)
  if ious.ndim != 2:
    raise ValueError(f"Expected masks [B, T, H, W(, 1)], received shape {np.shape(pred)}.")
  return summarize(ious)


def summarize(ious):
  ious = np.asarray(ious, np.float64)
  return {
    "mean": float(ious.mean()),
    "per_frame": ious.mean(axis=0).tolist(),
    "per_clip": ious.mean(axis=1).tolist(),
    "num_clips": int(ious.shape[0]),
  }


def evaluate_mask_iou(
  generator, data_config, num_clips=256, batch_size=16, seed=0, threshold=THRESHOLD
):
  """Mask IoU of an image-conditioned two-stream generator on held-out synthetic clips.

  Args:
    generator: a zoo generator with `condition == "image"` and "mask" in `streams` whose
      `video_shape` matches the data's clips.
    data_config: a `data` section with source "synthetic"; its eval stream (seeded by `seed`,
      disjoint from training clips) gives the first frames and the true `fg_masks`.
    num_clips: clips scored (the eval stream's clips 0..num_clips-1).
    seed: the synthetic eval stream, and the noise seed (z_k from [seed, k]) when the
      generator also takes noise.

  Returns:
    `summarize` of the mask stream's [num_clips, T] IoUs, plus "video_shapes": `summarize`
    of the IoUs of the shapes the generated clips show (see the module).
  """
  spec = base.contract(generator)
  if spec.condition is not base.Condition.IMAGE or "mask" not in spec.streams:
    raise ValueError(
      "Expected a generator conditioned on 'image' with a 'mask' stream, "
      f"received condition {spec.key!r}, streams {spec.streams}."
    )
  if data_config.source != "synthetic":
    raise ValueError(
      "Expected data.source 'synthetic' (the only source with true fg_masks), "
      f"received {data_config.source!r}."
    )
  shape = (data_config.num_frames, data_config.height, data_config.width)
  if tuple(generator.video_shape[:3]) != shape:
    raise ValueError(
      f"Expected a generator of video_shape[:3] {shape} (the data's clips), "
      f"received {tuple(generator.video_shape)}."
    )
  data = data_config.copy_and_resolve_references()
  with data.unlocked():
    data.outputs = ("first_frame", "fg_masks")
  ds = pipeline.make_dataset(data, batch_size, training=False, seed=seed)
  sample = tf.function(
    lambda x: generator(x, training=False, return_streams=True), reduce_retracing=True
  )
  ious, shape_ious, done = [], [], 0
  for batch in ds:
    if done >= num_clips:
      break
    n = min(batch_size, num_clips - done)
    z = (
      sources_lib.noise(spec.latent_dim, seed, range(done, done + n)) if spec.takes_noise else None
    )
    out = sample(spec.inputs(z, batch["first_frame"][:n]))
    true = batch["fg_masks"][:n].numpy()
    mask = np.asarray(tf.cast(out["mask"], tf.float32))
    ious.append(frame_iou(mask, true, threshold))
    shapes = learning.shape_pixels(np.asarray(tf.cast(out["video"], tf.float32)))
    shape_ious.append(frame_iou(shapes[..., None].astype(np.float32), true, threshold))
    done += n
  if not ious:
    raise ValueError("The synthetic eval stream gave no clips to score.")
  result = summarize(np.concatenate(ious))
  result["video_shapes"] = summarize(np.concatenate(shape_ious))
  return result


def mask_baselines(data_config, num_clips=256, seed=0):
  """The IoUs that bracket a generator's on the same held-out synthetic clips.

  Renders the true masks of the eval clips `evaluate_mask_iou` scores (the eval stream of
  `seed`, clips 0..num_clips-1) and scores two answers that read only frame 0:
  - "static": frame 0's true mask held over every frame (a generator that copies its input);
  - "with_frame_0": each frame's true mask joined with frame 0's: the mask of a perfect
    two-stream generator whose background is the input frame itself, shapes and all, so
    that its foreground also covers where they were (at 16x32x32 with motion by
    appearance, 256 clips: 0.65, from 1.0 at frame 0 to 0.53 at frame 15);
  - "oracle": each shape's place, size, kind and colour as frame 0 shows them, moved by the
    data's physics. With `data.synthetic.motion = "by_appearance"` frame 0 determines each
    velocity (`synthetic.appearance_velocity`) and the oracle is exact (IoU 1.0, the
    reachable ceiling). With "random" motion frame 0 shows no direction: the oracle keeps
    each shape's speed and draws its direction anew, the ceiling of any model conditioned
    on one frame (measured at the quickstart's 16x32x32 over 256 clips: 0.31 against 0.30
    for "static", from 1.0 at frame 0 to 0.13 at frame 15).

  Args:
    data_config: a `data` section with source "synthetic".
    num_clips: clips scored.
    seed: the eval stream (and the redrawn directions of the "random" oracle).

  Returns:
    {"static", "with_frame_0", "oracle": `summarize(...)` each, "oracle_reads":
    "appearance" or "speed, not direction"}.
  """
  t, h, w = data_config.num_frames, data_config.height, data_config.width
  shapes = data_config.synthetic.max_shapes
  motion = data_config.synthetic.get("motion", "random")
  stride = float(data_config.get("frame_stride", 1))
  stream = seed + synthetic.EVAL_SEED_OFFSET
  params = [
    synthetic.clip_params(stream, i, shapes, h, w, stride, motion) for i in range(num_clips)
  ]
  batch = {k: tf.stack([p[k] for p in params]) for k in params[0]}
  true = synthetic.render(batch, t, h, w)["fg_masks"].numpy()
  static = np.repeat(true[:, :1], t, axis=1)
  velocity = batch["velocity"]
  if motion == "by_appearance":
    guess = synthetic.appearance_velocity(batch["kind"], batch["colour"], min(h, w), stride)
    reads = "appearance"
  else:
    angle = tf.random.stateless_uniform(velocity.shape[:-1], [seed, 1], 0.0, 2.0 * np.pi)
    speed = tf.norm(velocity, axis=-1)[..., None]
    guess = tf.stack([tf.sin(angle), tf.cos(angle)], -1) * speed
    reads = "speed, not direction"
  oracle = synthetic.render(dict(batch, velocity=guess), t, h, w)["fg_masks"].numpy()
  return {
    "static": summarize(frame_iou(static, true)),
    "with_frame_0": summarize(frame_iou(np.logical_or(true, true[:, :1]), true)),
    "oracle": summarize(frame_iou(oracle, true)),
    "oracle_reads": reads,
  }
