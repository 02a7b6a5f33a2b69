"""Files a converter meets on real disks: packets a decoder refuses, pipes and devices, videos
named without a video extension, linked folders, broken links, damaged and padded MP4s."""

import json
import os
import re
import subprocess
import sys

import av
import numpy as np
from PIL import Image
import pytest

from data_helpers import convert
from data_helpers import encode_video
from trainers.data import make_tfrecords
from trainers.data import video_io

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _texture(num_frames, height=24, width=48):
  """uint8 [T, H, W, 3]: one random texture moving right a pixel a frame (no two frames of
  the first `width` alike)."""
  base = np.random.default_rng(0).integers(0, 256, (height, width, 3), np.uint8)
  return np.stack([np.roll(base, t, axis=1) for t in range(num_frames)])


def _write(path, frames, gop=10, options=None, container_format=None, bframes=0):
  with av.open(str(path), "w", format=container_format, options=options or {}) as container:
    stream = container.add_stream("libx264", rate=10)
    stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
    # A key frame every `gop` frames and no other (no scene cuts: a random texture is one
    # at every frame).
    stream.options = {"crf": "10", "bf": str(bframes), "x264-params": f"keyint={gop}:scenecut=0"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _replace_packet(source, path, index, payload):
  """`source` remuxed to `path` with packet `index`'s bytes replaced by `payload`."""
  with av.open(str(source)) as src, av.open(str(path), "w") as out:
    stream = src.streams.video[0]
    copy = out.add_stream_from_template(stream)
    for i, packet in enumerate(p for p in src.demux(stream) if p.size):
      if i == index:
        damaged = av.Packet(payload)
        damaged.pts, damaged.dts, damaged.time_base = packet.pts, packet.dts, packet.time_base
        damaged.is_keyframe = packet.is_keyframe
        packet = damaged
      packet.stream = copy
      out.mux(packet)


def _records(prefix):
  import glob

  import tensorflow as tf

  from trainers.data import format as record_format

  for shard in sorted(glob.glob(prefix + "-*.tfrecord")):
    for record in tf.data.TFRecordDataset(shard):
      example = record_format.decode_example(record)
      yield int(example["start_frame"]), example["frames"].numpy()


@pytest.mark.parametrize("index, bframes", [(0, 0), (13, 0), (4, 2)])
def test_a_packet_the_decoder_refuses_loses_one_frame_not_the_rest(tmp_path, index, bframes):
  """A packet whose bytes the decoder refuses ("Invalid NAL unit size": bad sectors, a
  flipped length) stopped the file there: everything after it was lost. Now that frame is
  lost, counted, the frames referencing it are damaged up to the next key frame, and the
  rest of the file is read; clips keep the file's frame numbers (lost frames keep their
  places: the refused one, and the nine the decoder drops after a lost key frame) and every
  clip written equals the undamaged file's frames there. With B-frames, `index` counts
  packets in decoding order, not frames in showing order."""
  frames = _texture(40)
  clean_path = tmp_path / "clean.mp4"
  _write(clean_path, frames, bframes=bframes)
  clean = np.stack(list(video_io.iter_video(str(clean_path))))
  path = tmp_path / "damaged.mp4"
  _replace_packet(clean_path, path, index, b"\x7f\xff\xff\xf0" + bytes(60))
  stats = video_io.DecodeStats()
  decoded = list(video_io.iter_video(str(path), stats))
  assert stats.errors >= 1 and stats.lost_frames >= 1
  assert len(decoded) + stats.lost_frames == len(frames)
  next_key = (index // 10 + 1) * 10  # GOP 10: the frames from the next key frame are whole
  np.testing.assert_array_equal(np.stack(decoded[next_key - 40 :]), clean[next_key:])
  assert video_io.probe_video(str(path)).num_frames == len(frames)

  out = str(tmp_path / "o" / "t")
  code, manifest = convert(input=str(path), output=out, clip_length=4, num_shards=1, format="png")
  (entry,) = manifest["sources"]
  assert code == 0 and entry["decode_errors"] >= 1 and entry["lost_frames"] >= 1
  written = dict(_records(out))
  assert {20, 24, 28, 32, 36} <= set(written)  # the GOP after the damaged one, whole
  # Every clip of the 40 frames accounted for: written, damaged, or missing a lost frame.
  assert entry["dropped_incomplete"] >= 1
  assert len(written) + entry["dropped_damaged"] + entry["dropped_incomplete"] == 10
  for start, clip in written.items():
    assert not start <= index < start + 4
    np.testing.assert_array_equal(clip, clean[start : start + 4])


def test_a_named_pipe_or_a_device_is_skipped_not_waited_on(tmp_path):
  """A named pipe called `a.mp4` in a folder made the converter wait for a writer forever;
  a link to /dev/zero called `z.mp4` was read as bytes that never end. Both are listed as
  skipped at once; the reader refuses them in one line."""
  folder = tmp_path / "videos"
  folder.mkdir()
  _write(folder / "good.mp4", _texture(8))
  os.mkfifo(folder / "a.mp4")
  os.symlink("/dev/zero", folder / "z.mp4")
  out = str(tmp_path / "o" / "t")
  result = subprocess.run(
    [sys.executable, "-m", "trainers.data.make_tfrecords", f"--input={folder}"]
    + [f"--output={out}", "--clip_length=4", "--num_shards=1"],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=300,
    env={**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "2"},
  )
  assert result.returncode == 0, result.stderr[-2000:]
  with open(out + ".manifest.json") as f:
    manifest = json.load(f)
  assert [s["path"] for s in manifest["sources"]] == [str(folder / "good.mp4")]
  reasons = {s["path"]: s["reason"] for s in manifest["skipped"]}
  assert reasons == {
    str(folder / "a.mp4"): "Expected a regular file, received a named pipe (FIFO).",
    str(folder / "z.mp4"): "Expected a regular file, received a device.",
  }
  for name, kind in (("a.mp4", "a named pipe (FIFO)"), ("z.mp4", "a device")):
    with pytest.raises(video_io.InputError, match=re.escape(f"received {kind}: ") + f".*{name}$"):
      list(video_io.iter_video(str(folder / name)))
  with pytest.raises(video_io.InputError, match="Expected an image file, received a device"):
    video_io.read_image(str(folder / "z.mp4"))


def test_a_video_named_without_a_video_extension_is_found_by_its_first_bytes(tmp_path):
  """A video saved as `clip` or `movie.bin` was passed over unsaid ("0 clips from 0 inputs
  (0 skipped)"); now found by its container's first bytes. Photos and audio in an MP4's
  box format (a HEIC's or an M4A's brand) are not videos, an animated WebP is and a still
  PNG is not, and the files that are neither are listed once per folder."""
  folder = tmp_path / "downloads"
  folder.mkdir()
  _write(folder / "clip", _texture(8), container_format="mp4")
  _write(folder / "movie.bin.mkv", _texture(8))
  os.rename(folder / "movie.bin.mkv", folder / "movie.bin")
  (folder / "notes.txt").write_text("not a video\n")
  (folder / "photo").write_bytes(b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + bytes(64))
  (folder / "song").write_bytes(b"\x00\x00\x00\x18ftypM4A \x00\x00\x02\x00M4A isom" + bytes(64))
  stickers = [Image.fromarray(frame) for frame in _texture(8)]
  stickers[0].save(folder / "sticker", format="WEBP", save_all=True, append_images=stickers[1:])
  stickers[0].save(folder / "still", format="PNG")
  sources, skipped = make_tfrecords.resolve_inputs(str(folder))
  assert [(s.kind, os.path.basename(s.path)) for s in sources] == [
    ("video", "clip"),
    ("video", "movie.bin"),
    ("video", "sticker"),
  ]
  assert skipped == [
    {
      "path": str(folder),
      "reason": "4 files neither video nor image, by name and first bytes, not read: "
      "notes.txt, photo, song, ...",
    }
  ]
  assert make_tfrecords.resolve_inputs(str(folder / "clip"))[0][0].kind == "video"
  out = str(tmp_path / "o" / "t")
  code, manifest = convert(input=str(folder), output=out, clip_length=4, num_shards=1)
  assert code == 0 and [s["num_clips"] for s in manifest["sources"]] == [2, 2, 2]


def test_linked_folders_are_walked_once_and_broken_links_named(tmp_path):
  """Datasets put together from links: a linked folder was not walked at all (its videos
  vanished unsaid). Now each real folder is walked once, a link back up the tree does not
  loop, a second link to the same folder does not read it twice, a link to a file that is
  gone is listed with where it points, and a file reached by two paths is read once."""
  real = tmp_path / "disk2" / "videos"
  real.mkdir(parents=True)
  _write(real / "a.mp4", _texture(8))
  top = tmp_path / "dataset"
  top.mkdir()
  _write(top / "b.mp4", _texture(8))
  os.symlink(real, top / "linked")
  os.symlink(real, top / "linked_again")
  os.symlink(top, top / "loop")
  os.symlink(tmp_path / "gone.mp4", top / "c.mp4")
  sources, skipped = make_tfrecords.resolve_inputs(str(top))
  assert [s.path for s in sources] == [str(top / "b.mp4"), str(top / "linked" / "a.mp4")]
  assert sorted((s["path"], s["reason"]) for s in skipped) == [
    (str(top / "c.mp4"), f"a link to {tmp_path / 'gone.mp4'}, which does not exist"),
    (str(top / "linked_again"), "a link to a folder already walked, not read twice"),
    (str(top / "loop"), "a link to a folder already walked, not read twice"),
  ]
  # A file reached twice (a hard link, a list naming it again) is read once too: its clips
  # twice would weigh it double and could land in a train and a test split alike.
  os.link(top / "b.mp4", top / "copy.mp4")
  (tmp_path / "list.txt").write_text(f"{top}\n{real / 'a.mp4'}\n")
  sources, skipped = make_tfrecords.resolve_inputs(str(tmp_path / "list.txt"))
  assert [s.path for s in sources] == [str(top / "b.mp4"), str(top / "linked" / "a.mp4")]
  same = {s["path"]: s["reason"] for s in skipped if s["reason"].startswith("the same")}
  assert same == {
    str(top / "copy.mp4"): f"the same file as {top / 'b.mp4'}, read once",
    str(real / "a.mp4"): f"the same file as {top / 'linked' / 'a.mp4'}, read once",
  }


def test_mp4_box_damage_is_named_and_bytes_after_the_index_ignored(tmp_path):
  """Damaged bytes where a box should begin before the index are called damage, not a cut
  ("cut off" sent users looking for a shorter copy); bytes after a complete index (a tool's
  padding, a download's trailing junk) are not read, by FFmpeg or by the check."""
  good = tmp_path / "good.mp4"
  _write(good, _texture(12))
  data = good.read_bytes()
  moov = data.rindex(b"moov") - 4  # written last, as cameras write it
  damaged = tmp_path / "damaged.mp4"
  damaged.write_bytes(data[:moov] + b"\xde\xad\xbe\xef\x01\x02\x03\x04" + data[moov + 8 :])
  with pytest.raises(ValueError, match=f"damaged: byte {moov} should begin a box and does not"):
    list(video_io.iter_video(str(damaged)))
  padded = tmp_path / "padded.mp4"
  padded.write_bytes(data + np.random.default_rng(0).bytes(3000))
  assert len(list(video_io.iter_video(str(padded)))) == 12


def test_a_video_cut_off_after_its_frames_begin_keeps_them_and_says_cut_off(tmp_path):
  """A partial download of a video whose index comes first decodes up to the cut: its
  frames are read, then the file is named cut off (the writer keeps the clips before the
  last few, which it drops as damaged), wherever the cut falls, a packet's edge included."""
  good = tmp_path / "good.mp4"
  _write(good, _texture(40), options={"movflags": "faststart"})
  data = good.read_bytes()
  with av.open(str(good)) as container:
    ends = [p.pos + p.size for p in container.demux(video=0) if p.size]
  for end in (ends[24], ends[24] + 7):  # at a packet's end, and inside the next
    path = tmp_path / f"cut{end}.mp4"
    path.write_bytes(data[:end])
    frames = []
    with pytest.raises(ValueError, match="the file is cut off: its 'mdat' box needs"):
      for frame in video_io.iter_video(str(path)):
        frames.append(frame)
    assert len(frames) >= 24


def test_an_unreadable_frame_of_a_frame_folder_loses_its_clips_not_the_folder(tmp_path):
  """One frame cut off by a copy, or empty, ended a folder of frames there (ten thousand
  extracted frames lost to one bad file). It is now a lost frame, as a video's refused
  packet is: its place kept, its clips dropped as incomplete, its reason in the manifest;
  a folder with no readable frame is skipped with the first one's reason."""
  folder = tmp_path / "frames"
  folder.mkdir()
  frames = _texture(16)
  for i, frame in enumerate(frames):
    Image.fromarray(frame).save(folder / f"{i}.png")
  data = (folder / "5.png").read_bytes()
  (folder / "5.png").write_bytes(data[: len(data) // 2])
  (folder / "13.png").write_bytes(b"")
  out = str(tmp_path / "o" / "t")
  code, manifest = convert(input=str(folder), output=out, clip_length=4, num_shards=1, format="png")
  (entry,) = manifest["sources"]
  assert code == 0 and entry["lost_frames"] == 2 and entry["dropped_incomplete"] == 2
  assert "5.png" in entry["decode_messages"][0] and "13.png" in entry["decode_messages"][1]
  written = dict(_records(out))
  assert sorted(written) == [0, 8]
  for start, clip in written.items():
    np.testing.assert_array_equal(clip, frames[start : start + 4])

  broken = tmp_path / "broken"
  broken.mkdir()
  for i in range(4):
    (broken / f"{i}.png").write_bytes(b"")
  code, manifest = convert(input=str(broken), output=str(tmp_path / "b" / "t"), clip_length=4)
  (skipped,) = manifest["skipped"]
  assert code == 1 and skipped["reason"].endswith(
    f"received an empty file (0 bytes): {broken}/0.png"
  )


def test_a_webm_cut_off_before_its_frames_is_skipped_saying_what_the_decoder_said(tmp_path):
  """A partial download of a WebM, its header whole and its first cluster cut: not one frame
  decodes. The skip says what FFmpeg said, not only that no frame came."""
  path = encode_video(tmp_path / "clip.webm", _texture(8), "libvpx")
  data = path.read_bytes()
  path.write_bytes(data[: data.index(b"\x1f\x43\xb6\x75") + 24])  # into the first cluster
  code, manifest = convert(input=str(path), output=str(tmp_path / "o"), clip_length=4)
  assert code == 1 and not manifest["sources"]
  (skipped,) = manifest["skipped"]
  assert re.fullmatch(
    r"Expected at least 4 frames \(clip_length 4, frame_stride 1\), received 0 and 1 decoder "
    r"error: matroska,webm: File ended prematurely\.",
    skipped["reason"],
  ), skipped["reason"]


def test_a_photo_named_as_an_input_is_skipped_as_a_still_image(tmp_path):
  """`--input='DCIM/*'` names photos beside videos: each is skipped as the still image it is,
  not as an "unsupported file"; one named as an image that is none cannot be opened, and a
  file that is neither stays unsupported."""
  Image.fromarray(_texture(1)[0]).save(tmp_path / "IMG_0001.jpg")
  (tmp_path / "notes.xyz").write_text("not media")
  (tmp_path / "page.jpg").write_text("<html>not a photo</html>")
  code, manifest = convert(input=str(tmp_path / "*"), output=str(tmp_path / "o"))
  assert code == 1
  reasons = {os.path.basename(s["path"]): s["reason"] for s in manifest["skipped"]}
  assert reasons["IMG_0001.jpg"].endswith(
    "received a still image, which is one frame (a folder of frames is a video)."
  )
  assert reasons["notes.xyz"].endswith("received an unsupported file.")
  assert reasons["page.jpg"].endswith(
    "received an image file that cannot be opened (damaged, cut off or not an image)."
  )


def test_a_glob_reads_any_depth_and_names_files_it_misses_by_letter_case(tmp_path):
  """`videos/**/*.mp4` read one folder level (Python's glob without `recursive`): the videos
  beside `**` and below its first level were left unsaid. A camera's `.MP4` beside `*.mp4`
  is not matched on Linux and macOS (it is on Windows): the log and the manifest say so, and
  a pattern matching nothing but in another case says why."""
  for name in ("a.mp4", "day1/b.mp4", "day1/c.MP4", "day1/deep/d.mp4", ".hidden/e.mp4"):
    (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / name).write_bytes(b"")
  sources, skipped = make_tfrecords.resolve_inputs(str(tmp_path / "**" / "*.mp4"))
  assert [os.path.relpath(s.path, tmp_path) for s in sources] == [
    "a.mp4",
    "day1/b.mp4",
    "day1/deep/d.mp4",
  ]
  assert skipped == [
    {
      "path": str(tmp_path / "**" / "*.mp4"),
      "reason": "1 file matches it but for letter case (c.MP4); write the pattern as they are "
      "named ('*.[mM][pP]4' matches either case), or give their folder; not read",
    }
  ]
  with pytest.raises(video_io.InputError, match=r"matching none; 1 file matches it but .*d\.mp4"):
    make_tfrecords.resolve_inputs(str(tmp_path / "day1" / "deep" / "*.MP4"))
  assert make_tfrecords._any_case("/A/x[ab]_1.Mp4") == "/A/[xX][ab]_1.[mM][pP]4"


def _apple_double(path):
  """The `._NAME` file macOS writes beside NAME on an exFAT drive: its magic, then 4 KB."""
  path.write_bytes((b"\x00\x05\x16\x07\x00\x02\x00\x00" + b"Mac OS X").ljust(4096, b"\x00"))


def test_a_drive_used_by_a_mac_and_windows_converts_its_videos_alone(tmp_path):
  """A card copied by a Mac holds a `._` file beside each video; Windows leaves its recycle
  bin (the videos deleted from the drive) and thumbnail caches. Walked, they are passed
  over in one line; named by a list (`find -name '*.MOV'` finds the `._` files too), the
  AppleDouble files were each a damaged video, and are now said once. A loop of links was
  called a link to a file that does not exist."""
  drive = tmp_path / "drive"
  (drive / "DCIM").mkdir(parents=True)
  for name in ("IMG_0001.MOV", "IMG_0002.MOV"):
    _write(drive / "DCIM" / name, _texture(4), container_format="mov")
    _apple_double(drive / "DCIM" / f"._{name}")
  (drive / "DCIM" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1" + bytes(64))
  (drive / "DCIM" / "Thumbs.db").write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(64))
  (drive / "$RECYCLE.BIN" / "S-1-5-21").mkdir(parents=True)
  _write(drive / "$RECYCLE.BIN" / "S-1-5-21" / "$R0001.mp4", _texture(4), container_format="mp4")
  os.symlink("b", drive / "a")
  os.symlink("a", drive / "b")
  out = str(tmp_path / "o" / "t")
  code, manifest = convert(input=str(drive), output=out, clip_length=4, num_shards=1)
  assert code == 0 and [os.path.basename(s["path"]) for s in manifest["sources"]] == [
    "IMG_0001.MOV",
    "IMG_0002.MOV",
  ]
  assert manifest["skipped"] == [
    {"path": str(drive / "a"), "reason": "a link to b, in a loop of links that leads to no file"},
    {"path": str(drive / "b"), "reason": "a link to a, in a loop of links that leads to no file"},
    {
      "path": str(drive),
      "reason": "5 hidden files and folders passed over, as file browsers hide them (a leading "
      "dot, or Windows' system names): $RECYCLE.BIN, ._IMG_0001.MOV, ._IMG_0002.MOV, ...",
    },
  ]
  listed = drive / "list.txt"  # what `find . -name '*.MOV'` lists, the `._` files among them
  listed.write_text("".join(f"DCIM/{p}IMG_000{k}.MOV\n" for p in ("", "._") for k in (1, 2)))
  sources, skipped = make_tfrecords.resolve_inputs(str(listed))
  assert [os.path.basename(s.path) for s in sources] == ["IMG_0001.MOV", "IMG_0002.MOV"]
  assert len(skipped) == 1 and skipped[0]["path"] == str(listed)
  assert skipped[0]["reason"].startswith("2 macOS AppleDouble files (the metadata macOS writes")
  # A real video whose name begins with `._` is still a video.
  os.rename(drive / "DCIM" / "IMG_0001.MOV", drive / "DCIM" / "._kept.MOV")
  assert make_tfrecords.resolve_inputs(str(drive / "DCIM" / "._kept.MOV"))[0][0].kind == "video"


def test_a_file_gone_between_listing_and_reading_is_called_gone(tmp_path):
  """A video deleted (or a drive unplugged) after the converter listed it was "Could not
  decode video file: No such file or directory", as if damaged; a photo that does not
  exist was Pillow's "[Errno 2]". Each now says the file is not there."""
  folder = tmp_path / "in"
  folder.mkdir()
  for name in ("a.mp4", "b.mp4"):
    _write(folder / name, _texture(4), container_format="mp4")
  sources, skipped = make_tfrecords.resolve_inputs(str(folder))
  os.remove(folder / "a.mp4")
  manifest = make_tfrecords.write_tfrecords(
    sources, str(tmp_path / "o" / "t"), make_tfrecords.WriterOptions(clip_length=4, num_shards=1)
  )
  assert [s["path"] for s in manifest["sources"]] == [str(folder / "b.mp4")]
  assert manifest["skipped"][0]["reason"] == (
    f"Could not read video file {folder / 'a.mp4'}: it does not exist (deleted, moved or "
    "unmounted since it was listed?)."
  )
  with pytest.raises(video_io.InputError, match=r"received .*photo\.jpg: it does not exist\.$"):
    video_io.read_image(str(tmp_path / "photo.jpg"))
