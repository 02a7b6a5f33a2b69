"""Tests of trainers.data.format: the record layout, encoding and decoding."""

import numpy as np
import pytest
import tensorflow as tf

from trainers.data import format as record_format
from trainers.data import synthetic


def _clip():
  return synthetic.clips(3, [0], num_frames=8, height=24, width=32)["video"][0]


def test_shard_names_follow_the_convention():
  assert record_format.shard_path("/d/train", 3, 8) == "/d/train-00003-of-00008.tfrecord"


def test_png_round_trip_is_exact_and_keeps_metadata():
  clip = _clip()
  seg = (np.arange(24 * 32) % 5).reshape(24, 32)
  example = record_format.encode_clip(clip, "png", fps=12.5, source="a.mp4", start_frame=7,
                                      label=3, middle_frame=2, segmentation=seg)
  out = record_format.decode_example(example.SerializeToString())
  np.testing.assert_array_equal(out["frames"].numpy(), clip)
  np.testing.assert_array_equal(out["segmentation"].numpy(), seg)
  assert (int(out["num_frames"]), int(out["height"]), int(out["width"])) == (8, 24, 32)
  assert float(out["fps"]) == pytest.approx(12.5)
  assert out["source"].numpy() == b"a.mp4"
  assert (int(out["start_frame"]), int(out["label"]), int(out["middle_frame"])) == (7, 3, 2)


def test_jpeg_round_trip_within_tolerance_and_absent_fields_default():
  clip = _clip()
  out = record_format.decode_example(record_format.encode_clip(clip).SerializeToString())
  error = np.abs(out["frames"].numpy().astype(np.int32) - clip).mean()
  # Quality 95 with 4:4:4 chroma: stated tolerance, mean absolute error below 3 of 255.
  assert error < 3.0
  assert int(out["label"]) == -1 and int(out["middle_frame"]) == -1


@pytest.mark.parametrize("bad", [np.zeros((4, 8, 8), np.uint8), np.zeros((4, 8, 8, 3), np.float32)])
def test_encode_rejects_wrong_frames(bad):
  with pytest.raises(ValueError, match="Expected uint8 frames"):
    record_format.encode_clip(bad)


def test_encode_rejects_middle_frame_outside_clip():
  with pytest.raises(ValueError, match="middle_frame"):
    record_format.encode_clip(_clip(), middle_frame=8)


def test_decode_frames_in_a_graph_with_static_length():
  clip = _clip()[:3]
  encoded = tf.constant([record_format.encode_image(f, "png") for f in clip])
  decoded = tf.function(record_format.decode_frames)(encoded)
  np.testing.assert_array_equal(decoded.numpy(), clip)
