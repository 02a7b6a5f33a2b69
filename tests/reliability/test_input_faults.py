"""Records that cannot be used: counted, reported by file and kind, bounded, never a hang."""

import time

import helpers
import pytest
import tensorflow as tf

from trainers.data import pipeline


def _read_all(cfg, training=False, limit=50):
  out = []
  for i, batch in enumerate(pipeline.make_dataset(cfg, 1, training)):
    if i >= limit:
      break
    out.append(batch)
  return out


def test_records_of_another_schema_raise_naming_the_file(tmp_path):
  path = helpers.write_shard(tmp_path / "other.tfrecord", helpers.label_only_examples(2))
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _read_all(helpers.data_config(source="tfrecord", eval_files=path))
  assert path in str(error.value)
  assert "without frames, num_frames, height, width" in str(error.value)


def test_a_record_that_fails_its_check_is_one_line_naming_file_and_record(tmp_path):
  # Before: the training step's InvalidArgumentError traceback ("assertion failed: [...]"),
  # e.g. for shards converted with --clip_length=4 read by a config of 8 frames.
  path = helpers.write_shard(tmp_path / "short.tfrecord", helpers.good_examples(2, frames=4))
  with pytest.raises(tf.errors.InvalidArgumentError) as error:
    _read_all(helpers.data_config(source="tfrecord", eval_files=path, num_frames=8))
  with pytest.raises(pipeline.DataError) as data_error:
    pipeline.raise_data_error(error.value)
  assert str(data_error.value) == (
    "Expected a clip of at least 8 frames ((num_frames - 1) * frame_stride + 1), received 4 "
    f"in record 0 of {path}. (data.skip_corrupt=True skips such records, counting them.)"
  )


def test_unusable_input_ends_within_seconds_naming_files_and_counts(tmp_path):
  # Before: with skip_corrupt every record was dropped silently and training spun for ever.
  paths = [
    helpers.write_shard(tmp_path / f"other-{i}.tfrecord", helpers.label_only_examples(3))
    for i in range(2)
  ]
  cfg = helpers.data_config(
    source="tfrecord", train_files=str(tmp_path / "other-*.tfrecord"), skip_corrupt=True
  )
  start = time.monotonic()
  with pytest.raises(tf.errors.OpError) as error:
    next(iter(pipeline.make_dataset(cfg, 2, training=True)))
  assert time.monotonic() - start < 30
  with pytest.raises(pipeline.DataError) as data_error:
    pipeline.raise_data_error(error.value)
  message = str(data_error.value)
  assert "\n" not in message
  assert "data.max_skip_rate=0.01" in message and "1000 skipped of 1000 read" in message
  for path in paths:
    assert f"in {path} (" in message and "schema)" in message


def test_every_skip_is_counted_by_kind_and_file(tmp_path):
  bad_frames = helpers.good_examples(1)[0]
  bad_frames.features.feature["frames"].bytes_list.value[:] = [b"not an image"] * 4
  mixed = helpers.write_shard(
    tmp_path / "mixed.tfrecord",
    helpers.good_examples(3) + helpers.label_only_examples(1) + [bad_frames],
  )
  damaged = helpers.good_examples(1)[0]
  jpeg = damaged.features.feature["frames"].bytes_list.value[0]
  damaged.features.feature["frames"].bytes_list.value[0] = jpeg[: len(jpeg) // 2] + b"\xff\xd9"
  other = helpers.write_shard(tmp_path / "other.tfrecord", [damaged] + helpers.good_examples(2))
  pipeline.reset_skipped_records()
  cfg = helpers.data_config(source="tfrecord", eval_files=f"{mixed},{other}", skip_corrupt=True)
  assert len(_read_all(cfg)) == 5
  # The counts are per process: a pipeline of an earlier test that ended on an error may
  # still be counting in a tf.data thread, so only this test's files are compared.
  report = {
    k: v
    for k, v in pipeline.skip_report().items()
    if k == pipeline.UNKNOWN_FILE or k.startswith(str(tmp_path))
  }
  assert report == {
    mixed: {"schema": 1, "frames": 1},
    pipeline.UNKNOWN_FILE: {pipeline.UNDECODABLE: 1},
  }


def test_a_skip_rate_above_the_bound_stops_reading(tmp_path):
  path = helpers.write_shard(
    tmp_path / "quarter.tfrecord", helpers.good_examples(3) + helpers.label_only_examples(1)
  )
  ok = helpers.data_config(
    source="tfrecord", train_files=path, skip_corrupt=True, max_skip_rate=0.3
  )
  assert len(_read_all(ok, training=True, limit=200)) == 200  # 25% skipped is allowed
  strict = helpers.data_config(
    source="tfrecord", train_files=path, skip_corrupt=True, max_skip_rate=0.2
  )
  with pytest.raises(tf.errors.OpError, match="DataError.*data.max_skip_rate=0.2"):
    _read_all(strict, training=True, limit=200)
  with pytest.raises(ValueError, match="max_skip_rate in \\[0, 1\\)"):
    pipeline.make_dataset(
      helpers.data_config(
        source="tfrecord", train_files=path, skip_corrupt=True, max_skip_rate=1.0
      ),
      1,
      True,
    )


def test_empty_shards_are_named_and_reported(tmp_path, caplog):
  empty = tmp_path / "empty.tfrecord"
  empty.write_bytes(b"")
  with pytest.raises(pipeline.DataError, match="received 1 empty file.*empty.tfrecord"):
    pipeline.make_dataset(helpers.data_config(source="tfrecord", train_files=str(empty)), 1, True)
  good = helpers.write_shard(tmp_path / "good.tfrecord", helpers.good_examples(2))
  cfg = helpers.data_config(source="tfrecord", eval_files=f"{empty},{good}")
  with caplog.at_level("WARNING"):
    assert len(_read_all(cfg)) == 2
  assert "Skipping 1 empty file(s)" in caplog.text and str(empty) in caplog.text
