"""Tests of the TFRecord writer CLI (trainers.data.make_tfrecords)."""

import glob
import json
import os
import re
import subprocess
import sys

from absl import app
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from data_helpers import batches
from data_helpers import convert
from data_helpers import data_config
from data_helpers import index_clip
import segmenter_helpers
from trainers import errors
from trainers.data import format as record_format
from trainers.data import make_tfrecords
from trainers.data import pipeline
from trainers.data import synthetic
from trainers.data import video_io
from zoo import segmenter as segmenter_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _records(pattern, compression=""):
  out = []
  for path in sorted(glob.glob(pattern)):
    for r in tf.data.TFRecordDataset(path, compression_type=compression):
      out.append(record_format.decode_example(r))
  return out


def _frames_folder(path, frames):
  os.makedirs(path)
  for i, f in enumerate(frames):
    Image.fromarray(f).save(os.path.join(path, f"{i:04d}.png"))


@pytest.fixture(name="inputs")
def _inputs(tmp_path):
  d = tmp_path / "in"
  d.mkdir()
  moving = synthetic.clips(0, [0], 20, 32, 32)["video"][0]
  video_io.write_mp4(str(d / "a.mp4"), moving)
  video_io.write_gif(str(d / "b.gif"), moving[:12])
  _frames_folder(str(d / "c"), index_clip(10, 16, 24))
  _frames_folder(str(d / "d"), np.repeat(moving[:1], 10, 0))  # Static: variance 0.
  (d / "bad.mp4").write_bytes(b"this is not a video" * 50)
  return d


def test_cli_writes_shards_and_manifest_and_skips_bad_inputs(tmp_path, inputs):
  out = str(tmp_path / "out" / "train")
  code, manifest = convert(
    input=str(inputs),
    output=out,
    clip_length=8,
    num_shards=2,
    format="png",
    min_temporal_variance=0.001,
  )
  assert code == 0
  # a.mp4: 20 frames -> 2 clips; b.gif: 12 -> 1; c/: 10 -> 1; d/ dropped as static.
  clips = {os.path.basename(s["path"]): s["num_clips"] for s in manifest["sources"]}
  assert clips == {"a.mp4": 2, "b.gif": 1, "c": 1, "d": 0}
  assert manifest["num_clips"] == 4 and manifest["dropped_low_variance"] == 1
  assert [os.path.basename(s["path"]) for s in manifest["skipped"]] == ["bad.mp4"]
  assert [s["path"] for s in manifest["shards"]] == [
    "train-00000-of-00002.tfrecord",
    "train-00001-of-00002.tfrecord",
  ]
  assert sorted(os.listdir(tmp_path / "out")) == [
    "train-00000-of-00002.tfrecord",
    "train-00001-of-00002.tfrecord",
    "train.manifest.json",
  ]
  records = _records(out + "-*")
  assert len(records) == 4 and all(int(r["num_frames"]) == 8 for r in records)
  (folder,) = [r for r in records if r["source"].numpy().decode().endswith("c")]
  np.testing.assert_array_equal(folder["frames"].numpy(), index_clip(10, 16, 24)[:8])  # PNG: exact.


def test_cli_exit_code_is_nonzero_when_nothing_is_written(tmp_path, inputs):
  out = str(tmp_path / "none")
  code, manifest = convert(input=str(inputs / "bad*.mp4"), output=out)
  assert code == 1 and manifest["num_clips"] == 0 and manifest["num_skipped"] == 1
  assert not glob.glob(out + "-*")
  result = subprocess.run(
    [
      sys.executable,
      "-m",
      "trainers.data.make_tfrecords",
      f"--input={inputs}/bad*.mp4",
      f"--output={out}2",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    check=False,
  )
  assert result.returncode == 1 and "bad.mp4" in result.stderr


def test_cli_list_file_stride_resize_crop_and_gzip(tmp_path, inputs):
  listing = tmp_path / "list.txt"
  listing.write_text(f"{inputs / 'c'}\n# a comment\n{inputs / 'missing.mp4'}\n")
  out = str(tmp_path / "g")
  code, manifest = convert(
    input=str(listing),
    output=out,
    clip_length=3,
    frame_stride=3,
    clips_per_video=2,
    resize=8,
    crop="8x10",
    num_shards=1,
    gzip=True,
    format="png",
  )
  assert code == 0 and manifest["num_skipped"] == 1 and manifest["compression"] == "GZIP"
  records = _records(out + "-*", "GZIP")
  # 10 frames, span 7: two evenly spaced clips start at 0 and 3.
  assert [int(r["start_frame"]) for r in records] == [0, 3]
  frames = records[1]["frames"].numpy()
  assert frames.shape == (3, 8, 10, 3)
  np.testing.assert_array_equal(frames[:, 0, 0, 0] // 7, [3, 6, 9])  # R = 7 * frame.


def test_a_list_saved_by_a_windows_editor_is_read(tmp_path, inputs):
  # Notepad writes a byte-order mark and CRLF: the first path began with U+FEFF and was
  # skipped as missing.
  listing = tmp_path / "list.txt"
  listing.write_bytes(f"\ufeff{inputs / 'c'}\r\n# a comment\r\n".encode())
  code, manifest = convert(input=str(listing), output=str(tmp_path / "w"), clip_length=3)
  assert code == 0 and manifest["num_skipped"] == 0
  assert [s["path"] for s in manifest["sources"]] == [str(inputs / "c")]


def test_cli_reads_vgan_clips_and_writes_synthetic_clips(tmp_path):
  column = index_clip(8, 16, 16).reshape(8 * 16, 16, 3)  # Frames stacked vertically.
  Image.fromarray(column).save(tmp_path / "v.png")
  code, manifest = convert(
    input=str(tmp_path / "v.png"),
    output=str(tmp_path / "v"),
    clip_length=8,
    vgan_frame_height=16,
    num_shards=1,
    format="png",
  )
  assert code == 0 and manifest["num_clips"] == 1
  np.testing.assert_array_equal(
    _records(str(tmp_path / "v-*"))[0]["frames"].numpy(), index_clip(8, 16, 16)
  )
  code, manifest = convert(
    source="synthetic",
    num_clips=5,
    clip_length=4,
    crop="16x24",
    output=str(tmp_path / "s"),
    num_shards=2,
    format="png",
  )
  assert code == 0 and manifest["num_clips"] == 5
  records = _records(str(tmp_path / "s-*"))
  expected = synthetic.clips(0, range(5), 4, 16, 24)
  by_index = {int(r["start_frame"]): r for r in records}
  np.testing.assert_array_equal(by_index[3]["frames"].numpy(), expected["video"][3])
  assert int(by_index[3]["label"]) == expected["label"][3]


def test_cli_writes_jpeg_mosaics_that_decode_as_the_per_frame_jpegs(tmp_path, inputs):
  records = {}
  for fmt in ("jpeg", "jpeg_mosaic"):
    out = str(tmp_path / fmt / "train")
    code, manifest = convert(
      input=str(inputs / "c"), output=out, clip_length=5, num_shards=1, format=fmt
    )
    assert code == 0 and manifest["options"]["fmt"] == fmt and manifest["num_clips"] == 2
    records[fmt] = _records(out + "-*")
  for frames, mosaic in zip(records["jpeg"], records["jpeg_mosaic"], strict=True):
    assert mosaic["layout"].numpy() == b"mosaic" and frames["layout"].numpy() == b"frames"
    assert int(mosaic["num_frames"]) == 5
    np.testing.assert_array_equal(mosaic["frames"].numpy(), frames["frames"].numpy())


def test_clip_starts_and_temporal_variance():
  assert make_tfrecords.clip_starts(20, 8, 1, 0) == [0, 8]
  assert make_tfrecords.clip_starts(20, 4, 2, 3) == [0, 6, 13]  # linspace 6.5 rounds to even
  assert make_tfrecords.clip_starts(6, 4, 2, 0) == []
  static = np.zeros((4, 8, 8, 3), np.uint8)
  flicker = static.copy()
  flicker[::2] = 255
  assert make_tfrecords.temporal_variance(static) == 0.0
  assert make_tfrecords.temporal_variance(flicker) == pytest.approx(0.25)


def test_segmenter_writes_the_conditioning_frames_segmentation(tmp_path, inputs):
  """--segmenter: each clip of a source without a segmentation gets its middle frame's, as
  the pipeline then hands it out beside that frame (the segmentation model's batch)."""
  segmenter = segmenter_helpers.save(tmp_path / "segmenter")  # 4 classes
  out = str(tmp_path / "seg" / "train")
  code, manifest = convert(
    input=str(inputs / "c"),
    output=out,
    clip_length=5,
    num_shards=1,
    format="png",
    segmenter=segmenter,
  )
  assert code == 0 and manifest["num_clips"] == 2  # c/: 10 frames -> 2 clips of 5
  summary = manifest["segmentation"]
  assert summary["segmenter"] == segmenter and manifest["options"]["segmenter"] == segmenter
  assert (summary["num_from_segmenter"], summary["num_from_source"]) == (2, 0)
  assert sum(summary["class_pixels"].values()) == 2 * 16 * 24
  assert set(summary["class_pixels"]) <= {"0", "1", "2", "3"}
  segment = segmenter_lib.Segmenter(segmenter)
  for record in _records(out + "-*"):
    assert int(record["middle_frame"]) == 2  # (5 - 1) // 2
    photo = record["frames"][2].numpy()
    want = segment(photo[None].astype(np.float32) / 127.5 - 1.0)[0].numpy()
    np.testing.assert_array_equal(record["segmentation"].numpy(), want)
  cfg = data_config(
    source="tfrecord",
    train_files=out + "-*",
    eval_files=out + "-*",
    num_frames=3,
    frame_stride=2,
    height=16,
    width=24,
    outputs=("middle_frame", "segmentation"),
  )
  (batch,) = batches(pipeline.make_dataset(cfg, 2, False))
  np.testing.assert_array_equal(batch["segmentation"], segment(batch["middle_frame"]).numpy())


def test_segmenter_keeps_a_sources_own_segmentation_and_refuses_bad_models(tmp_path):
  segmenter = segmenter_helpers.save(tmp_path / "segmenter")
  code, manifest = convert(
    source="synthetic",
    num_clips=3,
    clip_length=4,
    crop="16x16",
    num_shards=1,
    output=str(tmp_path / "syn" / "train"),
    segmenter=segmenter,
  )
  assert code == 0
  summary = manifest["segmentation"]
  assert (summary["num_from_segmenter"], summary["num_from_source"]) == (0, 3)
  with pytest.raises(
    ValueError, match="Expected a segmentation SavedModel directory, received .*nowhere"
  ):
    convert(
      source="synthetic",
      num_clips=1,
      output=str(tmp_path / "a" / "t"),
      segmenter=str(tmp_path / "nowhere"),
    )
  d = tmp_path / "in"
  _frames_folder(str(d / "clip"), index_clip(4, 16, 24))
  halving = segmenter_helpers.save_resizing(tmp_path / "halving")
  out = tmp_path / "b"
  with pytest.raises(
    ValueError,
    match=r"halving.*given frames \[1, 16, 24, 3\] it returned "
    r"shape \[1, 8, 12, 3\]",
  ):
    convert(input=str(d), output=str(out / "t"), clip_length=4, num_shards=1, segmenter=halving)
  assert not glob.glob(str(out / "*"))  # stopped: no shard, no temporary file


@pytest.mark.parametrize("fails_at", ["write", "close"])
def test_a_full_disk_is_one_line_and_leaves_no_shard_behind(tmp_path, monkeypatch, fails_at):
  # Before: a traceback, and the cleanup itself failed on the full disk (closing a writer
  # flushes it), leaving every shard's .tmp file behind.
  real = tf.io.TFRecordWriter

  class FullDisk:
    def __init__(self, path, options=None):
      self.path, self.writer, self.count = path, real(path, options), 0

    def write(self, record):
      self.count += 1
      if fails_at == "write" and self.count > 3:
        raise tf.errors.ResourceExhaustedError(None, None, f"{self.path}; No space left on device")
      self.writer.write(record)

    def flush(self):
      self.writer.flush()

    def close(self):
      self.writer.close()
      if fails_at == "close":
        raise tf.errors.ResourceExhaustedError(None, None, f"{self.path}; No space left on device")

  monkeypatch.setattr(tf.io, "TFRecordWriter", FullDisk)
  out = tmp_path / "out"
  out.mkdir()
  with pytest.raises(errors.RunError) as raised:
    convert(
      source="synthetic", num_clips=16, clip_length=4, crop="8x8", output=out / "t", num_shards=2
    )
  shard = re.escape(str(out / "t-0000")) + "[01]" + re.escape("-of-00002.tfrecord")
  expected = f"Expected to write {shard}, failed: No space left on device. The unfinished "
  assert re.fullmatch(expected + "shards were removed[.]", str(raised.value)), raised.value
  assert not list(out.iterdir())


# ----------------------------------------------------------------------------- going on


SYNTHETIC = dict(source="synthetic", num_clips=96, clip_length=4, crop="8x8", num_shards=3)


def _examples(prefix, num_shards=3):
  """The records of each shard, parsed (a serialized Example's map order is not fixed)."""
  return [
    [
      tf.train.Example.FromString(r)
      for r in tf.data.TFRecordDataset(
        record_format.shard_path(prefix, k, num_shards)
      ).as_numpy_iterator()
    ]
    for k in range(num_shards)
  ]


def _interrupted(monkeypatch, output, at_clip, **kwargs):
  """A conversion stopped by Ctrl-C as it hands clip `at_clip` to the writer."""
  real, calls = record_format.example_from_encoded, []

  def example(*args, **meta):
    calls.append(1)
    if len(calls) == at_clip:
      raise KeyboardInterrupt
    return real(*args, **meta)

  with monkeypatch.context() as m:
    m.setattr(record_format, "example_from_encoded", example)
    with pytest.raises(KeyboardInterrupt):
      convert(output=str(output), **{**SYNTHETIC, **kwargs})


def _without_timing(manifest):
  return {k: v for k, v in manifest.items() if k not in ("seconds", "resumed_after_inputs")}


def test_an_interrupted_conversion_goes_on_from_its_first_unfinished_input(
  tmp_path, monkeypatch, caplog
):
  # Before: a signal removed every shard and the same command started from the first input
  # again (days of work for a large dataset on a few cores).
  (tmp_path / "whole").mkdir()
  code, whole = convert(output=str(tmp_path / "whole" / "out"), **SYNTHETIC)
  assert code == 0 and whole["num_clips"] == 96
  out = tmp_path / "out"
  _interrupted(monkeypatch, out, at_clip=50)  # inputs of 16 clips: three finished
  journal = tmp_path / "out.resume.tmp"
  assert sorted(p.name for p in tmp_path.glob("out*")) == [
    *(f"out-0000{k}-of-00003.tfrecord.tmp" for k in range(3)),
    journal.name,
  ]
  lines = journal.read_text().splitlines()
  assert [json.loads(line)["input"] for line in lines[1:]] == [0, 1, 2]
  # What a kill leaves at worst: the journal's last line torn, and a shard set aside by a
  # resume that was itself killed while copying it (the shard under its name half-copied).
  with journal.open("a") as f:
    f.write('{"input": 3, "ent')
  shard = str(out) + "-00000-of-00003.tfrecord"
  os.replace(shard + ".tmp", shard + ".old.tmp")
  with open(shard + ".tmp", "wb") as f:
    f.write(b"\x10\x00\x00")

  monkeypatch.setattr(make_tfrecords, "PROGRESS_SECONDS", 0.0)  # a line per clip copied
  with caplog.at_level("INFO", logger="absl"):
    code, resumed = convert(output=str(out), workers=1, **SYNTHETIC)  # workers: any number
  assert code == 0 and resumed["resumed_after_inputs"] == [3]
  resumed["options"]["workers"] = whole["options"]["workers"]
  assert "copying the 48 clips of its 3 finished inputs" in caplog.text
  assert "copied 1 of 48 clips" in caplog.text and "copied 48 of 48 clips" in caplog.text
  assert _without_timing(resumed) == _without_timing(whole)
  records = _examples(str(out))
  assert sum(map(len, records)) == 96 and records == _examples(str(tmp_path / "whole" / "out"))
  assert sorted(p.name for p in tmp_path.glob("out*")) == [
    *(f"out-0000{k}-of-00003.tfrecord" for k in range(3)),
    "out.manifest.json",
  ]


def test_a_resumed_conversion_of_files_counts_what_an_uninterrupted_one_counts(
  tmp_path, monkeypatch, inputs
):
  """Videos, a GIF, frame folders, a file that is not a video (skipped) and a static folder
  (dropped), segmented: every count of the manifest (clips, skips, drops, decoded frames,
  class pixels) adds up across the interruption as without it."""
  segmenter = segmenter_helpers.save(tmp_path / "segmenter")
  options = dict(input=str(inputs), clip_length=4, num_shards=2, format="png")
  options.update(min_temporal_variance=0.001, segmenter=segmenter)
  code, whole = convert(output=str(tmp_path / "whole" / "train"), **options)
  clips = {os.path.basename(x["path"]): x["num_clips"] for x in whole["sources"]}
  assert code == 0 and clips == {"a.mp4": 5, "b.gif": 3, "c": 0, "d": 0}
  assert whole["num_skipped"] == 1 and whole["dropped_low_variance"] == 4  # bad.mp4; c/, d/
  assert whole["segmentation"]["class_pixels"]
  out = tmp_path / "out" / "train"
  real, calls = record_format.example_from_encoded, []

  def example(*args, **meta):  # Ctrl-C at the 7th clip: a.mp4's five are in, b.gif's not
    calls.append(1)
    if len(calls) == 7:
      raise KeyboardInterrupt
    return real(*args, **meta)

  with monkeypatch.context() as m:
    m.setattr(record_format, "example_from_encoded", example)
    with pytest.raises(KeyboardInterrupt):
      convert(output=str(out), **options)
  code, resumed = convert(output=str(out), **options)
  assert code == 0 and resumed.pop("resumed_after_inputs") == [1]
  assert _without_timing(resumed) == _without_timing(whole)
  records = _examples(str(out), 2)
  assert sum(map(len, records)) == 8 and records == _examples(str(tmp_path / "whole" / "train"), 2)


def test_a_conversion_of_other_options_starts_afresh_saying_why(tmp_path, monkeypatch, caplog):
  out = tmp_path / "out"
  _interrupted(monkeypatch, out, at_clip=40)
  with caplog.at_level("WARNING"):
    code, manifest = convert(output=str(out), **{**SYNTHETIC, "num_shards": 2})
  assert code == 0 and "resumed_after_inputs" not in manifest
  assert (
    f"Starting {out} afresh: an interrupted conversion to it had other options: "
    "num_shards=3 (now 2)" in caplog.text
  )
  # The three shards of the other conversion are gone with its journal.
  assert sorted(p.name for p in tmp_path.glob("out*")) == [
    *(f"out-0000{k}-of-00002.tfrecord" for k in range(2)),
    "out.manifest.json",
  ]

  _interrupted(monkeypatch, out, at_clip=40)
  code, manifest = convert(output=str(out), resume=False, **SYNTHETIC)
  assert code == 0 and "resumed_after_inputs" not in manifest and manifest["num_clips"] == 96


def test_a_missing_shard_starts_the_conversion_afresh(tmp_path, monkeypatch, caplog):
  out = tmp_path / "out"
  _interrupted(monkeypatch, out, at_clip=40)
  os.remove(str(out) + "-00001-of-00003.tfrecord.tmp")
  with caplog.at_level("WARNING"):
    code, manifest = convert(output=str(out), **SYNTHETIC)
  assert code == 0 and "resumed_after_inputs" not in manifest and manifest["num_clips"] == 96
  assert f"Starting afresh: {out}-00001-of-00003.tfrecord.old.tmp holds 0 of the 11" in caplog.text


def test_a_second_conversion_to_the_same_output_is_refused(tmp_path):
  import fcntl

  out = tmp_path / "out"
  with open(str(out) + ".resume.tmp", "a") as held:
    fcntl.flock(held, fcntl.LOCK_EX)  # as a conversion running in another process holds it
    with pytest.raises(errors.RunError) as raised:
      convert(output=str(out), **SYNTHETIC)
  assert str(raised.value) == (
    f"Expected no other conversion writing to --output={out}, received one holding "
    f"{out}.resume.tmp."
  )
  assert [p.name for p in tmp_path.iterdir()] == ["out.resume.tmp"]


@pytest.mark.parametrize(
  "flag, expected",
  [
    ({"resize": -5}, "Expected --resize >= 0, received -5."),  # was: 1x1-pixel clips
    ({"frame_stride": 0}, "Expected --frame_stride >= 1, received 0."),  # ZeroDivisionError
    ({"clip_length": -1}, "Expected --clip_length >= 0, received -1."),  # negative dimensions
    ({"crop": "0x64"}, "Expected --crop=HxW of positive sizes (e.g. 64x64), received '0x64'."),
    ({"quality": 101}, "Expected --quality <= 100 (JPEG), received 101."),
    ({"workers": 0}, "Expected --workers >= 1, received 0."),
    ({"fps": 0}, "Expected --fps > 0, received 0."),
    ({"source": "synthetic", "clip_length": 0}, "Expected --clip_length >= 1, received 0."),
  ],
)
def test_option_values_that_would_write_nothing_of_use_are_one_line(
  tmp_path, inputs, flag, expected
):
  args = {"input": str(inputs / "a.mp4"), "output": str(tmp_path / "out" / "t"), **flag}
  with pytest.raises(app.UsageError) as raised:
    convert(**args)
  assert str(raised.value) == expected
  assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
