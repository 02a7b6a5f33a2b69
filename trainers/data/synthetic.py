"""Built-in synthetic videos: coloured shapes bouncing over a static textured background.

Each clip holds one to `max_shapes` shapes (squares, discs, triangles) moving with constant
velocity and bouncing off the frame borders, painted over a background that does not change
over time (a smooth colour gradient with faint stripes).

How the shapes move (`motion`):
- "random" (the default): each shape starts anywhere and moves in a random direction at a
  random speed. One frame does not tell where the shapes go, so no model conditioned on a
  first frame can predict their future masks (`trainers.eval.mask_iou.mask_baselines`
  measures that ceiling).
- "by_appearance": each shape's velocity is a fixed function of what frame 0 shows of it
  (`appearance_velocity`: its kind and which colour channels are saturated give one of 24
  directions, its kind the speed), and the shapes start in distinct cells of a grid so that
  none hides another in frame 0. Frame 0 then determines every future frame, bounces
  included: an oracle reading it predicts every future mask exactly (IoU 1.0), a target a
  first-frame-conditioned generator can reach. A clip is a pure function of
(seed, index): parameters come from stateless random ops keyed by both, so any clip can be
regenerated alone, in any order, by any input pipeline.

Besides the video, a clip carries ground truth that real data lacks:

    fg_masks      [T, H, W, 1]  1 where any shape covers the pixel
    background    [H, W, 3]     the static background (equal to the video wherever fg is 0)
    segmentation  [H, W]        class ids of one frame (the first unless asked otherwise:
                                the conditioning frame): 0 background, 1 square, 2 disc,
                                3 triangle (the topmost shape wins)
    label         []            number of shapes minus one

Everything is TF ops; rendering is vectorised over a batch of clips. Every shape is
symmetric about its vertical axis, so it is described by a half-width per row and one
comparison `|x - cx| <= half_width(y)` over the [T, H, W] grid draws it: the per-pixel work is
one compare per shape plus the compositing.

Colours are multiples of 1/255, so the float video in [-1, 1] equals its uint8 version
(`(x + 1) * 127.5`) exactly.
"""

import functools
import math

import numpy as np
import tensorflow as tf

# Train and eval streams of the same seed use disjoint keys.
EVAL_SEED_OFFSET = 1_000_003
SHAPES = ("square", "disc", "triangle")
MOTIONS = ("random", "by_appearance")


def _key(seed, index):
  """The stateless RNG key [2] of clip `index` of stream `seed`."""
  return tf.stack([tf.cast(seed, tf.int64), tf.cast(index, tf.int64)])


_ANGLES = (np.arange(8 * len(SHAPES)) + 0.5) * (2.0 * np.pi / (8 * len(SHAPES)))
_DIRECTIONS = np.stack([np.sin(_ANGLES), np.cos(_ANGLES)], -1).astype(np.float32)  # (dy, dx)


def appearance_velocity(kind, colour, size, time_step=1.0):
  """The "by_appearance" velocity [..., 2] (dy, dx) in pixels per frame of shapes of `kind`
  [...] (0..2) and `colour` [..., 3] in [0, 1], in frames whose short side is `size`.

  Direction: one of 24 evenly spaced angles, indexed by the kind and the three channels'
  saturation bits (channel > 0.5); speed: 0.75, 1.0 or 1.25 x size / 32 by kind.
  """
  bits = tf.cast(colour > 0.5, tf.int32)
  code = tf.cast(kind, tf.int32) * 8 + bits[..., 0] * 4 + bits[..., 1] * 2 + bits[..., 2]
  # A table, not tf.sin / tf.cos: their vectorised and scalar kernels may differ in the last
  # bit, and an oracle recomputing a velocity over another batch shape must get it exactly.
  speed = (0.75 + 0.25 * tf.cast(kind, tf.float32)) * size / 32.0 * time_step
  return tf.gather(_DIRECTIONS, code) * speed[..., None]


def clip_params(seed, index, max_shapes, height, width, time_step=1.0, motion="random"):
  """Random parameters of one clip (a dict of small tensors), deterministic in (seed, index).

  `time_step` scales velocities: with a frame stride s the clip shows every s-th frame of
  the underlying motion. `motion` is one of MOTIONS (see the module docstring).
  """
  if motion not in MOTIONS:
    raise ValueError(f"Expected data.synthetic.motion in {MOTIONS}, received {motion!r}.")
  key = _key(seed, index)
  keys = tf.random.experimental.stateless_split(key, 12)
  u = lambda i, shape, lo=0.0, hi=1.0: tf.random.stateless_uniform(shape, keys[i], lo, hi)
  s = max_shapes
  size = float(min(height, width))
  num_shapes = tf.random.stateless_uniform([], keys[0], 1, s + 1, dtype=tf.int32)
  kind = tf.random.stateless_uniform([s], keys[1], 0, len(SHAPES), dtype=tf.int32)
  radius = u(2, [s], size / 10.0, size / 5.0)
  # Saturated colours: each channel near 0 or near 1, so shapes stand out of the mid-grey
  # background.
  bits = tf.cast(u(3, [s, 3]) < 0.5, tf.float32)
  colour = bits * 0.8 + u(4, [s, 3], 0.0, 0.2)
  extent = tf.constant([height, width], tf.float32)
  centre = radius[:, None] + u(5, [s, 2]) * (extent - 2.0 * radius[:, None])
  angle = u(6, [s], 0.0, 2.0 * math.pi)
  speed = u(7, [s], 0.5, 1.5) * size / 32.0 * time_step
  velocity = tf.stack([tf.sin(angle), tf.cos(angle)], -1) * speed[:, None]
  corners = u(8, [4, 3], 0.25, 0.75)
  stripe_freq = u(9, [2], -3.0, 3.0)
  stripe_phase = u(10, [], 0.0, 2.0 * math.pi)
  stripe_colour = u(11, [3], -0.08, 0.08)
  colour = tf.round(colour * 255.0) / 255.0
  if motion == "by_appearance":
    # Shape k starts in its own cell of a g x g grid, so no shape covers another in frame 0;
    # the keys derive from keys[5] so that the "random" stream stays as it was.
    g = math.ceil(math.sqrt(s))
    cell = tf.constant([height / g, width / g], tf.float32)
    sub = lambda i: tf.random.experimental.stateless_fold_in(keys[5], i)
    hi = min(size / 5.0, min(height, width) / g / 2.0)
    radius = tf.random.stateless_uniform([s], sub(1), min(size / 10.0, hi), hi)
    order = tf.argsort(tf.random.stateless_uniform([g * g], sub(2)))[:s]
    origin = tf.cast(tf.stack([order // g, order % g], -1), tf.float32) * cell
    room = cell - 2.0 * radius[:, None]
    centre = origin + radius[:, None] + tf.random.stateless_uniform([s, 2], sub(3)) * room
    velocity = appearance_velocity(kind, colour, size, time_step)
  return {
    "active": tf.range(s) < num_shapes,
    "kind": kind,
    "radius": radius,
    "colour": colour,
    "centre": centre,
    "velocity": velocity,
    "corners": corners,
    "stripe_freq": stripe_freq,
    "stripe_phase": stripe_phase,
    "stripe_colour": stripe_colour,
    "label": num_shapes - 1,
  }


def _reflect(u, length):
  """Position after bouncing between 0 and `length` (a triangle wave of period 2 * length)."""
  length = tf.maximum(length, 1e-3)
  return length - tf.abs(tf.math.floormod(u, 2.0 * length) - length)


def _background(p, height, width):
  """[B, H, W, 3] float in [0, 1]: bilinear corner gradient plus faint diagonal stripes."""
  y = tf.linspace(0.0, 1.0, height)[None, :, None, None]
  x = tf.linspace(0.0, 1.0, width)[None, None, :, None]
  c = p["corners"][:, :, None, None, :]  # [B, 4, 1, 1, 3]
  top = c[:, 0] * (1 - x) + c[:, 1] * x
  bottom = c[:, 2] * (1 - x) + c[:, 3] * x
  gradient = top * (1 - y) + bottom * y
  fy = p["stripe_freq"][:, 0, None, None, None]
  fx = p["stripe_freq"][:, 1, None, None, None]
  phase = p["stripe_phase"][:, None, None, None]
  stripes = tf.sin(2.0 * math.pi * (fy * y + fx * x) + phase)
  image = gradient + stripes * p["stripe_colour"][:, None, None, :]
  return tf.round(tf.clip_by_value(image, 0.0, 1.0) * 255.0) / 255.0


def render(params, num_frames, height, width, segmentation_frame=0):
  """Draws a batch of clips from batched `clip_params`; "segmentation" is of frame
  `segmentation_frame`.

  Returns:
    A dict: "video" float32 [B, T, H, W, 3] in [-1, 1], "fg_masks" float32 [B, T, H, W, 1],
    "background" float32 [B, H, W, 3] in [-1, 1], "segmentation" int32 [B, H, W],
    "label" int32 [B].
  """
  p = params
  t = tf.range(num_frames, dtype=tf.float32)[None, None, :]  # [1, 1, T]
  r = p["radius"][:, :, None]  # [B, S, 1]
  # Centre over time, bouncing so that the whole shape stays inside the frame.
  cy = r + _reflect(
    p["centre"][..., 0, None] - r + p["velocity"][..., 0, None] * t, float(height) - 2.0 * r
  )
  cx = r + _reflect(
    p["centre"][..., 1, None] - r + p["velocity"][..., 1, None] * t, float(width) - 2.0 * r
  )
  # Half-width of each shape on each row (pixel centres at i + 0.5); -1 off the shape.
  dy = (tf.range(height, dtype=tf.float32) + 0.5)[None, None, None, :] - cy[..., None]
  rr = r[..., None]
  inside_rows = tf.abs(dy) <= rr
  kind = p["kind"][:, :, None, None]
  half = tf.where(
    kind == 0,
    tf.broadcast_to(rr, tf.shape(dy)),
    tf.where(kind == 1, tf.sqrt(tf.maximum(rr * rr - dy * dy, 0.0)), (dy + rr) * 0.5),
  )  # Triangle: apex up, base at the bottom.
  half = tf.where(inside_rows & p["active"][:, :, None, None], half, -1.0)  # [B, S, T, H]
  dx = tf.abs((tf.range(width, dtype=tf.float32) + 0.5)[None, None, None, :] - cx[..., None])
  # Index of the topmost shape covering each pixel (0: background); later shapes on top.
  top = tf.zeros([], tf.int32)
  num_slots = p["kind"].shape[1]
  for s in range(num_slots):
    cover = dx[:, s, :, None, :] <= half[:, s, :, :, None]  # [B, T, H, W]
    top = tf.where(cover, s + 1, top)
  background = _background(p, height, width)
  # One gather paints shapes and background: the table holds the S shape colours, then
  # the H * W background pixels (cheaper than a broadcasting `where` over [B, T, H, W, 3]).
  background = background * 2.0 - 1.0
  table = tf.concat([p["colour"] * 2.0 - 1.0, tf.reshape(background, [-1, height * width, 3])], 1)
  pixel = tf.reshape(tf.range(height * width), [height, width]) + num_slots
  video = tf.gather(table, tf.where(top > 0, top - 1, pixel), batch_dims=1)
  fg = (top > 0)[..., None]
  kinds = tf.concat([tf.zeros_like(p["kind"][:, :1]), p["kind"] + 1], 1)
  return {
    "video": video,
    "fg_masks": tf.cast(fg, tf.float32),
    "background": background,
    "segmentation": tf.gather(kinds, top[:, segmentation_frame], batch_dims=1),
    "label": tf.cast(p["label"], tf.int32),
  }


def dataset(
  num_frames,
  height,
  width,
  batch_size,
  seed=0,
  max_shapes=3,
  num_clips=0,
  training=True,
  frame_stride=1,
  num_shards=1,
  shard_index=0,
  drop_remainder=True,
  motion="random",
  segmentation_frame=0,
):
  """A tf.data.Dataset of batches of synthetic clips (see `render` for the element).

  Args:
    num_frames, height, width: clip size.
    batch_size: clips per element.
    seed: the stream; evaluation uses `seed + EVAL_SEED_OFFSET`, so train and eval clips differ.
    max_shapes: up to this many shapes per clip (at least one).
    num_clips: 0 for an endless stream, else the clip indices 0..num_clips-1 (in training
      shuffled every pass and repeated forever; in eval one pass in order).
    training: which stream (see `seed`).
    frame_stride: shows every `frame_stride`-th step of the motion.
    num_shards, shard_index: this input pipeline takes indices shard_index::num_shards.
    drop_remainder: passed to `batch`.
    motion: how the shapes move, one of MOTIONS (see the module docstring).
    segmentation_frame: the frame "segmentation" maps (the one a model is conditioned on).
  """
  if not 0 <= segmentation_frame < num_frames:
    raise ValueError(
      f"Expected segmentation_frame in [0, {num_frames}), received {segmentation_frame}."
    )
  stream = seed if training else seed + EVAL_SEED_OFFSET
  if num_clips:
    indices = tf.data.Dataset.range(num_clips).shard(num_shards, shard_index)
    if training:
      indices = indices.shuffle(num_clips, seed=seed, reshuffle_each_iteration=True).repeat()
  else:
    indices = tf.data.Dataset.range(shard_index, 2**62, num_shards)
  params = indices.map(
    lambda i: clip_params(stream, i, max_shapes, height, width, float(frame_stride), motion),
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  batches = params.batch(batch_size, drop_remainder=drop_remainder)
  return batches.map(
    lambda p: render(p, num_frames, height, width, segmentation_frame),
    num_parallel_calls=tf.data.AUTOTUNE,
  )


@functools.lru_cache(maxsize=16)
def _render_fn(num_frames, height, width, max_shapes, frame_stride, motion):
  """A compiled graph (seed, indices) -> rendered clips; eager op-by-op dispatch is ~10x slower."""

  @tf.function(input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([None], tf.int64)])
  def fn(seed, indices):
    params = tf.data.Dataset.from_tensor_slices(indices).map(
      lambda i: clip_params(seed, i, max_shapes, height, width, float(frame_stride), motion)
    )
    return render(params.batch(2**31 - 1).get_single_element(), num_frames, height, width)

  return fn


def clips(seed, indices, num_frames, height, width, max_shapes=3, frame_stride=1, motion="random"):
  """Renders the clips `indices` of stream `seed` as numpy uint8 / int arrays.

  Returns a dict: "video" uint8 [N, T, H, W, 3], "fg_masks" uint8 [N, T, H, W, 1] (0/1),
  "background" uint8 [N, H, W, 3], "segmentation" uint8 [N, H, W], "label" int [N].
  For the TFRecord writer and for tests.
  """
  fn = _render_fn(num_frames, height, width, max_shapes, frame_stride, motion)
  out = fn(tf.constant(seed, tf.int64), tf.constant(list(indices), tf.int64))
  to_u8 = lambda x: np.rint((x.numpy() + 1.0) * 127.5).astype(np.uint8)
  return {
    "video": to_u8(out["video"]),
    "fg_masks": out["fg_masks"].numpy().astype(np.uint8),
    "background": to_u8(out["background"]),
    "segmentation": out["segmentation"].numpy().astype(np.uint8),
    "label": out["label"].numpy(),
  }
