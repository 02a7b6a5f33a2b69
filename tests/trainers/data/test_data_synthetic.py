"""Tests of trainers.data.synthetic and of the "synthetic" source of the pipeline."""

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import batches
from data_helpers import data_config
from trainers.data import pipeline
from trainers.data import synthetic


def test_shapes_ranges_and_ground_truth():
  c = synthetic.clips(0, range(6), num_frames=8, height=16, width=24, max_shapes=3)
  assert c["video"].shape == (6, 8, 16, 24, 3) and c["video"].dtype == np.uint8
  assert c["fg_masks"].shape == (6, 8, 16, 24, 1) and set(np.unique(c["fg_masks"])) <= {0, 1}
  assert c["background"].shape == (6, 16, 24, 3)
  assert c["segmentation"].shape == (6, 16, 24) and c["segmentation"].max() <= 3
  assert np.all((c["label"] >= 0) & (c["label"] < 3))
  np.testing.assert_array_equal(c["segmentation"] > 0, c["fg_masks"][:, 0, ..., 0] > 0)
  # The background is static: the video equals it wherever no shape covers the pixel.
  background = np.broadcast_to(c["background"][:, None], c["video"].shape)
  uncovered = np.broadcast_to(c["fg_masks"] == 0, c["video"].shape)
  np.testing.assert_array_equal(c["video"][uncovered], background[uncovered])
  assert c["fg_masks"].mean() > 0.01  # Shapes are there.
  assert c["video"].std(axis=1).mean() > 1.0  # And they move.


def test_clips_are_a_function_of_seed_and_index():
  a = synthetic.clips(4, [7, 2], 8, 16, 16)["video"]
  b = synthetic.clips(4, [2, 7], 8, 16, 16)["video"]
  np.testing.assert_array_equal(a[0], b[1])
  np.testing.assert_array_equal(a[1], b[0])
  assert not np.array_equal(a[0], a[1])
  assert not np.array_equal(a[0], synthetic.clips(5, [7], 8, 16, 16)["video"][0])


def test_shapes_bounce_and_stay_inside_the_frame():
  # One-shape clips over a long horizon: the number of rows and of columns the shape covers
  # stays the same up to rasterisation (two pixels for discs and triangles at this size; it
  # would shrink by half when leaving the frame), and its centre reverses direction.
  c = synthetic.clips(1, range(40), num_frames=96, height=32, width=32, max_shapes=1)
  mask = c["fg_masks"][..., 0] > 0  # [N, T, H, W]
  for axis in (2, 3):
    extent = mask.any(axis=axis).sum(-1)  # [N, T]
    assert extent.min() >= 3
    assert np.all(extent.max(1) - extent.min(1) <= 2)
  rows = np.arange(32)[None, None, :]
  weight = c["fg_masks"][..., 0].sum(3)  # [N, T, H]
  cy = (weight * rows).sum(2) / weight.sum(2)
  turns = np.sum(np.diff(np.sign(np.diff(cy, axis=1)), axis=1) != 0)
  assert turns > 0
  u = tf.linspace(-100.0, 100.0, 1001)
  bounced = synthetic._reflect(u, 10.0).numpy()
  assert bounced.min() >= 0.0 and bounced.max() <= 10.0


def test_frame_stride_speeds_up_the_motion():
  slow = synthetic.clips(2, [0], 9, 32, 32, frame_stride=1)["video"][0]
  fast = synthetic.clips(2, [0], 3, 32, 32, frame_stride=4)["video"][0]
  np.testing.assert_array_equal(fast, slow[::4])


def test_pipeline_source_outputs_and_train_eval_streams():
  cfg = data_config(
    num_frames=8,
    height=16,
    width=16,
    outputs=("fg_masks", "background", "first_frame", "middle_frame", "label", "segmentation"),
  )
  (train,) = batches(pipeline.make_dataset(cfg, 3, True, seed=0), 1)
  assert train["video"].shape == (3, 8, 16, 16, 3) and train["video"].dtype == np.float32
  assert train["video"].min() >= -1.0 and train["video"].max() <= 1.0
  assert train["fg_masks"].shape == (3, 8, 16, 16, 1)
  assert train["background"].shape == (3, 16, 16, 3)
  assert train["label"].dtype == np.int32 and train["segmentation"].dtype == np.int32
  np.testing.assert_array_equal(train["middle_frame"], train["video"][:, 3])
  # The map is of the frame handed out as the condition: the middle one here, as the
  # (Re)live segmentation-conditioned model reads them; frame 0 without middle_frame.
  np.testing.assert_array_equal(train["segmentation"] > 0, train["fg_masks"][:, 3, ..., 0] > 0)
  cfg_first = data_config(num_frames=8, height=16, width=16, outputs=("fg_masks", "segmentation"))
  (first,) = batches(pipeline.make_dataset(cfg_first, 3, True, seed=0), 1)
  np.testing.assert_array_equal(first["segmentation"] > 0, first["fg_masks"][:, 0, ..., 0] > 0)
  assert not np.array_equal(first["segmentation"], train["segmentation"])  # the shapes moved
  direct = synthetic.clips(0, range(3), 8, 16, 16)["video"]
  np.testing.assert_array_equal(np.rint((train["video"] + 1) * 127.5), direct)
  (again,) = batches(pipeline.make_dataset(cfg, 3, True, seed=0), 1)
  np.testing.assert_array_equal(train["video"], again["video"])
  (evaluation,) = batches(pipeline.make_dataset(cfg, 3, False, seed=0), 1)
  assert not np.array_equal(train["video"], evaluation["video"])


def test_finite_synthetic_eval_is_sharded_across_pipelines():
  cfg = data_config(outputs=("label",))
  cfg.synthetic.num_clips = 8
  videos = []
  for i in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
    out = batches(pipeline.make_dataset(cfg, 2, False, context))
    assert len(out) == 2
    videos += [v for b in out for v in b["video"]]
  all_clips = synthetic.clips(synthetic.EVAL_SEED_OFFSET, range(8), 4, 16, 16)["video"]
  got = sorted(np.rint((v + 1) * 127.5).astype(np.uint8).tobytes() for v in videos)
  assert got == sorted(c.tobytes() for c in all_clips)


def _params(seed, n, shapes, h, w, motion, stride=1.0):
  params = [synthetic.clip_params(seed, i, shapes, h, w, stride, motion) for i in range(n)]
  return {k: tf.stack([p[k] for p in params]) for k in params[0]}


def test_by_appearance_motion_is_a_function_of_what_frame_0_shows():
  """Kind and colour fix each velocity; no shape hides another in frame 0, so frame 0 shows
  every shape's kind, colour, place and size whole."""
  h, w, shapes = 24, 32, 3
  p = _params(5, 24, shapes, h, w, "by_appearance", stride=2.0)
  expected = synthetic.appearance_velocity(p["kind"], p["colour"], min(h, w), 2.0)
  np.testing.assert_allclose(p["velocity"].numpy(), expected.numpy(), rtol=1e-6)
  speed = np.linalg.norm(p["velocity"].numpy(), axis=-1)
  np.testing.assert_allclose(speed, (0.75 + 0.25 * p["kind"].numpy()) * min(h, w) / 32 * 2.0)
  # The same kind and colour bits move the same way; 24 directions in all.
  angles = synthetic.appearance_velocity(
    tf.repeat(tf.range(3), 8),
    tf.cast(
      tf.tile(tf.constant([[a, b, c] for a in (0, 1) for b in (0, 1) for c in (0, 1)]), [3, 1]),
      tf.float32,
    ),
    32,
  ).numpy()
  assert len({tuple(np.round(a, 5)) for a in angles}) == 24
  one = synthetic.render(p, 1, h, w)
  areas = []
  for s in range(shapes):
    alone = dict(p, active=p["active"] & (tf.range(shapes) == s)[None])
    areas.append(synthetic.render(alone, 1, h, w)["fg_masks"].numpy().sum(axis=(1, 2, 3, 4)))
  np.testing.assert_array_equal(one["fg_masks"].numpy().sum(axis=(1, 2, 3, 4)), np.sum(areas, 0))
  assert (p["active"].numpy().sum(1) >= 1).all() and np.sum(areas) > 0


def test_random_motion_is_the_default_and_unknown_motion_is_refused():
  a = synthetic.clip_params(3, 4, 3, 16, 16)
  b = synthetic.clip_params(3, 4, 3, 16, 16, motion="random")
  for k in a:
    np.testing.assert_array_equal(a[k].numpy(), b[k].numpy())
  with pytest.raises(ValueError, match="data.synthetic.motion"):
    synthetic.clip_params(3, 4, 3, 16, 16, motion="sideways")


def test_pipeline_reads_the_motion_of_the_config():
  c = data_config(source="synthetic", num_frames=4, height=16, width=16)
  with c.unlocked():
    c.synthetic.motion = "by_appearance"
  video = next(iter(pipeline.make_dataset(c, 2, training=False, seed=1)))["video"].numpy()
  expected = synthetic.clips(
    1 + synthetic.EVAL_SEED_OFFSET, [0, 1], 4, 16, 16, motion="by_appearance"
  )
  np.testing.assert_allclose((video + 1.0) * 127.5, expected["video"], atol=1e-3)
