"""trainers.evaluate_segmentation: the metrics by hand, a small SavedModel segmenter built here,
and the CLI's run on a SPADE smoke workdir."""

import json

from absl import flags
import numpy as np
import pytest
import tensorflow as tf

from configs import egan_spade_image
import segmenter_helpers
from trainers import evaluate_segmentation as evseg
from trainers import workdir as workdir_lib
from zoo import registry
from zoo import segmenter as segmenter_lib


def test_metrics_by_hand():
  true = np.array([[0, 0, 0, 0], [0, 0, 1, 1], [1, 1, 2, 2]] * 33 + [[3, 0, 0, 0]])
  pred = true.copy()
  pred[0, :2] = 1  # two class-0 pixels called 1
  counts = evseg.confusion(pred, true, 4)
  assert counts.sum() == true.size and counts[0, 1] == 2
  m = evseg.metrics(counts)
  assert m["pixel_accuracy"] == pytest.approx(1 - 2 / true.size)
  # Class 3 covers 1 of 400 pixels (< 1%): left out of the mean IoU.
  assert m["classes"] == [0, 1, 2]
  n0, n1 = (true == 0).sum(), (true == 1).sum()
  iou0, iou1 = (n0 - 2) / n0, n1 / (n1 + 2)
  assert m["mean_iou"] == pytest.approx((iou0 + iou1 + 1.0) / 3)
  assert evseg.metrics(counts, min_frequency=0.0)["classes"] == [0, 1, 2, 3]
  with pytest.raises(ValueError, match="Expected as many"):
    evseg.confusion(pred[:1], true, 4)


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory):
  return segmenter_helpers.save(tmp_path_factory.mktemp("segmenter"))


def test_saved_segmenter_scores_a_generator_that_paints_the_mask(segmenter):
  segment = segmenter_lib.Segmenter(segmenter)
  colours = tf.constant(segmenter_helpers.COLOURS)

  class Painter:  # a "generator" that paints each class its colour on 2 frames
    latent_dim, condition, video_shape = 0, "mask", (2, 8, 8, 3)

    def __call__(self, masks, training=False):
      return tf.tile(tf.gather(colours, masks)[:, None], [1, 2, 1, 1, 1])

  masks = [tf.random.stateless_uniform([3, 8, 8], [1, i], 0, 4, tf.int32) for i in range(2)]
  result = evseg.evaluate(Painter(), segment, masks, 4)
  assert result["pixel_accuracy"] == 1.0 and result["mean_iou"] == 1.0


def test_cli_on_a_spade_workdir(segmenter, tmp_path):
  workdir = str(tmp_path / "spade")
  config = egan_spade_image.get_config("smoke")
  workdir_lib.save_config(config, workdir)
  generator = workdir_lib.build_generator(config)
  ckpt = tf.train.Checkpoint(generator=registry.weights_in_order(generator))
  tf.train.CheckpointManager(ckpt, workdir_lib.checkpoint_dir(workdir), 1).save(0)
  fv = flags.FlagValues()
  evseg.define_flags(fv)
  out = str(tmp_path / "seg.json")
  fv(
    [
      "prog",
      f"--workdir={workdir}",
      f"--segmenter={segmenter}",
      "--num_clips=4",
      "--batch_size=2",
      f"--out={out}",
    ]
  )
  results = evseg.run(fv)
  assert results["num_clips"] == 4 and 0.0 <= results["pixel_accuracy"] <= 1.0
  assert 0.0 <= results["mean_iou"] <= 1.0 and results["classes"]
  assert json.load(open(out))["pixel_accuracy"] == results["pixel_accuracy"]
  fv.segmenter = str(tmp_path / "missing")
  with pytest.raises(ValueError, match="Expected a segmentation SavedModel"):
    evseg.run(fv)
