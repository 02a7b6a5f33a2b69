"""Egan's sampling in trainers.data.pipeline (Section 4.2.1): frame mode (2D pretraining) and
clip starts in the first 8 frames at stride 3."""

import numpy as np

from data_helpers import batches
from data_helpers import data_config
from data_helpers import decode_index
from data_helpers import index_clip
from data_helpers import write_shards
from trainers.data import format as record_format
from trainers.data import pipeline


def _records(tmp_path, n=4, num_frames=32, height=40, width=48):
  clip = index_clip(num_frames, height, width)
  examples = [record_format.encode_clip(clip, "png", label=i) for i in range(n)]
  return write_shards(str(tmp_path / "c"), examples)


def test_frame_mode_yields_one_uniform_frame_of_each_clip(tmp_path):
  pattern = _records(tmp_path)
  cfg = data_config(
    source="tfrecord",
    train_files=pattern,
    num_frames=8,
    frame_stride=3,
    max_start=8,
    height=16,
    width=16,
    frame_mode=True,
  )
  seen = []
  for b in batches(pipeline.make_dataset(cfg, 4, True, seed=3), 8):
    assert b["video"].shape == (4, 1, 16, 16, 3) and b["video"].dtype == np.float32
    assert -1.0 <= b["video"].min() and b["video"].max() <= 1.0
    frame, _, _ = decode_index(b["video"][:, 0])
    assert np.all(frame == frame[:, :1, :1])  # one frame per element
    seen.extend(frame[:, 0, 0].tolist())
  # Frames of 8-frame clips at stride 3 starting in [0, 8): t0 + 3k, at most 7 + 21 = 28.
  assert max(seen) <= 28 and len(set(seen)) > 8
  residues = {t % 3 for t in seen}
  assert len(residues) > 1  # several starts
  eval_cfg = data_config(
    source="tfrecord",
    eval_files=pattern,
    num_frames=8,
    frame_stride=3,
    height=16,
    width=16,
    frame_mode=True,
  )
  (first,) = batches(pipeline.make_dataset(eval_cfg, 4, False), 1)
  assert np.all(decode_index(first["video"])[0] == 0)  # eval: each clip's frame 0


def test_clip_starts_in_the_first_max_start_frames(tmp_path):
  pattern = _records(tmp_path)
  cfg = data_config(
    source="tfrecord",
    train_files=pattern,
    num_frames=8,
    frame_stride=3,
    max_start=8,
    height=16,
    width=16,
  )
  starts = set()
  for b in batches(pipeline.make_dataset(cfg, 4, True, seed=1), 6):
    frame, _, _ = decode_index(b["video"])
    for clip in frame:
      np.testing.assert_array_equal(clip[:, 0, 0], clip[0, 0, 0] + 3 * np.arange(8))
      starts.add(int(clip[0, 0, 0]))
  assert starts <= set(range(8)) and len(starts) > 2


def test_frame_mode_on_synthetic_clips_picks_masks_with_the_frames():
  cfg = data_config(
    num_frames=4, height=16, width=16, frame_mode=True, outputs=("fg_masks", "segmentation")
  )
  (b,) = batches(pipeline.make_dataset(cfg, 2, True), 1)
  assert b["video"].shape == (2, 1, 16, 16, 3) and b["fg_masks"].shape == (2, 1, 16, 16, 1)
  assert b["segmentation"].shape == (2, 16, 16)
