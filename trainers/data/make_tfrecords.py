r"""Writes clips to TFRecord shards (the format of trainers.data.format) with a JSON manifest.

    python -m trainers.data.make_tfrecords --input='videos/*.mp4' --output=/data/ucf/train \
        --clip_length=32 --resize=64 --crop=64x64 --num_shards=8 --workers=2
    python -m trainers.data.make_tfrecords --source=synthetic --num_clips=512 \
        --clip_length=32 --crop=64x64 --output=/tmp/synthetic/train

Inputs (`--input`: a glob, `**` any depth of folders, a directory, a .txt file with one path
per line, or a path that exists, taken as named):
  * video files (.mp4 .mov .avi .mkv .webm .gif .3gp .mts ...: video_io.VIDEO_EXTENSIONS,
    or named otherwise and beginning as a video container does), decoded with PyAV, and
    animated WebP, PNG and AVIF (a still one is an image), and motion photos;
  * folders of frame images: one folder is one video, frames in natural name order
    (frame2 before frame10);
  * with --vgan_frame_height=H > 0, image files are VGAN-style clips: frames of height H
    stacked vertically in one image.
A directory is walked recursively (hidden files and folders, and Windows' system ones,
passed over and counted; linked folders followed, each real folder once) and every video,
frame folder (or VGAN image) in it is used; the images of a folder that also holds videos
(a camera's folder), its other files, broken links, named pipes and devices (never opened)
are listed as skipped.

Each video gives clips of --clip_length frames (0: the whole video) at --frame_stride;
--clips_per_video=N takes N evenly spaced clips, 0 all non-overlapping ones. Frames are
resized (short side to --resize) and centre-cropped (--crop=HxW) before encoding, as one
JPEG or PNG per frame (--format=jpeg, png) or one per clip, its frames tiled vertically
(--format=jpeg_mosaic, png_mosaic: the same pixels, read with one decode per clip).
--min_temporal_variance drops near-static clips (Radner's landscape filter used 0.001).

--segmenter=SAVED_MODEL (a segmentation SavedModel, the convention of `zoo.segmenter`) gives
every clip of a source without its own segmentation (all but the synthetic one) the
`segmentation` feature of its conditioning frame, (clip_length - 1) // 2 (15 of 32), which
is also written as the record's `middle_frame`, so that `data.outputs` ("middle_frame",
"segmentation") pairs that frame with its map whatever the reader's stride. The segmenter
sees the frame as stored (after resize and crop), float32 in [-1, 1]; its class ids must
fit the 8-bit PNG, [0, 255]. A segmenter that breaks the convention stops the run (no shard
is written) with an error naming it and the shapes.

Videos are read as players show them: turned, and mirrored, by the stream's display matrix
(which phones write; or an old `rotate` tag) and, when resized, with their sample aspect
ratio made square. Frames are decoded one at a time and each clip is encoded and handed to
the writer as soon as it is complete, so memory holds a few clips per worker whatever the
length of the video (bench/convert.py). FFmpeg's decoder errors are counted per file; a clip
holding a frame decoded after an error and before the next key frame (the damage FFmpeg
concealed) is dropped unless --keep_damaged. Some damage decodes without any error and cannot
be seen. The writer warns when it stores frames 2x or more of the largest size any config
reads (--resize then saves space and every read's resize).

Output: PREFIX-00000-of-0000N.tfrecord shards, clip i in shard i % N, each written under a
temporary name and renamed when complete, and PREFIX.manifest.json (sources with absolute
paths, per source the clips, decoded and display size, rotation, pixel aspect, fps and the
decoder's error and damaged-frame counts; shards, options, skipped files with reasons; with
--segmenter, how many clips got their segmentation from it and from the source, and the
pixels of each class it found). Progress is logged every 10 s, inside long files too (frames
decoded, clips written). An unreadable input is logged, listed in the manifest and skipped
(a directory named like a video too); the exit code is 1 when no clip was written. Mistakes
in the command (an --input matching nothing, an --output that cannot be written) print one
line and exit with 2; -v 1 shows the traceback.

Stopped by a signal or killed after finishing some inputs, a conversion keeps its
unfinished shards and its journal (PREFIX.resume.tmp, `_Journal`), and the same command
goes on from the first input not finished, to the records an uninterrupted conversion
writes; --noresume, or other options or inputs, start afresh. A second conversion to the
same --output while one runs is refused.
"""

import concurrent.futures
import contextlib
import dataclasses
import errno
import functools
import glob
import hashlib
import importlib
import json
import os
import queue
import stat
import sys
import threading
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
from PIL import Image
import tensorflow as tf

from trainers import cli
from trainers import errors
from trainers import workdir
from trainers.data import format as record_format
from trainers.data import video_io
from zoo import segmenter as segmenter_lib

PROGRESS_SECONDS = 10.0
SEGMENTER_BATCH = 16  # conditioning frames per segmenter call
QUEUE_CLIPS = 4  # encoded clips a worker may have ready before it waits for the writer


@dataclasses.dataclass
class WriterOptions:
  """What `write_tfrecords` does with each input; mirrors the flags."""

  fmt: str = "jpeg"
  quality: int = 95
  clip_length: int = 32
  frame_stride: int = 1
  clips_per_video: int = 0
  resize: int = 0
  crop: tuple = ()  # (height, width) or () for none.
  num_shards: int = 8
  gzip: bool = False
  workers: int = 2
  min_temporal_variance: float = 0.0
  vgan_frame_height: int = 0
  label_from_parent: bool = False
  # Synthetic source.
  num_clips: int = 0
  seed: int = 0
  max_shapes: int = 3
  motion: str = "random"  # trainers.data.synthetic.MOTIONS
  fps: float = 8.0  # Recorded for frame folders, VGAN images and synthetic clips.
  keep_damaged: bool = False  # Keep clips with frames decoded after a decoder error.
  segmenter: str = ""  # Segmentation SavedModel for sources without a segmentation.


@dataclasses.dataclass
class Source:
  """One input: kind is "video", "frames" (a folder), "vgan" or "synthetic"."""

  kind: str
  path: str
  indices: tuple = ()  # Synthetic clip indices.


# ----------------------------------------------------------------------------- inputs


def _video_named_directory(path, skipped):
  """A directory named like a video file (`x.mp4/`) is listed as skipped, not walked."""
  if os.path.basename(path.rstrip(os.sep)).lower().endswith(video_io.VIDEO_EXTENSIONS):
    skipped.append(
      {"path": path, "reason": "Expected a video file, received a directory named like one."}
    )
    return True
  return False


def _expand(path, vgan_frame_height, skipped):
  """Sources found at `path`; unusable paths are appended to `skipped` with a reason."""
  if os.path.isdir(path):
    if _video_named_directory(path, skipped):
      return []
    sources, repeated, hidden = [], [], []
    for dirpath, dirnames, filenames in video_io.walk_visible(path, repeated, hidden):
      dirnames[:] = [
        d for d in dirnames if not _video_named_directory(os.path.join(dirpath, d), skipped)
      ]
      images, videos, other = [], 0, []
      for name in filenames:
        full = os.path.join(dirpath, name)
        if _missing(full, skipped) or _special(full, skipped):
          continue
        if video_io.is_video_file(full):
          sources.append(Source("video", full))
          videos += 1
        elif name.lower().endswith(video_io.IMAGE_EXTENSIONS):
          images.append(full)
        else:
          other.append(name)
      if images and vgan_frame_height:
        sources.extend(Source("vgan", f) for f in images)
      elif images and videos:
        # A phone's or camera's folder (photos beside videos), not the frames of one video:
        # its photos in name order would make clips of unrelated pictures.
        skipped.append(
          {
            "path": dirpath,
            "reason": f"Expected a folder of frames or of videos, received "
            f"{_count(len(images), 'image')} beside {_count(videos, 'video')}: the images "
            "are not read as frames.",
          }
        )
      elif images:
        sources.append(Source("frames", dirpath))
      if other:  # subtitles, notes, sidecars: listed once per folder, so that none is unsaid
        skipped.append(
          {
            "path": dirpath,
            "reason": f"{_count(len(other), 'file')} neither video nor image, by name and "
            f"first bytes, not read: {_named(other)}",
          }
        )
    skipped.extend(
      {"path": r, "reason": "a link to a folder already walked, not read twice"} for r in repeated
    )
    if hidden:  # a Mac's ._ files beside every video, a phone's .thumbnails: said once
      skipped.append(
        {
          "path": path,
          "reason": f"{_count(len(hidden), 'hidden file or folder', 'hidden files and folders')}"
          f" passed over, as file browsers hide them (a leading dot, or Windows' system "
          f"names): {_named(hidden)}",
        }
      )
    return sources
  lower = path.lower()
  if _missing(path, skipped) or _special(path, skipped):
    pass
  elif video_io.is_video_file(path):
    return [Source("video", path)]
  elif lower.endswith(video_io.IMAGE_EXTENSIONS) and vgan_frame_height:
    return [Source("vgan", path)]
  else:
    # A photo named by a glob of a camera's folder (DCIM/*) is no clip: say it is a photo,
    # or that it cannot be opened (a sticker's download cut off, a page saved as .jpg).
    what = "an unsupported file"
    if lower.endswith(video_io.IMAGE_EXTENSIONS):
      what = "a still image, which is one frame (a folder of frames is a video)"
      if not lower.endswith(video_io.HEIF_EXTENSIONS) and video_io.is_animated_image(path) is None:
        what = "an image file that cannot be opened (damaged, cut off or not an image)"
    skipped.append(
      {
        "path": path,
        "reason": "Expected a video file, a folder of frames or (with "
        f"--vgan_frame_height) an image, received {what}.",
      }
    )
  return []


def _missing(path, skipped):
  """Whether `path` does not exist (a link to a file that does not: a disk not mounted, a
  file moved), which is then listed as skipped, saying where a link points."""
  if os.path.exists(path):
    return False
  reason = "does not exist"
  if os.path.islink(path):
    reason = f"a link to {os.readlink(path)}, which does not exist"
    try:
      os.stat(path)
    except OSError as e:
      if e.errno == errno.ELOOP:  # a -> b -> a: os.path.exists says False as for a gone file
        reason = f"a link to {os.readlink(path)}, in a loop of links that leads to no file"
  skipped.append({"path": path, "reason": reason})
  return True


def _special(path, skipped):
  """Whether `path` is a named pipe or a device (`video_io.special_file`), which is then
  listed as skipped: reading a pipe would wait for a writer forever."""
  kind = video_io.special_file(path)
  if kind:
    skipped.append({"path": path, "reason": f"Expected a regular file, received {kind}."})
  return bool(kind)


def _count(n, noun, plural=None):
  return f"{n} {noun if n == 1 else plural or noun + 's'}"


def _named(paths, shown=3):
  """The first `shown` of `paths` by file name, then `...` when there are more."""
  names = [os.path.basename(p.rstrip(os.sep)) for p in paths[:shown]]
  return ", ".join(names) + (", ..." if len(paths) > shown else "")


def resolve_inputs(spec, vgan_frame_height=0):
  """(sources, skipped) for `--input`: a glob, a directory or a .txt file listing paths.

  A path that exists is taken as it is, not as a glob: a file name holding brackets, as
  downloaded videos' often do ("Title [id].mp4"), would not match itself. Every path is
  made absolute (a list's relative lines are relative to the list), so the
  manifest names each source wherever the writer was started. An input that matches nothing
  raises InputError.
  """
  skipped = []
  copy_first = "copy them here first (gcloud storage cp -r, gsutil -m cp -r, curl -O)"
  if "://" in spec:  # FFmpeg and Pillow read local files; a glob would match nothing
    raise video_io.InputError(
      f"Expected --input to name local files, received {spec!r}: {copy_first}."
    )
  if os.path.isfile(spec) and spec.endswith(".txt"):
    base = os.path.dirname(os.path.abspath(spec))
    try:
      # utf-8-sig: Windows editors begin a UTF-8 file with a byte-order mark, which would
      # otherwise be part of the first path; strip() takes their CRLF line ends.
      with open(spec, encoding="utf-8-sig") as f:
        lines = [l.strip() for l in f]
    except UnicodeDecodeError as e:
      raise video_io.InputError(
        f"Expected a UTF-8 text file of paths, one a line, received "
        f"{spec}: byte {e.start} is not UTF-8."
      ) from e
    urls = [(n, l) for n, l in enumerate(lines, 1) if "://" in l and not l.startswith("#")]
    if urls:  # joined to the list's folder, each would be skipped as a missing local file
      n, url = urls[0]
      raise video_io.InputError(
        f"Expected {spec} to list local files, received {url!r} on line {n} ({len(urls)} "
        f"such lines): {copy_first}."
      )
    entries = [os.path.join(base, l) for l in lines if l and not l.startswith("#")]
  elif os.path.exists(spec):  # Not a pattern: "clip [1080p].mp4" would not match itself.
    entries = [spec]
  else:
    # `**` is any depth of folders (`videos/**/*.mp4`), as in Python's and most tools'
    # globs; without `recursive` it is one folder, and the videos beside it or deeper go.
    entries = sorted(glob.glob(spec, recursive=True))
    other_case = _matches_in_another_case(spec, entries)
    if not entries:
      raise video_io.InputError(
        f"Expected --input to match files, received {spec!r} matching none"
        + (f"; {_case_hint(spec, other_case)}." if other_case else ".")
      )
    if other_case:
      logging.warning("--input=%r: %s; not read.", spec, _case_hint(spec, other_case))
      skipped.append({"path": spec, "reason": f"{_case_hint(spec, other_case)}; not read"})
  sources, apple_double = [], []
  for entry in entries:
    if video_io.is_apple_double(entry):
      apple_double.append(os.path.abspath(entry))
    else:
      sources.extend(_expand(os.path.abspath(entry), vgan_frame_height, skipped))
  if apple_double:
    # Named by a list (`find -name '*.MOV'` finds them) or a glob of hidden names: each
    # would be "damaged", the video it describes being named by its other name.
    reason = (
      f"{_count(len(apple_double), 'macOS AppleDouble file')} (the metadata macOS writes as "
      f"`._NAME` beside each file it copies to an exFAT, FAT or SMB drive; no video) not "
      f"read: {_named(apple_double)}"
    )
    logging.warning("--input=%r: %s.", spec, reason)
    skipped.append({"path": spec, "reason": reason})
  return _once_each(sources, skipped), skipped


def _any_case(pattern):
  """`pattern` with each letter of its last component outside brackets matching either
  case: `*.mp4` -> `*.[mM][pP]4`."""
  head, tail = os.path.split(pattern)
  out, bracket = [], False
  for c in tail:
    if bracket or not c.isalpha() or c.lower() == c.upper():
      out.append(c)
      bracket = (bracket and c != "]") or (not bracket and c == "[")
    else:
      out.append(f"[{c.lower()}{c.upper()}]")
  return os.path.join(head, "".join(out))


def _matches_in_another_case(spec, entries):
  """The paths that `spec` would match but for the case of its file names' letters (the
  `.MP4`s, `.MOV`s and `.JPG`s of cameras and phones beside `*.mp4`): globs on Linux and
  macOS are case-sensitive, so the same command on Windows reads them."""
  return sorted(set(glob.glob(_any_case(spec), recursive=True)) - set(entries))


def _case_hint(spec, paths):
  return (
    f"{_count(len(paths), 'file')} match{'es' * (len(paths) == 1)} it but for letter case "
    f"({_named(paths)}); write the pattern as they are named "
    f"({os.path.basename(_any_case(spec))!r} matches either case), or give their folder"
  )


def _once_each(sources, skipped):
  """`sources` with each file or folder once: a second path to it (a link, a hard link, a
  list naming it twice, globs that overlap) is listed as skipped, naming the first: its
  clips twice would weigh it double, and land in a train and a test split alike."""
  first, once = {}, []
  for source in sources:
    try:
      status = os.stat(source.path)
    except OSError:  # the reader names what is wrong with it
      once.append(source)
      continue
    key = (status.st_dev, status.st_ino)
    if key in first:
      kind = "folder" if stat.S_ISDIR(status.st_mode) else "file"
      skipped.append({"path": source.path, "reason": f"the same {kind} as {first[key]}, read once"})
      continue
    first[key] = source.path
    once.append(source)
  return once


# ----------------------------------------------------------------------------- one source


def _resize_crop(frame, resize, crop, pixel_aspect=1.0, turned=False):
  """Short side to `resize` (0: keep), then a centre crop (h, w), scaling up to cover it.

  `pixel_aspect` (a video's sample aspect ratio, width over height of a decoded pixel) is
  honoured: the frame is resampled to square pixels in the same step, its decoded width
  scaled as players scale it, which is its height when it was `turned` a quarter (the
  display size `video_io.VideoInfo.display_size` gives).
  """
  h, w = frame.shape[:2]
  dh, dw = (h * pixel_aspect, w) if turned else (h, w * pixel_aspect)  # the display size
  scale = resize / min(dh, dw) if resize else 1.0
  if crop:
    scale = max(scale, crop[0] / dh, crop[1] / dw)
  nh, nw = max(int(round(dh * scale)), 1), max(int(round(dw * scale)), 1)
  if crop:  # Rounding must never leave a side short of the crop.
    nh, nw = max(nh, crop[0]), max(nw, crop[1])
  if (nh, nw) != (h, w):
    frame = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.Resampling.BICUBIC))
  if crop:
    top, left = (nh - crop[0]) // 2, (nw - crop[1]) // 2
    frame = frame[top : top + crop[0], left : left + crop[1]]
  return frame


def clip_starts(num_frames, clip_length, frame_stride, clips_per_video):
  """First frames of the clips cut from a video of `num_frames` (empty when it is too short)."""
  span = (clip_length - 1) * frame_stride + 1
  if num_frames < span:
    return []
  if clips_per_video <= 0:
    return list(range(0, num_frames - span + 1, span))
  starts = np.linspace(0, num_frames - span, clips_per_video).round().astype(int)
  return sorted(set(starts.tolist()))


def temporal_variance(clip):
  """Mean over pixels of the variance over time, pixels scaled to [0, 1]."""
  return float(np.mean(np.var(clip.astype(np.float32) / 255.0, axis=0)))


def _encode(clip, options, **meta):
  encoded, layout = record_format.encode_frames(clip, options.fmt, options.quality)
  return encoded, dict(
    height=clip.shape[1], width=clip.shape[2], num_frames=len(clip), layout=layout, **meta
  )


def segment_frames(segmenter, frames):
  """uint8 frames [N, H, W, 3] -> uint8 class ids [N, H, W], SEGMENTER_BATCH at a time;
  SegmenterError when an id does not fit the record's 8-bit PNG."""
  ids = []
  for i in range(0, len(frames), SEGMENTER_BATCH):
    unit = tf.cast(frames[i : i + SEGMENTER_BATCH], tf.float32) / 127.5 - 1.0
    ids.append(segmenter(unit).numpy())
  ids = np.concatenate(ids)
  if ids.size and (ids.min() < 0 or ids.max() > 255):
    raise segmenter_lib.SegmenterError(
      f"Expected class ids in [0, 255] (the record's segmentation is an 8-bit PNG) from "
      f"{segmenter.path!r}, received [{ids.min()}, {ids.max()}]."
    )
  return ids.astype(np.uint8)


def _segment_clips(clips, segmenter):
  """Adds each clip's conditioning frame and its segmentation to `clips` ([(clip, meta)]);
  returns the class pixel counts [256]."""
  if not clips:
    return np.zeros(256, np.int64)
  middle = (len(clips[0][0]) - 1) // 2
  ids = segment_frames(segmenter, np.stack([clip[middle] for clip, _ in clips]))
  for (_, meta), seg in zip(clips, ids, strict=True):
    meta.update(middle_frame=middle, segmentation_png=record_format.encode_image(seg, "png"))
  return np.bincount(ids.reshape(-1), minlength=256)


# Clips are held back this many decoded frames after their last one before they are written:
# the decoder reports an error while decoding a frame that it outputs (reordered) up to this
# many frames later, and that error must still reach the clips holding the frame.
REORDER_FRAMES = 16


class _Frames:
  """The frames of one source, one at a time, and what is known of it before decoding."""

  def __init__(self, source, options):
    self.stats = video_io.DecodeStats()
    self.info = None
    self.fps = options.fps
    if source.kind == "video":
      self.info = video_io.probe_video(source.path)
      self.fps = self.info.fps or options.fps
      self.num_frames = self.info.num_frames
      self.iterator = video_io.iter_video(source.path, self.stats)
    elif source.kind == "frames":
      self.num_frames = len(video_io.frame_folder_files(source.path))
      self.iterator = video_io.iter_frame_folder(source.path, self.stats)
    else:
      frames = video_io.read_vgan_clip(source.path, options.vgan_frame_height)
      self.num_frames = len(frames)
      self.iterator = iter(frames)


def _until_error(frames, stopped):
  """The items of `frames` until it ends or raises a ValueError, which goes to `stopped`."""
  try:
    yield from frames
  except ValueError as e:
    stopped.append(e)


def iter_clips(source, src, options, finish):
  """Yields (start frame, finish(start, clip), damaged) for the clips of one non-synthetic
  source (`src`, its `_Frames`), clips uint8 [T, h, w, 3] after resize and crop. A clip is
  finished (e.g. encoded) as soon as it is complete and yielded REORDER_FRAMES frames later,
  so at most the frames of the clips being assembled are in memory, whatever the video's
  length; a clip that `finish` returns None for is left out.

  `damaged`: a frame of the clip was decoded after a decoder error and before the next key
  frame, or an error came while the clip was held back. When the decoder stops the file (a
  ValueError), the clips held back are yielded as damaged, then the error is raised: they
  are counted (dropped, or kept with --keep_damaged) instead of vanishing. Frames the
  decoder could not make (`DecodeStats.lost_frames`) keep their places in the numbering:
  a clip one of them belongs to is yielded at once as (start, None, True), counted as
  incomplete and never kept, and the clips after them start at their frames' true numbers.
  """
  aspect = src.info.pixel_aspect if src.info else 1.0
  turned = bool(src.info and src.info.rotation in (90, 270))
  prepare = lambda f: _resize_crop(f, options.resize, options.crop, aspect, turned)
  stride = options.frame_stride
  if not options.clip_length:  # The whole file is one clip: it must all be held.
    frames = [prepare(f) for f in src.iterator]
    if not frames:
      raise ValueError(f"Expected at least one frame in {source.path}, received none.")
    done = finish(0, np.stack(frames[::stride]))
    if done is not None:
      yield 0, done, src.stats.damaged_frames > 0
    return
  length = options.clip_length
  span = (length - 1) * stride + 1
  if options.clips_per_video > 0:
    planned = clip_starts(src.num_frames, length, stride, options.clips_per_video)
  else:
    planned = None  # Non-overlapping: clip k starts at k * span, however long the file is.

  def needing(i):  # the clips that take frame i
    starts = [s for s in planned if s <= i < s + span] if planned is not None else [i - i % span]
    return [s for s in starts if (i - s) % stride == 0]

  active = {}  # start -> [clip, frames filled, damaged]
  held = []  # [release index, start, frames, damaged]
  spoiled = set()  # clips a lost frame belongs to: they cannot be made
  emitted = 0
  errors = 0
  stopped = []  # the ValueError that ended the frames early, if one did
  i, lost = -1, 0
  for frame in _until_error(src.iterator, stopped):
    if src.stats.errors > errors:  # Damage reaches every clip still in the making or held.
      errors = src.stats.errors
      for entry in list(active.values()) + held:
        entry[-1] = True
    for _ in range(src.stats.lost_frames - lost):  # frames the decoder could not make
      i += 1
      for s in needing(i):
        if s not in spoiled:
          spoiled.add(s)
          active.pop(s, None)
          emitted += 1
          yield s, None, True
    lost = src.stats.lost_frames
    i += 1
    needed = [s for s in needing(i) if s not in spoiled]
    if needed:
      ready = prepare(frame)
      for s in needed:
        if s not in active:  # Filled in place: no list of frames to stack (twice the bytes).
          active[s] = [np.empty((length,) + ready.shape, np.uint8), 0, False]
        entry = active[s]
        entry[0][entry[1]] = ready
        entry[1] += 1
        entry[2] = entry[2] or src.stats.damaged
        if entry[1] == length:
          del active[s]
          emitted += 1
          done = finish(s, entry[0])
          if done is not None:
            held.append([i + REORDER_FRAMES, s, done, entry[2]])
    while held and held[0][0] <= i:
      _, s, done, damaged = held.pop(0)
      yield s, done, damaged
  if src.stats.errors > errors or stopped:
    for entry in held:
      entry[-1] = True
  for _, s, done, damaged in held:
    yield s, done, damaged
  if stopped:
    raise stopped[0]
  if not emitted:
    decoded = src.stats.frames if source.kind == "video" else src.num_frames
    # A file cut off before its first frames (a partial WebM download) is too short because
    # of what the decoder said: its words say why.
    errors = src.stats.errors if source.kind == "video" else 0
    first = src.stats.messages[0].rstrip(".") if errors else ""
    said = f" and {errors} decoder error{'s' * (errors > 1)}: {first}" if errors else ""
    raise ValueError(
      f"Expected at least {span} frames (clip_length {length}, frame_stride "
      f"{stride}), received {decoded}{said}."
    )


def source_summary(frames):
  """The manifest's facts about one read source (sizes, rotation, fps, decoding counts)."""
  if frames is None:
    return {}
  summary = {"fps": frames.fps}
  if frames.info is not None:
    summary.update(frames.info.as_dict())
    summary.update(
      frames_decoded=frames.stats.frames,
      decode_errors=frames.stats.errors,
      damaged_frames=frames.stats.damaged_frames,
    )
  stats = frames.stats  # a frame folder's too: its unreadable frames are lost frames
  for key, value in (
    ("decode_messages", stats.messages),
    ("resized_frames", stats.resized_frames),
    ("interlaced_frames", stats.interlaced_frames),
    ("lost_frames", stats.lost_frames),
  ):
    if value:
      summary[key] = value
  return summary


class _Stopped(Exception):
  """The writer stopped (an error elsewhere): a producer leaves its source."""


def produce_source(source, options, put, label=None, segmenter=None, on_open=None):
  """Reads, cuts, filters, segments (with a `segmenter`) and encodes one source, handing each
  encoded clip to `put(("clip", (encoded, meta)))` as soon as it is ready; ends with
  `put(("done", summary))` where summary holds "dropped", "dropped_damaged",
  "dropped_incomplete" (clips a lost frame belongs to), "error" (None
  or the reason) and the source's facts (`source_summary`). `on_open(frames)` is called
  with the source's `_Frames` once it is open (the writer's progress reads its counts).

  Runs in worker threads: PyAV, Pillow and numpy release the GIL in their heavy parts.
  Every exception becomes the "error" so one bad file never stops the run, except a
  SegmenterError (a segmenter that breaks the convention would fail every source), which is
  handed on as `put(("raise", error))`.
  """
  if source.kind == "synthetic":
    return _produce_synthetic(source, options, put)
  summary = {
    "dropped": 0,
    "dropped_damaged": 0,
    "damaged_kept": 0,
    "dropped_incomplete": 0,
    "error": None,
    "class_pixels": np.zeros(256, np.int64),
    "segmented": 0,
    "num_clips": 0,
  }
  frames = None

  def finish(start, clip):
    if options.min_temporal_variance and temporal_variance(clip) < options.min_temporal_variance:
      summary["dropped"] += 1
      return None
    meta = dict(
      fps=frames.fps / options.frame_stride, source=source.path, start_frame=start, label=label
    )
    pixels = _segment_clips([(clip, meta)], segmenter) if segmenter is not None else None
    return _encode(clip, options, **meta), pixels

  try:
    frames = _Frames(source, options)
    if on_open is not None:
      on_open(frames)
    for _, done, damaged in iter_clips(source, frames, options, finish):
      if done is None:  # a frame of it lost: no clip to keep
        summary["dropped_incomplete"] += 1
        continue
      if damaged and not options.keep_damaged:
        summary["dropped_damaged"] += 1
        continue
      encoded, pixels = done
      summary["damaged_kept"] += damaged
      if pixels is not None:
        summary["class_pixels"] += pixels
        summary["segmented"] += 1
      put(("clip", encoded))
      summary["num_clips"] += 1
  except _Stopped:
    return
  except segmenter_lib.SegmenterError as e:
    put(("raise", e))
    return
  except Exception as e:  # noqa: BLE001  (the file is listed as skipped, with the error)
    summary["error"] = str(e) if isinstance(e, ValueError) else f"{type(e).__name__}: {e}"
  summary.update(source_summary(frames))
  put(("done", summary))


def _produce_synthetic(source, options, put):
  from trainers.data import synthetic  # TF ops; only needed for this source.

  h, w = options.crop or (64, 64)
  c = synthetic.clips(
    options.seed,
    source.indices,
    options.clip_length,
    h,
    w,
    options.max_shapes,
    options.frame_stride,
    options.motion,
  )
  summary = {"dropped": 0, "error": None, "num_clips": 0, "fps": options.fps}
  for k, index in enumerate(source.indices):
    clip = c["video"][k]
    if options.min_temporal_variance and temporal_variance(clip) < options.min_temporal_variance:
      summary["dropped"] += 1
      continue
    seg = record_format.encode_image(c["segmentation"][k], "png")
    put(
      (
        "clip",
        _encode(
          clip,
          options,
          fps=options.fps,
          source=f"synthetic:seed={options.seed}",
          start_frame=int(index),
          label=int(c["label"][k]),
          segmentation_png=seg,
        ),
      )
    )
    summary["num_clips"] += 1
  put(("done", summary))


def synthetic_sources(num_clips, per_task=16):
  """Synthetic clip indices in tasks of `per_task` clips."""
  return [
    Source(
      "synthetic",
      f"synthetic:{i}-{min(i + per_task, num_clips) - 1}",
      tuple(range(i, min(i + per_task, num_clips))),
    )
    for i in range(0, num_clips, per_task)
  ]


# ----------------------------------------------------------------------------- writing


def _labels(sources, options):
  if not options.label_from_parent:
    return {}, [None] * len(sources)
  parent = lambda s: os.path.basename(os.path.dirname(s.path.rstrip(os.sep)))
  names = sorted({parent(s) for s in sources})
  ids = {n: i for i, n in enumerate(names)}
  return ids, [ids[parent(s)] for s in sources]


class _Progress:
  """One log line every PROGRESS_SECONDS, inside long files too: frames decoded and clips
  written so far."""

  def __init__(self, num_sources, clips_before=0, decoded_before=0):
    self.num_sources = num_sources
    self.start = self.last = time.monotonic()
    self.clips_before = clips_before  # written by the interrupted conversion this one resumes
    self.decoded_done = decoded_before
    self.open = {}  # source index -> its _Frames while it is being read

  def decoded(self):
    return self.decoded_done + sum(f.stats.frames for f in list(self.open.values()))

  def maybe_log(self, files_done, total, skipped, dropped):
    if time.monotonic() - self.last < PROGRESS_SECONDS:
      return
    self.last = time.monotonic()
    rate = (total - self.clips_before) / max(self.last - self.start, 1e-6)
    logging.info(
      "files %d/%d, frames decoded %d, clips written %d (%.1f clips/s), skipped %d, dropped %d",
      files_done,
      self.num_sources,
      self.decoded(),
      total,
      rate,
      skipped,
      dropped,
    )


@dataclasses.dataclass
class _Tally:
  """What finished inputs add up to: the manifest's counts. Each input's own is a line of
  the conversion's journal (`_Journal`); their sum is where a resumed conversion starts."""

  clips: int = 0
  dropped: int = 0
  damaged: int = 0
  incomplete: int = 0
  segmented: int = 0
  with_segmentation: int = 0
  stored: int | None = None  # the smallest short side of a stored frame
  decoded: int = 0  # frames
  class_pixels: dict = dataclasses.field(default_factory=dict)  # {"id": pixels}, nonzero only
  seconds: float = 0.0  # spent converting
  inputs: int = 0  # finished

  def add(self, other):
    for name in ("inputs", "clips", "dropped", "damaged", "incomplete", "segmented"):
      setattr(self, name, getattr(self, name) + getattr(other, name))
    self.with_segmentation += other.with_segmentation
    self.decoded += other.decoded
    self.seconds += other.seconds
    if other.stored is not None:
      self.stored = other.stored if self.stored is None else min(self.stored, other.stored)
    for c, n in other.class_pixels.items():
      self.class_pixels[c] = self.class_pixels.get(c, 0) + n

  def shard_counts(self, num_shards):
    """Clips per shard: clip i went to shard i % num_shards."""
    q, r = divmod(self.clips, num_shards)
    return [q + (k < r) for k in range(num_shards)]


# A conversion's journal, PREFIX.resume.tmp, and a shard set aside while a resume copies it.
JOURNAL_SUFFIX = ".resume" + record_format.TEMPORARY_SUFFIX
SET_ASIDE_SUFFIX = ".old" + record_format.TEMPORARY_SUFFIX


class _Journal:
  """`PREFIX.resume.tmp`: how far a conversion to PREFIX has come, so that the same command
  after a kill, a crash or a signal goes on from the first input not finished instead of
  from the first input (a large dataset takes days to convert on a few cores).

  JSON lines: a header (the options that shape the output and a fingerprint of the inputs),
  then one line per finished input, in input order, with its manifest entry and its own
  `_Tally`, written once every shard's writer has been flushed, so that the shards hold at
  least the records the lines count; a line `{"resumed": N}` per resume. A resume copies that
  many records of each unfinished shard into a fresh one (records written after the last line
  belong to an input that is converted again) and carries on. The file is flocked while a
  conversion runs: a second conversion to the same PREFIX is refused.
  """

  def __init__(self, output):
    self.output = output
    self.path = output + JOURNAL_SUFFIX
    self._file = None
    self._whole = 0  # bytes of whole lines read

  def lock(self):
    """Opens the journal and takes its flock; RunError when another conversion holds it."""
    self._file = open(self.path, "a+b")  # held, and locked, until `close`
    try:
      taken, _ = workdir.try_flock(self._file)  # None: no file locks, nothing keeps others out
    except OSError:
      self.close()
      raise
    if taken is False:
      self.close()
      raise errors.RunError(
        f"Expected no other conversion writing to --output={self.output}, received one "
        f"holding {self.path}."
      )

  def read(self, header):
    """The lines after the header of an interrupted conversion with this `header` (a torn
    last line left out), or [] when there is none to go on from (logged when there was one
    of other options or inputs)."""
    self._file.seek(0)
    data = self._file.read()
    self._whole = data.rfind(b"\n") + 1  # a kill may tear the last line: it has no newline
    lines = data[: self._whole].decode("utf-8", "replace").splitlines()
    if not lines:
      return []
    try:
      previous, done = json.loads(lines[0]), [json.loads(line) for line in lines[1:]]
    except ValueError:
      logging.warning("Starting %s afresh: its journal %s is damaged.", self.output, self.path)
      return []
    if previous != header:
      logging.warning(
        "Starting %s afresh: an interrupted conversion to it had %s.",
        self.output,
        _header_difference(previous, header),
      )
      return []
    return done

  def start(self, header):
    """Empties the journal and writes `header` as its first line."""
    self._file.truncate(0)
    self.append(header)

  def keep_read(self):
    """Drops what followed the whole lines `read` returned (a torn line)."""
    self._file.truncate(self._whole)

  def append(self, value):
    with errors.writing(self.path):
      self._file.write(json.dumps(value).encode() + b"\n")
      self._file.flush()

  def close(self, remove=False):
    if remove:  # while it is still locked
      with contextlib.suppress(FileNotFoundError):
        os.remove(self.path)
    if self._file is not None:
      file, self._file = self._file, None
      with errors.writing(self.path):
        file.close()  # releases the flock (even when its last flush fails)


def _journal_header(sources, options, num_skipped):
  """What a conversion's output depends on: its options (the number of worker threads
  aside) and its inputs in order (their fingerprint)."""
  fingerprint = hashlib.sha256()
  for s in sources:
    fingerprint.update(json.dumps([s.kind, s.path, list(s.indices)]).encode() + b"\n")
  shaping = {k: v for k, v in dataclasses.asdict(options).items() if k != "workers"}
  return {
    "version": 1,
    "options": json.loads(json.dumps(shaping)),  # as JSON gives it back: tuples as lists
    "inputs": len(sources),
    "inputs_skipped": num_skipped,
    "fingerprint": fingerprint.hexdigest(),
  }


def _header_difference(previous, header):
  """What differs between two journal headers, in words."""
  old, new = previous.get("options", {}), header["options"]
  changed = [f"{k}={old.get(k)!r} (now {new[k]!r})" for k in new if old.get(k) != new[k]]
  if changed:
    return "other options: " + ", ".join(changed)
  counts = (previous.get("inputs"), previous.get("inputs_skipped"))
  if counts != (header["inputs"], header["inputs_skipped"]):
    return (
      f"{counts[0]} inputs and {counts[1]} skipped where this one has {header['inputs']} "
      f"and {header['inputs_skipped']}"
    )
  return "other inputs (as many, but other paths or another order)"


def _resumable(done):
  """The lines of finished inputs in `done`, if they run 0, 1, 2, ... (else [])."""
  inputs = [line for line in done if "input" in line]
  if [line["input"] for line in inputs] != list(range(len(inputs))):
    return []
  return inputs


def _sweep_unfinished(output):
  """Removes the unfinished shards of any earlier conversion to `output` (any shard count)."""
  pattern = glob.escape(output) + "-[0-9]*-of-[0-9]*" + record_format.SHARD_SUFFIX + "*"
  for path in glob.glob(pattern):
    if path.endswith(record_format.TEMPORARY_SUFFIX):
      with contextlib.suppress(FileNotFoundError):
        os.remove(path)


def _carry_over(paths, counts, tf_options):
  """Writers of the shards `paths` (under their temporary names) holding the first
  `counts[k]` records of each interrupted shard, copied from the shard set aside
  (SET_ASIDE_SUFFIX: a resume stopped while copying leaves it as the shard); None, with a
  warning, when a shard holds fewer (deleted, or the machine lost power before its pages
  reached the disk)."""
  tmps = [p + record_format.TEMPORARY_SUFFIX for p in paths]
  aside = [p + SET_ASIDE_SUFFIX for p in paths]
  for tmp, old in zip(tmps, aside, strict=True):
    if os.path.exists(old):
      with contextlib.suppress(FileNotFoundError):
        os.remove(tmp)
    elif os.path.exists(tmp):
      os.replace(tmp, old)
  writers, done, last = [], 0, time.monotonic()
  try:
    for tmp, old, count in zip(tmps, aside, counts, strict=True):
      writers.append(tf.io.TFRecordWriter(tmp, tf_options))
      copied = 0
      if count:
        records = tf.data.TFRecordDataset(old, tf_options.compression_type).take(count)
        with contextlib.suppress(tf.errors.NotFoundError, tf.errors.DataLossError):
          for record in records:
            writers[-1].write(record.numpy())
            copied += 1
            if time.monotonic() - last >= PROGRESS_SECONDS:
              last = time.monotonic()
              logging.info("copied %d of %d clips", done + copied, sum(counts))
      done += copied
      if copied < count:
        logging.warning(
          "Starting afresh: %s holds %d of the %d records its journal counts.", old, copied, count
        )
        for writer in writers:
          writer.close()
        return None
      writers[-1].flush()
  except BaseException:
    for writer in writers:
      with contextlib.suppress(tf.errors.OpError):
        writer.close()
    raise
  for old in aside:
    with contextlib.suppress(FileNotFoundError):
      os.remove(old)
  return writers


def _open_shards(output, paths, options, header, resume):
  """(journal, writers, tally, lines, resumed): the locked journal of a conversion to
  `output`, the writers of its shards under their temporary names, and, going on from an
  interrupted conversion with this `header` (`resume`), the `_Tally` and journal lines of its
  finished inputs and the input counts it was resumed at; else a fresh start."""
  tf_options = tf.io.TFRecordOptions(compression_type="GZIP" if options.gzip else "")
  journal = _Journal(output)
  journal.lock()
  try:
    done = journal.read(header) if resume else []
    lines = _resumable(done)
    tally = _Tally()
    for line in lines:
      tally.add(_Tally(**line["tally"]))
    if lines:
      logging.info(
        "Going on from an interrupted conversion to %s: copying the %d clips of its %d "
        "finished inputs into fresh shards.",
        output,
        tally.clips,
        tally.inputs,
      )
    writers = lines and _carry_over(paths, tally.shard_counts(options.num_shards), tf_options)
    if writers:
      journal.keep_read()
      resumed = [line["resumed"] for line in done if "resumed" in line] + [tally.inputs]
      journal.append({"resumed": tally.inputs})
      return journal, writers, tally, lines, resumed
    _sweep_unfinished(output)
    journal.start(header)
    tmps = [p + record_format.TEMPORARY_SUFFIX for p in paths]
    return journal, [tf.io.TFRecordWriter(p, tf_options) for p in tmps], _Tally(), [], []
  except BaseException:
    journal.close()
    raise


def write_tfrecords(sources, output, options, skipped=(), segmenter=None, resume=True):
  """Writes every clip of `sources` to shards `output-*-of-*.tfrecord`; returns the manifest.

  Sources are processed in parallel (`options.workers` threads, one source each) and written
  in input order, clip i to shard i % num_shards, so a run is reproducible. Each worker hands
  its encoded clips over through a queue of QUEUE_CLIPS as they are made and waits when it is
  full, so memory stays bounded by a few clips per worker however long the videos are. The
  manifest is also written to `output.manifest.json`; its paths are absolute. `segmenter` (a
  zoo.segmenter.Segmenter) segments the conditioning frame of every clip whose source has no
  segmentation.

  The conversion is journalled (`_Journal`): stopped by a signal or killed once some inputs
  are finished, it leaves its unfinished shards, and the same call (`resume`)
  goes on from the first input not finished; its shards then hold the same records, in the
  same order, as those of a conversion that was never stopped.
  """
  if options.num_shards < 1:
    raise ValueError(f"Expected --num_shards >= 1, received {options.num_shards}.")
  paths = [
    record_format.shard_path(output, i, options.num_shards) for i in range(options.num_shards)
  ]
  longest = os.path.basename(paths[0] + SET_ASIDE_SUFFIX)  # the longest name it may write
  video_io.check_output_directory(output, "--output", [longest])
  label_ids, labels = _labels(sources, options)
  tmp_paths = [p + record_format.TEMPORARY_SUFFIX for p in paths]
  skipped = list(skipped)
  header = _journal_header(sources, options, len(skipped))
  journal, writers, tally, lines, resumed = _open_shards(output, paths, options, header, resume)
  first = tally.inputs
  if first:
    logging.info(
      "Resuming %s: %d of %d inputs (%d clips) were finished by an interrupted conversion; "
      "going on from input %d (--noresume starts afresh).",
      output,
      first,
      len(sources),
      tally.clips,
      first + 1,
    )
  per_source = [line["entry"] for line in lines if line["entry"]]
  skipped += [line["skipped"] for line in lines if line["skipped"]]
  progress = _Progress(len(sources), tally.clips, tally.decoded)
  stop = threading.Event()
  workers = max(options.workers, 1)

  def putter(q):
    def put(item):
      while not stop.is_set():
        try:
          q.put(item, timeout=0.5)
          return
        except queue.Full:
          continue
      raise _Stopped()

    return put

  def log_progress(own):
    progress.maybe_log(
      tally.inputs,
      tally.clips + own.clips,
      len(skipped),
      tally.dropped + tally.damaged + tally.incomplete,
    )

  def take(q, future, own):
    """The next item of a source's queue, logging progress while waiting."""
    while True:
      try:
        return q.get(timeout=min(PROGRESS_SECONDS, 1.0))
      except queue.Empty:
        if future.done() and q.empty():
          future.result()  # Raises what ended the worker.
          raise RuntimeError("A converter worker ended without reporting its source.") from None
        log_progress(own)

  try:
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
      pending = {}
      try:
        for i in range(first, len(sources)):
          source = sources[i]
          for j in range(i, min(i + workers, len(sources))):
            if j not in pending:
              q = queue.Queue(QUEUE_CLIPS)
              on_open = functools.partial(progress.open.__setitem__, j)
              pending[j] = (
                q,
                pool.submit(
                  produce_source, sources[j], options, putter(q), labels[j], segmenter, on_open
                ),
              )
          q, future = pending.pop(i)
          own = _Tally(inputs=1)  # what this input adds
          started = time.monotonic()
          while True:
            kind, value = take(q, future, own)
            if kind == "raise":
              raise value
            if kind == "done":
              break
            encoded, meta = value
            shard = (tally.clips + own.clips) % options.num_shards
            record = record_format.example_from_encoded(encoded, **meta).SerializeToString()
            with _refused_as_run_error(paths[shard]):
              writers[shard].write(record)
            own.clips += 1
            side = min(meta["height"], meta["width"])
            own.stored = side if own.stored is None else min(own.stored, side)
            own.with_segmentation += meta.get("segmentation_png") is not None
            log_progress(own)
          summary = value
          frames = progress.open.pop(i, None)
          own.decoded = frames.stats.frames if frames is not None else 0
          progress.decoded_done += own.decoded
          own.dropped = summary["dropped"]
          own.damaged = summary.get("dropped_damaged", 0)
          own.incomplete = summary.get("dropped_incomplete", 0)
          own.segmented = summary.get("segmented", 0)
          pixels = summary.get("class_pixels")
          if pixels is not None:
            own.class_pixels = {str(c): int(pixels[c]) for c in np.flatnonzero(pixels)}
          own.seconds = time.monotonic() - started
          entry = _source_entry(source, summary)
          reason = _skip_reason(summary)
          skip = None
          if reason:
            logging.warning("Skipped %s: %s", source.path, reason)
            entry, skip = None, {"path": source.path, "reason": reason, **entry}
            skipped.append(skip)
          else:
            per_source.append(entry)
            _log_source_faults(source, summary)
          for writer, path in zip(writers, paths, strict=True):
            with _refused_as_run_error(path):
              writer.flush()  # the shards hold at least what the journal's lines count
          tally.add(own)
          journal.append(
            {"input": i, "entry": entry, "skipped": skip, "tally": dataclasses.asdict(own)}
          )
      finally:
        stop.set()
    for writer, path in zip(writers, paths, strict=True):
      with _refused_as_run_error(path):
        writer.close()  # its last buffer reaches the disk here
  except BaseException as e:
    # Stopped by a signal: what the finished inputs wrote is kept for the same command.
    keep = isinstance(e, (KeyboardInterrupt, cli.Stopped)) and tally.inputs > 0
    if keep:
      logging.warning(
        "Stopped after %d of %d inputs (%d clips): their shards are kept under their "
        "temporary names (.tmp), and the same command goes on from input %d.",
        tally.inputs,
        len(sources),
        tally.clips,
        tally.inputs + 1,
      )
    for writer in writers:
      with contextlib.suppress(tf.errors.OpError):  # a full disk refuses the last flush too
        writer.close()
    if not keep:
      for tmp in tmp_paths:
        with contextlib.suppress(OSError):
          os.remove(tmp)
    journal.close(remove=not keep)
    raise
  if tally.clips:
    for tmp, path in zip(tmp_paths, paths, strict=True):
      os.replace(tmp, path)
  else:
    for tmp in tmp_paths:
      os.remove(tmp)
  manifest = {
    "num_clips": tally.clips,
    "shards": (
      [
        {"path": os.path.basename(p), "num_clips": n}
        for p, n in zip(paths, tally.shard_counts(options.num_shards), strict=True)
      ]
      if tally.clips
      else []
    ),
    "sources": per_source,
    "num_sources": len(per_source),
    "skipped": skipped,
    "num_skipped": len(skipped),
    "dropped_low_variance": tally.dropped,
    "dropped_damaged": tally.damaged,
    "dropped_incomplete": tally.incomplete,
    "label_ids": label_ids,
    "segmentation": {
      "segmenter": segmenter.path if segmenter is not None else None,
      "num_from_segmenter": tally.segmented,
      "num_from_source": tally.with_segmentation - tally.segmented,
      "class_pixels": dict(sorted(tally.class_pixels.items(), key=lambda item: int(item[0]))),
    },
    "compression": "GZIP" if options.gzip else "",
    "options": dataclasses.asdict(options),
    "seconds": round(tally.seconds, 2),
  }
  if resumed:
    manifest["resumed_after_inputs"] = resumed
  _warn_if_larger_than_configs(tally.stored)
  manifest_path = record_format.manifest_path(output)
  try:
    with open(manifest_path + ".tmp", "w") as f:
      json.dump(manifest, f, indent=2)
  except OSError as e:
    with contextlib.suppress(OSError):
      os.remove(manifest_path + ".tmp")
    raise errors.RunError(
      f"Expected to write {manifest_path}, failed: {e.strerror or e}. The {tally.clips} clips "
      "are in complete shards; the manifest (sources, frame rates) is missing."
    ) from e
  finally:
    journal.close(remove=True)
  os.replace(manifest_path + ".tmp", manifest_path)
  logging.info(
    "Wrote %d clips (%.1f clips/s, %d frames decoded) to %d shards %s; %d inputs "
    "skipped, %d static, %d damaged and %d incomplete clips dropped; manifest %s",
    tally.clips,
    tally.clips / max(tally.seconds, 1e-6),
    tally.decoded,
    options.num_shards if tally.clips else 0,
    output,
    len(skipped),
    tally.dropped,
    tally.damaged,
    tally.incomplete,
    manifest_path,
  )
  return manifest


def _log_source_faults(source, summary):
  """Warns of a source that stopped early or had decoder errors (its clips were kept)."""
  if summary["error"]:
    logging.warning(
      "%s: stopped after %d clips: %s", source.path, summary["num_clips"], summary["error"]
    )
  if summary.get("decode_errors"):
    logging.warning(
      "%s: %d decoder errors, %d damaged and %d lost frames, %d damaged and %d "
      "incomplete clips dropped (%s)",
      source.path,
      summary["decode_errors"],
      summary["damaged_frames"],
      summary.get("lost_frames", 0),
      summary["dropped_damaged"],
      summary["dropped_incomplete"],
      "; ".join(summary.get("decode_messages", [])),
    )


@contextlib.contextmanager
def _refused_as_run_error(path):
  """A shard write or close that the disk refuses (full) raises errors.RunError naming the
  shard: one line, and its unfinished shards are removed on the way out."""
  try:
    yield
  except tf.errors.OpError as e:
    raise errors.RunError(
      f"Expected to write {path}, failed: {e.message.split('; ')[-1]}. The unfinished shards "
      "were removed."
    ) from e


def largest_config_size():
  """The largest frame side any config of the package (configs/*.py) reads, or 0."""
  import configs

  largest = 0
  for path in glob.glob(os.path.join(os.path.dirname(configs.__file__), "*.py")):
    name = os.path.splitext(os.path.basename(path))[0]
    if name.startswith("_") or name == "common":
      continue
    try:
      data = importlib.import_module(f"configs.{name}").get_config().data
    except Exception as e:  # noqa: BLE001  (the file is listed as skipped, with the error)
      logging.debug("config %s not read: %s", name, e)
      continue
    largest = max(largest, int(data.height), int(data.width))
  return largest


def _warn_if_larger_than_configs(stored):
  """Warns when stored frames are 2x or more of what any config reads: every read would
  decode and resize far more pixels than the model sees."""
  if stored is None:  # no clip written
    return
  largest = largest_config_size()
  if largest and stored >= 2 * largest:
    logging.warning(
      "Stored frames have a short side of %d, %.1fx the largest size any config "
      "reads (%d): the pipeline shrinks them at every read; --resize=%d stores "
      "what it needs.",
      stored,
      stored / largest,
      largest,
      largest,
    )


def _source_entry(source, summary):
  """A source's manifest entry: clip counts and the facts of `source_summary`."""
  keys = (
    "fps",
    "declared_fps",
    "decoded_size",
    "display_size",
    "rotation",
    "mirrored",
    "pixel_aspect",
    "frames_decoded",
    "decode_errors",
    "damaged_frames",
    "decode_messages",
    "resized_frames",
    "interlaced_frames",
    "lost_frames",
  )
  entry = {
    "path": source.path,
    "num_clips": summary["num_clips"],
    "dropped_low_variance": summary["dropped"],
  }
  if "dropped_damaged" in summary:
    entry.update(dropped_damaged=summary["dropped_damaged"], damaged_kept=summary["damaged_kept"])
  if summary.get("dropped_incomplete"):
    entry["dropped_incomplete"] = summary["dropped_incomplete"]
  if summary["error"] and summary["num_clips"]:
    entry["error"] = summary["error"]
  entry.update({k: summary[k] for k in keys if k in summary})
  return entry


def _skip_reason(summary):
  """Why a source gave nothing to write (None when it gave clips or was only static)."""
  if summary["num_clips"]:
    return None
  if summary["error"]:
    return summary["error"]
  damaged, incomplete = summary.get("dropped_damaged", 0), summary.get("dropped_incomplete", 0)
  kinds = []
  if damaged:
    kinds.append(f"damaged frames ({damaged}; --keep_damaged keeps them)")
  if incomplete:
    kinds.append(f"frames that could not be decoded or read ({incomplete})")
  if not kinds:
    return None
  errors = f"{summary['decode_errors']} decoder errors: " if "decode_errors" in summary else ""
  return f"{errors}all {damaged + incomplete} clips had {' or '.join(kinds)}."


# ----------------------------------------------------------------------------- command line


def define_flags(flag_values=flags.FLAGS):
  """Defines the CLI flags on `flag_values` (tests pass their own FlagValues)."""
  f = flag_values
  flags.DEFINE_string("input", "", "Glob, directory or .txt list of inputs.", flag_values=f)
  flags.DEFINE_string(
    "output", None, "Shard prefix: PREFIX-00000-of-00008.tfrecord.", flag_values=f
  )
  flags.DEFINE_enum(
    "source", "files", ["files", "synthetic"], "Where clips come from.", flag_values=f
  )
  flags.DEFINE_enum(
    "format",
    "jpeg",
    list(record_format.FORMATS),
    "Frame encoding: one JPEG "
    "or PNG per frame, or (*_mosaic) one per clip, frames tiled vertically "
    "(fastest to read; trainers.data.format).",
    flag_values=f,
  )
  flags.DEFINE_integer("quality", 95, "JPEG quality.", flag_values=f)
  flags.DEFINE_integer("clip_length", 32, "Frames per clip; 0: whole videos.", flag_values=f)
  flags.DEFINE_integer("frame_stride", 1, "Keep every n-th frame.", flag_values=f)
  flags.DEFINE_integer(
    "clips_per_video",
    0,
    "Evenly spaced clips per video; 0: all non-overlapping clips.",
    flag_values=f,
  )
  flags.DEFINE_integer("resize", 0, "Short side after resizing; 0: keep.", flag_values=f)
  flags.DEFINE_string(
    "crop", "", "Centre crop HxW (synthetic: the clip size, default 64x64).", flag_values=f
  )
  flags.DEFINE_integer("num_shards", 8, "Number of output shards.", flag_values=f)
  flags.DEFINE_bool(
    "resume",
    True,
    "Go on from where an interrupted conversion to the same --output, with the same inputs "
    "and options, stopped; --noresume starts afresh.",
    flag_values=f,
  )
  flags.DEFINE_bool(
    "gzip", False, "GZIP-compress the shards (read with data.compression=GZIP).", flag_values=f
  )
  flags.DEFINE_integer("workers", 2, "Threads reading and encoding inputs.", flag_values=f)
  flags.DEFINE_float(
    "min_temporal_variance",
    0.0,
    "Drop clips whose mean per-pixel temporal variance ([0, 1] pixels) is below this; 0: off.",
    flag_values=f,
  )
  flags.DEFINE_integer(
    "vgan_frame_height",
    0,
    "If > 0, image inputs are VGAN clips of frames this tall stacked vertically.",
    flag_values=f,
  )
  flags.DEFINE_bool(
    "label_from_parent", False, "Class id from the sorted parent folder names.", flag_values=f
  )
  flags.DEFINE_bool(
    "keep_damaged",
    False,
    "Keep clips with frames decoded after a decoder "
    "error (until the next key frame); they are counted in the manifest "
    "either way.",
    flag_values=f,
  )
  flags.DEFINE_float(
    "fps",
    8.0,
    "Frames per second recorded for frame folders, VGAN images and "
    "synthetic clips (videos keep their own).",
    flag_values=f,
  )
  flags.DEFINE_integer("num_clips", 256, "Synthetic source: number of clips.", flag_values=f)
  flags.DEFINE_integer("seed", 0, "Synthetic source: seed.", flag_values=f)
  flags.DEFINE_integer(
    "max_shapes", 3, "Synthetic source: shapes per clip, at most.", flag_values=f
  )
  flags.DEFINE_enum(
    "motion",
    "random",
    ["random", "by_appearance"],
    "Synthetic source: random directions, or velocities that frame 0 determines.",
    flag_values=f,
  )
  flags.DEFINE_string(
    "segmenter",
    "",
    "Segmentation SavedModel (zoo.segmenter's convention): "
    "writes the segmentation of each clip's conditioning frame, "
    "(clip_length - 1) // 2, for sources without one.",
    flag_values=f,
  )


def _parse_crop(text):
  if not text:
    return ()
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise app.UsageError(f"Expected --crop=HxW (e.g. 64x64), received {text!r}.") from None
  if h < 1 or w < 1:
    raise app.UsageError(f"Expected --crop=HxW of positive sizes (e.g. 64x64), received {text!r}.")
  return (h, w)


def _check_options(options, synthetic):
  """Refuses, before any input is read, option values that would write nothing of use: a
  negative --resize made 1x1-pixel clips; --frame_stride=0 skipped every input with a
  ZeroDivisionError; a negative --clip_length skipped them with "negative dimensions"."""
  least = {
    "clip_length": 1 if synthetic else 0,  # 0: whole videos
    "frame_stride": 1,
    "clips_per_video": 0,
    "resize": 0,
    "quality": 1,
    "workers": 1,
    "min_temporal_variance": 0,
    "vgan_frame_height": 0,
  }
  if synthetic:
    least.update(num_clips=1, max_shapes=1)
  for name, low in least.items():
    value = getattr(options, name)
    if value < low:
      raise app.UsageError(f"Expected --{name} >= {low}, received {value}.")
  if options.quality > 100:
    raise app.UsageError(f"Expected --quality <= 100 (JPEG), received {options.quality}.")
  if not options.fps > 0:
    raise app.UsageError(f"Expected --fps > 0, received {options.fps:g}.")


def run(flag_values):
  """Runs the CLI from parsed flags; returns the process exit code (1: nothing written)."""
  f = flag_values
  if not f.output:
    raise app.UsageError("Expected --output=PREFIX, received none.")
  options = WriterOptions(
    fmt=f.format,
    quality=f.quality,
    clip_length=f.clip_length,
    frame_stride=f.frame_stride,
    clips_per_video=f.clips_per_video,
    resize=f.resize,
    crop=_parse_crop(f.crop),
    num_shards=f.num_shards,
    gzip=f.gzip,
    workers=f.workers,
    min_temporal_variance=f.min_temporal_variance,
    vgan_frame_height=f.vgan_frame_height,
    label_from_parent=f.label_from_parent,
    num_clips=f.num_clips,
    seed=f.seed,
    max_shapes=f.max_shapes,
    motion=f.motion,
    fps=f.fps,
    segmenter=f.segmenter,
    keep_damaged=f.keep_damaged,
  )
  _check_options(options, f.source == "synthetic")
  # Loaded before any input is read: a bad path fails fast, naming it.
  segmenter = segmenter_lib.Segmenter(f.segmenter) if f.segmenter else None
  if f.source == "synthetic":
    sources, skipped = synthetic_sources(options.num_clips), []
  else:
    if not f.input:
      raise app.UsageError("Expected --input (a glob, directory or .txt list), received none.")
    sources, skipped = resolve_inputs(f.input, options.vgan_frame_height)
  manifest = write_tfrecords(sources, f.output, options, skipped, segmenter, f.resume)
  for s in manifest["skipped"]:
    print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
  print(
    f"{manifest['num_clips']} clips from {manifest['num_sources']} inputs "
    f"({manifest['num_skipped']} skipped) -> {f.output}",
    file=sys.stderr,
  )
  return 0 if manifest["num_clips"] else 1


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Expected only flags, received arguments {argv[1:]}.")
  return run(flags.FLAGS)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
