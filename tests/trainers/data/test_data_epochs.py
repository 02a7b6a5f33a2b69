"""An epoch is counted from the data: the converter's manifest, TFDS's split info, or a field."""

import json
import os

from absl import flags
import pytest
import tensorflow_datasets as tfds

from configs import common
from trainers import loop
from trainers import optim
from trainers.data import epochs
from trainers.data import make_tfrecords


def _landscape_config(train_files):
  """Radner's landscape config (batch 8, warm restarts after epoch 10) on `train_files`."""
  c = common.radner(common.base(), "landscape")
  c.data.train_files = train_files
  return c


@pytest.fixture(name="shards")
def _shards(tmp_path):
  """40 tiny synthetic clips in two shards, as trainers.data.make_tfrecords writes them."""
  prefix = str(tmp_path / "landscape" / "train")
  values = flags.FlagValues()
  make_tfrecords.define_flags(values)
  values(
    [
      "make_tfrecords",
      "--source=synthetic",
      "--num_clips=40",
      "--clip_length=2",
      "--crop=8x8",
      "--num_shards=2",
      "--workers=1",
      f"--output={prefix}",
    ]
  )
  assert make_tfrecords.run(values) == 0
  return prefix


def test_epoch_is_the_manifest_clips_over_the_batch(shards):
  with open(shards + ".manifest.json") as f:
    assert json.load(f)["num_clips"] == 40
  c = _landscape_config(shards + "-*")
  assert (c.train.batch_size, c.train.grad_accum) == (8, 2)  # 2 micro-batches of 4
  steps = epochs.steps_per_epoch(c)
  assert steps == 40 // 8 == 5
  assert optim.uses_epochs(c.optimizer)
  # "Cosine annealing with warm restarts after epoch 10", first period one epoch.
  assert optim.schedule_steps(c.optimizer, steps) == (50, 5)
  # Only the shards the pattern matches count: shard 0 holds clips 0, 2, ..., 38.
  assert epochs.steps_per_epoch(_landscape_config(shards + "-00000-of-*")) == 20 // 8


def test_override_field_wins_and_missing_manifest_raises(shards, tmp_path):
  os.remove(shards + ".manifest.json")
  c = _landscape_config(shards + "-*")
  with pytest.raises(
    ValueError,
    match=r"Expected the manifest .*train\.manifest\.json.*"
    r"train\.steps_per_epoch",
  ):
    epochs.steps_per_epoch(c)
  # The loop counts the epoch before it builds a model: a missing manifest fails at once.
  with pytest.raises(ValueError, match="Expected the manifest"):
    loop.Trainer(c, str(tmp_path / "wd"))
  c.train.steps_per_epoch = 7
  assert epochs.steps_per_epoch(c) == 7
  assert optim.schedule_steps(c.optimizer, 7) == (70, 7)


def test_bair_epoch_comes_from_tfds_split_info(tmp_path):
  c = common.radner(common.base(), "bair")
  c.data.tfds_data_dir = str(tmp_path / "tfds")
  with pytest.raises(ValueError, match="Expected TFDS's split info"):
    epochs.steps_per_epoch(c)  # not prepared there
  # What `download_and_prepare` leaves: the dataset info with BAIR's split sizes.
  builder = tfds.builder("bair_robot_pushing_small", data_dir=c.data.tfds_data_dir)
  os.makedirs(builder.data_dir)
  with open(os.path.join(builder.data_dir, "dataset_info.json"), "w") as f:
    json.dump(
      {
        "name": builder.name,
        "version": str(builder.version),
        "splits": [
          {"name": "train", "shardLengths": ["43264"]},
          {"name": "test", "shardLengths": ["256"]},
        ],
      },
      f,
    )
  assert epochs.steps_per_epoch(c) == 5408
  assert optim.schedule_steps(c.optimizer, 5408) == (54_080, 5408)


def test_endless_synthetic_data_needs_the_override():
  c = common.radner(common.base(), "bair")
  c.data.source = "synthetic"
  with pytest.raises(ValueError, match="Expected data.synthetic.num_clips > 0"):
    epochs.steps_per_epoch(c)
  c.data.synthetic.num_clips = 100
  assert epochs.steps_per_epoch(c) == 100 // 8
  assert common.radner_smoke(c).train.steps_per_epoch == 1  # smoke runs: endless stream


def test_step_fields_stay_when_no_epoch_field_is_set():
  o = common.base().optimizer
  o.schedule, o.schedule_start_step, o.restart_period = "cosine_restarts", 30, 4
  assert not optim.uses_epochs(o)
  assert optim.schedule_steps(o) == (30, 4)
  o.restart_period_epochs = 2
  with pytest.raises(ValueError, match="Expected steps_per_epoch >= 1"):
    optim.schedule_steps(o)
  assert optim.schedule_steps(o, 10) == (30, 20)
