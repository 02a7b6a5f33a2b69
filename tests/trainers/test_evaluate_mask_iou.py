"""trainers.eval.mask_iou: hand-made masks with known IoUs, and the generator runner."""

import numpy as np
import pytest
import tensorflow as tf

import trainer_helpers
from trainers import workdir as workdir_lib
from trainers.eval import mask_iou


def test_known_values():
  pred = np.zeros([2, 3, 4, 4, 1], np.float32)
  true = np.zeros([2, 3, 4, 4, 1], np.float32)
  # clip 0, frame 0: pred 4 pixels, truth 2 of them -> 2 / 4.
  pred[0, 0, 0, :4] = 0.9
  true[0, 0, 0, :2] = 1.0
  # clip 0, frame 1: disjoint 2 + 2 pixels -> 0.
  pred[0, 1, 1, :2] = 0.8
  true[0, 1, 2, :2] = 1.0
  # clip 0, frame 2: both empty -> 1 by definition.
  # clip 1, frame 0: identical 3 pixels -> 1; 0.5 is not above the threshold.
  pred[1, 0, 3, :3] = 1.0
  true[1, 0, 3, :3] = 1.0
  pred[1, 0, 0, 0] = 0.5
  # clip 1, frame 1: truth only -> 0. frame 2: prediction only -> 0.
  true[1, 1, 2, 2] = 1.0
  pred[1, 2, 2, 2] = 0.7
  got = mask_iou.frame_iou(pred, true)
  np.testing.assert_allclose(got, [[0.5, 0.0, 1.0], [1.0, 0.0, 0.0]])
  summary = mask_iou.mask_iou(pred, true)
  assert summary["mean"] == pytest.approx(2.5 / 6)
  np.testing.assert_allclose(summary["per_frame"], [0.75, 0.0, 0.5])
  np.testing.assert_allclose(summary["per_clip"], [0.5, 1.0 / 3])
  assert summary["num_clips"] == 2
  # Without the channel axis, and a rejected shape mismatch.
  np.testing.assert_allclose(mask_iou.frame_iou(pred[..., 0], true[..., 0]), got)
  with pytest.raises(ValueError, match="equal shape"):
    mask_iou.frame_iou(pred, true[:1])


def test_runner_on_a_tiny_image_to_video_generator():
  c = trainer_helpers.tiny_config()
  c.model.generator.args.condition = "image"
  c.model.generator.args.two_stream = True
  c.objective.condition = "first_frame"
  generator = workdir_lib.build_generator(c)
  result = mask_iou.evaluate_mask_iou(generator, c.data, num_clips=10, batch_size=4)
  assert result["num_clips"] == 10 and len(result["per_frame"]) == 4
  assert 0.0 <= result["mean"] <= 1.0
  again = mask_iou.evaluate_mask_iou(generator, c.data, num_clips=10, batch_size=5)
  assert again["mean"] == pytest.approx(result["mean"])  # same clips whatever the batching
  c.model.generator.args.two_stream = False
  with pytest.raises(ValueError, match="'mask' stream"):
    mask_iou.evaluate_mask_iou(workdir_lib.build_generator(c), c.data, num_clips=4)


def test_with_random_motion_the_oracle_is_exact_at_frame_0_then_falls_below_one_half():
  """A perfect mask without the direction of motion: exact at frame 0, then below 0.5 on
  average; what one frame allows on this data, so no first-frame target may sit above it."""
  from configs import quickstart

  data = quickstart.get_config().data
  result = mask_iou.mask_baselines(data, num_clips=32, seed=3)
  assert result["oracle_reads"] == "speed, not direction"
  for name in ("oracle", "static"):
    per_frame = result[name]["per_frame"]
    assert per_frame[0] == pytest.approx(1.0)
    assert per_frame[-1] < 0.5 and result[name]["mean"] < 0.5
    assert result[name]["num_clips"] == 32


def test_with_motion_by_appearance_the_oracle_reading_frame_0_is_exact():
  from configs import quickstart

  data = quickstart.get_config().data
  with data.unlocked():
    data.synthetic.motion = "by_appearance"
  result = mask_iou.mask_baselines(data, num_clips=32, seed=3)
  assert result["oracle_reads"] == "appearance"
  assert result["oracle"]["per_frame"] == [1.0] * data.num_frames  # every frame, bounces too
  static = result["static"]["per_frame"]
  assert static[0] == 1.0 and static[-1] < 0.5 and result["static"]["mean"] < 0.6
  # A background that keeps the input's shapes still allows the 0.5 target: the true masks
  # joined with frame 0's sit between the static mask and the oracle, every frame.
  joined = result["with_frame_0"]["per_frame"]
  assert joined[0] == 1.0 and result["with_frame_0"]["mean"] > 0.5
  assert all(s <= j <= 1.0 for s, j in zip(static, joined, strict=True))


class _InputHeldStill:
  """An image-to-video generator that repeats its input frame, with an empty mask."""

  condition, latent_dim, streams = "image", 0, ("mask",)

  def __init__(self, video_shape):
    self.video_shape = video_shape

  def __call__(self, image, training=False, return_streams=False):
    t = self.video_shape[0]
    video = tf.repeat(image[:, None], t, axis=1)
    assert return_streams
    return {"video": video, "mask": tf.zeros_like(video[..., :1])}


def test_shapes_of_a_clip_that_holds_its_input_still_score_the_static_baseline():
  """The shapes the clip shows are scored apart from the mask: a generator repeating frame 0
  shows frame 0's shapes, which is exactly the static baseline on the same clips."""
  from configs import quickstart

  data = quickstart.get_config().data
  generator = _InputHeldStill((data.num_frames, data.height, data.width, 3))
  result = mask_iou.evaluate_mask_iou(generator, data, num_clips=16, batch_size=8, seed=2)
  static = mask_iou.mask_baselines(data, num_clips=16, seed=2)["static"]
  np.testing.assert_allclose(result["video_shapes"]["per_frame"], static["per_frame"])
  assert result["video_shapes"]["per_frame"][0] == 1.0 and result["video_shapes"]["mean"] < 0.6
  # The empty mask marks nothing: IoU 0 wherever a shape is.
  assert result["mean"] < 0.1
