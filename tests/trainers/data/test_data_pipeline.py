"""Tests of trainers.data.pipeline on TFRecord shards: clips, crops, sharding, errors, seeds."""

import numpy as np
import pytest
import tensorflow as tf

from data_helpers import batches
from data_helpers import data_config
from data_helpers import decode_index
from data_helpers import index_clip
from data_helpers import write_shards
from trainers.data import format as record_format
from trainers.data import pipeline
from trainers.data import synthetic
from trainers.eval import sources
from zoo import inputs as zoo_inputs


def _index_examples(n, num_frames=20, height=40, width=48, fmt="png", **kwargs):
  clip = index_clip(num_frames, height, width)
  return [record_format.encode_clip(clip, fmt, label=i, **kwargs) for i in range(n)]


def test_round_trip_writer_to_reader(tmp_path):
  clips = synthetic.clips(0, range(4), num_frames=8, height=16, width=24)["video"]
  for fmt, tolerance in (("png", 0.0), ("jpeg", 3.0), ("png_mosaic", 0.0), ("jpeg_mosaic", 3.0)):
    pattern = write_shards(str(tmp_path / fmt), [record_format.encode_clip(c, fmt) for c in clips])
    cfg = data_config(source="tfrecord", eval_files=pattern, num_frames=8, height=16, width=24)
    video = np.concatenate([b["video"] for b in batches(pipeline.make_dataset(cfg, 2, False))])
    u8 = np.rint((video + 1.0) * 127.5)
    # One shard: eval order is write order. PNG exact, JPEG mean |error| < 3 of 255.
    assert np.abs(u8 - clips).mean() <= tolerance


def test_uint8_to_unit_is_x_over_127_5_minus_1_to_rounding_and_round_trips():
  x = np.arange(256, dtype=np.uint8)
  unit = tf.function(zoo_inputs.uint8_to_unit)(tf.constant(x.reshape(1, 4, 8, 8))).numpy().ravel()
  exact = x.astype(np.float32) / np.float32(127.5) - np.float32(1.0)
  assert unit.dtype == np.float32 and unit[0] == -1.0 and unit[-1] == 1.0
  assert np.abs(unit - exact).max() <= np.finfo(np.float32).eps  # An ulp of x / 127.5 near 1.
  np.testing.assert_array_equal(np.rint((unit + np.float32(1.0)) * np.float32(127.5)), x)


@pytest.mark.parametrize("fmt", ["png", "png_mosaic"])  # 40-row frames: a 48-row mosaic pitch.
def test_eval_takes_frames_from_zero_at_stride_and_centre_crop(tmp_path, fmt):
  pattern = write_shards(str(tmp_path / "c"), _index_examples(1, fmt=fmt))
  cfg = data_config(
    resize=-1,
    source="tfrecord",
    eval_files=pattern,
    num_frames=4,
    frame_stride=3,
    height=16,
    width=24,
  )
  (batch,) = batches(pipeline.make_dataset(cfg, 1, False))
  frame, row, col = decode_index(batch["video"][0])
  np.testing.assert_array_equal(frame[:, 0, 0], [0, 3, 6, 9])
  np.testing.assert_array_equal(row[0, :, 0], np.arange(12, 28))  # (40 - 16) // 2 = 12
  np.testing.assert_array_equal(col[0, 0], np.arange(12, 36))  # (48 - 24) // 2 = 12


@pytest.mark.parametrize("fmt", ["png", "png_mosaic"])
def test_training_crops_are_windows_at_stride_with_random_start_and_flip(tmp_path, fmt):
  pattern = write_shards(str(tmp_path / "c"), _index_examples(4, fmt=fmt))
  cfg = data_config(
    resize=-1,
    source="tfrecord",
    train_files=pattern,
    num_frames=4,
    frame_stride=3,
    height=16,
    width=24,
    random_flip=True,
  )
  starts, flips = set(), set()
  for b in batches(pipeline.make_dataset(cfg, 4, True, seed=5), 4):
    for video in b["video"]:
      frame, row, col = decode_index(video)
      t0 = frame[0, 0, 0]
      np.testing.assert_array_equal(frame[:, 0, 0], t0 + 3 * np.arange(4))
      assert 0 <= t0 <= 20 - 10
      assert np.all(np.diff(row[0, :, 0]) == 1) and 0 <= row[0, 0, 0] <= 40 - 16
      steps = np.diff(col[0, 0])
      assert np.all(steps == 1) or np.all(steps == -1)
      assert col[0].min() >= 0 and col[0].max() <= 47
      starts.add(int(t0))
      flips.add(bool(steps[0] < 0))
  assert len(starts) > 1 and flips == {True, False}


def test_training_without_random_flip_keeps_the_layout(tmp_path):
  pattern = write_shards(str(tmp_path / "c"), _index_examples(2, fmt="png_mosaic"))
  cfg = data_config(
    resize=-1, source="tfrecord", train_files=pattern, height=16, width=24, random_flip=False
  )
  got = batches(pipeline.make_dataset(cfg, 2, True, seed=5), 3)
  assert len(got) == 3
  for b in got:
    _, _, col = decode_index(b["video"])
    assert np.all(np.diff(col, axis=-1) == 1)


@pytest.mark.parametrize("fmt", ["png", "png_mosaic"])
def test_segmentation_middle_and_first_frame_follow_the_clip(tmp_path, fmt):
  clip = index_clip(20, 40, 48)
  seg = np.tile(np.arange(48), (40, 1))  # Class id = column.
  examples = [
    record_format.encode_clip(clip, fmt, segmentation=seg, middle_frame=13),
    record_format.encode_clip(clip, fmt, segmentation=seg),
  ]
  pattern = write_shards(str(tmp_path / "s"), examples)
  cfg = data_config(
    resize=-1,
    source="tfrecord",
    train_files=pattern,
    eval_files=pattern,
    num_frames=4,
    frame_stride=3,
    height=16,
    width=24,
    outputs=("segmentation", "middle_frame", "first_frame"),
  )
  (b,) = batches(pipeline.make_dataset(cfg, 2, False))
  assert b["segmentation"].dtype == np.int32 and b["segmentation"].shape == (2, 16, 24)
  assert decode_index(b["middle_frame"])[0][:, 0, 0].tolist() == [13, 3]  # Record's, else (T-1)//2.
  np.testing.assert_array_equal(b["first_frame"], b["video"][:, 0])
  got = batches(pipeline.make_dataset(cfg, 2, True, seed=1), 3)
  assert len(got) == 3
  for b in got:
    _, _, col = decode_index(b["video"][:, 0])
    np.testing.assert_array_equal(b["segmentation"], col)
    _, _, mid_col = decode_index(b["middle_frame"])
    np.testing.assert_array_equal(mid_col, col)


def test_mosaic_and_per_frame_shards_give_the_same_clips(tmp_path):
  """One pipeline, either layout: the same seed draws the same frames, crops and flips."""
  clips = {}
  for fmt in ("png", "png_mosaic"):
    pattern = write_shards(str(tmp_path / fmt), _index_examples(6, fmt=fmt, middle_frame=17), 2)
    cfg = data_config(
      source="tfrecord",
      train_files=pattern,
      num_frames=5,
      frame_stride=2,
      height=24,
      width=32,
      outputs=("middle_frame", "label"),
    )
    clips[fmt] = batches(pipeline.make_dataset(cfg, 3, True, seed=3), 4)
  for a, b in zip(clips["png"], clips["png_mosaic"], strict=True):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key])


@pytest.mark.parametrize("fmt", ["png", "png_mosaic"])
def test_resize_short_side_then_crop(tmp_path, fmt):
  pattern = write_shards(str(tmp_path / "r"), _index_examples(1, height=40, width=80, fmt=fmt))
  cfg = data_config(
    source="tfrecord", eval_files=pattern, num_frames=2, height=16, width=16, resize=20
  )
  (b,) = batches(pipeline.make_dataset(cfg, 1, False))
  assert b["video"].shape == (1, 2, 16, 16, 3)
  _, row, col = decode_index(b["video"][0, 0])
  # 40x80 -> 20x40: each output pixel covers two source pixels; centre crop rows 2..17.
  assert abs(row[8, 0] - 2 * (2 + 8) - 0.5) <= 2 and abs(col[0, 8] - 2 * (12 + 8) - 0.5) <= 2


@pytest.mark.parametrize("num_files", [4, 1])  # By file, and by record when files are few.
def test_two_input_pipelines_cover_every_clip_once(tmp_path, num_files):
  pattern = write_shards(
    str(tmp_path / "p"), _index_examples(8, num_frames=4, height=16, width=16), num_files
  )
  cfg = data_config(source="tfrecord", eval_files=pattern, outputs=("label",))
  seen = []
  for i in range(2):
    context = tf.distribute.InputContext(num_input_pipelines=2, input_pipeline_id=i)
    labels = [l for b in batches(pipeline.make_dataset(cfg, 1, False, context)) for l in b["label"]]
    assert len(labels) == 4
    seen += labels
  assert sorted(seen) == list(range(8))


def _shard_with(tmp_path, bad):
  good = _index_examples(3, num_frames=4, height=16, width=16)
  return write_shards(str(tmp_path / "bad"), good[:2] + [bad] + good[2:])


def _corrupt_shard(tmp_path):
  return _shard_with(tmp_path, record_format.example_from_encoded([b"\xff\xd8garbage"] * 4, 16, 16))


def _corrupt_mosaic_shard(tmp_path):
  return _shard_with(
    tmp_path,
    record_format.example_from_encoded([b"\xff\xd8garbage"], 16, 16, layout="mosaic", num_frames=4),
  )


def _two_image_mosaic_shard(tmp_path):
  bad = _index_examples(1, num_frames=4, height=16, width=16, fmt="png_mosaic")[0]
  frames = bad.features.feature["frames"].bytes_list.value
  frames.append(frames[0])
  return _shard_with(tmp_path, bad)


def _unknown_layout_shard(tmp_path):
  bad = _index_examples(1, num_frames=4, height=16, width=16)[0]
  bad.features.feature["layout"].bytes_list.value[:] = [b"grid"]
  return _shard_with(tmp_path, bad)


def _truncated_shard(tmp_path):
  pattern = write_shards(
    str(tmp_path / "cut"), _index_examples(4, num_frames=4, height=16, width=16)
  )
  path = record_format.shard_path(str(tmp_path / "cut"), 0, 1)
  data = open(path, "rb").read()
  with open(path, "wb") as f:
    f.write(data[:-100])
  return pattern


def _short_shard(tmp_path):
  return write_shards(
    str(tmp_path / "short"),
    _index_examples(4, num_frames=4, height=16, width=16)
    + _index_examples(1, num_frames=3, height=16, width=16),
  )


@pytest.mark.parametrize(
  "make, message, num_good",
  [
    (_corrupt_shard, "Expected complete JPEG or PNG frames", 3),
    (_corrupt_mosaic_shard, "Expected complete JPEG or PNG frames", 3),
    (_two_image_mosaic_shard, "Expected one mosaic image, received 2", 3),
    (_unknown_layout_shard, "Expected a layout in", 3),
    (_truncated_shard, "truncated or corrupt", 3),
    (_short_shard, "Expected a clip of at least 4 frames", 4),
  ],
)
def test_corrupt_data_raises_naming_the_file_or_is_skipped_and_counted(
  tmp_path, make, message, num_good
):
  pattern = make(tmp_path)
  (path,) = tf.io.gfile.glob(pattern)
  cfg = data_config(source="tfrecord", eval_files=pattern)
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    batches(pipeline.make_dataset(cfg, 1, False))
  assert path in str(error.value) and message in str(error.value)
  pipeline.reset_skipped_records()
  cfg.skip_corrupt = True
  assert len(batches(pipeline.make_dataset(cfg, 1, False))) == num_good
  assert pipeline.skipped_records() == {path: 1}


@pytest.mark.parametrize("fmt", ["jpeg", "jpeg_mosaic"])
def test_bytes_damaged_inside_a_jpeg_raise_or_are_dropped_and_counted(tmp_path, fmt):
  good = _index_examples(3, num_frames=4, height=16, width=16, fmt=fmt)
  bad = _index_examples(1, num_frames=4, height=16, width=16, fmt=fmt)[0]
  frames = bad.features.feature["frames"].bytes_list.value
  frames[0] = frames[0][: len(frames[0]) // 2] + b"\xff\xd9"  # Passes the cheap checks.
  pattern = write_shards(str(tmp_path / "d"), good[:2] + [bad] + good[2:])
  cfg = data_config(source="tfrecord", eval_files=pattern)
  with pytest.raises(tf.errors.InvalidArgumentError, match="Invalid JPEG data"):
    batches(pipeline.make_dataset(cfg, 1, False))
  pipeline.reset_skipped_records()
  cfg.skip_corrupt = True
  assert len(batches(pipeline.make_dataset(cfg, 1, False))) == 3
  assert pipeline.skip_report() == {pipeline.UNKNOWN_FILE: {pipeline.UNDECODABLE: 1}}


def test_stride_can_make_a_clip_too_short(tmp_path):
  pattern = write_shards(str(tmp_path / "s"), _index_examples(1, num_frames=9, height=16, width=16))
  cfg = data_config(source="tfrecord", eval_files=pattern, num_frames=4, frame_stride=3)
  with pytest.raises(tf.errors.InvalidArgumentError, match="at least 10 frames"):
    batches(pipeline.make_dataset(cfg, 1, False))


def test_deterministic_mode_repeats_for_a_seed_and_differs_for_another(tmp_path):
  pattern = write_shards(
    str(tmp_path / "d"), _index_examples(8, num_frames=12, height=24, width=24), 2
  )
  cfg = data_config(source="tfrecord", train_files=pattern, outputs=("label",), deterministic=True)
  run = lambda seed: batches(pipeline.make_dataset(cfg, 2, True, seed=seed), 3)
  first, again, other = run(1), run(1), run(2)
  for a, b in zip(first, again, strict=True):
    np.testing.assert_array_equal(a["video"], b["video"])
    np.testing.assert_array_equal(a["label"], b["label"])
  assert any(not np.array_equal(a["video"], b["video"]) for a, b in zip(first, other, strict=True))


def test_missing_outputs_and_sources_are_reported(tmp_path):
  pattern = write_shards(str(tmp_path / "m"), [record_format.encode_clip(index_clip(4, 16, 16))])
  cfg = data_config(source="tfrecord", eval_files=pattern, outputs=("label",))
  with pytest.raises(tf.errors.InvalidArgumentError, match="Expected a label"):
    batches(pipeline.make_dataset(cfg, 1, False))
  with pytest.raises(ValueError, match="synthetic"):
    pipeline.make_dataset(
      data_config(source="tfrecord", eval_files=pattern, outputs=("fg_masks",)), 1, False
    )
  with pytest.raises(FileNotFoundError, match="nothing-here"):
    missing = str(tmp_path / "nothing-here*")
    pipeline.make_dataset(data_config(source="tfrecord", eval_files=missing), 1, False)
  with pytest.raises(ValueError, match="Expected data.source"):
    pipeline.make_dataset(data_config(source="hdf5"), 1, False)


def test_gzip_shards_are_read_with_compression(tmp_path):
  pattern = write_shards(
    str(tmp_path / "g"), _index_examples(2, num_frames=4, height=16, width=16), gzip=True
  )
  cfg = data_config(source="tfrecord", eval_files=pattern, compression="GZIP")
  assert len(batches(pipeline.make_dataset(cfg, 1, False))) == 2


@pytest.mark.parametrize("skip_corrupt", [False, True])
def test_iterator_checkpoint_resumes_the_same_clips(tmp_path, skip_corrupt):
  # The trainer checkpoints the data iterator; the skip counter (a py_function) must not
  # prevent it.
  pattern = write_shards(
    str(tmp_path / "k"), _index_examples(6, num_frames=8, height=16, width=16), 2
  )
  cfg = data_config(source="tfrecord", train_files=pattern, skip_corrupt=skip_corrupt)
  iterator = iter(pipeline.make_dataset(cfg, 2, True, seed=4))
  next(iterator)
  path = tf.train.Checkpoint(iterator=iterator).save(str(tmp_path / "ckpt" / "it"))
  expected = next(iterator)["video"].numpy()
  restored = iter(pipeline.make_dataset(cfg, 2, True, seed=4))
  tf.train.Checkpoint(iterator=restored).restore(path)
  np.testing.assert_array_equal(next(restored)["video"].numpy(), expected)


def test_non_deterministic_mode_still_delivers_full_batches(tmp_path):
  pattern = write_shards(
    str(tmp_path / "n"), _index_examples(4, num_frames=8, height=16, width=16), 2
  )
  cfg = data_config(source="tfrecord", train_files=pattern, deterministic=False)
  got = batches(pipeline.make_dataset(cfg, 3, True), 3)
  assert [b["video"].shape for b in got] == [(3, 4, 16, 16, 3)] * 3


def test_shards_are_found_by_glob_folder_or_the_converters_prefix(tmp_path):
  """`data.train_files` (and an evaluation's --real) may name the converter's --output prefix
  or the folder it wrote, as well as a glob; what a glob also catches of the converter's own
  files (its manifest, a shard a killed writer left under .tmp, a folder) is passed over."""
  d = tmp_path / "data"
  (d / "sub.tfrecord").mkdir(parents=True)
  shards = [str(d / f"train-0000{i}-of-00002.tfrecord") for i in range(2)]
  for name in [*shards, d / "train.manifest.json", d / "train-00002-of-00003.tfrecord.tmp"]:
    open(name, "w").close()
  other = tmp_path / "tfds" / "mnist-train.tfrecord-00000-of-00001"
  other.parent.mkdir()
  other.write_bytes(b"")
  for patterns in (f"{d}/train", str(d), f"{d}/train*", f"{d}/*", f"{d}/train-*-of-*.tfrecord"):
    assert record_format.match_files(patterns) == shards, patterns
  assert record_format.match_files(f"{d}/train, {other.parent}") == [*shards, str(other)]
  assert record_format.match_files(f"{d}/nothing") == []
  with pytest.raises(FileNotFoundError, match="a glob, a folder of .tfrecord files or the"):
    pipeline.list_files(f"{d}/nothing")
  # The manifest of the shards a prefix names is read (their clips' frame rate).
  (d / "train.manifest.json").write_text('{"sources": [{"fps": 30, "num_clips": 4}]}')
  assert record_format.clip_fps(data_config(source="tfrecord", train_files=f"{d}/train")) == 30
  # An evaluation's --real names them alike.
  for spec in (str(d), f"{d}/train", f"{d}/train*"):
    source = sources.open_source(spec, flag="real")
    assert source.kind == "tfrecord", spec
    assert pipeline.list_files(source.data.eval_files) == shards, spec
