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
  example = record_format.encode_clip(
    clip, "png", fps=12.5, source="a.mp4", start_frame=7, label=3, middle_frame=2, segmentation=seg
  )
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


@pytest.mark.parametrize("height", [24, 20])  # 20: frames padded to the 32-row pitch.
def test_mosaic_decodes_to_the_frames_of_the_per_frame_layout(height):
  clip = synthetic.clips(3, [0], num_frames=8, height=height, width=32)["video"][0]
  decode = lambda fmt: record_format.decode_example(
    record_format.encode_clip(clip, fmt, quality=90).SerializeToString()
  )
  png, png_mosaic = decode("png"), decode("png_mosaic")
  np.testing.assert_array_equal(png_mosaic["frames"].numpy(), clip)
  assert png_mosaic["layout"].numpy() == b"mosaic" and png["layout"].numpy() == b"frames"
  assert int(png_mosaic["num_frames"]) == 8
  # Baseline JPEG codes each 8x8 block on its own and no block straddles two frames of the
  # mosaic: the same pixels as one JPEG per frame, so the same PSNR per frame.
  jpeg, jpeg_mosaic = decode("jpeg")["frames"].numpy(), decode("jpeg_mosaic")["frames"].numpy()
  np.testing.assert_array_equal(jpeg_mosaic, jpeg)
  mse = np.mean((jpeg_mosaic.astype(np.float64) - clip) ** 2, axis=(1, 2, 3))
  assert np.all(10 * np.log10(255.0**2 / np.maximum(mse, 1e-10)) > 30.0)


@pytest.mark.parametrize("fmt", ["jpeg_mosaic", "png_mosaic"])
def test_decode_mosaic_returns_only_the_frames_asked_for(fmt):
  clip = _clip()
  (image,), layout = record_format.encode_frames(clip, fmt)
  assert layout == "mosaic"
  frames = tf.function(record_format.decode_mosaic)(tf.constant(image), 24, 32, 2, 3)
  expected = record_format.decode_example(record_format.encode_clip(clip, fmt).SerializeToString())
  np.testing.assert_array_equal(frames.numpy(), expected["frames"].numpy()[2:5])


def test_mosaic_tiling_pads_frames_to_a_pitch_of_16_rows():
  assert [record_format.mosaic_pitch(h) for h in (1, 16, 17, 64)] == [16, 16, 32, 64]
  tiles = record_format.tile_frames(np.arange(2 * 3 * 1 * 1).reshape(2, 3, 1, 1))
  assert tiles.shape == (32, 1, 1)
  np.testing.assert_array_equal(tiles[:, 0, 0], [0, 1, 2] + [2] * 13 + [3, 4, 5] + [5] * 13)


def test_mosaic_formats_reject_what_they_cannot_store():
  with pytest.raises(ValueError, match="Expected a clip format in"):
    record_format.encode_frames(_clip(), "gif_mosaic")
  tall = np.zeros((1024, 64, 8, 3), np.uint8)  # 1024 x 64 rows > JPEG's 65500.
  with pytest.raises(ValueError, match="Expected a jpeg_mosaic of at most 65500 rows"):
    record_format.encode_frames(tall, "jpeg_mosaic")
  with pytest.raises(ValueError, match="Expected one mosaic image and num_frames"):
    record_format.example_from_encoded([b"a", b"b"], 8, 8, layout="mosaic", num_frames=2)
