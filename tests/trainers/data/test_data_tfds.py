"""Tests of the "tfds:NAME" sources on TFDS mock data (no download)."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from data_helpers import batches
from data_helpers import data_config
from trainers.data import pipeline


@pytest.mark.parametrize("name", ["bair_robot_pushing_small", "moving_mnist", "ucf101"])
def test_tfds_sources_map_to_the_common_element(name):
  outputs = ("first_frame", "label") if name == "ucf101" else ("first_frame",)
  cfg = data_config(
    source=f"tfds:{name}", num_frames=4, frame_stride=2, height=16, width=16, outputs=outputs
  )
  with tfds.testing.mock_data(num_examples=4):
    train = batches(pipeline.make_dataset(cfg, 2, True, seed=0), 2)
    evaluation = batches(pipeline.make_dataset(cfg, 2, False))
  assert len(evaluation) == 2  # One pass over 4 mock examples.
  for b in train + evaluation:
    assert b["video"].shape == (2, 4, 16, 16, 3) and b["video"].dtype == np.float32
    assert b["video"].min() >= -1.0 and b["video"].max() <= 1.0
    np.testing.assert_array_equal(b["first_frame"], b["video"][:, 0])
  if name == "moving_mnist":  # Grayscale, tiled to three equal channels.
    video = train[0]["video"]
    np.testing.assert_array_equal(video[..., 0], video[..., 1])
    np.testing.assert_array_equal(video[..., 0], video[..., 2])
  if name == "ucf101":
    labels = np.concatenate([b["label"] for b in evaluation])
    assert labels.dtype == np.int32 and np.all((labels >= 0) & (labels < 101))


def test_tfds_errors_name_what_is_expected():
  with pytest.raises(ValueError, match="Expected a TFDS dataset among"):
    pipeline.make_dataset(data_config(source="tfds:mnist"), 1, True)
  with tfds.testing.mock_data(num_examples=2):
    with pytest.raises(ValueError, match="Expected a dataset with labels"):
      pipeline.make_dataset(data_config(source="tfds:moving_mnist", outputs=("label",)), 1, True)


def test_tfds_eval_is_sharded_across_pipelines():
  cfg = data_config(source="tfds:ucf101", num_frames=2, height=16, width=16, outputs=("label",))
  with tfds.testing.mock_data(num_examples=6):
    whole = [b["video"] for b in batches(pipeline.make_dataset(cfg, 1, False))]
    parts = []
    for i in range(2):
      context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
      parts += [b["video"] for b in batches(pipeline.make_dataset(cfg, 1, False, context))]
  assert len(whole) == 6 and len(parts) == 6
  assert sorted(v.tobytes() for v in parts) == sorted(v.tobytes() for v in whole)
