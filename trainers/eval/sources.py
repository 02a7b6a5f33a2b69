"""Where evaluation clips come from: TFRecords, folders of video files, generators, workdirs.

Every source yields float32 batches [B, T, H, W, 3] in [-1, 1] through
`source.batches(num_videos, batch_size, clip_spec)` and, once iterated, says which clips it
used in `source.manifest()` (files, records, seeds), so that a number can be reproduced.

`open_source(spec)` interprets a command-line string:

    synthetic | synthetic:SEED     the built-in bouncing shapes, eval stream of SEED (0)
    tfrecord:PATTERN | PATTERN     TFRecord files (comma-separated globs) of trainers.data.format
    DIR with config.json           a training workdir: samples of its (EMA) generator
    DIR                            a folder (searched recursively) of mp4/avi/webm/gif/... files
    FILE.mp4 | GLOB of videos      the same, for an explicit list of video files

Anything else raises ValueError naming the flag and the string.

The clip geometry (`ClipSpec`: T frames at a stride, H x W) is applied the same way to real and
generated clips, so that only content differs:
- time: frames 0, s, 2s, ..., (T - 1) s of a video or record (the eval pipeline's choice: the
  clip starts at frame 0); a video shorter than (T - 1) s + 1 frames is skipped, logged and
  counted. A generator's clip is taken as generated: its first T frames, consecutive (its
  frames already are at the stride of its training data; a mismatch is logged). A generator
  with fewer than T frames raises.
- space: the short side is resized to min(H, W), the frame scaled up further if it still does
  not cover H x W, then centre-cropped to H x W (bilinear with antialiasing on [0, 255]
  values; `trainers.data.pipeline` in eval mode with `data.resize = min(H, W)`, whose exact
  size rule `cover_size` reproduces). A clip already H x W is left untouched.
"""

import collections
import hashlib
import json
import os
import time

from absl import logging
import ml_collections
import numpy as np
import tensorflow as tf

from trainers import tasks
from trainers.data import format as record_format
from trainers.data import pipeline
from trainers.data import video_io
from zoo import base

ClipSpec = collections.namedtuple("ClipSpec", ["num_frames", "frame_stride", "height", "width"])

TFRECORD_PREFIX = "tfrecord:"
SYNTHETIC = "synthetic"


def cover_size(h, w, height, width):
  """(rh, rw) a h x w frame is resized to before a centre crop of height x width.

  The pipeline's `_target_size` with `data.resize = min(height, width)`: short side to
  min(height, width) (rounded), then scaled up (never down) until it covers height x width.
  """
  scale = min(height, width) / min(h, w)
  hf, wf = round(h * scale), round(w * scale)
  cover = max(height / hf, width / wf, 1.0)
  return int(np.ceil(hf * cover - 1e-3)), int(np.ceil(wf * cover - 1e-3))


def resize_clips(clips, height, width):
  """Float [B, T, h, w, 3] in [-1, 1] -> [B, T, height, width, 3]: cover resize + centre crop."""
  clips = np.asarray(clips, np.float32)
  b, t, h, w, c = clips.shape
  if (h, w) == (height, width):
    return clips
  rh, rw = cover_size(h, w, height, width)
  frames = clips.reshape((b * t, h, w, c))
  if (rh, rw) != (h, w):
    pixels = (frames + 1.0) * 127.5
    pixels = tf.image.resize(pixels, [rh, rw], antialias=True).numpy()
    frames = np.clip(pixels / 127.5 - 1.0, -1.0, 1.0)
  top, left = (rh - height) // 2, (rw - width) // 2
  frames = frames[:, top : top + height, left : left + width]
  return frames.reshape((b, t, height, width, c)).astype(np.float32)


def _u8_frames_to_clip(frames, height, width, display=None):
  """uint8 frames [T, h, w, 3] -> float32 [T, height, width, 3] in [-1, 1], the pipeline's way.

  `display`: the (h, w) the frames show as (square pixels: a video's sample aspect ratio
  applied), which the resize follows in the same step; the frames' own size by default.
  """
  video = np.asarray(frames, np.float32)
  t, h, w, _ = video.shape
  rh, rw = cover_size(*(display or (h, w)), height, width)
  if (rh, rw) != (h, w):
    video = tf.image.resize(video, [rh, rw], antialias=True).numpy()
  top, left = (rh - height) // 2, (rw - width) // 2
  video = video[:, top : top + height, left : left + width]
  return np.clip(video / 127.5 - 1.0, -1.0, 1.0).astype(np.float32)


def _rebatch(clips_iter, batch_size):
  """Groups an iterator of single clips [T, H, W, 3] into batches (the last may be short)."""
  pending = []
  for clip in clips_iter:
    pending.append(clip)
    if len(pending) == batch_size:
      yield np.stack(pending)
      pending = []
  if pending:
    yield np.stack(pending)


def _check_request(num_videos, batch_size):
  if not isinstance(num_videos, int) or num_videos < 1:
    raise ValueError(f"Expected num_videos >= 1, received {num_videos!r}.")
  if not isinstance(batch_size, int) or batch_size < 1:
    raise ValueError(f"Expected batch_size >= 1, received {batch_size!r}.")


class Source:
  """A stream of clips. Subclasses implement `_clips` and `manifest`."""

  kind = ""

  def __init__(self, spec):
    self.spec = spec
    self.count = 0

  def native_size(self):
    """(H, W) the source has by itself (a generator's, a folder's first video), or None."""
    return None

  def native_stride(self):
    """The frame stride the source's clips already have (generators), or None."""
    return None

  def batches(self, num_videos, batch_size, clip_spec, start=0):
    """Yields float32 [B, T, H, W, 3] in [-1, 1], `num_videos` clips in all (fewer if the
    source runs out: `self.count` says how many were given).

    With `start` (going on with an evaluation that was stopped), clips 0..start-1 are passed
    over: read (so the manifest still lists them) but not yielded, and counted in
    `self.count`."""
    _check_request(num_videos, batch_size)
    if not isinstance(start, int) or not 0 <= start <= num_videos:
      raise ValueError(f"Expected 0 <= start <= num_videos ({num_videos}), received {start!r}.")
    self.count = start
    stream = (
      self._batches_after(start, num_videos, batch_size, clip_spec)
      if start
      else self._batches(num_videos, batch_size, clip_spec)
    )
    if self.count >= num_videos:
      for _ in stream:  # passes over every clip, for the manifest
        pass
      return
    for batch in stream:
      batch = batch[: num_videos - self.count]
      self.count += len(batch)
      yield batch
      if self.count >= num_videos:
        return

  def _batches(self, num_videos, batch_size, clip_spec):
    raise NotImplementedError

  def _batches_after(self, start, num_videos, batch_size, clip_spec):
    """`_batches` without its first `start` clips (read, then dropped); a source that can
    begin at clip `start` without reading the clips before it overrides this."""
    passed = 0
    for batch in self._batches(num_videos, batch_size, clip_spec):
      if passed < start:
        drop = min(start - passed, len(batch))
        passed += drop
        batch = batch[drop:]
        if passed >= num_videos:  # a side already complete: read for the manifest only
          return
      if len(batch):
        yield batch
    self.count = min(self.count, passed)  # the source ran out before `start`

  def identity(self):
    """What the clips depend on, JSON-able: equal identities give equal clips (a stopped
    evaluation goes on only with a source of the same identity)."""
    return {"kind": self.kind, "spec": self.spec}

  def manifest(self):
    raise NotImplementedError

  def skips(self):
    """What the last `batches` skipped as unusable, in words ("" when nothing)."""
    return ""


# ----------------------------------------------------------------------------- data configs


def data_config(
  source, num_frames, frame_stride, height, width, eval_files="", seed_clips=0, max_shapes=3
):
  """A minimal `data` ConfigDict (configs/common.py fields) for eval-mode reading."""
  d = ml_collections.ConfigDict()
  d.source = source
  d.train_files = ""
  d.eval_files = eval_files
  d.compression = ""
  d.num_frames, d.frame_stride, d.height, d.width = num_frames, frame_stride, height, width
  d.resize = min(height, width)
  d.random_flip = False
  d.outputs = ()
  d.skip_corrupt = True
  d.deterministic = True
  d.shuffle_buffer = 1
  d.synthetic = ml_collections.ConfigDict({"num_clips": seed_clips, "max_shapes": max_shapes})
  return d


def _tfrecord_compression(files):
  return "GZIP" if all(f.endswith((".gz", ".gzip")) for f in files) else ""


class DataSource(Source):
  """Clips of a `data` config in eval mode (`pipeline.make_dataset(training=False)`).

  With `fixed_geometry` (a workdir config's own data) the config's T, stride, H, W are kept and
  the clip spec must agree; otherwise (a TFRecord pattern, "synthetic") they come from the
  clip spec. TFRecord records are read in the pipeline's deterministic eval order, each from
  frame 0, centre-cropped; corrupt ones are skipped and counted (`pipeline.skipped_records`).
  """

  def __init__(self, spec, data, seed=0, fixed_geometry=False):
    super().__init__(spec)
    self.data = data
    self.seed = seed
    self.fixed_geometry = fixed_geometry
    self.kind = "tfrecord" if data.source == "tfrecord" else data.source
    self._skipped = {}
    self._skip_report = {}
    self._files = []
    self._resolved = None

  def native_size(self):
    return (self.data.height, self.data.width) if self.fixed_geometry else None

  def resolve(self, clip_spec):
    data = self.data.copy_and_resolve_references()
    with data.unlocked():
      if self.fixed_geometry:
        got = ClipSpec(data.num_frames, data.frame_stride, data.height, data.width)
        if tuple(got) != tuple(clip_spec):
          raise ValueError(
            f"Expected a clip spec equal to the data config's {got} for "
            f"{self.spec!r}, received {clip_spec}."
          )
      else:
        data.num_frames, data.frame_stride = clip_spec.num_frames, clip_spec.frame_stride
        data.height, data.width = clip_spec.height, clip_spec.width
        data.resize = min(clip_spec.height, clip_spec.width)
      data.outputs = ()
    return data

  def _batches(self, num_videos, batch_size, clip_spec):
    data = self._resolved = self.resolve(clip_spec)
    if data.source == "tfrecord":
      self._files = pipeline.list_files(data.eval_files)
    pipeline.reset_skipped_records()
    if data.source == SYNTHETIC:  # clip k is a function of (seed, k): any batching is exact
      ds = pipeline.make_dataset(data, batch_size, training=False, seed=self.seed)
    else:  # batch 1 then re-batch, so the last partial batch of one pass is kept
      ds = pipeline.make_dataset(data, 1, training=False, seed=self.seed)
      ds = ds.unbatch().batch(batch_size)
    try:
      for element in ds:
        yield element["video"].numpy()
    finally:
      self._skipped = pipeline.skipped_records()
      self._skip_report = pipeline.skip_report()

  def identity(self):
    data = self.data
    out = {"kind": self.kind, "data": json.loads(data.to_json_best_effort()), "seed": self.seed}
    if data.source == "tfrecord":
      out["files"] = file_identity(pipeline.list_files(data.eval_files))
    return out

  def skips(self):
    if not self._skip_report:
      return ""
    return f"records skipped as unusable: {pipeline.describe_skips(self._skip_report)}"

  def manifest(self):
    data = self._resolved or self.data
    out = {
      "kind": self.kind,
      "spec": self.spec,
      "num_clips": self.count,
      "seed": self.seed,
      "mode": "eval (clip from frame 0, centre crop, no flip)",
      "data": json.loads(data.to_json_best_effort()),
    }
    if data.source == SYNTHETIC:
      out["clips"] = (
        f"synthetic eval stream seed {self.seed} + EVAL_SEED_OFFSET, clip "
        f"indices 0..{self.count - 1}"
      )
    if self._files:
      out["files"] = [{"path": f, "bytes": tf.io.gfile.stat(f).length} for f in self._files]
      out["records"] = (
        f"the first {self.count} clips in the pipeline's deterministic eval "
        "order over these files (interleaved one record at a time)"
      )
    out["skipped_records"] = self._skipped
    return out


# ----------------------------------------------------------------------------- video files


def _find_videos(path):
  found = []
  for root, _, names in video_io.walk_visible(path):
    for name in names:
      if video_io.is_video_file(os.path.join(root, name)):
        found.append(os.path.join(root, name))
  return found


class FolderSource(Source):
  """Video files (any container PyAV reads) in natural path order (hidden ones passed over,
  `video_io.walk_visible`), one clip per file.

  A file that cannot be decoded, or has fewer than (T - 1) * stride + 1 frames, is logged
  with its path, counted in `skipped` and listed in the manifest; the next file is used
  instead. Nothing is dropped silently.
  """

  kind = "folder"

  def __init__(self, spec, files):
    super().__init__(spec)
    if not files:
      raise ValueError(
        f"Expected video files ({', '.join(video_io.VIDEO_EXTENSIONS)}) in {spec!r}, received none."
      )
    self.files = list(files)
    self.used = []
    self.skipped = {}

  def native_size(self):
    """The first readable video's display size (upright, square pixels)."""
    for path in self.files:
      try:
        next(video_io.iter_video(path))
        return video_io.probe_video(path, count_frames=False).display_size
      except (ValueError, StopIteration):
        continue
    return None

  def _read(self, path, clip_spec):
    """uint8 frames 0, s, ..., (T - 1) s of `path`, decoding no further than needed, and the
    (h, w) they show as: a video with non-square pixels is shown wider or narrower."""
    display = video_io.probe_video(path, count_frames=False).display_size  # not the whole file
    t, s = clip_spec.num_frames, clip_spec.frame_stride
    need = (t - 1) * s + 1
    frames, decoded = [], 0
    for frame in video_io.iter_video(path):
      if decoded % s == 0:
        frames.append(frame)
      decoded += 1
      if decoded >= need:
        break
    if len(frames) < t:
      raise ValueError(
        f"Expected at least {need} frames ((T - 1) * stride + 1) in {path}, received {decoded}."
      )
    return np.stack(frames[:t]), display

  def _clips(self, num_videos, clip_spec):
    self.used, self.skipped = [], {}
    for path in self.files:
      if len(self.used) >= num_videos:
        return
      try:
        frames, display = self._read(path, clip_spec)
      except ValueError as e:
        self.skipped[path] = str(e)
        logging.warning("Skipped video %s: %s (%d skipped so far).", path, e, len(self.skipped))
        continue
      self.used.append(path)
      yield _u8_frames_to_clip(frames, clip_spec.height, clip_spec.width, display)

  def _batches(self, num_videos, batch_size, clip_spec):
    return _rebatch(self._clips(num_videos, clip_spec), batch_size)

  def identity(self):
    return {"kind": self.kind, "files": file_identity(self.files)}

  def skips(self):
    if not self.skipped:
      return ""
    path, why = next(iter(self.skipped.items()))
    return f"{len(self.skipped)} video file(s) skipped, the first {path}: {why}"

  def manifest(self):
    return {
      "kind": self.kind,
      "spec": self.spec,
      "num_clips": self.count,
      "files": self.used[: self.count],
      "num_skipped": len(self.skipped),
      "skipped": self.skipped,
      "frames": "0, s, ..., (T - 1) s from the start of each file",
    }


# ----------------------------------------------------------------------------- generators


def noise(latent_dim, seed, indices):
  """z_k = stateless_normal([latent_dim], seed=[seed, k]) for k in `indices`: [N, latent_dim].

  Per clip, so clip k is the same whatever the batch size."""
  return tf.stack([tf.random.stateless_normal([latent_dim], seed=[seed, int(k)]) for k in indices])


def condition_key(generator, config):
  """The batch key that feeds a conditional generator (the config's objective.condition)."""
  spec = base.contract(generator)
  if spec.condition is base.Condition.NONE:
    return ""
  key = config.objective.get("condition", "") if config is not None else ""
  if not key:
    raise ValueError(
      f"Expected objective.condition in the config of a generator conditioned "
      f"on {spec.key!r}, received {key!r}."
    )
  return key


class GeneratorSource(Source):
  """Samples of a generator: clip k from noise z_k (`noise`) with a fixed `seed`.

  A conditional generator takes the condition of clip k from the k-th clip of `config.data`
  in eval mode (seeded by `config.seed`; cycled if a finite dataset runs out).
  """

  kind = "generator"

  def __init__(self, spec, generator, config=None, seed=0):
    super().__init__(spec)
    self.generator = generator
    self.config = config
    self.seed = seed
    self.key = condition_key(generator, config)
    self.contract = base.contract(generator)
    self._sample = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)

  def native_size(self):
    return tuple(self.generator.video_shape[1:3])

  def native_stride(self):
    return self.config.data.frame_stride if self.config is not None else None

  def conditions(self, batch_size):
    """An endless iterator of condition batches [B, ...] from the config's eval data."""
    data = self.config.data.copy_and_resolve_references()
    keys = tasks.condition_keys(self.key)  # "middle_frame+segmentation": several outputs
    with data.unlocked():
      data.outputs = keys
    if data.source == SYNTHETIC:
      ds = pipeline.make_dataset(data, batch_size, training=False, seed=self.config.seed)
    else:
      ds = pipeline.make_dataset(data, 1, training=False, seed=self.config.seed)
      ds = ds.unbatch().repeat().batch(batch_size)
    for element in ds:
      yield tasks.batch_condition(element, keys, self.contract.key)

  def _batches(self, num_videos, batch_size, clip_spec):
    self._check_clip_spec(clip_spec)
    yield from self._generate(0, num_videos, batch_size, clip_spec)

  def _batches_after(self, start, num_videos, batch_size, clip_spec):
    if start >= num_videos:  # a side already complete: nothing to generate
      return
    if start % batch_size:  # the conditions come in whole batches
      yield from super()._batches_after(start, num_videos, batch_size, clip_spec)
    else:  # clip k depends on k alone: nothing before `start` is generated
      self._check_clip_spec(clip_spec)
      yield from self._generate(start, num_videos, batch_size, clip_spec)

  def _check_clip_spec(self, clip_spec):
    t = clip_spec.num_frames
    if self.generator.video_shape[0] < t:
      raise ValueError(
        f"Expected a generator of at least {t} frames for {self.spec!r}, "
        f"received video_shape {tuple(self.generator.video_shape)}."
      )
    stride = self.native_stride()
    if stride is not None and stride != clip_spec.frame_stride:
      logging.warning(
        "%s was trained on clips at frame stride %d; comparing with stride %d.",
        self.spec,
        stride,
        clip_spec.frame_stride,
      )

  def _generate(self, first, num_videos, batch_size, clip_spec):
    """Clips first..num_videos-1, in batches of `batch_size` (`first` a multiple of it)."""
    t = clip_spec.num_frames
    conditions = self.conditions(batch_size) if self.key else None
    for _ in range(first // batch_size if conditions is not None else 0):
      next(conditions)
    for start in range(first, num_videos, batch_size):
      n = min(batch_size, num_videos - start)
      z = (
        noise(self.contract.latent_dim, self.seed, range(start, start + n))
        if self.contract.takes_noise
        else None
      )
      condition = (
        tf.nest.map_structure(lambda x, n=n: x[:n], next(conditions))
        if conditions is not None
        else None
      )
      video = self._sample(self.contract.inputs(z, condition))
      video = np.asarray(tf.cast(video, tf.float32))[:, :t]
      yield resize_clips(np.clip(video, -1.0, 1.0), clip_spec.height, clip_spec.width)

  def identity(self):
    return {
      "kind": self.kind,
      "spec": self.spec,
      "seed": self.seed,
      # What the clips depend on: the model, and the data and seed conditions come from.
      "config": (
        {
          "model": json.loads(self.config.model.to_json_best_effort()),
          "data": json.loads(self.config.data.to_json_best_effort()) if self.key else None,
          "condition": self.key,
          "seed": self.config.seed,
        }
        if self.config is not None
        else None
      ),
      "weights": self._weights_identity(),
      "condition_files": (
        file_identity(pipeline.list_files(self.config.data.eval_files))
        if self.key and self.config.data.source == "tfrecord"
        else None
      ),
    }

  def _weights_identity(self):
    digest = hashlib.sha256()
    for v in self.generator.weights:
      digest.update(v.path.encode() + np.ascontiguousarray(v.numpy()).tobytes())
    return digest.hexdigest()

  def manifest(self):
    out = {
      "kind": self.kind,
      "spec": self.spec,
      "num_clips": self.count,
      "seed": self.seed,
      "noise": (
        f"z_k = tf.random.stateless_normal([{self.generator.latent_dim}], "
        f"seed=[{self.seed}, k]) for k in 0..{self.count - 1}"
      ),
      "video_shape": list(self.generator.video_shape),
    }
    if self.key:
      out["conditions"] = {
        "key": self.key,
        "seed": self.config.seed,
        "data": json.loads(self.config.data.to_json_best_effort()),
        "clips": "the eval clips of data in order, cycled if exhausted",
      }
    return out


class WorkdirSource(GeneratorSource):
  """Samples of a training workdir's generator (the EMA copy when the run kept one)."""

  kind = "workdir"

  def __init__(self, workdir, seed=0, step=None, ema=True):
    from trainers import workdir as workdir_lib

    generator, config, path = workdir_lib.restore_generator(workdir, step=step, ema=ema)
    super().__init__(workdir, generator, config, seed)
    self.workdir = workdir
    self.checkpoint = path
    self.ema = ema and config.train.get("ema_decay", 0.0) > 0
    self.step = int(path.rsplit("-", 1)[-1]) if path.rsplit("-", 1)[-1].isdigit() else None

  def _weights_identity(self):  # the checkpoint's files: cheaper than hashing the weights
    return {
      "checkpoint": self.checkpoint,
      "ema": self.ema,
      "files": file_identity(sorted(tf.io.gfile.glob(self.checkpoint + ".*"))),
    }

  def manifest(self):
    out = super().manifest()
    out.update(
      workdir=self.workdir,
      checkpoint=self.checkpoint,
      step=self.step,
      weights="ema_generator" if self.ema else "generator",
      generator=self.config.model.generator.name,
    )
    return out


class ArraySource(Source):
  """Clips already in memory (uint8 or float [-1, 1] [N, T, H, W, 3]), cut and resized by the
  same rules; for notebooks and tests."""

  kind = "array"

  def __init__(self, spec, clips):
    super().__init__(spec)
    clips = np.asarray(clips)
    if clips.ndim != 5 or clips.shape[-1] != 3:
      raise ValueError(f"Expected clips [N, T, H, W, 3] for {spec!r}, received {clips.shape}.")
    self.clips = clips

  def native_size(self):
    return tuple(self.clips.shape[2:4])

  def _batches(self, num_videos, batch_size, clip_spec):
    t, s = clip_spec.num_frames, clip_spec.frame_stride
    if self.clips.shape[1] < (t - 1) * s + 1:
      raise ValueError(
        f"Expected clips of at least {(t - 1) * s + 1} frames in {self.spec!r}, "
        f"received {self.clips.shape[1]}."
      )
    for start in range(0, min(num_videos, len(self.clips)), batch_size):
      batch = self.clips[start : start + batch_size, : (t - 1) * s + 1 : s]
      if batch.dtype == np.uint8:
        batch = batch.astype(np.float32) / 127.5 - 1.0
      yield resize_clips(batch, clip_spec.height, clip_spec.width)

  def identity(self):
    digest = hashlib.sha256(np.ascontiguousarray(self.clips).tobytes())
    return {"kind": self.kind, "shape": list(self.clips.shape), "sha256": digest.hexdigest()}

  def manifest(self):
    return {
      "kind": self.kind,
      "spec": self.spec,
      "num_clips": self.count,
      "clips": f"indices 0..{self.count - 1} of an array of shape {list(self.clips.shape)}",
    }


# ----------------------------------------------------------------------------- interpretation


def is_workdir(path):
  """A folder holding config.json, local or on any filesystem `tf.io.gfile` reaches (a
  training run's workdir in a `gs://` bucket)."""
  config = os.path.join(path, "config.json")
  return tf.io.gfile.isdir(path) and tf.io.gfile.exists(config) and not tf.io.gfile.isdir(config)


def open_source(spec, seed=0, step=None, flag="source"):
  """Interprets a source string (see the module docstring); raises ValueError naming it.

  `seed` seeds generator noise (workdirs) and is the default synthetic stream; `step` picks a
  workdir checkpoint (latest when None).
  """
  if not isinstance(spec, str) or not spec.strip():
    raise ValueError(f"Expected --{flag} to name a source, received {spec!r}.")
  spec = spec.strip()
  if spec == SYNTHETIC or spec.startswith(SYNTHETIC + ":"):
    s = spec[len(SYNTHETIC) + 1 :] or str(seed)
    if not s.lstrip("-").isdigit():
      raise ValueError(
        f"Expected --{flag}=synthetic or synthetic:SEED (an int), received {spec!r}."
      )
    return DataSource(spec, data_config(SYNTHETIC, 1, 1, 1, 1), seed=int(s))
  if spec.startswith(TFRECORD_PREFIX):
    pattern = spec[len(TFRECORD_PREFIX) :]
    files = pipeline.list_files(pattern)
    return DataSource(spec, _tfrecord_data(pattern, files))
  path = os.path.expanduser(spec)
  if is_workdir(path):
    return WorkdirSource(path, seed=seed, step=step)
  if os.path.isdir(path):
    videos = _find_videos(path)
    records = [] if videos else record_format.match_files(path)
    if records:  # a folder of TFRecord shards, the converter's output
      return DataSource(spec, _tfrecord_data(path, records))
    return FolderSource(spec, videos)
  # A path that exists is taken as named, not as a pattern: "clip [1080p].mp4" would not
  # match itself.
  parts = [os.path.expanduser(p.strip()) for p in spec.split(",") if p.strip()]
  matched = sorted(f for p in parts for f in ([p] if os.path.exists(p) else tf.io.gfile.glob(p)))
  matched = [f for f in matched if not os.path.isdir(f)]
  if matched and all(video_io.is_video_file(f) for f in matched):
    return FolderSource(spec, matched)
  named = ",".join(parts)
  records = record_format.match_files(named)  # globs, the converter's prefixes
  if records:
    return DataSource(spec, _tfrecord_data(named, records))
  if matched:
    return DataSource(spec, _tfrecord_data(spec, matched))
  raise ValueError(
    f"Expected --{flag} to be 'synthetic[:SEED]', a TFRecord pattern ('tfrecord:GLOB' or a "
    "glob matching files), a folder of video files or a training workdir (a folder with "
    f"config.json), received {spec!r}: nothing exists there."
  )


def _tfrecord_data(pattern, files):
  d = data_config("tfrecord", 1, 1, 1, 1, eval_files=pattern)
  d.compression = _tfrecord_compression(files)
  return d


def resolve_clip_spec(sources, num_frames, frame_stride, height=0, width=0):
  """The ClipSpec of an evaluation: H, W as given, else the first source with a size of its
  own (a workdir's generator, a folder's first video); raises when none has one."""
  if not height or not width:
    for source in sources:
      size = source.native_size()
      if size:
        height, width = height or size[0], width or size[1]
        break
  if not height or not width:
    raise ValueError(
      "Expected --height and --width for sources without a size of their own "
      f"({', '.join(repr(s.spec) for s in sources)}), received {height}x{width}."
    )
  for name, value in (
    ("num_frames", num_frames),
    ("frame_stride", frame_stride),
    ("height", height),
    ("width", width),
  ):
    if not isinstance(value, (int, np.integer)) or value < 1:
      raise ValueError(f"Expected --{name} >= 1, received {value!r}.")
  return ClipSpec(int(num_frames), int(frame_stride), int(height), int(width))


def file_identity(paths):
  """[path, bytes, modification time in ns] of each file: a file replaced or rewritten
  between two runs (a dataset converted again under the same name) changes it."""
  out = []
  for path in paths:
    stat = tf.io.gfile.stat(path)
    out.append([path, int(stat.length), int(stat.mtime_nsec)])
  return out


def fingerprint(obj):
  """A short, stable hash of a JSON-able object (cache file names)."""
  text = json.dumps(obj, sort_keys=True, default=str)
  return hashlib.sha1(text.encode("utf8")).hexdigest()[:12]


class Progress:
  """Logs clips done / total and clips/s at most every `every` seconds (and at the end)."""

  def __init__(self, name, total, every=10.0, done=0):
    self.name, self.total, self.every = name, total, every
    self.start = self.last = time.perf_counter()
    self.first = done  # clips done before this run (an evaluation going on)

  def update(self, done, final=False):
    now = time.perf_counter()
    if not final and now - self.last < self.every:
      return
    self.last = now
    rate = (done - self.first) / max(now - self.start, 1e-9)
    eta = (self.total - done) / rate if rate > 0 else float("inf")
    logging.info(
      "%s: %d/%d clips, %.1f clips/s%s",
      self.name,
      done,
      self.total,
      rate,
      "" if final or not np.isfinite(eta) else f", ETA {eta:.0f}s",
    )
