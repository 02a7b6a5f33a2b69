"""trainers.eval.learning: motion, the shape recovery and its mIoU on hand-made and
synthetic frames, and a conditioned row of a mask-conditioned (SPADE) check."""

import numpy as np
import pytest

from trainers import learning_check
from trainers import tasks
from trainers import workdir as workdir_lib
from trainers.data import synthetic
from trainers.eval import learning
from zoo import base


def test_motion_of_still_and_moving_clips():
  still = np.zeros((2, 4, 3, 3, 3), np.float32)
  assert learning.motion(still) == 0.0
  moving = still.copy()
  moving[:, 1::2] = 1.0  # every other frame white: |diff| = 1 everywhere
  assert learning.motion(moving) == pytest.approx(1.0)
  with pytest.raises(ValueError, match="T >= 2"):
    learning.motion(still[:, :1])


def test_two_class_miou_by_hand():
  true = np.zeros((1, 4, 4), bool)
  true[0, :2, :2] = True  # 4 shape pixels
  pred = np.zeros_like(true)
  pred[0, :2, :1] = True  # 2 of them
  # shape: 2 / 4; background: 12 / 14.
  assert learning.two_class_miou(pred, true)[0] == pytest.approx((0.5 + 12 / 14) / 2)
  assert learning.two_class_miou(true, true)[0] == 1.0
  empty = np.zeros_like(true)
  assert learning.two_class_miou(empty, empty)[0] == 1.0  # no shape in either: exact


def test_shapes_are_recovered_exactly_from_real_synthetic_frames():
  c = synthetic.clips(synthetic.EVAL_SEED_OFFSET, range(32), 2, 32, 32, max_shapes=3)
  frames = c["video"][:, 0].astype(np.float32) / 127.5 - 1.0
  mask = c["segmentation"] > 0
  np.testing.assert_array_equal(learning.shape_pixels(frames), mask)
  grey = np.zeros_like(frames)  # a model that paints no shape
  assert learning.two_class_miou(learning.shape_pixels(grey), mask).mean() < 0.6


def test_conditioned_row_of_a_mask_conditioned_generator():
  c = learning_check.check_config("egan_spade_video")
  generator = workdir_lib.build_generator(c)
  row = learning.conditioned_row(generator, c, num_videos=6, batch_size=4)
  assert row["segmentation_miou_real"] == 1.0 and 0.0 <= row["segmentation_miou"] <= 1.0
  assert row["cond_error"] > 0 and row["motion_real"] > 0
  assert row["motion_ratio"] == pytest.approx(row["motion"] / row["motion_real"])
  assert learning.condition_frame(c) == 0


@pytest.mark.parametrize(
  "name", ["relive_conditional_wgan", "relive_segmentation_conditional", "radner_style"]
)
def test_conditioned_row_of_generators_with_a_photo_encoder(name):
  """Their `encoder` reads the input photo: not a VAE's, so z comes from the prior."""
  c = learning_check.check_config(name)
  generator = workdir_lib.build_generator(c)
  assert not tasks.vae_encoder(generator)
  # Two-stream, they still get no mask IoU: it feeds frame 0, they read the middle frame.
  if name.startswith("relive"):
    with c.unlocked():
      c.model.generator.args.two_stream = True
    two_stream = workdir_lib.build_generator(c)
    assert "mask" in base.contract(two_stream).streams
    assert not learning_check.wants_mask_iou(two_stream, c)
  row = learning.conditioned_row(generator, c, num_videos=4, batch_size=4)
  assert row["cond_error"] > 0 and row["motion_real"] > 0


def test_a_vae_generator_is_measured_from_its_code_of_the_real_clip():
  """SPADE as a VAE trains on its encoder's code of the real clip: the conditioned row
  generates from that code (the mean), not from the prior."""
  c = learning_check.check_config("egan_spade_video")
  generator = workdir_lib.build_generator(c)
  seen = []
  encode = generator.encode

  def recording(video, training=False):
    seen.append(tuple(video.shape))
    return encode(video, training=training)

  generator.encode = recording
  assert tasks.vae_encoder(generator)
  learning.conditioned_row(generator, c, num_videos=6, batch_size=4)
  assert seen and all(s[1:] == (c.data.num_frames, c.data.height, c.data.width, 3) for s in seen)


@pytest.mark.slow  # ~80 s on a loaded 2-core machine: a whole check, one step
def test_mask_conditioned_check_reports_shapes_against_the_mask(tmp_path):
  c = learning_check.check_config("egan_spade_video")
  result = learning_check.run_check(c, str(tmp_path), steps=1, every=1, num_videos=4, batch_size=4)
  assert result["kind"] == "conditioned"
  assert set(result["targets"]) == {"cond_error_drop", "motion_ratio", "segmentation_miou"}
  assert result["baselines"]["segmentation_miou"] == {"oracle": 1.0}
  for row in result["rows"]:
    assert 0.0 <= row["segmentation_miou"] <= 1.0 and row["segmentation_miou_real"] == 1.0
  assert "segmentation_miou" in learning_check.markdown(
    {"date": "d", "machine": "m", "num_videos": 4, "models": {"egan_spade_video": result}}
  )
