r"""Writes clips to TFRecord shards (the format of trainers.data.format) with a JSON manifest.

    python -m trainers.data.make_tfrecords --input='videos/*.mp4' --output=/data/ucf/train \
        --clip_length=32 --resize=64 --crop=64x64 --num_shards=8 --workers=2
    python -m trainers.data.make_tfrecords --source=synthetic --num_clips=512 \
        --clip_length=32 --crop=64x64 --output=/tmp/synthetic/train

Inputs (`--input`: a glob, a directory or a .txt file with one path per line):
  * video files (.mp4 .avi .mkv .webm .gif ...), decoded with PyAV;
  * folders of frame images: one folder is one video, frames sorted by file name;
  * with --vgan_frame_height=H > 0, image files are VGAN-style clips: frames of height H
    stacked vertically in one image.
A directory is walked recursively and every video, frame folder (or VGAN image) in it is used.

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

Output: PREFIX-00000-of-0000N.tfrecord shards, clip i in shard i % N, each written under a
temporary name and renamed when complete, and PREFIX.manifest.json (sources, clips per
source, shards, options, skipped files with reasons; with --segmenter, how many clips got
their segmentation from it and from the source, and the pixels of each class it found). An
unreadable input is logged, listed in the manifest and skipped; the exit code is 1 when no
clip was written.
"""

import concurrent.futures
import dataclasses
import glob
import json
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging
import numpy as np
from PIL import Image
import tensorflow as tf

from trainers.data import format as record_format
from trainers.data import video_io
from zoo import segmenter as segmenter_lib

PROGRESS_SECONDS = 10.0
SEGMENTER_BATCH = 16  # conditioning frames per segmenter call


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
  fps: float = 8.0  # Recorded for frame folders, VGAN images and synthetic clips.
  segmenter: str = ""  # Segmentation SavedModel for sources without a segmentation.


@dataclasses.dataclass
class Source:
  """One input: kind is "video", "frames" (a folder), "vgan" or "synthetic"."""
  kind: str
  path: str
  indices: tuple = ()  # Synthetic clip indices.


# ----------------------------------------------------------------------------- inputs


def _expand(path, vgan_frame_height, skipped):
  """Sources found at `path`; unusable paths are appended to `skipped` with a reason."""
  if os.path.isdir(path):
    sources = []
    for dirpath, dirnames, filenames in os.walk(path):
      dirnames.sort()
      images = []
      for name in sorted(filenames):
        lower = name.lower()
        full = os.path.join(dirpath, name)
        if lower.endswith(video_io.VIDEO_EXTENSIONS):
          sources.append(Source("video", full))
        elif lower.endswith(video_io.IMAGE_EXTENSIONS):
          images.append(full)
      if images and vgan_frame_height:
        sources.extend(Source("vgan", f) for f in images)
      elif images:
        sources.append(Source("frames", dirpath))
    return sources
  lower = path.lower()
  if not os.path.exists(path):
    skipped.append({"path": path, "reason": "does not exist"})
  elif lower.endswith(video_io.VIDEO_EXTENSIONS):
    return [Source("video", path)]
  elif lower.endswith(video_io.IMAGE_EXTENSIONS) and vgan_frame_height:
    return [Source("vgan", path)]
  else:
    skipped.append({"path": path, "reason": "Expected a video file, a folder of frames or (with "
                    "--vgan_frame_height) an image, received an unsupported file."})
  return []


def resolve_inputs(spec, vgan_frame_height=0):
  """(sources, skipped) for `--input`: a glob, a directory or a .txt file listing paths."""
  skipped = []
  if os.path.isfile(spec) and spec.endswith(".txt"):
    base = os.path.dirname(spec)
    with open(spec) as f:
      lines = [l.strip() for l in f]
    entries = [l if os.path.isabs(l) else os.path.join(base, l)
               for l in lines if l and not l.startswith("#")]
  elif os.path.isdir(spec):
    entries = [spec]
  else:
    entries = sorted(glob.glob(spec))
    if not entries:
      raise FileNotFoundError(f"Expected --input to match files, received {spec!r} matching none.")
  sources = []
  for entry in entries:
    sources.extend(_expand(entry, vgan_frame_height, skipped))
  return sources, skipped


# ----------------------------------------------------------------------------- one source


def _resize_crop(frame, resize, crop):
  """Short side to `resize` (0: keep), then a centre crop (h, w), scaling up to cover it."""
  h, w = frame.shape[:2]
  scale = resize / min(h, w) if resize else 1.0
  if crop:
    scale = max(scale, crop[0] / h, crop[1] / w)
  nh, nw = max(int(round(h * scale)), 1), max(int(round(w * scale)), 1)
  if (nh, nw) != (h, w):
    frame = np.asarray(Image.fromarray(frame).resize((nw, nh), Image.Resampling.BICUBIC))
  if crop:
    top, left = (nh - crop[0]) // 2, (nw - crop[1]) // 2
    frame = frame[top:top + crop[0], left:left + crop[1]]
  return frame


def _read(source, options):
  """(frames uint8 [N, H, W, 3] after resize and crop, fps)."""
  prepare = lambda f: _resize_crop(f, options.resize, options.crop)
  if source.kind == "video":
    frames = [prepare(f) for f in video_io.iter_video(source.path)]
    if not frames:
      raise ValueError(f"Expected at least one frame in {source.path}, received none.")
    return np.stack(frames), video_io.video_fps(source.path)
  if source.kind == "frames":
    frames = video_io.read_frame_folder(source.path)
  else:
    frames = video_io.read_vgan_clip(source.path, options.vgan_frame_height)
  return np.stack([prepare(f) for f in frames]), options.fps


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
  return encoded, dict(height=clip.shape[1], width=clip.shape[2], num_frames=len(clip),
                       layout=layout, **meta)


def segment_frames(segmenter, frames):
  """uint8 frames [N, H, W, 3] -> uint8 class ids [N, H, W], SEGMENTER_BATCH at a time;
  SegmenterError when an id does not fit the record's 8-bit PNG."""
  ids = []
  for i in range(0, len(frames), SEGMENTER_BATCH):
    unit = tf.cast(frames[i:i + SEGMENTER_BATCH], tf.float32) / 127.5 - 1.0
    ids.append(segmenter(unit).numpy())
  ids = np.concatenate(ids)
  if ids.size and (ids.min() < 0 or ids.max() > 255):
    raise segmenter_lib.SegmenterError(
        f"Expected class ids in [0, 255] (the record's segmentation is an 8-bit PNG) from "
        f"{segmenter.path!r}, received [{ids.min()}, {ids.max()}].")
  return ids.astype(np.uint8)


def _segment_clips(clips, segmenter):
  """Adds each clip's conditioning frame and its segmentation to `clips` ([(clip, meta)]);
  returns the class pixel counts [256]."""
  if not clips:
    return np.zeros(256, np.int64)
  middle = (len(clips[0][0]) - 1) // 2
  ids = segment_frames(segmenter, np.stack([clip[middle] for clip, _ in clips]))
  for (_, meta), seg in zip(clips, ids):
    meta.update(middle_frame=middle, segmentation_png=record_format.encode_image(seg, "png"))
  return np.bincount(ids.reshape(-1), minlength=256)


def process_source(source, options, label=None, segmenter=None):
  """Reads, cuts, filters, segments (with a `segmenter`) and encodes one source:
  {"clips", "dropped", "error", "segmented", "class_pixels"}.

  Runs in worker threads: PyAV, Pillow and numpy release the GIL in their heavy parts.
  Every exception becomes an "error" entry so one bad file never stops the run, except a
  SegmenterError: a segmenter that breaks the convention would fail every source.
  """
  result = {"clips": [], "dropped": 0, "error": None}
  try:
    if source.kind == "synthetic":
      return _process_synthetic(source, options)
    frames, fps = _read(source, options)
    length = options.clip_length or len(frames)
    starts = clip_starts(len(frames), length, options.frame_stride, options.clips_per_video)
    if not starts:
      span = (length - 1) * options.frame_stride + 1
      raise ValueError(f"Expected at least {span} frames (clip_length {length}, frame_stride "
                       f"{options.frame_stride}), received {len(frames)}.")
    kept = []
    for start in starts:
      clip = frames[start:start + (length - 1) * options.frame_stride + 1:options.frame_stride]
      if (options.min_temporal_variance
          and temporal_variance(clip) < options.min_temporal_variance):
        result["dropped"] += 1
        continue
      kept.append((clip, dict(fps=fps / options.frame_stride, source=source.path,
                              start_frame=start, label=label)))
    if segmenter is not None:
      result["class_pixels"] = _segment_clips(kept, segmenter)
      result["segmented"] = len(kept)
    result["clips"] = [_encode(clip, options, **meta) for clip, meta in kept]
  except segmenter_lib.SegmenterError:
    raise
  except Exception as e:  # noqa: BLE001  (the file is listed as skipped, with the error)
    result["error"] = f"{type(e).__name__}: {e}"
  return result


def _process_synthetic(source, options):
  from trainers.data import synthetic  # TF ops; only needed for this source.

  h, w = options.crop or (64, 64)
  c = synthetic.clips(options.seed, source.indices, options.clip_length, h, w,
                      options.max_shapes, options.frame_stride)
  result = {"clips": [], "dropped": 0, "error": None}
  for k, index in enumerate(source.indices):
    clip = c["video"][k]
    if options.min_temporal_variance and temporal_variance(clip) < options.min_temporal_variance:
      result["dropped"] += 1
      continue
    seg = record_format.encode_image(c["segmentation"][k], "png")
    result["clips"].append(_encode(
        clip, options, fps=options.fps, source=f"synthetic:seed={options.seed}",
        start_frame=int(index), label=int(c["label"][k]), segmentation_png=seg))
  return result


def synthetic_sources(num_clips, per_task=16):
  """Synthetic clip indices in tasks of `per_task` clips."""
  return [Source("synthetic", f"synthetic:{i}-{min(i + per_task, num_clips) - 1}",
                 tuple(range(i, min(i + per_task, num_clips))))
          for i in range(0, num_clips, per_task)]


# ----------------------------------------------------------------------------- writing


def _labels(sources, options):
  if not options.label_from_parent:
    return {}, [None] * len(sources)
  parent = lambda s: os.path.basename(os.path.dirname(s.path.rstrip(os.sep)))
  names = sorted({parent(s) for s in sources})
  ids = {n: i for i, n in enumerate(names)}
  return ids, [ids[parent(s)] for s in sources]


def write_tfrecords(sources, output, options, skipped=(), segmenter=None):
  """Writes every clip of `sources` to shards `output-*-of-*.tfrecord`; returns the manifest.

  Sources are processed in parallel (`options.workers` threads) and written in input order,
  clip i to shard i % num_shards, so a run is reproducible. The manifest is also written to
  `output.manifest.json`. `segmenter` (a zoo.segmenter.Segmenter) segments the conditioning
  frame of every clip whose source has no segmentation.
  """
  if options.num_shards < 1:
    raise ValueError(f"Expected --num_shards >= 1, received {options.num_shards}.")
  directory = os.path.dirname(os.path.abspath(output))
  os.makedirs(directory, exist_ok=True)
  label_ids, labels = _labels(sources, options)
  paths = [record_format.shard_path(output, i, options.num_shards)
           for i in range(options.num_shards)]
  tmp_paths = [p + ".tmp" for p in paths]
  tf_options = tf.io.TFRecordOptions(compression_type="GZIP" if options.gzip else "")
  writers = [tf.io.TFRecordWriter(p, tf_options) for p in tmp_paths]
  per_shard = [0] * options.num_shards
  skipped = list(skipped)
  per_source = []
  total = dropped = files_done = with_segmentation = segmented = 0
  class_pixels = np.zeros(256, np.int64)
  start_time = last_log = time.time()

  def progress():
    rate = total / max(time.time() - start_time, 1e-6)
    logging.info("files %d/%d, clips %d, %.1f clips/s, skipped %d, dropped (static) %d",
                 files_done, len(sources), total, rate, len(skipped), dropped)

  try:
    with concurrent.futures.ThreadPoolExecutor(max(options.workers, 1)) as pool:
      window = max(options.workers, 1) * 2  # Bounded: decoded videos can be large.
      futures = {}
      for i in range(len(sources)):
        for j in range(i, min(i + window, len(sources))):
          if j not in futures:
            futures[j] = pool.submit(process_source, sources[j], options, labels[j],
                                     segmenter)
        result = futures.pop(i).result()
        source = sources[i]
        files_done += 1
        if result["error"]:
          logging.warning("Skipped %s: %s", source.path, result["error"])
          skipped.append({"path": source.path, "reason": result["error"]})
          continue
        for encoded, meta in result["clips"]:
          shard = total % options.num_shards
          writers[shard].write(record_format.example_from_encoded(
              encoded, **meta).SerializeToString())
          per_shard[shard] += 1
          total += 1
          with_segmentation += meta.get("segmentation_png") is not None
        dropped += result["dropped"]
        segmented += result.get("segmented", 0)
        class_pixels += result.get("class_pixels", 0)
        per_source.append({"path": source.path, "num_clips": len(result["clips"]),
                           "dropped_low_variance": result["dropped"]})
        if time.time() - last_log >= PROGRESS_SECONDS:
          last_log = time.time()
          progress()
  except BaseException:
    for writer in writers:
      writer.close()
    for tmp in tmp_paths:
      os.remove(tmp)
    raise
  for writer in writers:
    writer.close()
  progress()
  if total:
    for tmp, path in zip(tmp_paths, paths):
      os.replace(tmp, path)
  else:
    for tmp in tmp_paths:
      os.remove(tmp)
  manifest = {
      "num_clips": total,
      "shards": ([{"path": os.path.basename(p), "num_clips": n} for p, n in zip(paths, per_shard)]
                 if total else []),
      "sources": per_source,
      "num_sources": len(per_source),
      "skipped": skipped,
      "num_skipped": len(skipped),
      "dropped_low_variance": dropped,
      "label_ids": label_ids,
      "segmentation": {
          "segmenter": segmenter.path if segmenter is not None else None,
          "num_from_segmenter": segmented,
          "num_from_source": with_segmentation - segmented,
          "class_pixels": {str(c): int(n) for c, n in enumerate(class_pixels) if n},
      },
      "compression": "GZIP" if options.gzip else "",
      "options": dataclasses.asdict(options),
      "seconds": round(time.time() - start_time, 2),
  }
  manifest_path = record_format.manifest_path(output)
  with open(manifest_path + ".tmp", "w") as f:
    json.dump(manifest, f, indent=2)
  os.replace(manifest_path + ".tmp", manifest_path)
  logging.info("Wrote %d clips to %d shards %s (%d inputs skipped, %d static clips dropped); "
               "manifest %s", total, options.num_shards if total else 0, output, len(skipped),
               dropped, manifest_path)
  return manifest


# ----------------------------------------------------------------------------- command line


def define_flags(flag_values=flags.FLAGS):
  """Defines the CLI flags on `flag_values` (tests pass their own FlagValues)."""
  f = flag_values
  flags.DEFINE_string("input", "", "Glob, directory or .txt list of inputs.", flag_values=f)
  flags.DEFINE_string("output", None, "Shard prefix: PREFIX-00000-of-00008.tfrecord.",
                      flag_values=f)
  flags.DEFINE_enum("source", "files", ["files", "synthetic"], "Where clips come from.",
                    flag_values=f)
  flags.DEFINE_enum("format", "jpeg", list(record_format.FORMATS), "Frame encoding: one JPEG "
                    "or PNG per frame, or (*_mosaic) one per clip, frames tiled vertically "
                    "(fastest to read; trainers.data.format).", flag_values=f)
  flags.DEFINE_integer("quality", 95, "JPEG quality.", flag_values=f)
  flags.DEFINE_integer("clip_length", 32, "Frames per clip; 0: whole videos.", flag_values=f)
  flags.DEFINE_integer("frame_stride", 1, "Keep every n-th frame.", flag_values=f)
  flags.DEFINE_integer("clips_per_video", 0, "Evenly spaced clips per video; 0: all "
                       "non-overlapping clips.", flag_values=f)
  flags.DEFINE_integer("resize", 0, "Short side after resizing; 0: keep.", flag_values=f)
  flags.DEFINE_string("crop", "", "Centre crop HxW (synthetic: the clip size, default 64x64).",
                      flag_values=f)
  flags.DEFINE_integer("num_shards", 8, "Number of output shards.", flag_values=f)
  flags.DEFINE_bool("gzip", False, "GZIP-compress the shards (read with data.compression=GZIP).",
                    flag_values=f)
  flags.DEFINE_integer("workers", 2, "Threads reading and encoding inputs.", flag_values=f)
  flags.DEFINE_float("min_temporal_variance", 0.0, "Drop clips whose mean per-pixel temporal "
                     "variance ([0, 1] pixels) is below this; 0: off.", flag_values=f)
  flags.DEFINE_integer("vgan_frame_height", 0, "If > 0, image inputs are VGAN clips of frames "
                       "this tall stacked vertically.", flag_values=f)
  flags.DEFINE_bool("label_from_parent", False, "Class id from the sorted parent folder names.",
                    flag_values=f)
  flags.DEFINE_float("fps", 8.0, "Frames per second recorded for frame folders, VGAN images and "
                     "synthetic clips (videos keep their own).", flag_values=f)
  flags.DEFINE_integer("num_clips", 256, "Synthetic source: number of clips.", flag_values=f)
  flags.DEFINE_integer("seed", 0, "Synthetic source: seed.", flag_values=f)
  flags.DEFINE_integer("max_shapes", 3, "Synthetic source: shapes per clip, at most.",
                       flag_values=f)
  flags.DEFINE_string("segmenter", "", "Segmentation SavedModel (zoo.segmenter's convention): "
                      "writes the segmentation of each clip's conditioning frame, "
                      "(clip_length - 1) // 2, for sources without one.", flag_values=f)


def _parse_crop(text):
  if not text:
    return ()
  try:
    h, w = (int(v) for v in text.lower().split("x"))
  except ValueError:
    raise app.UsageError(f"Expected --crop=HxW (e.g. 64x64), received {text!r}.") from None
  return (h, w)


def run(flag_values):
  """Runs the CLI from parsed flags; returns the process exit code (1: nothing written)."""
  f = flag_values
  if not f.output:
    raise app.UsageError("Expected --output=PREFIX, received none.")
  options = WriterOptions(
      fmt=f.format, quality=f.quality, clip_length=f.clip_length, frame_stride=f.frame_stride,
      clips_per_video=f.clips_per_video, resize=f.resize, crop=_parse_crop(f.crop),
      num_shards=f.num_shards, gzip=f.gzip, workers=f.workers,
      min_temporal_variance=f.min_temporal_variance, vgan_frame_height=f.vgan_frame_height,
      label_from_parent=f.label_from_parent, num_clips=f.num_clips, seed=f.seed,
      max_shapes=f.max_shapes, fps=f.fps, segmenter=f.segmenter)
  # Loaded before any input is read: a bad path fails fast, naming it.
  segmenter = segmenter_lib.Segmenter(f.segmenter) if f.segmenter else None
  if f.source == "synthetic":
    if options.clip_length < 1:
      raise app.UsageError(f"Expected --clip_length >= 1 for synthetic clips, received "
                           f"{options.clip_length}.")
    sources, skipped = synthetic_sources(options.num_clips), []
  else:
    if not f.input:
      raise app.UsageError("Expected --input (a glob, directory or .txt list), received none.")
    sources, skipped = resolve_inputs(f.input, options.vgan_frame_height)
  manifest = write_tfrecords(sources, f.output, options, skipped, segmenter)
  for s in manifest["skipped"]:
    print(f"skipped {s['path']}: {s['reason']}", file=sys.stderr)
  print(f"{manifest['num_clips']} clips from {manifest['num_sources']} inputs "
        f"({manifest['num_skipped']} skipped) -> {f.output}", file=sys.stderr)
  return 0 if manifest["num_clips"] else 1


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Expected only flags, received arguments {argv[1:]}.")
  return run(flags.FLAGS)


if __name__ == "__main__":
  define_flags()
  app.run(main)
