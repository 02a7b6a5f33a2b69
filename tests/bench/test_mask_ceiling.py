"""bench/mask_ceiling.py: the supervised losses by hand, and a two-step run measured."""

import numpy as np
import pytest
import tensorflow as tf

from bench import mask_ceiling
from trainers import config_files


def _streams(video, mask):
  return {"video": tf.constant(video, tf.float32), "mask": tf.constant(mask, tf.float32)}


def test_video_supervision_is_the_mean_l1_of_the_composed_clip():
  fake = np.zeros([1, 2, 1, 2, 3], np.float32)
  real = np.full_like(fake, 0.5)
  real[0, 1] = -1.0  # |0 - 0.5| on 6 values, |0 + 1| on the other 6: mean 0.75
  mask = np.full([1, 2, 1, 2, 1], 0.9, np.float32)
  loss = mask_ceiling.supervised_loss(_streams(fake, mask), real, np.ones_like(mask), "video")
  np.testing.assert_allclose(float(loss), 0.75, rtol=1e-6)


def test_mask_supervision_adds_the_masks_binary_cross_entropy():
  video = np.zeros([1, 1, 1, 2, 3], np.float32)
  mask = np.array([0.8, 0.3], np.float32).reshape([1, 1, 1, 2, 1])
  true = np.array([1.0, 0.0], np.float32).reshape([1, 1, 1, 2, 1])
  loss = mask_ceiling.supervised_loss(_streams(video, mask), video, true, "mask")
  expected = -(np.log(0.8) + np.log(0.7)) / 2  # the L1 term is 0
  np.testing.assert_allclose(float(loss), expected, rtol=1e-5)


def test_frame0_supervision_is_the_mean_l1_of_frame_0_alone():
  fake = np.zeros([1, 2, 1, 2, 3], np.float32)
  real = np.full_like(fake, 0.25)
  real[0, 1] = -1.0  # frame 1 is not compared
  mask = np.full([1, 2, 1, 2, 1], 0.5, np.float32)
  loss = mask_ceiling.supervised_loss(_streams(fake, mask), real, np.ones_like(mask), "frame0")
  np.testing.assert_allclose(float(loss), 0.25, rtol=1e-6)


@pytest.fixture
def tiny_config():
  c = config_files.load("vgan_image_to_video:smoke")
  c.data.synthetic.motion = "by_appearance"
  c.train.batch_size = 2
  return c


def test_a_run_measures_at_the_start_every_interval_and_the_end(tiny_config):
  lines = []
  rows = mask_ceiling.run(tiny_config, steps=3, every=2, num_videos=4, log=lines.append)
  assert [r["step"] for r in rows] == [0, 2, 3]
  assert len(lines) == 3
  for r in rows:
    assert 0.0 <= r["mask_iou"] <= 1.0
    assert len(r["mask_iou_per_frame"]) == tiny_config.data.num_frames
    assert r["cond_error"] > 0.0 and r["motion_ratio"] >= 0.0
  assert "frame-0 error" in lines[-1]


def test_a_source_without_true_masks_is_refused(tiny_config):
  tiny_config.data.source = "tfrecord"
  with pytest.raises(ValueError, match="data.source 'synthetic'"):
    mask_ceiling.run(tiny_config, steps=1, every=1, num_videos=4)
