"""The converter on media as users have it: rotated phone videos, non-square pixels, long and
damaged files, wrong paths (trainers.data.make_tfrecords, trainers.data.video_io)."""

from fractions import Fraction
import os
import re
import struct
import subprocess
import sys
import types

import av
import numpy as np
import pytest

from data_helpers import convert
from data_helpers import encode_video
from trainers.data import make_tfrecords
from trainers.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _quadrants(height, width, num_frames=1):
  """uint8 [T, H, W, 3]: red top-left, green top-right, blue bottom-left, white bottom-right."""
  frame = np.zeros((height, width, 3), np.uint8)
  h, w = height // 2, width // 2
  frame[:h, :w] = (255, 0, 0)
  frame[:h, w:] = (0, 255, 0)
  frame[h:, :w] = (0, 0, 255)
  frame[h:, w:] = 255
  return np.repeat(frame[None], num_frames, 0)


def _write(
  path, frames, fps=10, rotation=0, tag=None, sar=None, crf="10", gop=None, container_format=None
):
  """H.264 `frames` with a display rotation (counter-clockwise degrees, as phones write the
  display matrix), an old-style `rotate` metadata tag (clockwise) or a sample aspect ratio;
  in the container the name's extension says, or `container_format`."""
  with av.open(path, "w", format=container_format) as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
    stream.options = {"crf": crf, **({"g": str(gop)} if gop else {})}
    if rotation:
      stream.set_display_rotation(rotation)
    if tag is not None:
      stream.metadata["rotate"] = str(tag)
    if sar is not None:
      stream.codec_context.sample_aspect_ratio = sar
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _close(a, b, tol=40):
  return np.abs(a.astype(int) - b.astype(int)).mean() < tol


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_rotated_video_is_stored_upright_and_described(tmp_path, rotation):
  upright = _quadrants(32, 48, 4)  # landscape as the viewer sees it
  stored = np.ascontiguousarray(np.rot90(upright, -rotation // 90, axes=(1, 2)))
  _write(str(tmp_path / "phone.mp4"), stored, rotation=rotation)
  code, manifest = convert(
    input=str(tmp_path / "phone.mp4"),
    output=str(tmp_path / "out" / "t"),
    clip_length=4,
    num_shards=1,
    format="png",
  )
  assert code == 0 and manifest["num_clips"] == 1
  (source,) = manifest["sources"]
  assert source["rotation"] == rotation and source["fps"] == 10.0
  assert source["decoded_size"] == list(stored.shape[1:3])
  assert source["display_size"] == [32, 48]
  frames = list(video_io.iter_video(str(tmp_path / "phone.mp4")))
  assert frames and all(f.shape == (32, 48, 3) for f in frames)
  assert _close(frames[0], upright[0])


def test_rotate_tag_and_sample_aspect_ratio_are_honoured(tmp_path):
  upright = _quadrants(32, 48, 4)
  # The old tag counts clockwise: players turn this frame a quarter clockwise.
  _write(str(tmp_path / "tag.mkv"), np.ascontiguousarray(np.rot90(upright, 1, axes=(1, 2))), tag=90)
  frame = next(video_io.iter_video(str(tmp_path / "tag.mkv")))
  assert frame.shape == (32, 48, 3) and _close(frame, upright[0])
  # Pixels twice as wide as tall: 24 stored columns show as 48.
  _write(str(tmp_path / "sar.mp4"), _quadrants(32, 24, 4), sar=Fraction(2, 1))
  info = video_io.probe_video(str(tmp_path / "sar.mp4"))
  assert info.pixel_aspect == 2.0 and info.display_size == (32, 48)
  code, manifest = convert(
    input=str(tmp_path / "sar.mp4"),
    output=str(tmp_path / "s"),
    clip_length=4,
    resize=16,
    num_shards=1,
    format="png",
  )
  assert code == 0 and manifest["sources"][0]["display_size"] == [32, 48]
  record = _records(str(tmp_path / "s-*"))[0]
  assert record.shape == (4, 16, 24, 3)  # short side 16, the display's 2:3 aspect
  assert _close(record[0], _quadrants(16, 24)[0])


def test_a_turned_video_of_wide_pixels_is_stored_at_its_display_size(tmp_path):
  """Pixels twice as wide as tall, turned a quarter: players stretch the decoded width, which
  becomes the height, so 24x32 decoded shows as 32 wide and 48 tall, the manifest's display
  size; the records were squeezed to half of it (16 by 24)."""
  _write(str(tmp_path / "v.mp4"), _quadrants(32, 24, 4), rotation=90, sar=Fraction(2, 1))
  code, manifest = convert(
    input=str(tmp_path / "v.mp4"), output=str(tmp_path / "s"), clip_length=4, num_shards=1
  )
  assert code == 0 and manifest["sources"][0]["display_size"] == [48, 32]
  record = _records(str(tmp_path / "s-*"))[0]
  assert record.shape == (4, 48, 32, 3)
  assert _close(record[0], np.rot90(_quadrants(32, 48)[0]))


def test_an_animated_webp_is_written_and_read_back_at_its_rate(tmp_path):
  """`--out=clip.webp` was refused ("Expected --out to end in .mp4 or .gif"): the web's own
  animation format, full colour where a GIF has 256. Written lossy (quality 90), it reads
  back through the converter's reader with every frame, its size and its rate."""
  t = np.linspace(0.0, 1.0, 24, dtype=np.float32)
  ramp = np.stack(np.meshgrid(t, t[:20], indexing="xy"), -1)  # smooth: lossy keeps it close
  frames = [np.concatenate([ramp, np.full((20, 24, 1), k / 6)], -1) for k in range(6)]
  frames = (np.stack(frames) * 255).round().astype(np.uint8)
  path = str(tmp_path / "clip.webp")
  video_io.write_video(path, frames, fps=12.5)
  got, fps = video_io.read_video(path)
  assert got.shape == frames.shape and fps == pytest.approx(12.5)
  assert np.abs(got.astype(np.int16) - frames).mean() < 3.0
  assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.webp"]  # no temporary file
  with pytest.raises(video_io.InputError, match=r"--out to end in .mp4, .gif or .webp"):
    video_io.check_output_extension(str(tmp_path / "clip.avi"), "--out")


def test_a_video_write_that_fails_leaves_the_folder_as_it_was(tmp_path, monkeypatch):
  """Ctrl-C while a clip is encoded, or a full disk while a GIF is saved: the temporary file
  is removed and an earlier file of the name kept (before, `clip.mp4.tmp.mp4` was left)."""
  from PIL import Image

  frames = np.random.default_rng(0).integers(0, 256, (60, 16, 16, 3), np.uint8)
  for name in ("clip.mp4", "clip.gif"):
    video_io.write_video(str(tmp_path / name), frames[:4])
  before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
  made = av.VideoFrame.from_ndarray
  count = iter(range(len(frames)))

  def interrupted(*args, **kwargs):
    if next(count) == 50:  # packets are in the file by then
      raise KeyboardInterrupt
    return made(*args, **kwargs)

  # PyAV 17 (the newest for Python 3.10) makes VideoFrame immutable: replace the name.
  monkeypatch.setattr(av, "VideoFrame", types.SimpleNamespace(from_ndarray=interrupted))
  with pytest.raises(KeyboardInterrupt):
    video_io.write_video(str(tmp_path / "clip.mp4"), frames)

  def full_disk(image, fp, *args, **kwargs):
    with open(fp, "wb") as f:
      f.write(b"GIF89a")
    raise OSError(28, "No space left on device")

  monkeypatch.setattr(Image.Image, "save", full_disk)
  with pytest.raises(OSError, match="No space"):
    video_io.write_video(str(tmp_path / "clip.gif"), frames)
  assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_file_name_near_the_limit_is_written_and_one_past_it_refused(tmp_path):
  """A clip named with 250 of the 255 bytes a file name may have failed with a traceback:
  its temporary name (`NAME.tmp.mp4`) was too long. Names past the limit, for a clip or
  for the converter's shards (`PREFIX-00000-of-00001.tfrecord`), are refused in one line."""
  from trainers.data import make_tfrecords

  frames = np.zeros((2, 8, 8, 3), np.uint8)
  for ext in (".mp4", ".gif"):
    path = tmp_path / ("c" * (255 - len(ext)) + ext)
    video_io.check_output_directory(str(path), "--out")
    video_io.write_video(str(path), frames)
    assert path.stat().st_size > 0
  assert len(list(tmp_path.iterdir())) == 2  # no temporary file left
  with pytest.raises(video_io.InputError, match=r"--out to make file names of at most 255 "):
    video_io.check_output_directory(str(tmp_path / ("c" * 253 + ".gif")), "--out")
  prefix = str(tmp_path / "shards" / ("s" * 230))
  with pytest.raises(video_io.InputError, match=r"received .*: it makes one of 262 bytes"):
    make_tfrecords.write_tfrecords([], prefix, make_tfrecords.WriterOptions(num_shards=1))


def _records(pattern):
  import glob

  import tensorflow as tf

  from trainers.data import format as record_format

  out = []
  for path in sorted(glob.glob(pattern)):
    for r in tf.data.TFRecordDataset(path):
      out.append(record_format.decode_example(r)["frames"].numpy())
  return out


def test_long_video_is_written_while_it_is_decoded(tmp_path):
  """The first clip reaches the writer after its frames (and REORDER_FRAMES more) are
  decoded, not after the whole file: memory does not grow with the length."""
  frames = np.repeat(_quadrants(16, 16), 120, 0)
  frames[:, :, :, 0] = np.arange(120, dtype=np.uint8)[:, None, None] * 2  # moving
  _write(str(tmp_path / "long.mp4"), frames)
  (source,), _ = make_tfrecords.resolve_inputs(str(tmp_path / "long.mp4"))
  opened, decoded_at_put = [], []

  def put(item):
    decoded_at_put.append((item[0], opened[0].stats.frames))

  make_tfrecords.produce_source(
    source, make_tfrecords.WriterOptions(clip_length=8), put, on_open=opened.append
  )
  kinds = [k for k, _ in decoded_at_put]
  assert kinds == ["clip"] * 15 + ["done"]
  first_clip_decoded = decoded_at_put[0][1]
  assert first_clip_decoded <= 8 + make_tfrecords.REORDER_FRAMES + 1 < 120
  assert decoded_at_put[-1][1] == 120


def test_damaged_video_drops_damaged_clips_and_counts_errors(tmp_path):
  """Flipped bytes in the middle: the decoder's errors are counted, the clips holding frames
  it concealed are dropped, and every clip written matches the undamaged file.

  FFmpeg meets flipped bytes in one of two ways: it conceals them and logs errors
  ("decode_errors"), or it stops part-way ("error", the clips held back are dropped as
  damaged); both count as detected, and at least one file must take the logged path.

  The source is a committed file (60 frames of 24x32 texture moving right, libx264 crf 30,
  GOP 20): encoded in the test, its bytes differed in some runs of the whole suite (another
  MD5 than alone, for reasons not found), and with them which flips FFmpeg detects."""
  import glob

  import tensorflow as tf

  from trainers.data import format as record_format

  good = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "damage_source.mp4")
  clean = np.stack(list(video_io.iter_video(good)))
  data = open(good, "rb").read()
  written, outcomes = 0, {}
  for k in range(12):
    damaged = bytearray(data)
    pos = np.random.default_rng(k).integers(len(data) // 4, 3 * len(data) // 4)
    for j in range(16):
      damaged[pos + j] ^= 0xFF
    path = tmp_path / f"bad{k}.mp4"
    path.write_bytes(bytes(damaged))
    out = str(tmp_path / f"o{k}" / "t")
    _, manifest = convert(input=str(path), output=out, clip_length=8, num_shards=1, format="png")
    entries = manifest["sources"] + manifest["skipped"]
    assert len(entries) == 1
    entry = entries[0]
    if entry.get("decode_errors"):
      outcomes[k] = "logged"
      assert entry["damaged_frames"] > 0 and entry["dropped_damaged"] > 0
    elif entry.get("error"):
      outcomes[k] = "stopped"
      assert entry["dropped_damaged"] > 0 or entry["num_clips"] == 0
    for shard in glob.glob(out + "-*"):
      for r in tf.data.TFRecordDataset(shard):
        example = record_format.decode_example(r)
        start = int(example["start_frame"])
        if k in outcomes:
          np.testing.assert_allclose(example["frames"].numpy(), clean[start : start + 8], atol=8)
        written += 1
  # Some flips decode without an error: undetectable.
  assert len(outcomes) >= 2 and "logged" in outcomes.values() and written > 0, outcomes


def test_user_mistakes_are_one_line(tmp_path):
  """A glob matching nothing, an output beside a file, a video-named directory: one line,
  no traceback (-v 1 brings it back)."""
  (tmp_path / "x.mp4").mkdir()
  (tmp_path / "file").write_text("")

  def cli(*args):
    return subprocess.run(
      [sys.executable, "-m", "trainers.data.make_tfrecords", *args],
      cwd=ROOT,
      capture_output=True,
      text=True,
      check=False,
      env={**os.environ, "PYTHONPATH": ROOT},
    )

  result = cli(f"--input={tmp_path}/*.avi", f"--output={tmp_path}/o")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert "error: Expected --input to match files" in result.stderr.splitlines()[-1]
  result = cli(f"--input={tmp_path}/x.mp4", f"--output={tmp_path}/file/o")
  assert result.returncode == 2 and "Traceback" not in result.stderr
  assert f"{tmp_path}/file/o" in result.stderr.splitlines()[-1]
  result = cli(f"--input={tmp_path}/*.avi", f"--output={tmp_path}/o", "-v", "1")
  assert "Traceback" in result.stderr
  sources, skipped = make_tfrecords.resolve_inputs(str(tmp_path / "*.mp4"))
  assert not sources and skipped == [
    {
      "path": str(tmp_path / "x.mp4"),
      "reason": "Expected a video file, received a directory named like one.",
    }
  ]


def test_manifest_paths_are_absolute_wherever_the_writer_starts(tmp_path, monkeypatch):
  d = tmp_path / "videos"
  d.mkdir()
  _write(str(d / "a.mp4"), _quadrants(16, 16, 4))
  (tmp_path / "list.txt").write_text("videos/a.mp4\n")
  monkeypatch.chdir(tmp_path)
  for spec in ("videos/*.mp4", "list.txt", "videos"):
    _, manifest = convert(
      input=spec, output=str(tmp_path / "o" / spec.replace("/", "_")), clip_length=4, num_shards=1
    )
    assert [s["path"] for s in manifest["sources"]] == [str(d / "a.mp4")]


def test_clips_keep_the_source_frame_rate(tmp_path):
  """A 12 fps video written at stride 2 stores 6 fps clips; a reader at stride 3 sees 2 fps,
  which samples and exports are written at (8 for synthetic data)."""
  from configs import common
  from trainers.data import format as record_format

  frames = np.repeat(_quadrants(16, 16), 24, 0)
  _write(str(tmp_path / "a.mp4"), frames, fps=12)
  out = str(tmp_path / "o" / "train")
  code, manifest = convert(
    input=str(tmp_path / "a.mp4"), output=out, clip_length=4, frame_stride=2, num_shards=2
  )
  assert code == 0 and manifest["sources"][0]["fps"] == 12.0
  data = common.base().data
  assert record_format.clip_fps(data) == record_format.SYNTHETIC_FPS == 8.0
  data.source, data.train_files = "tfrecord", out + "-*"
  assert record_format.clip_fps(data) == 6.0
  data.frame_stride = 3
  assert record_format.clip_fps(data) == 2.0


def test_writer_warns_when_frames_are_twice_what_configs_read(tmp_path, caplog):
  largest = make_tfrecords.largest_config_size()
  assert largest >= 64
  _write(str(tmp_path / "big.mp4"), _quadrants(2 * largest, 2 * largest + 16, 4))
  convert(input=str(tmp_path / "big.mp4"), output=str(tmp_path / "a"), clip_length=4, num_shards=1)
  assert f"--resize={largest} stores what it needs" in caplog.text
  caplog.clear()
  convert(
    input=str(tmp_path / "big.mp4"),
    output=str(tmp_path / "b"),
    clip_length=4,
    num_shards=1,
    resize=largest,
  )
  assert "--resize=" not in caplog.text


def test_header_text_that_is_not_utf8_does_not_stop_the_file(tmp_path):
  """A damaged title tag: av.open alone raises a bare UnicodeDecodeError on it before PyAV 19
  (19 escapes it, and refuses the argument that made the older ones replace it)."""
  good = str(tmp_path / "good.mp4")
  with av.open(good, "w") as container:
    container.metadata["title"] = "ZZZZZZZZ"
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    for frame in _quadrants(16, 16, 4):
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  bad = tmp_path / "bad.mp4"
  bad.write_bytes(open(good, "rb").read().replace(b"ZZZZZZZZ", b"\xff\xfe\xfd\xfcZZZZ"))
  if int(av.__version__.split(".")[0]) < 19:
    with pytest.raises(UnicodeDecodeError):
      av.open(str(bad)).close()
  code, manifest = convert(input=str(bad), output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 1


def test_decoder_errors_are_counted_alike_when_files_decode_in_parallel(tmp_path):
  """Each damaged file's error count is the same whether it is decoded alone or beside
  others saying the same words: FFmpeg's messages are not merged across threads."""
  import threading

  rng = np.random.default_rng(1)
  frames = rng.integers(0, 256, (4, 48, 64, 3), np.uint8)
  frames = np.concatenate([np.roll(frames, i, axis=2) for i in range(0, 240, 4)])[:60]
  good = str(tmp_path / "good.mp4")
  _write(good, frames, crf="30", gop=8)
  data = open(good, "rb").read()
  paths = []
  for k in range(12):
    damaged = bytearray(data)
    pos = np.random.default_rng(k).integers(len(data) // 4, 3 * len(data) // 4)
    for j in range(16):
      damaged[pos + j] ^= 0xFF
    paths.append(tmp_path / f"bad{k}.mp4")
    paths[-1].write_bytes(bytes(damaged))

  def errors(path):
    stats = video_io.DecodeStats()
    try:
      for _ in video_io.iter_video(str(path), stats):
        pass
    except ValueError:
      pass
    return stats.errors

  alone = [errors(p) for p in paths]
  assert sum(alone) > 0
  for _ in range(8):  # without the fix, 2 runs in 3 failed here (Xeon family 6 model 167)
    together = {}

    def decode(path, i, out=together):
      out[path, i] = errors(path)

    threads = [threading.Thread(target=decode, args=(p, i)) for p in paths for i in range(4)]
    for t in threads:
      t.start()
    for t in threads:
      t.join()
    assert [[together[p, i] for i in range(4)] for p in paths] == [[n] * 4 for n in alone]


@pytest.mark.parametrize("keep", [False, True])
def test_clips_held_back_when_a_source_stops_are_counted_as_damaged(tmp_path, keep):
  """A frame folder whose frame 30 has another size stops there. The clips completed in the
  last REORDER_FRAMES frames are still held back: they come out as damaged (dropped and
  counted, or kept with --keep_damaged), not lost uncounted."""
  from PIL import Image

  folder = tmp_path / "clip"
  folder.mkdir()
  rng = np.random.default_rng(0)
  for k in range(40):
    size = (16, 16) if k != 30 else (8, 8)
    Image.fromarray(rng.integers(0, 256, size + (3,), np.uint8)).save(folder / f"{k:03d}.png")
  out = str(tmp_path / "o" / "t")
  _, manifest = convert(
    input=str(folder), output=out, clip_length=4, num_shards=1, keep_damaged=keep
  )
  (entry,) = manifest["sources"]
  assert entry["error"].startswith("Expected every frame of")
  # Clips 0, 4 and 8 were released before frame 30; 12, 16, 20 and 24 were held back.
  released, held = 3, 4
  assert make_tfrecords.REORDER_FRAMES == 16
  if keep:
    kept = (entry["num_clips"], entry["damaged_kept"], entry["dropped_damaged"])
    assert kept == (released + held, held, 0)
  else:
    assert (entry["num_clips"], entry["dropped_damaged"]) == (released, held)
  assert manifest["num_clips"] == entry["num_clips"]


def test_variable_frame_rate_is_recorded_from_the_timestamps(tmp_path):
  """A variable-rate Matroska file whose header claims 1000 fps (its 1 ms time base, as WebM
  from a browser): the clips are stored at the rate of its timestamps, the header's noted."""
  steps = [50, 50, 100, 50, 150, 50, 50, 100, 50, 300, 50]  # ms between frames: 1 s in all
  path = str(tmp_path / "vfr.mkv")
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=1000)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    for pts, frame in zip(np.cumsum([0] + steps), _quadrants(16, 16, len(steps) + 1), strict=True):
      frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
      frame.pts, frame.time_base = int(pts), Fraction(1, 1000)
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  info = video_io.probe_video(path)
  assert info.declared_fps == 1000.0 and info.fps == pytest.approx(11.0)
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["sources"][0]["fps"] == pytest.approx(11.0)
  assert manifest["sources"][0]["declared_fps"] == 1000.0


def test_files_joined_end_to_end_keep_their_frame_rate(tmp_path):
  """Three 5 s MPEG-TS recordings joined with `cat`: each one's timestamps start again. The
  rate is of the frames over each run's time, 8 fps; over the span of one run it was 24."""
  one = encode_video(tmp_path / "one.ts", _quadrants(16, 16, 40), rate=8, format="mpegts")
  (tmp_path / "joined.ts").write_bytes(one.read_bytes() * 3)
  info = video_io.probe_video(str(tmp_path / "joined.ts"))
  assert info.num_frames == 120 and info.fps == pytest.approx(8.0, rel=0.05)
  # B-frames read before the frames they follow, seconds earlier in a variable-rate file
  # with pauses, are not a new run: 7 intervals in 5 s.
  path = str(tmp_path / "paused.mkv")
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=8)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    stream.options = {"bf": "3"}
    ticks = [0, 1, 2, 5, 6, 20, 21, 40]  # eighths of a second
    for pts, frame in zip(ticks, _quadrants(16, 16, len(ticks)), strict=True):
      frame = av.VideoFrame.from_ndarray(frame, format="rgb24")
      frame.pts, frame.time_base = pts, Fraction(1, 8)
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  with av.open(path) as container:  # some packets are read before earlier frames
    pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts != sorted(pts)
  assert video_io.probe_video(path).fps == pytest.approx(1.4)


def test_timestamps_that_do_not_advance_take_the_rate_from_the_frame_durations(tmp_path):
  """An MP4 whose every frame is stamped 0 (made by hand, or by a broken muxer): FFmpeg's
  average rate of such a file is of nothing (300 fps here, 500 with 20 frames); the packets'
  durations, and the codec's rate, say 25."""
  path = str(tmp_path / "stamped_zero.mp4")
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    for frame in _quadrants(16, 16, 12):
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        packet.pts = packet.dts = 0
        container.mux(packet)
    for packet in stream.encode():
      packet.pts = packet.dts = 0
      container.mux(packet)
  with av.open(path) as container:
    assert container.streams.video[0].average_rate == 300  # what was recorded before
  info = video_io.probe_video(path)
  assert (info.fps, info.declared_fps, info.num_frames) == (25.0, 25.0, 12)


def _yuv_video(path, rgb, matrix, height, width, tag):
  """Lossless H.264 of one colour made into limited-range YUV by hand with `matrix` ("601"
  or "709"), tagged with it or not (as much HD video is not)."""
  kr, kb = {"601": (0.299, 0.114), "709": (0.2126, 0.0722)}[matrix]
  r, g, b = (c / 255.0 for c in rgb)
  y = kr * r + (1 - kr - kb) * g + kb * b
  planes = (16 + 219 * y, 128 + 112 * (b - y) / (1 - kb), 128 + 112 * (r - y) / (1 - kr))
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv444p"
    stream.options = {"qp": "0"}
    if tag:
      stream.codec_context.colorspace = {"601": 6, "709": 1}[matrix]
    frame = av.VideoFrame(width, height, "yuv444p")
    for plane, value in zip(frame.planes, planes, strict=True):
      np.frombuffer(plane, np.uint8).reshape(height, plane.line_size)[:] = round(value)
    if tag:
      frame.colorspace = stream.codec_context.colorspace
    for packet in stream.encode(frame):
      container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def test_untagged_hd_video_is_read_as_bt709(tmp_path):
  """HD that does not name its YUV matrix was made with BT.709 (players assume so); FFmpeg's
  default, BT.601, would turn this red into (184, 11, 40). Tagged video keeps its own."""
  red = np.array([200, 30, 40])
  for name, matrix, height, width, tag in [
    ("hd.mp4", "709", 16, 1280, False),
    ("tall.mp4", "709", 584, 16, False),
    ("sd.mp4", "601", 16, 64, False),
    ("tagged.mp4", "601", 16, 1280, True),
  ]:
    _yuv_video(str(tmp_path / name), red, matrix, height, width, tag)
    frame = next(video_io.iter_video(str(tmp_path / name)))
    assert np.abs(frame.reshape(-1, 3).astype(int) - red).max() <= 3, (name, frame[0, 0])


def test_transparent_video_pixels_are_composited_on_white(tmp_path):
  """An RGBA video (PNG in MOV, as editors export overlays): transparent pixels are white, as
  in a photo (`read_image`) or a GIF, not the black they hold; opaque ones keep their colour
  and half-transparent ones are blended."""
  rgba = np.zeros((16, 16, 4), np.uint8)
  rgba[..., 0] = 255
  rgba[:, 8:, 3] = 255
  rgba[:, 4:8, 3] = 128
  rgba[:, :4, :3] = 0  # fully transparent, black underneath
  path = str(tmp_path / "overlay.mov")
  encode_video(path, [rgba] * 2, "png", pix_fmt="rgba", frame_format="rgba")
  frame = next(video_io.iter_video(path))
  assert (frame[:, :4] == 255).all()
  assert (frame[:, 4:8] == (255, 127, 127)).all()
  assert (frame[:, 8:] == (255, 0, 0)).all()


@pytest.mark.parametrize("codec", ["libvpx", "libvpx-vp9"])
def test_webm_alpha_is_composited_on_white(tmp_path, codec):
  """VP8/VP9 WebM with alpha (browsers' and editors' transparent video): the alpha plane sits
  beside the frames, which FFmpeg's own decoders drop; the transparent half would read as
  the red the encoder left under it."""
  rgba = np.zeros((16, 32, 4), np.uint8)
  rgba[..., 0] = 255
  rgba[:8, :, 3] = 255  # opaque red on top, transparent red below
  path = str(tmp_path / "sticker.webm")
  with av.open(path, "w") as container:
    stream = container.add_stream(codec, rate=10)
    stream.width, stream.height, stream.pix_fmt = 32, 16, "yuva420p"
    stream.options = {"auto-alt-ref": "0"}  # libvpx's VP8 encodes alpha only without it
    for _ in range(3):
      frame = av.VideoFrame.from_ndarray(rgba, format="rgba").reformat(format="yuva420p")
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  frames = list(video_io.iter_video(path))
  assert len(frames) == 3
  for frame in frames:
    assert _close(frame[:6], np.array([255, 0, 0]), tol=12)
    assert _close(frame[10:], np.array([255, 255, 255]), tol=12)


def test_animated_webp_png_and_avif_are_videos(tmp_path):
  """Web animations saved as WebP (which FFmpeg 8 cannot decode: "image data not found"),
  APNG or AVIF (of which FFmpeg decodes the first frame) are videos, read at their frames'
  durations with alpha on white; a still WebP or PNG stays an image."""
  from PIL import features
  from PIL import Image

  d = tmp_path / "stickers"
  d.mkdir()
  levels = np.arange(0, 200, 20, dtype=np.uint8)
  frames = [
    Image.fromarray(
      np.dstack([np.full((16, 24, 3), v, np.uint8), np.full((16, 24), 128, np.uint8)])
    )
    for v in levels
  ]
  frames[0].save(
    d / "wave.webp", save_all=True, append_images=frames[1:], duration=50, lossless=True
  )
  frames[0].save(d / "wave.png", save_all=True, append_images=frames[1:], duration=50)
  names = {"wave.webp": 2, "wave.png": 2}  # name: tolerance in levels
  if features.check("avif"):  # Pillow >= 11.3
    frames[0].save(d / "wave.avif", save_all=True, append_images=frames[1:], duration=50)
    names["wave.avif"] = 8  # lossy
  frames[0].save(tmp_path / "still.webp")
  assert not video_io.is_video_file(str(tmp_path / "still.webp"))
  for name, tolerance in names.items():
    path = str(d / name)
    assert video_io.is_video_file(path)
    video = np.stack(list(video_io.iter_video(path)))
    # Half-transparent grey v on white: (v * 128 + 255 * 127) / 255.
    expected = (levels.astype(int) * 128 + 255 * 127 + 127) // 255
    assert video.shape == (10, 16, 24, 3)
    np.testing.assert_allclose(video[:, 8, 12, 0], expected, atol=tolerance)
    info = video_io.probe_video(path)
    assert (info.num_frames, info.fps, info.display_size) == (10, 20.0, (16, 24))
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 2 * len(names) and not manifest["skipped"]
  assert [s["fps"] for s in manifest["sources"]] == [20.0] * len(names)


def test_an_animated_webp_or_png_without_durations_plays_as_browsers_play_it(tmp_path):
  """Frames of 0 ms (or up to 10) are shown by browsers for 100 ms, as FFmpeg shows a GIF's:
  such a WebP or PNG is 10 fps, in the manifest and in the records alike (before: a WebP 0
  fps in the manifest and the --fps default in the records; a PNG 15 fps for 0-ms frames,
  200 fps for 5-ms ones, as FFmpeg's APNG reader times them)."""
  from PIL import Image

  frames = [Image.fromarray(np.full((16, 24, 3), 20 * i, np.uint8)) for i in range(8)]
  for kind in ("webp", "png"):
    for name, duration in (("zero", 0), ("five", 5), ("mixed", [100, 0, 100, 5] * 2)):
      path = tmp_path / f"{name}.{kind}"
      frames[0].save(path, save_all=True, append_images=frames[1:], duration=duration)
      assert video_io.probe_video(str(path)).fps == 10.0, path
      assert len(list(video_io.iter_video(str(path)))) == 8
    # A frame over 10 ms keeps its own duration.
    frames[0].save(tmp_path / f"fast.{kind}", save_all=True, append_images=frames[1:], duration=20)
    assert video_io.probe_video(str(tmp_path / f"fast.{kind}")).fps == 50.0
  code, manifest = convert(
    input=str(tmp_path / "zero.webp"), output=str(tmp_path / "o"), clip_length=4, num_shards=1
  )
  assert code == 0 and manifest["sources"][0]["fps"] == 10.0
  import tensorflow as tf

  from trainers.data import format as record_format

  (record,) = list(tf.data.TFRecordDataset(str(tmp_path / "o-00000-of-00001.tfrecord")).take(1))
  assert record_format.decode_example(record)["fps"].numpy() == 10.0


def test_phone_and_camcorder_containers_in_a_folder_are_converted(tmp_path):
  """A folder as a phone or camcorder leaves it: 3GP and AVCHD .MTS (MPEG-TS, upper case)
  are videos, not files the walk passes over."""
  d = tmp_path / "DCIM"
  d.mkdir()
  _write(str(d / "VID_0001.3gp"), _quadrants(16, 16, 4))
  _write(str(d / "00001.MTS"), _quadrants(16, 16, 4), container_format="mpegts")
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 2 and not manifest["skipped"]
  assert sorted(os.path.basename(s["path"]) for s in manifest["sources"]) == [
    "00001.MTS",
    "VID_0001.3gp",
  ]


def test_an_empty_video_file_is_skipped_as_empty(tmp_path):
  """A 0-byte file (an upload or copy that failed) is called empty, not FFmpeg's "moov atom
  not found"."""
  (tmp_path / "upload.mp4").write_bytes(b"")
  code, manifest = convert(input=str(tmp_path / "upload.mp4"), output=str(tmp_path / "o"))
  assert code == 1
  assert manifest["skipped"][0]["reason"] == (
    f"Could not decode video file {tmp_path / 'upload.mp4'}: the file is empty (0 bytes)."
  )


def _box_offsets(path):
  """{box type: (offset, size)} of an MP4's top-level boxes."""
  data, offset, boxes = open(path, "rb").read(), 0, {}
  while offset < len(data):
    size = int.from_bytes(data[offset : offset + 4], "big")
    boxes[data[offset + 4 : offset + 8]] = (offset, size)
    offset += size
  return data, boxes


@pytest.mark.parametrize(
  "faststart, cut, words",
  [
    # A phone's recording stopped by a crash: frames written, the index never was.
    (False, "mdat", "the file is cut off before its index (the 'moov' box"),
    (False, "mdat_end", "the file has no index (the 'moov' box"),
    # A copy that stopped inside the index at the end.
    (False, "moov", "the file is cut off: its 'moov' box needs"),
    # A partial download of a web video (index first): cut inside the frames.
    (True, "mdat", "the file is cut off: its 'mdat' box needs"),
  ],
)
def test_a_cut_off_recording_is_called_cut_off(tmp_path, faststart, cut, words):
  """FFmpeg says "moov atom not found", "no video stream" or "error splitting NAL units" for
  an MP4 that ends early; the reason given is the file's: it is cut off, and where."""
  full = str(tmp_path / "full.mp4")
  frames = np.repeat(np.arange(0, 240, 8, dtype=np.uint8), 16 * 16 * 3).reshape(30, 16, 16, 3)
  with av.open(full, "w", options={"movflags": "faststart"} if faststart else {}) as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 16, 16, "yuv420p"
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  data, boxes = _box_offsets(full)
  offset, size = boxes[b"mdat" if cut.startswith("mdat") else b"moov"]
  end = offset + size if cut == "mdat_end" else offset + size // 2
  path = tmp_path / "VID_cut.mp4"
  path.write_bytes(data[:end])
  reason = r"Could not decode video file .*VID_cut.mp4: " + re.escape(words)
  with pytest.raises(ValueError, match=reason):
    list(video_io.iter_video(str(path)))
  code, manifest = convert(input=str(path), output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 1 and words in manifest["skipped"][0]["reason"]


def test_a_video_cut_inside_its_index_never_reads_as_no_frames(tmp_path):
  """Cut near the end of its index, an MP4 can open in FFmpeg with no frame and no error
  (with libx264's index, at 104 and 272-296 bytes short): it must read whole or be called
  cut off, not skipped as a video of 0 frames."""
  full = str(tmp_path / "full.mp4")
  _write(full, _quadrants(16, 16, 30))
  data, boxes = _box_offsets(full)
  offset, size = boxes[b"moov"]
  assert offset + size == len(data)  # the index last, as cameras write it
  outcomes = set()
  for short in range(8, size, 8):
    path = tmp_path / f"VID_{short}.mp4"
    path.write_bytes(data[:-short])
    try:
      count = len(list(video_io.iter_video(str(path))))
    except ValueError as e:
      assert "the file is cut off" in str(e), (short, str(e))
      outcomes.add("cut off")
    else:
      assert count == 30, (short, count)
      outcomes.add("whole")
  assert outcomes == {"whole", "cut off"}
  # Cut inside the index's own 8-byte header (with PyAV 19's muxer, 1160 bytes short):
  # before, "the file has no index", as if the recording had never written one.
  path = tmp_path / "VID_header.mp4"
  path.write_bytes(data[: offset + 5])
  with pytest.raises(ValueError, match="the file is cut off before its index .*: it ends 5 bytes"):
    list(video_io.iter_video(str(path)))


@pytest.mark.parametrize(
  "rotation, hflip, vflip, shown",
  [
    (0, True, False, lambda f: f[:, ::-1]),  # a front camera's mirror
    (0, False, True, lambda f: f[::-1]),
    (90, True, False, lambda f: np.rot90(f, 2).transpose(1, 0, 2)),
    (270, True, False, lambda f: f.transpose(1, 0, 2)),
  ],
)
def test_a_display_matrix_that_mirrors_is_shown_mirrored(tmp_path, rotation, hflip, vflip, shown):
  """A flip in the display matrix is applied as FFmpeg's player applies it; read as a turn
  alone, a mirrored frame would be stored upside down (its matrix reports 180 degrees)."""
  stored = _quadrants(16, 24, 2)
  path = str(tmp_path / "selfie.mp4")
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 24, 16, "yuv420p"
    stream.set_display_rotation(rotation, hflip=hflip, vflip=vflip)
    for frame in stored:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  expected = shown(stored[0])
  frame = next(video_io.iter_video(path))
  assert frame.shape == expected.shape and _close(frame, expected, tol=8)
  info = video_io.probe_video(path)
  assert info.mirrored and info.display_size == expected.shape[:2]
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=2, num_shards=1)
  assert code == 0 and manifest["sources"][0]["mirrored"] is True


def test_a_file_named_with_brackets_is_read_as_named(tmp_path):
  """Downloaded videos are often named "Title [id].mp4": as a glob, the brackets are a class
  of one character and the name does not match its own file."""
  path = str(tmp_path / "Funny cat [dQw4w9WgXcQ].mp4")
  _write(path, _quadrants(16, 16, 4))
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and [s["path"] for s in manifest["sources"]] == [path]


def test_hdr_video_is_mapped_to_sdr(tmp_path):
  """10-bit BT.2020 PQ, as phones and HDR downloads are: its reference white (203 nits) is
  stored near white and 10 nits stays dark; read as coded they would be greys of 146 and
  75, the clip dim and washed out."""

  def pq(nits):  # SMPTE ST 2084's inverse EOTF, in [0, 1]
    y = (nits / 10000.0) ** (2610 / 16384)
    return ((3424 / 4096 + 2413 / 128 * y) / (1 + 2392 / 128 * y)) ** (2523 / 32)

  path = str(tmp_path / "hdr.mp4")
  with av.open(path, "w") as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p10le"
    stream.options = {"qp": "0"}
    context = stream.codec_context
    context.colorspace, context.color_primaries, context.color_trc = 9, 9, 16
    frame = av.VideoFrame(32, 16, "yuv420p10le")
    luma = np.frombuffer(frame.planes[0], np.uint16).reshape(16, -1)
    luma[:, :16], luma[:, 16:] = round(64 + 876 * pq(203)), round(64 + 876 * pq(10))
    for plane in frame.planes[1:]:
      np.frombuffer(plane, np.uint16)[:] = 512
    frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range = 9, 9, 16, 1
    for packet in stream.encode(frame):
      container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  rgb = next(video_io.iter_video(path)).astype(int)
  assert rgb[:, 2:14].min() >= 235 and rgb[:, 18:30].max() <= 100


def test_display_p3_video_is_mapped_to_srgb(tmp_path):
  """Video tagged Display P3 (Apple's screen recordings and exports): its coded values mean
  more saturated colours than the same values in BT.709, as a colour-managed player shows;
  read as BT.709 they would be the same pixels as an untagged copy."""
  rgb = {}
  for name, primaries in (("bt709", 1), ("p3", 12)):
    path = str(tmp_path / f"{name}.mp4")
    with av.open(path, "w") as container:
      stream = container.add_stream("libx264", rate=10)
      stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv444p"
      stream.options = {"qp": "0"}
      context = stream.codec_context
      context.colorspace, context.color_primaries, context.color_trc = 1, primaries, 1
      frame = av.VideoFrame(32, 16, "yuv444p")
      for plane, value in zip(frame.planes, (120, 100, 180), strict=True):  # a muted red
        np.frombuffer(plane, np.uint8)[:] = value
      frame.colorspace, frame.color_primaries, frame.color_trc, frame.color_range = (
        1,
        primaries,
        1,
        1,
      )
      for packet in stream.encode(frame):
        container.mux(packet)
      for packet in stream.encode():
        container.mux(packet)
    rgb[name] = next(video_io.iter_video(path)).astype(int)[8, 16]
  assert rgb["p3"][0] >= rgb["bt709"][0] + 15, rgb  # redder, green about the same
  assert abs(rgb["p3"][1] - rgb["bt709"][1]) <= 5, rgb


def test_a_cover_picture_before_the_video_is_passed_over(tmp_path):
  """Downloaders embed the thumbnail as cover art (MP4 `covr`), which FFmpeg lists as a
  video stream; when the file's metadata comes before its track, the cover is the first
  one, and was read as a one-frame 32x32 video at 90000 fps."""
  path = str(tmp_path / "download.mp4")
  with av.open(path, "w") as container:
    cover = container.add_stream("mjpeg", rate=1)
    cover.width, cover.height, cover.pix_fmt = 32, 32, "yuvj420p"
    cover.disposition = av.stream.Disposition.attached_pic
    video = container.add_stream("libx264", rate=10)
    video.width, video.height, video.pix_fmt = 24, 16, "yuv420p"
    picture = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 255, np.uint8), format="rgb24")
    for packet in [*cover.encode(picture.reformat(format="yuvj420p")), *cover.encode()]:
      container.mux(packet)
    for frame in _quadrants(16, 24, 12):
      for packet in video.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in video.encode():
      container.mux(packet)
  # FFmpeg writes the cover in moov's udta after the track; a tagger may put it first.
  data, boxes = _box_offsets(path)
  offset, size = boxes[b"moov"]
  children, at = [], offset + 8
  while at < offset + size:
    length = int.from_bytes(data[at : at + 4], "big")
    children.append(data[at : at + length])
    at += length
  children.sort(key=lambda box: {b"mvhd": 0, b"udta": 1}.get(box[4:8], 2))
  with open(path, "wb") as f:
    f.write(data[:offset] + data[offset : offset + 8] + b"".join(children) + data[at:])
  with av.open(path) as container:
    assert container.streams.video[0].disposition & av.stream.Disposition.attached_pic
  info = video_io.probe_video(path)
  assert (info.num_frames, info.fps, info.display_size) == (12, 10.0, (16, 24))
  assert len(list(video_io.iter_video(path))) == 12


def test_a_resolution_change_mid_stream_is_scaled_to_the_first_size(tmp_path):
  """A browser's recording (WebRTC, MediaRecorder WebM) changes resolution with the
  bandwidth; players show every frame in one window. Frames of another size than the first
  are scaled to it, counted and logged, where they would make a clip of mixed shapes."""
  path = str(tmp_path / "call.webm")
  with av.open(path, "w") as container:
    stream = container.add_stream("libvpx", rate=10)
    stream.width, stream.height, stream.pix_fmt = 32, 16, "yuv420p"
    for k in range(6):
      frame = av.VideoFrame.from_ndarray(np.full((16, 32, 3), 40 * k, np.uint8), format="rgb24")
      for packet in stream.encode(frame):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
    smaller = av.CodecContext.create("libvpx", "w")
    smaller.width, smaller.height, smaller.pix_fmt = 16, 8, "yuv420p"
    smaller.time_base = stream.codec_context.time_base
    for k in range(6, 12):
      frame = av.VideoFrame.from_ndarray(np.full((8, 16, 3), 20 * k, np.uint8), format="rgb24")
      frame.pts, frame.time_base = k, smaller.time_base
      for packet in [*smaller.encode(frame), *(smaller.encode(None) if k == 11 else [])]:
        packet.stream = stream
        container.mux(packet)
  stats = video_io.DecodeStats()
  frames = list(video_io.iter_video(path, stats))
  assert [f.shape for f in frames] == [(16, 32, 3)] * 12 and stats.resized_frames == 6
  assert _close(frames[9], np.full((16, 32, 3), 180, np.uint8), tol=8)
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=12, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 1
  assert manifest["sources"][0]["resized_frames"] == 6


def test_frames_numbered_without_padding_are_read_in_number_order(tmp_path):
  """`ffmpeg -i v.mp4 %d.png` names frames 1.png ... 12.png: by name, 10.png would come
  second. Hidden files are passed over: the `._2.png` macOS leaves beside each file on a USB
  drive is not an image, and a phone's `.thumbnails` folder is not a video."""
  from PIL import Image

  root = tmp_path / "DCIM"
  frames = root / "take"
  frames.mkdir(parents=True)
  for k in range(1, 13):
    Image.fromarray(np.full((8, 8, 3), 20 * k, np.uint8)).save(frames / f"{k}.png")
  (frames / "._2.png").write_bytes(b"\x00\x05\x16\x07" + b"\x00" * 60)  # AppleDouble
  thumbnails = root / ".thumbnails"
  thumbnails.mkdir()
  for k in range(3):
    Image.fromarray(np.full((8, 8, 3), 9, np.uint8)).save(thumbnails / f"{k}.jpg")
  files = video_io.frame_folder_files(str(frames))
  assert [os.path.basename(f) for f in files] == [f"{k}.png" for k in range(1, 13)]
  code, manifest = convert(
    input=str(root), output=str(tmp_path / "o"), clip_length=12, format="png"
  )
  assert code == 0 and manifest["skipped"] == [
    {
      "path": str(root),
      "reason": "2 hidden files and folders passed over, as file browsers hide them (a "
      "leading dot, or Windows' system names): .thumbnails, ._2.png",
    }
  ]
  assert [s["path"] for s in manifest["sources"]] == [str(frames)]
  clip = _records(str(tmp_path / "o*.tfrecord*"))[0]
  assert [int(frame[0, 0, 0]) for frame in clip] == [20 * k for k in range(1, 13)]


def test_interlaced_video_is_deinterlaced(tmp_path):
  """A camcorder's 1080i: each frame holds two fields half a frame apart on alternate rows.
  Woven as decoded, a moving bar is comb-toothed (odd rows shifted); read, every row shows
  the bar where the top field has it."""
  height, width = 32, 64

  def fields(t):  # a white bar moving right, 8 pixels per frame; odd rows half a frame later
    frame = np.zeros((height, width, 3), np.uint8)
    for row in range(height):
      x = 8 + int((t + 0.5 * (row % 2)) * 8)
      frame[row, x : x + 12] = 255
    return frame

  path = str(tmp_path / "00001.MTS")
  with av.open(path, "w", format="mpegts") as container:
    stream = container.add_stream("libx264", rate=25)
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.options = {"flags": "+ildct+ilme", "x264opts": "tff=1", "qp": "0"}
    for t in range(4):
      for packet in stream.encode(av.VideoFrame.from_ndarray(fields(t), format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  stats = video_io.DecodeStats()
  frames = list(video_io.iter_video(path, stats))
  assert len(frames) == 4 and stats.interlaced_frames == 4
  for t, frame in enumerate(frames):
    bar = np.flatnonzero(frame[:, :, 0].astype(int).mean(axis=0) > 128)
    assert bar.min() == 8 + 8 * t and bar.max() == 19 + 8 * t, (t, bar)
    np.testing.assert_allclose(frame[1::2, :, 0], frame[0::2, :, 0], atol=40)
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["sources"][0]["interlaced_frames"] == 4


def test_a_file_name_that_is_not_utf8_is_converted(tmp_path):
  r"""Archives made on other systems hold names in Latin-1 ("caf\xe9.mp4"); Python sees them
  with surrogate escapes, which writing the record's source path as UTF-8 refused: the
  converter stopped with a UnicodeEncodeError traceback."""
  import tensorflow as tf

  name = os.fsencode(str(tmp_path)) + b"/caf\xe9.mp4"
  try:
    with open(name, "wb"):
      pass
  except OSError:
    pytest.skip("this filesystem refuses names that are not UTF-8")
  os.remove(name)
  _write(os.fsdecode(name), _quadrants(16, 16, 4))
  out = str(tmp_path / "o")
  code, manifest = convert(input=str(tmp_path), output=out, clip_length=4, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 1
  assert os.fsencode(manifest["sources"][0]["path"]) == name
  (record,) = list(tf.data.TFRecordDataset(out + "-00000-of-00001.tfrecord"))
  example = tf.train.Example.FromString(record.numpy())
  assert example.features.feature["source"].bytes_list.value == [name]


def test_photos_beside_videos_are_not_taken_as_frames(tmp_path):
  """A phone's camera folder holds photos and videos: the videos are converted, and the
  photos, which would make clips of unrelated pictures, are listed as skipped."""
  from PIL import Image

  d = tmp_path / "DCIM"
  d.mkdir()
  _write(str(d / "VID_0002.mp4"), _quadrants(16, 16, 4))
  for k in range(4):
    Image.fromarray(np.full((16, 16, 3), 60 * k, np.uint8)).save(d / f"IMG_000{k}.jpg")
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=4, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 1
  assert [s["path"] for s in manifest["sources"]] == [str(d / "VID_0002.mp4")]
  assert manifest["skipped"] == [
    {
      "path": str(d),
      "reason": "Expected a folder of frames or of videos, received 4 images beside 1 "
      "video: the images are not read as frames.",
    }
  ]


def _jpeg_with_xmp(path, colour, xmp=None):
  """A 32x24 JPEG of one colour with an XMP packet (APP1) after its SOI, as cameras write it."""
  import io

  from PIL import Image

  buffer = io.BytesIO()
  Image.fromarray(np.full((24, 32, 3), colour, np.uint8)).save(buffer, "JPEG", quality=95)
  data = buffer.getvalue()
  if xmp is not None:
    body = b"http://ns.adobe.com/xap/1.0/\x00" + xmp.encode()
    data = data[:2] + b"\xff\xe1" + (len(body) + 2).to_bytes(2, "big") + body + data[2:]
  with open(path, "wb") as f:
    f.write(data)


def _motion_photo(path, kind, video):
  """A motion photo as each phone writes it: a red photo with the MP4 `video` appended."""
  with open(video, "rb") as f:
    mp4 = f.read()
  if kind == "google":  # Motion Photo 1.0 (PXL_*.MP.jpg), with an Ultra HDR gain map
    gain_map = b"\xff\xd8" + b"\x00" * 300 + b"\xff\xd9"
    xmp = (
      '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description GCamera:MotionPhoto="1" '
      'GCamera:MotionPhotoVersion="1" GCamera:MotionPhotoPresentationTimestampUs="0">'
      "<Container:Directory><rdf:Seq>"
      '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" '
      'Item:Semantic="Primary" Item:Length="0" Item:Padding="0"/></rdf:li>'
      '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" '
      f'Item:Semantic="GainMap" Item:Length="{len(gain_map)}"/></rdf:li>'
      '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" '
      f'Item:Semantic="MotionPhoto" Item:Length="{len(mp4)}" Item:Padding="0"/></rdf:li>'
      "</rdf:Seq></Container:Directory></rdf:Description></rdf:RDF></x:xmpmeta>"
    )
    _jpeg_with_xmp(path, (255, 0, 0), xmp)
    tail = gain_map + mp4
  elif kind == "micro_video":  # the older MVIMG_*.jpg
    xmp = f'<rdf:Description GCamera:MicroVideo="1" GCamera:MicroVideoOffset="{len(mp4)}"/>'
    _jpeg_with_xmp(path, (255, 0, 0), xmp)
    tail = mp4
  else:  # Samsung: a marker before the video, a trailer after it
    _jpeg_with_xmp(path, (255, 0, 0))
    tail = b"MotionPhoto_Data" + mp4 + b"\x00" * 40 + b"SEFH" + b"\x00" * 20 + b"SEFT"
  with open(path, "ab") as f:
    f.write(tail)


@pytest.mark.parametrize("kind", ["google", "micro_video", "samsung"])
def test_a_motion_photo_is_the_video_its_phone_recorded(tmp_path, kind):
  """Pixel and Samsung cameras save a photo with the seconds around the shot appended as an
  MP4 (PXL_*.MP.jpg, MVIMG_*.jpg): a folder of them is a folder of videos, not of frames."""
  video = str(tmp_path / "clip.mp4")
  _write(video, _quadrants(24, 32, 6))
  d = tmp_path / "Camera"
  d.mkdir()
  for k in range(2):
    _motion_photo(str(d / f"PXL_2026120{k}_101010.MP.jpg"), kind, video)
  path = str(d / "PXL_20261200_101010.MP.jpg")
  assert video_io.is_video_file(path)
  frames = np.stack(list(video_io.iter_video(path)))
  assert frames.shape == (6, 24, 32, 3)
  assert _close(frames, _quadrants(24, 32, 6))  # the video, not the red photo
  assert video_io.probe_video(path).num_frames == 6
  assert _close(video_io.read_image(path), np.full((24, 32, 3), (255, 0, 0), np.uint8), 10)
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=6, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 2 and not manifest["skipped"]


def test_a_photo_that_only_claims_motion_is_a_photo(tmp_path):
  """An editor that keeps the XMP but drops the appended video, a still taken with motion
  off, and a JPEG with no metadata at all are photos."""
  stripped = str(tmp_path / "PXL_1.MP.jpg")
  _jpeg_with_xmp(stripped, (0, 0, 255), '<rdf:Description GCamera:MicroVideoOffset="5000"/>')
  off = str(tmp_path / "PXL_2.jpg")
  _jpeg_with_xmp(off, (0, 0, 255), '<rdf:Description GCamera:MotionPhoto="0"/>')
  plain = str(tmp_path / "IMG_3.jpg")
  _jpeg_with_xmp(plain, (0, 0, 255))
  for path in (stripped, off, plain):
    assert not video_io.is_video_file(path)
    assert video_io.motion_photo_video(path) is None


def _box(kind, payload):
  return struct.pack(">I4s", 8 + len(payload), kind) + payload


def _full_box(kind, version, flags, payload):
  return _box(kind, struct.pack(">I", (version << 24) | flags) + payload)


def _hevc_image(rgb):
  """(hvcC box, one coded picture) of `rgb` by libx265, taken from an MP4 PyAV writes."""
  import io

  buffer = io.BytesIO()
  with av.open(buffer, "w", format="mp4") as container:
    stream = container.add_stream("libx265", rate=1)
    stream.width, stream.height, stream.pix_fmt = rgb.shape[1], rgb.shape[0], "yuv420p"
    stream.options = {"x265-params": "log-level=none"}
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24")
    frame.pts = 0
    for packet in [*stream.encode(frame), *stream.encode()]:
      packet.dts = packet.pts  # libx265 through PyAV 18 can leave it uninitialised
      container.mux(packet)
  data = buffer.getvalue()
  at = data.index(b"hvcC") - 4
  config = data[at : at + struct.unpack(">I", data[at : at + 4])[0]]
  at = data.index(b"mdat") - 4
  return config, data[at + 8 : at + struct.unpack(">I", data[at : at + 4])[0]]


def _heic(path, tiles, rows, cols, width, height, extra=()):
  """A HEIC as an iPhone lays it out: a primary `grid` item whose description sits in `idat`
  (iloc version 1), hidden HEVC tiles, a thumbnail and an Exif item, and the `extra` property
  boxes (irot, imir, colr) among the grid's. With one tile and no grid size, the tile itself
  is the primary item."""
  coded = [_hevc_image(t) for t in tiles]
  thumb = _hevc_image(np.full((32, 32, 3), 128, np.uint8))
  grid_item = rows * cols > 1 or width
  tile_ids = [100 + k for k in range(len(tiles))]
  primary = 1 if grid_item else tile_ids[0]
  infe = [_full_box(b"infe", 2, 1, struct.pack(">HH", t, 0) + b"hvc1\0") for t in tile_ids]
  infe += [
    _full_box(b"infe", 2, 0, struct.pack(">HH", 30, 0) + b"hvc1\0"),  # the thumbnail
    _full_box(b"infe", 2, 0, struct.pack(">HH", 31, 0) + b"Exif\0"),
  ]
  refs = _box(b"thmb", struct.pack(">HHH", 30, 1, primary))
  ispe = lambda w, h: _full_box(b"ispe", 0, 0, struct.pack(">II", w, h))
  properties = [ispe(*tiles[0].shape[1::-1])] + [c for c, _ in coded] + [thumb[0], ispe(32, 32)]
  assoc = [(t, [1, 2 + k]) for k, t in enumerate(tile_ids)] + [
    (30, [len(coded) + 2, len(coded) + 3])
  ]
  if grid_item:
    infe.insert(0, _full_box(b"infe", 2, 0, struct.pack(">HH", 1, 0) + b"grid\0"))
    refs = (
      _box(
        b"dimg",
        struct.pack(">HH", 1, len(tile_ids)) + b"".join(struct.pack(">H", t) for t in tile_ids),
      )
      + refs
    )
    properties.append(ispe(width, height))
    first = len(properties)
    properties += list(extra)
    assoc.insert(0, (1, [first] + list(range(first + 1, len(properties) + 1))))
  elif extra:
    first = len(properties) + 1
    properties += list(extra)
    assoc[0] = (tile_ids[0], assoc[0][1] + list(range(first, len(properties) + 1)))
  ipma = struct.pack(">I", len(assoc)) + b"".join(
    struct.pack(">HB", item, len(ix)) + bytes(0x80 | i for i in ix) for item, ix in assoc
  )
  iprp = _box(b"iprp", _box(b"ipco", b"".join(properties)) + _full_box(b"ipma", 0, 0, ipma))
  grid = struct.pack(">BBBBHH", 0, 0, rows - 1, cols - 1, width or 0, height or 0)
  idat = _box(b"idat", grid) if grid_item else b""
  payloads = [(t, p) for t, (_, p) in zip(tile_ids, coded, strict=True)]
  payloads += [(30, thumb[1]), (31, b"\0\0\0\0Exif\0\0")]
  ftyp = _box(b"ftyp", b"heic" + b"\0\0\0\0" + b"mif1heic")

  def meta(base):
    items, offset = b"", base
    if grid_item:  # construction method 1: in idat
      items += struct.pack(">HHHHII", 1, 1, 0, 1, 0, len(grid))
    for item, payload in payloads:
      items += struct.pack(">HHHHII", item, 0, 0, 1, offset, len(payload))
      offset += len(payload)
    count = len(payloads) + bool(grid_item)
    iloc = _full_box(b"iloc", 1, 0, bytes([0x44, 0x00]) + struct.pack(">H", count) + items)
    iinf = _full_box(b"iinf", 0, 0, struct.pack(">H", len(infe)) + b"".join(infe))
    hdlr = _full_box(b"hdlr", 0, 0, b"\0\0\0\0pict" + b"\0" * 13)
    pitm = _full_box(b"pitm", 0, 0, struct.pack(">H", primary))
    iref = _full_box(b"iref", 0, 0, refs)
    return _full_box(b"meta", 0, 0, hdlr + pitm + iloc + iinf + iref + iprp + idat)

  base = len(ftyp) + len(meta(0)) + 8
  with open(path, "wb") as f:
    f.write(ftyp + meta(base) + _box(b"mdat", b"".join(p for _, p in payloads)))


def _iso_motion_photo(path, video, layout):
  """A HEIC/AVIF motion photo: Samsung's (the MP4 and a `sefd` trailer in a top-level `mpvd`
  box, as Galaxy phones write HEIC motion photos), or an MP4 appended as it is."""
  with open(video, "rb") as f:
    mp4 = f.read()
  sefd = _box(b"sefd", b"\0" * 12 + b"MotionPhoto_Data" + b"SEFH" + b"\0" * 16 + b"SEFT")
  if layout == "mpvd":
    tail = _box(b"mpvd", mp4 + sefd)
  elif layout == "mpvd_64_bit":  # a box size too large for 32 bits is written in 64
    tail = struct.pack(">I4sQ", 1, b"mpvd", 16 + len(mp4) + len(sefd)) + mp4 + sefd
  else:
    tail = mp4
  with open(path, "ab") as f:
    f.write(tail)


@pytest.mark.parametrize("layout", ["mpvd", "mpvd_64_bit", "appended"])
def test_a_heic_or_avif_motion_photo_is_its_video_and_its_still(tmp_path, layout):
  """Samsung's HEIC motion photos (and Google's Motion Photo 1.0 with a HEIC or AVIF primary)
  hold the video in an `mpvd` box after the image's boxes. Before: read as a still photo, so
  a folder of them was one folder of frames."""
  from PIL import Image

  video = str(tmp_path / "clip.mp4")
  _write(video, _quadrants(24, 32, 6))
  d = tmp_path / "DCIM"
  d.mkdir()
  heic = str(d / "20261204_101010.heic")
  _heic(heic, _quadrant_tiles()[2:3], 1, 1, None, None)
  _iso_motion_photo(heic, video, layout)
  avif = str(d / "PXL_20261204_101011.MP.avif")
  Image.fromarray(np.full((24, 32, 3), (0, 0, 255), np.uint8)).save(avif, "AVIF", quality=95)
  _iso_motion_photo(avif, video, layout)
  for path in (heic, avif):
    assert video_io.is_video_file(path), path
    frames = np.stack(list(video_io.iter_video(path)))
    assert frames.shape == (6, 24, 32, 3)
    assert _close(frames, _quadrants(24, 32, 6))  # the video, not the blue photo
    assert video_io.probe_video(path).num_frames == 6
  assert _close(video_io.read_image(heic), np.full((64, 64, 3), (0, 0, 255), np.uint8), 6)
  assert _close(video_io.read_image(avif), np.full((24, 32, 3), (0, 0, 255), np.uint8), 10)
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=6, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 2 and not manifest["skipped"]


def test_a_cut_off_heic_motion_photo_is_called_cut_off(tmp_path):
  """A motion photo copied in part: its video's index is cut off. Before: "received 0
  frames", the video opening with none."""
  video = str(tmp_path / "clip.mp4")
  _write(video, _quadrants(24, 32, 6))
  path = str(tmp_path / "20261204_101010.heic")
  _heic(path, _quadrant_tiles()[:1], 1, 1, None, None)
  _iso_motion_photo(path, video, "mpvd")
  with open(path, "r+b") as f:
    f.truncate(os.path.getsize(path) - 200)  # the sefd trailer and the end of the moov box
  words = "the file is cut off: its 'moov' box needs"
  with pytest.raises(ValueError, match=re.escape(words)):
    list(video_io.iter_video(path))
  code, manifest = convert(input=path, output=str(tmp_path / "o"), clip_length=6, num_shards=1)
  assert code == 1 and words in manifest["skipped"][0]["reason"]


def test_a_heic_without_its_video_is_a_photo(tmp_path):
  """A plain HEIC, and one whose `mpvd` box holds no MP4 (an editor emptied it), are photos."""
  plain = str(tmp_path / "IMG_0001.HEIC")
  _heic(plain, _quadrant_tiles()[:1], 1, 1, None, None)
  emptied = str(tmp_path / "20261204_1.heic")
  _heic(emptied, _quadrant_tiles()[:1], 1, 1, None, None)
  with open(emptied, "ab") as f:
    f.write(_box(b"mpvd", b"\0" * 64))
  for path in (plain, emptied):
    assert not video_io.is_video_file(path)
    assert video_io.motion_photo_video(path) is None
    assert _close(video_io.read_image(path), np.full((64, 64, 3), (255, 0, 0), np.uint8), 6)


def _quadrant_tiles():
  colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]
  return [np.full((64, 64, 3), c, np.uint8) for c in colours]


def test_an_iphone_heic_photo_is_read_tiles_put_together(tmp_path):
  """The iPhone's HEIC: a grid of HEVC tiles cropped to the photo's size, with a thumbnail
  and Exif beside it. Before: refused ("convert it to JPEG or PNG first")."""
  path = str(tmp_path / "IMG_0001.HEIC")
  _heic(path, _quadrant_tiles(), 2, 2, 120, 100)
  rgb = video_io.read_image(path)
  assert rgb.shape == (100, 120, 3) and rgb.dtype == np.uint8
  expected = np.zeros((100, 120, 3), np.uint8)
  expected[:64, :64], expected[:64, 64:] = (255, 0, 0), (0, 255, 0)
  expected[64:, :64], expected[64:, 64:] = (0, 0, 255), 255
  assert _close(rgb, expected, 6)
  # Turned a quarter anticlockwise, then mirrored left-right, as its properties say.
  turned = str(tmp_path / "IMG_0002.HEIC")
  irot = _box(b"irot", b"\x01")
  imir = _box(b"imir", b"\x00")
  _heic(turned, _quadrant_tiles(), 2, 2, 120, 100, extra=[irot, imir])
  assert _close(video_io.read_image(turned), np.rot90(expected)[:, ::-1], 6)
  # One coded image, no grid (many Android phones).
  single = str(tmp_path / "PXL_0003.heic")
  _heic(single, _quadrant_tiles()[2:3], 1, 1, None, None)
  assert _close(video_io.read_image(single), np.full((64, 64, 3), (0, 0, 255), np.uint8), 6)
  # Its colour profile applied, as for any photo: one that swaps red and green shows the red
  # tile green.
  import importlib.util

  spec = importlib.util.spec_from_file_location(
    "test_photos", os.path.join(os.path.dirname(__file__), "..", "..", "export", "test_photos.py")
  )
  photos = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(photos)
  colr = _box(b"colr", b"prof" + photos._profile_with_red_and_green_swapped())
  profiled = str(tmp_path / "IMG_0005.HEIC")
  _heic(profiled, _quadrant_tiles(), 2, 2, 120, 100, extra=[colr])
  assert _close(
    video_io.read_image(profiled)[:64, :64], np.full((64, 64, 3), (0, 255, 0), np.uint8), 12
  )


def _clap(width, height, x_off, y_off):
  """A `clap` box: whole-pixel width and height, offsets in half pixels."""
  return _box(b"clap", struct.pack(">IIIIiIiI", width, 1, height, 1, x_off, 2, y_off, 2))


def test_a_heic_clean_aperture_crops_before_it_turns(tmp_path):
  """A HEIF `clap` (clean aperture) crops the image: a window of its size, centred at the
  image's centre moved by its offsets; applied before `irot`, in association order. Before:
  ignored, the photo kept the margins its camera meant to hide."""
  expected = np.zeros((100, 120, 3), np.uint8)
  expected[:64, :64], expected[:64, 64:] = (255, 0, 0), (0, 255, 0)
  expected[64:, :64], expected[64:, 64:] = (0, 0, 255), 255
  # 100x80 at offsets (-5, +3): centre (54.5, 52.5), so columns 5-104 and rows 13-92.
  path = str(tmp_path / "IMG_0006.HEIC")
  _heic(path, _quadrant_tiles(), 2, 2, 120, 100, extra=[_clap(100, 80, -10, 6)])
  rgb = video_io.read_image(path)
  assert rgb.shape == (80, 100, 3)
  assert _close(rgb, expected[13:93, 5:105], 6)
  turned = str(tmp_path / "IMG_0007.HEIC")
  _heic(
    turned,
    _quadrant_tiles(),
    2,
    2,
    120,
    100,
    extra=[_clap(100, 80, -10, 6), _box(b"irot", b"\x01")],
  )
  assert _close(video_io.read_image(turned), np.rot90(expected[13:93, 5:105]), 6)
  outside = str(tmp_path / "IMG_0008.HEIC")
  _heic(outside, _quadrant_tiles(), 2, 2, 120, 100, extra=[_clap(100, 80, 60, 0)])
  with pytest.raises(video_io.InputError, match="clean aperture .* is not inside its 120x100"):
    video_io.read_image(outside)


def test_a_damaged_heic_is_one_line_naming_it(tmp_path):
  path = str(tmp_path / "IMG_0004.HEIC")
  _heic(path, _quadrant_tiles(), 2, 2, 120, 100)
  with open(path, "r+b") as f:
    f.truncate(200)  # cut inside its meta box
  with pytest.raises(video_io.InputError) as error:
    video_io.read_image(path)
  message = str(error.value)
  assert message.startswith(f"Expected an image file, received {path}: a HEIC/HEIF photo")
  assert "convert it to JPEG or PNG" in message and "\n" not in message


def test_a_folder_of_heic_frames_is_a_video(tmp_path):
  d = tmp_path / "burst"
  d.mkdir()
  for k, tile in enumerate(_quadrant_tiles()[:2]):
    _heic(str(d / f"IMG_{k}.HEIC"), [tile], 1, 1, None, None)
  code, manifest = convert(input=str(d), output=str(tmp_path / "o"), clip_length=2, num_shards=1)
  assert code == 0 and manifest["num_clips"] == 1 and not manifest["skipped"]
  frames = np.stack(list(video_io.iter_frame_folder(str(d))))
  assert frames.shape == (2, 64, 64, 3) and _close(frames[1], _quadrant_tiles()[1], 6)


def test_a_heic_past_the_pixel_limit_is_refused_before_decoding(tmp_path):
  path = str(tmp_path / "IMG_0006.HEIC")
  _heic(path, _quadrant_tiles(), 2, 2, 30000, 20000)  # 600 MP declared
  with pytest.raises(video_io.InputError) as error:
    video_io.read_image(path)
  assert str(error.value) == (
    f"Expected an image of at most {video_io.PHOTO_MAX_PIXELS} pixels, received {path}: "
    "30000x20000 = 600000000 pixels."
  )
