"""The input pipeline: `make_dataset(data_config, ...)` -> a tf.data.Dataset of batched clips.

Element (a dict; B = the per-replica batch, T/H/W = data.num_frames/height/width):

    "video"         float32 [B, T, H, W, 3] in [-1, 1]            always
    "first_frame"   float32 [B, H, W, 3]    video[:, 0]           if in data.outputs
    "middle_frame"  float32 [B, H, W, 3]                          if in data.outputs
    "label"         int32   [B]                                   if in data.outputs
    "segmentation"  int32   [B, H, W]       class ids             if in data.outputs
                                            (of middle_frame when that is in data.outputs)
    "fg_masks"      float32 [B, T, H, W, 1] synthetic source only if in data.outputs
    "background"    float32 [B, H, W, 3]    synthetic source only if in data.outputs

`middle_frame` is the record's `middle_frame` frame when the record names one (decoded and
cropped/flipped like the clip, even when the stride skips it), otherwise the clip's frame
(T - 1) // 2: index 15 of 32, the frame (Re)live Photos conditions on.

Sources (`data.source`): "synthetic" (trainers.data.synthetic), "tfrecord" (the format of
trainers.data.format; files from `data.train_files` or `data.eval_files`) and "tfds:NAME" for
bair_robot_pushing_small, moving_mnist and ucf101.

Clips: T frames at stride `data.frame_stride` from a random start (training) or frame 0
(eval); resized (zoo.inputs.resize_images, the serving preprocessing's resize) so that they
cover H x W (`data.resize` = 0, the default: what the model sees of a frame is what it sees
of a served photo), or the short side to `data.resize` > 0, or kept at the stored size
(`data.resize` < 0); a random crop and horizontal flip
(`data.random_flip`) in training, a centre crop in eval; frames smaller than H x W are scaled
up to cover it first. Frames stay uint8 per clip (resized ones are rounded back to uint8, as
if stored at that size) and a whole batch is mapped to [-1, 1] at once, which costs less CPU
per clip than converting each clip (bench/input_pipeline.py; docs/benchmarks.md). Training
repeats forever; eval makes one pass. Batches drop the remainder so shapes are static (an
eval pass therefore ends on the last full batch).

Egan's sampling (2019, Section 4.2.1): `data.max_start` > 0 draws a training clip's start
from the record's first `max_start` frames only (8 frames at stride 3 from a start in the
first 8); `data.frame_mode` turns every clip into one frame drawn uniformly from it (frame 0
in eval), a one-frame clip [B, 1, H, W, 3] (and fg_masks [B, 1, H, W, 1]) for pretraining a
2D model that inflation later turns into a video model.

Randomness is stateless and keyed by (seed, input pipeline id, element counter), and
`options.deterministic` follows `data.deterministic`: the same seed gives the same clips.

Records of either layout of trainers.data.format are read, even mixed in one dataset: one
image per frame (decoding only the frames a clip needs), or a mosaic of the clip (decoding
only the rows from the first frame it needs to the last, one decode op per clip).

Corrupt data. A record is corrupt when it is not a tf.train.Example of the format of
trainers.data.format (kind "schema": frames, num_frames, height or width missing), its frames
are not JPEG/PNG (checked on the frames it needs; "frames"), its layout is unknown or a mosaic
has more than one image ("layout"), a TFRecord file is truncated (the bytes read do not add up
to the file size; not checkable for GZIP files; "truncated"), or an output asked for in
`data.outputs` is missing ("missing_output"); a clip shorter than (T - 1) * stride + 1 frames
is treated the same way ("too_short"). Each raises InvalidArgumentError naming the file and
record index, or with `data.skip_corrupt` is dropped, logged (absl, with the file) and counted
by file and kind: see `skip_report()`. Records that TensorFlow's own parser or decoder rejects
(bytes damaged inside a JPEG, a feature of the wrong type) raise TensorFlow's error, or with
`skip_corrupt` are dropped and counted as kind "undecodable" (their file is not known: the
error is dropped inside tf.data). When more than `data.max_skip_rate` of the records read are
skipped (judged once 10 / max_skip_rate records were read), reading stops with a `DataError`
naming the files and counts, so an input where no record is usable ends within seconds
instead of spinning. Empty files (0 bytes) are logged; when every file is empty,
`make_dataset` raises."""

import collections
import re
import threading

from absl import logging
import tensorflow as tf

from trainers import cpu_quota
from trainers import errors
from trainers.data import format as record_format
from trainers.data import synthetic
from zoo import inputs as zoo_inputs

OUTPUTS = ("first_frame", "middle_frame", "label", "segmentation", "fg_masks", "background")
SYNTHETIC_ONLY = ("fg_masks", "background")

# name -> (video feature, train split, eval split, label feature or None).
# moving_mnist has only a "test" split in TFDS.
TFDS_DATASETS = {
  "bair_robot_pushing_small": ("image_main", "train", "test", None),
  "moving_mnist": ("image_sequence", "test", "test", None),
  "ucf101": ("video", "train", "test", "label"),
}

_TFRECORD_OVERHEAD = 16  # length (8) + length CRC (4) + data CRC (4) around each record.
_JPEG_START, _JPEG_END = b"\xff\xd8", b"\xff\xd9"
_PNG_START, _PNG_END = b"\x89PNG\r\n\x1a\n", b"IEND\xaeB`\x82"

DEFAULT_MAX_SKIP_RATE = 0.01
UNDECODABLE = "undecodable"  # The kind of a record TensorFlow's parser or decoder rejected.
UNKNOWN_FILE = "(file unknown)"
_REQUIRED = ("frames", "num_frames", "height", "width")
# The format's features, the required ones with a default that marks them missing: a record of
# another schema then fails a check that names the file instead of the parser's anonymous error.
_LENIENT_FEATURES = dict(
  record_format.FEATURES,
  **{k: tf.io.FixedLenFeature([], tf.int64, default_value=-1) for k in _REQUIRED[1:]},
)
_LOGGED_PER_KIND = 10  # Skips logged one by one per (file, kind); then every 1000th.


class DataError(errors.RunError, ValueError):
  """The input cannot feed a run: no usable file, or more records skipped than allowed."""


_skipped = collections.Counter()  # (path, kind) -> records skipped, over the whole process.
_skipped_lock = threading.Lock()


def skip_report():
  """{file path: {kind: records skipped}} since the process started (or reset).

  Only filled with `data.skip_corrupt=True`; each skip is also logged with absl.
  """
  with _skipped_lock:
    report = collections.defaultdict(dict)
    for (path, kind), n in _skipped.items():
      report[path][kind] = n
    return dict(report)


def skipped_records():
  """{file path: number of records skipped as corrupt} since the process started (or reset)."""
  return {path: sum(kinds.values()) for path, kinds in skip_report().items()}


def reset_skipped_records():
  with _skipped_lock:
    _skipped.clear()


def describe_skips(report):
  """Describes {path: {kind: n}} (`skip_report`) as "3 in a.tfrecord (2 schema, 1 frames); ..."."""
  return "; ".join(
    f"{sum(kinds.values())} in {path} ({', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))})"
    for path, kinds in sorted(report.items())
  )


def _describe(counts):
  """`describe_skips` of a Counter {(path, kind): n}."""
  by_file = collections.defaultdict(collections.Counter)
  for (path, kind), n in counts.items():
    by_file[path][kind] += n
  return describe_skips(by_file)


class _SkipCounter:
  """The skips of one dataset: logs and counts each, and stops reading past the bound."""

  def __init__(self, max_rate):
    if not 0.0 <= max_rate < 1.0:
      raise ValueError(f"Expected data.max_skip_rate in [0, 1), received {max_rate!r}.")
    self.max_rate = max_rate
    self.min_records = int(-(-10 // max_rate)) if max_rate else 1
    self.counts = collections.Counter()
    self.lock = threading.Lock()

  def report(self, path, index, kind, reason, seen, dropped, ok):
    """py_function: counts `dropped` undecodable records before this one, and this record when
    not `ok`; raises DataError past the bound. Returns `ok` (keep the record)."""
    path, kind = path.numpy().decode(errors="replace"), kind.numpy().decode()
    seen, dropped, ok = int(seen.numpy()), int(dropped.numpy()), bool(ok.numpy())
    events = [(UNKNOWN_FILE, UNDECODABLE, dropped, "rejected by TensorFlow's parser or decoder")]
    if not ok:
      events.append((path, kind, 1, reason.numpy().decode(errors="replace")))
    with self.lock:
      for where, what, n, why in events:
        if not n:
          continue
        self.counts[where, what] += n
        with _skipped_lock:
          _skipped[where, what] += n
        count = self.counts[where, what]
        if count <= _LOGGED_PER_KIND or count % 1000 == 0:
          record = (
            f"record {int(index.numpy())} of {where}"
            if what != UNDECODABLE
            else (f"{n} record(s) before record {seen - 1} of the stream")
          )
          logging.warning("Skipped %s (%s): %s (%d such skips so far).", record, what, why, count)
      skipped = sum(self.counts.values())
      if seen >= self.min_records and skipped > self.max_rate * seen:
        raise DataError(
          f"Expected at most data.max_skip_rate={self.max_rate:g} of the records skipped, "
          f"received {skipped} skipped of {seen} read: {_describe(self.counts)}."
        )
    return ok


# How `_check`'s assertion reads in the error of the step that read the record.
_FAILED_CHECK = re.compile(
  r"assertion failed: \[(Expected .*?)\] \[file:\] \[(.*?)\] \[record:\] \[(\d+)\]"
)


def raise_data_error(error):
  """Re-raises a tf.errors.OpError that carries a DataError, or a record's failed check (data
  without `data.skip_corrupt`), as a DataError: one line naming the file and the record."""
  text = str(error)
  marker = "DataError: "
  if marker in text:
    raise DataError(text.split(marker, 1)[1].splitlines()[0]) from None
  check = _FAILED_CHECK.search(text)
  if check:
    reason, path, index = check.groups()
    raise DataError(
      f"{reason.rstrip('.')} in record {index} of {path}. (data.skip_corrupt=True skips such "
      "records, counting them.)"
    ) from None
  raise error


def _first_failure(checks):
  """(kind, message) of the first failed check of [(passed, kind, message function)], ("", "")
  when all passed; messages are only formatted when one fails."""

  def first_failure():
    kind, reason = tf.constant(""), tf.constant("")
    for passed, what, message in reversed(checks):
      kind = tf.where(passed, kind, what)
      reason = tf.where(passed, reason, message())
    return kind, reason

  return tf.cond(
    tf.reduce_all([passed for passed, _, _ in checks]),
    lambda: (tf.constant(""), tf.constant("")),
    first_failure,
  )


def _check(ok, path, index, kind, reason, counter):
  """True when the record is fine; otherwise raises naming the file (no `counter`), or has
  `counter` log and count it and returns False."""
  if counter is not None:
    zero = tf.constant(0, tf.int64)
    return tf.cond(
      ok,
      lambda: tf.constant(True),
      lambda: tf.py_function(
        counter.report, [path, index, kind, reason, tf.constant(-1, tf.int64), zero, ok], tf.bool
      ),
    )
  assertion = tf.debugging.Assert(ok, [reason, "file:", path, "record:", index], summarize=1)
  with tf.control_dependencies([assertion]):
    return tf.identity(ok)


def _validate_config(data, batch_size, outputs):
  if batch_size < 1:
    raise ValueError(f"Expected a per-replica batch_size >= 1, received {batch_size}.")
  unknown = [o for o in outputs if o not in OUTPUTS]
  if unknown:
    raise ValueError(f"Expected data.outputs among {OUTPUTS}, received unknown {unknown}.")
  for field in ("num_frames", "height", "width", "frame_stride"):
    if data[field] < 1:
      raise ValueError(f"Expected data.{field} >= 1, received {data[field]}.")


def make_dataset(data_config, batch_size, training, input_context=None, seed=0):
  """Builds the input pipeline described by a config's `data` section.

  Args:
    data_config: the `data` ConfigDict (configs/common.py).
    batch_size: the PER-REPLICA batch size (`input_context.get_per_replica_batch_size`).
    training: random clip start, crop and flip, shuffling and endless repetition when True;
      frame 0, centre crop and one pass when False.
    input_context: a tf.distribute.InputContext; each input pipeline reads a disjoint part.
    seed: the seed of every random choice (clip start, crop, flip, shuffle, synthetic clips).

  Returns:
    A tf.data.Dataset of dicts, see the module docstring.
  """
  data = data_config
  outputs = tuple(data.get("outputs", ()))
  _validate_config(data, batch_size, outputs)
  num_pipelines = input_context.num_input_pipelines if input_context else 1
  pipeline_id = input_context.input_pipeline_id if input_context else 0
  source = data.source
  counter = None
  if data.get("skip_corrupt", False):
    counter = _SkipCounter(float(data.get("max_skip_rate", DEFAULT_MAX_SKIP_RATE)))
  if source != "synthetic":
    bad = [o for o in outputs if o in SYNTHETIC_ONLY]
    if bad:
      raise ValueError(f"Expected data.source 'synthetic' for outputs {bad}, received {source!r}.")
  if source == "synthetic":
    ds = _synthetic(data, batch_size, training, outputs, num_pipelines, pipeline_id, seed)
  else:
    if source == "tfrecord":
      records = _tfrecord_records(data, training, num_pipelines, pipeline_id, seed, counter)
      parse = _parse
    elif source.startswith("tfds:"):
      records = _tfds_records(
        data, source[len("tfds:") :], training, num_pipelines, pipeline_id, seed
      )
      parse = lambda record: record
    else:
      raise ValueError(
        f"Expected data.source 'synthetic', 'tfrecord' or 'tfds:NAME', received {source!r}."
      )
    logging.info("data %s: %s.", source, resize_rule(data))
    ds = _clips(records, parse, data, batch_size, training, outputs, pipeline_id, seed, counter)
  if data.get("frame_mode", False):
    ds = _frames(ds, data.num_frames, training, pipeline_id, seed)
  options = tf.data.Options()
  options.deterministic = bool(data.get("deterministic", True))
  options.experimental_optimization.map_parallelization = True
  # tf.data sizes its threads, and its parallel maps' calls in flight, by the cores the
  # process sees, not by a container's CPU limit: a limit of 2 CPUs on a 32-core host ran 32
  # (docs/training.md, "Threads in a container").
  threads = cpu_quota.usable_cpus()
  if threads < cpu_quota.visible_cpus():
    options.threading.private_threadpool_size = threads
  if data.get("skip_corrupt", False):
    # The skip counter lives in Python (a py_function); iterator checkpoints leave it out.
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def _synthetic(data, batch_size, training, outputs, num_pipelines, pipeline_id, seed):
  cfg = data.get("synthetic", {})
  middle = (data.num_frames - 1) // 2
  ds = synthetic.dataset(
    data.num_frames,
    data.height,
    data.width,
    batch_size,
    seed=seed,
    max_shapes=cfg.get("max_shapes", 3),
    num_clips=cfg.get("num_clips", 0),
    training=training,
    frame_stride=data.frame_stride,
    num_shards=num_pipelines,
    shard_index=pipeline_id,
    motion=cfg.get("motion", "random"),
    # The map goes with the frame the model is conditioned on, as the converter's segmenter
    # maps the record's middle frame.
    segmentation_frame=middle if "middle_frame" in outputs else 0,
  )
  keep = ("video",) + outputs

  def select(clip):
    out = {k: clip[k] for k in keep if k != "first_frame" and k != "middle_frame"}
    if "first_frame" in outputs:
      out["first_frame"] = clip["video"][:, 0]
    if "middle_frame" in outputs:
      out["middle_frame"] = clip["video"][:, middle]
    return out

  return ds.map(select)


def _frames(ds, num_frames, training, pipeline_id, seed):
  """Frame mode: each clip of a batch -> one of its frames, uniform in training, else frame 0."""

  def pick(counter, batch):
    size = tf.shape(batch["video"])[0]
    if training:
      key = tf.random.experimental.stateless_fold_in(
        tf.constant([seed, 7919 + pipeline_id], tf.int64), counter
      )
      index = tf.random.stateless_uniform([size], key, 0, num_frames, dtype=tf.int32)
    else:
      index = tf.zeros([size], tf.int32)
    out = dict(batch)
    for k in ("video", "fg_masks"):
      if k in batch:
        out[k] = tf.gather(batch[k], index[:, tf.newaxis], axis=1, batch_dims=1)
    return out

  return ds.enumerate().map(pick)


# ----------------------------------------------------------------------------- TFRecord files


def list_files(patterns):
  """The files of comma-separated patterns (`trainers.data.format.match_files`: globs,
  folders, the converter's output prefixes), sorted; raises when there are none."""
  files = record_format.match_files(patterns)
  if not files:
    raise FileNotFoundError(
      f"Expected TFRecord files matching {patterns!r} (a glob, a folder of .tfrecord files "
      "or the converter's --output prefix), received none."
    )
  return files


def _read_file(path, size, compression, counter):
  """Records of one file as dicts {path, index, serialized, ...}, checking that none are lost.

  TFRecordDataset's own truncation error does not name the file, so its errors are ignored
  (reading stops at the damage) and a final sentinel compares the bytes read with the file
  size, which names the file. GZIP sizes cannot be compared: errors pass through unchanged.
  One scan numbers the records and adds up their bytes (two stages fewer than enumerate and
  a map around it: each costs ~20-40 us per record here).
  """
  records = tf.data.TFRecordDataset(path, compression_type=compression)
  if compression:
    if counter is not None:
      records = records.ignore_errors(log_warning=True)
    return records.enumerate().map(lambda i, r: {"path": path, "index": i, "serialized": r})
  tagged = records.ignore_errors().map(lambda r: (r, False))
  tagged = tagged.concatenate(tf.data.Dataset.from_tensors((tf.constant(""), True)))

  def count(state, item):  # state: (records, bytes) read before this one.
    index, total = state
    serialized, end = item
    read = total + tf.cast(tf.strings.length(serialized), tf.int64) + _TFRECORD_OVERHEAD
    return (index + 1, read), {
      "path": path,
      "index": index,
      "serialized": serialized,
      "end": end,
      "bytes_before": total,
    }

  def keep(record):
    end, total = record["end"], record["bytes_before"]
    complete = tf.logical_or(tf.logical_not(end), tf.equal(total, size))
    kind, reason = _first_failure(
      [
        (
          complete,
          "truncated",
          lambda: tf.strings.format(
            "Expected a complete TFRecord file, received one that is truncated or corrupt after "
            "{} bytes of {}.",
            (total, size),
          ),
        )
      ]
    )
    return tf.logical_and(
      _check(complete, path, record["index"], kind, reason, counter), tf.logical_not(end)
    )

  zero = tf.constant(0, tf.int64)
  return tagged.scan((zero, zero), count).filter(keep)


def _parse(record):
  """The record's features; "present" says which required ones it has (checked in _select)."""
  f = tf.io.parse_single_example(record["serialized"], _LENIENT_FEATURES)
  present = tf.stack([tf.size(f["frames"]) > 0] + [f[k] >= 0 for k in _REQUIRED[1:]])
  return {
    "path": record["path"],
    "index": record["index"],
    "present": present,
    "frames": f["frames"],
    "layout": f["layout"],
    "num_frames": f["num_frames"],
    "height": f["height"],
    "width": f["width"],
    "label": f["label"],
    "middle_frame": f["middle_frame"],
    "segmentation": f["segmentation"],
  }


def _non_empty(files, patterns):
  """(files, sizes) without the empty (0-byte) files, which are logged; DataError if all are."""
  sizes = [tf.io.gfile.stat(f).length for f in files]
  empty = [f for f, n in zip(files, sizes, strict=True) if n == 0]
  if len(empty) == len(files):
    raise DataError(
      f"Expected TFRecord records in the files matching {patterns!r}, received "
      f"{len(files)} empty file(s) (0 bytes): {', '.join(files[:5])}"
      f"{' ...' if len(files) > 5 else ''}."
    )
  if empty:
    logging.warning(
      "Skipping %d empty file(s) (0 bytes) of %d matching %r: %s",
      len(empty),
      len(files),
      patterns,
      ", ".join(empty),
    )
  kept = [(f, n) for f, n in zip(files, sizes, strict=True) if n]
  return [f for f, _ in kept], [n for _, n in kept]


def _tfrecord_records(data, training, num_pipelines, pipeline_id, seed, counter):
  patterns = data.train_files if training else data.eval_files
  field = "data.train_files" if training else "data.eval_files"
  if not patterns.strip():
    raise DataError(
      f"Expected {field} (glob patterns of TFRecord files) for data.source 'tfrecord', received ''."
    )
  files, sizes = _non_empty(list_files(patterns), patterns)
  by_file = num_pipelines > 1 and len(files) >= num_pipelines
  if by_file:
    files, sizes = files[pipeline_id::num_pipelines], sizes[pipeline_id::num_pipelines]
  compression = data.get("compression", "") or ""
  ds = tf.data.Dataset.from_tensor_slices((files, tf.constant(sizes, tf.int64)))
  if training:
    ds = ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
  ds = ds.interleave(
    lambda f, n: _read_file(f, n, compression, counter),
    cycle_length=min(len(files), 16),
    block_length=1,
    num_parallel_calls=tf.data.AUTOTUNE,
  )
  if num_pipelines > 1 and not by_file:
    ds = ds.shard(num_pipelines, pipeline_id)
  if training:
    ds = ds.shuffle(
      max(int(data.get("shuffle_buffer", 256)), 1), seed=seed, reshuffle_each_iteration=True
    ).repeat()
  return ds  # Parsed by `_clips`, in the function that also checks and decodes.


# ----------------------------------------------------------------------------- TFDS


def tfds_builder_and_split(data, name, training):
  """(TFDS builder of dataset `name` in data.tfds_data_dir, the split training or eval read)."""
  import tensorflow_datasets as tfds  # Optional dependency (setup.cfg extra "tfds").

  if name not in TFDS_DATASETS:
    raise ValueError(f"Expected a TFDS dataset among {sorted(TFDS_DATASETS)}, received {name!r}.")
  _, train_split, eval_split, _ = TFDS_DATASETS[name]
  split = (
    (data.get("tfds_train_split", "") or train_split)
    if training
    else (data.get("tfds_eval_split", "") or eval_split)
  )
  return tfds.builder(name, data_dir=data.get("tfds_data_dir", "") or None), split


def _tfds_records(data, name, training, num_pipelines, pipeline_id, seed):
  import tensorflow_datasets as tfds  # Optional dependency (setup.cfg extra "tfds").

  builder, split = tfds_builder_and_split(data, name, training)
  video_key, _, _, label_key = TFDS_DATASETS[name]
  video_key = data.get("tfds_video_key", "") or video_key
  split_info = builder.info.splits.get(split) if builder.info.splits else None
  by_file = num_pipelines > 1 and split_info is not None and split_info.num_shards >= num_pipelines
  context = tf.distribute.InputContext(num_pipelines, pipeline_id) if by_file else None
  ds = builder.as_dataset(
    split=split,
    shuffle_files=training,
    decoders={video_key: tfds.decode.SkipDecoding()},  # Decode only the frames a clip needs.
    read_config=tfds.ReadConfig(input_context=context, shuffle_seed=seed),
  )
  if num_pipelines > 1 and not by_file:
    ds = ds.shard(num_pipelines, pipeline_id)
  path = f"tfds:{name}/{split}"
  if label_key is None and "label" in tuple(data.get("outputs", ())):
    raise ValueError(f"Expected a dataset with labels for data.outputs 'label', received {name!r}.")

  def to_record(index, example):
    label = tf.cast(example[label_key], tf.int64) if label_key else tf.constant(-1, tf.int64)
    frames = example[video_key]
    zero = tf.constant(0, tf.int64)
    return {
      "path": tf.constant(path),
      "index": index,
      "present": tf.ones([4], tf.bool),
      "frames": frames,
      "layout": tf.constant("frames"),
      "num_frames": tf.shape(frames, out_type=tf.int64)[0],
      "height": zero,
      "width": zero,
      "label": label,
      "middle_frame": tf.constant(-1, tf.int64),
      "segmentation": tf.constant(""),
    }

  ds = ds.enumerate().map(to_record, num_parallel_calls=tf.data.AUTOTUNE)
  if training:
    ds = ds.shuffle(
      max(int(data.get("shuffle_buffer", 256)), 1), seed=seed, reshuffle_each_iteration=True
    ).repeat()
  return ds


# ----------------------------------------------------------------------------- records -> clips


def _looks_encoded(frames):
  """True when every string starts and ends like a complete JPEG or PNG (reading 16 bytes)."""
  length = tf.strings.length(frames)
  zero, two, eight = (tf.fill(tf.shape(frames), n) for n in (0, 2, 8))  # substr: same shapes.
  head2, head8 = tf.strings.substr(frames, zero, two), tf.strings.substr(frames, zero, eight)
  tail2 = tf.strings.substr(frames, tf.maximum(length - 2, 0), two)
  tail8 = tf.strings.substr(frames, tf.maximum(length - 8, 0), eight)
  jpeg = tf.logical_and(tf.equal(head2, _JPEG_START), tf.equal(tail2, _JPEG_END))
  png = tf.logical_and(tf.equal(head8, _PNG_START), tf.equal(tail8, _PNG_END))
  return tf.reduce_all(tf.logical_or(jpeg, png))


def _keys(seed, pipeline_id, counter):
  base = tf.constant([seed, pipeline_id], tf.int64)
  key = tf.random.experimental.stateless_fold_in(base, counter)
  return tf.random.experimental.stateless_split(key, 4)


def _select(counter, record, data, training, outputs, pipeline_id, seed):
  """Chooses the frames of the clip and checks the record; adds "indices", "ok", "reason"."""
  t, stride = data.num_frames, data.frame_stride
  span = (t - 1) * stride + 1
  frames = record["frames"]
  mosaic = tf.equal(record["layout"], "mosaic")
  images = tf.shape(frames, out_type=tf.int64)[0]
  n = tf.where(mosaic, record["num_frames"], images)
  keys = _keys(seed, pipeline_id, counter)
  room = tf.maximum(n - span + 1, 1)
  if data.get("max_start", 0):
    room = tf.minimum(room, data.max_start)
  if training:
    start = tf.random.stateless_uniform([], keys[0], 0, room, dtype=tf.int64)
  else:
    start = tf.constant(0, tf.int64)
  indices = start + tf.range(t, dtype=tf.int64) * stride
  long_enough = n >= span
  indices = tf.minimum(indices, tf.maximum(n - 1, 0))  # Keeps a short record's gather legal.
  middle = record["middle_frame"]
  if "middle_frame" in outputs:
    middle_ok = middle < n
    own = start + ((t - 1) // 2) * stride
    indices = tf.concat([indices, [tf.where((middle >= 0) & middle_ok, middle, own)]], 0)
  else:
    middle_ok = tf.constant(True)
  present = record["present"]
  missing = lambda: tf.strings.reduce_join(
    tf.boolean_mask(tf.constant(_REQUIRED), tf.logical_not(present)), separator=", "
  )
  checks = [
    (
      tf.reduce_all(present),
      "schema",
      lambda: tf.strings.join(
        [
          "Expected a tf.train.Example of trainers.data.format, received one without ",
          missing(),
          ".",
        ]
      ),
    )
  ]
  checks.append(
    (
      long_enough,
      "too_short",
      lambda: tf.strings.format(
        "Expected a clip of at least {} frames ((num_frames - 1) * frame_stride + 1), received {}.",
        (span, n),
      ),
    )
  )
  checks.append((middle_ok, "too_short", lambda: "Expected middle_frame < num_frames."))
  if frames.dtype == tf.string:
    layout = record["layout"]
    checks.append(
      (
        mosaic | tf.equal(layout, "frames"),
        "layout",
        lambda: tf.strings.format(
          "Expected a layout in {}, received {}.", (list(record_format.LAYOUTS), layout)
        ),
      )
    )
    checks.append(
      (
        tf.logical_not(mosaic) | tf.equal(images, 1),
        "layout",
        lambda: tf.strings.format("Expected one mosaic image, received {}.", images),
      )
    )
    # A record without frames gathers from a placeholder: tf.gather on [] would raise.
    some = tf.cond(images > 0, lambda: frames, lambda: tf.constant([""]))
    selected = tf.cond(mosaic, lambda: some[:1], lambda: tf.gather(some, indices))
    checks.append(
      (
        tf.logical_or(tf.logical_not(long_enough), _looks_encoded(selected)),
        "frames",
        lambda: "Expected complete JPEG or PNG frames, received corrupt bytes.",
      )
    )
  if "label" in outputs:
    checks.append(
      (record["label"] >= 0, "missing_output", lambda: "Expected a label for data.outputs 'label'.")
    )
  if "segmentation" in outputs:
    checks.append(
      (
        tf.strings.length(record["segmentation"]) > 0,
        "missing_output",
        lambda: "Expected a segmentation for data.outputs 'segmentation'.",
      )
    )
  out = dict(record)
  kind, reason = _first_failure(checks)
  out.update(
    indices=indices,
    ok=tf.reduce_all([passed for passed, _, _ in checks]),
    kind=kind,
    reason=reason,
    keys=keys,
  )
  return out


def _target_size(h, w, data):
  """Size (rh, rw) to resize decoded frames to before cropping H x W (see `resize_rule`)."""
  height, width = data.height, data.width
  resize = data.get("resize", 0)
  if not resize:
    return zoo_inputs.cover_size(h, w, height, width)
  hf, wf = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
  if resize > 0:
    scale = float(resize) / tf.minimum(hf, wf)
    h, w = tf.cast(tf.round(hf * scale), tf.int32), tf.cast(tf.round(wf * scale), tf.int32)
  covers = tf.logical_and(h >= height, w >= width)
  rh, rw = zoo_inputs.cover_size(h, w, height, width)  # scaled up: too small to crop
  return tf.where(covers, h, rh), tf.where(covers, w, rw)


def resize_rule(data):
  """The pipeline's resize in words (logged when a dataset of stored frames is built)."""
  resize = data.get("resize", 0)
  if not resize:
    return (
      f"frames resized to cover {data.height}x{data.width} (short side to the model's "
      "size, data.resize=0) before cropping"
    )
  if resize > 0:
    return (
      f"frames' short side resized to {resize} (data.resize) before cropping "
      f"{data.height}x{data.width}"
    )
  return (
    f"frames cropped to {data.height}x{data.width} at their stored size (data.resize < "
    "0; scaled up only when smaller)"
  )


def _flip_width(frames):
  """Mirrors frames [N, H, W, C] left-right, reversing them as [N * H, W, C]: TF's reverse
  has a fast path for the middle axis of a 3D tensor, twice as fast here as the 4D reverse."""
  shape = tf.shape(frames)
  rows = tf.reshape(frames, [-1, shape[2], shape[3]])
  return tf.reshape(tf.reverse(rows, [1]), shape)


def _decode(record, data, training, outputs):
  """Decodes the chosen frames, resizes, crops and flips: one unbatched output element."""
  t, height, width = data.num_frames, data.height, data.width
  frames = record["frames"]
  count = t + (1 if "middle_frame" in outputs else 0)
  if frames.dtype == tf.string:
    indices = record["indices"]

    def from_mosaic():  # Decodes the rows from the first frame needed to the last.
      first = tf.reduce_min(indices)
      tiles = record_format.decode_mosaic(
        frames[0], record["height"], record["width"], first, tf.reduce_max(indices) - first + 1
      )
      if count == t:  # indices = first + stride * range(t): a slice, no copy at stride 1.
        return tiles[:: data.frame_stride]
      return tf.gather(tiles, indices - first)

    def from_frames():
      selected = tf.gather(frames, indices)
      selected.set_shape([count])
      return record_format.decode_frames(selected)

    images = tf.cond(tf.equal(record["layout"], "mosaic"), from_mosaic, from_frames)
  else:  # Already decoded (uint8 [N, h, w, C]); grayscale is tiled to RGB.
    images = tf.gather(frames, record["indices"])
    if images.shape[-1] == 1:
      images = tf.tile(images, [1, 1, 1, 3])
  shape = tf.shape(images)
  h, w = shape[1], shape[2]
  rh, rw = _target_size(h, w, data)
  keys = record["keys"]
  if training:
    top = tf.random.stateless_uniform([], keys[1], 0, rh - height + 1, dtype=tf.int32)
    left = tf.random.stateless_uniform([], keys[2], 0, rw - width + 1, dtype=tf.int32)
    # A tensor either way: tf.cond refuses a Python bool.
    flip = (
      tf.random.stateless_uniform([], keys[3]) < 0.5
      if data.get("random_flip", True)
      else tf.constant(False)
    )
  else:
    top, left, flip = (rh - height) // 2, (rw - width) // 2, tf.constant(False)
  resized = tf.logical_or(tf.not_equal(rh, h), tf.not_equal(rw, w))

  def crop(x):
    return x[:, top : top + height, left : left + width]

  def resize_and_crop():
    x = zoo_inputs.resize_images(images, [rh, rw])
    # Back to uint8, as if the frames had been stored at this size: the clip stays 8-bit
    # (a quarter of the bytes) until the batch is converted at once (`_to_unit_range`).
    return tf.cast(tf.clip_by_value(tf.round(crop(x)), 0.0, 255.0), tf.uint8)

  video = tf.cond(resized, resize_and_crop, lambda: crop(images))
  video = tf.cond(flip, lambda: _flip_width(video), lambda: video)
  video = tf.ensure_shape(video, [count, height, width, 3])
  out = {"video": video[:t]}
  if "first_frame" in outputs:
    out["first_frame"] = video[0]
  if "middle_frame" in outputs:
    out["middle_frame"] = video[t]
  if "label" in outputs:
    out["label"] = tf.cast(record["label"], tf.int32)
  if "segmentation" in outputs:
    seg = record_format.decode_segmentation(record["segmentation"])
    seg = tf.image.resize(seg, [rh, rw], method="nearest")[None]
    seg = crop(seg)[0, :, :, 0]
    seg = tf.cond(flip, lambda: tf.reverse(seg, [1]), lambda: seg)
    out["segmentation"] = tf.ensure_shape(tf.cast(seg, tf.int32), [height, width])
  return out


_FRAME_KEYS = ("video", "first_frame", "middle_frame")
_SKIP_KEYS = ("counter", "path", "index", "ok", "kind", "reason", "dropped")


def _to_unit_range(batch):
  """uint8 frames of a whole batch -> float32 in [-1, 1] (`zoo.inputs.uint8_to_unit`), one op
  per key; drops the bookkeeping of skip counting."""
  out = {k: v for k, v in batch.items() if k not in _SKIP_KEYS}
  for key in _FRAME_KEYS:
    if key in out:
      out[key] = zoo_inputs.uint8_to_unit(out[key])
  return out


def _checked(record):
  """The record, once its checks passed: raises naming the file and record otherwise."""
  ok = _check(record["ok"], record["path"], record["index"], record["kind"], record["reason"], None)
  with tf.control_dependencies([ok]):  # Nothing is decoded before the check.
    return {k: tf.identity(v) for k, v in record.items()}


def _placeholder(data, outputs):
  """Zeros shaped like `_decode`'s output: what a skipped record carries to the filter."""
  t, h, w = data.num_frames, data.height, data.width
  out = {"video": tf.zeros([t, h, w, 3], tf.uint8)}
  for key in ("first_frame", "middle_frame"):
    if key in outputs:
      out[key] = tf.zeros([h, w, 3], tf.uint8)
  if "label" in outputs:
    out["label"] = tf.constant(0, tf.int32)
  if "segmentation" in outputs:
    out["segmentation"] = tf.zeros([h, w], tf.int32)
  return out


def _clips(records, parse, data, batch_size, training, outputs, pipeline_id, seed, counter):
  """Records -> batches of clips. Every tf.data stage costs ~20-40 us of CPU per element on
  this project's 2-core machine, a tenth of a clip's decoding: parsing, choosing, checking and
  decoding a clip run in ONE function.

  With skip counting (`counter`), a record that fails a check is not decoded and flows on as
  zeros with its kind and reason, so that one filter AFTER `ignore_errors` counts every skip
  and can stop the run (an error raised before `ignore_errors` would be dropped with the
  record). Records TensorFlow's parser or decoder rejects vanish in `ignore_errors`: the scan
  counts the gaps they leave in the record counter (the map keeps its order for that).
  """
  select = lambda i, r: _select(i, parse(r), data, training, outputs, pipeline_id, seed)
  decode = lambda r: _decode(r, data, training, outputs)
  ds = records.enumerate()
  if counter is None:
    ds = ds.map(lambda i, r: decode(_checked(select(i, r))), num_parallel_calls=tf.data.AUTOTUNE)
  else:

    def select_and_decode(i, r):
      record = select(i, r)
      out = tf.cond(record["ok"], lambda: decode(record), lambda: _placeholder(data, outputs))
      out.update({k: record[k] for k in ("path", "index", "ok", "kind", "reason")}, counter=i)
      return out

    def gaps(last, record):
      return record["counter"], dict(record, dropped=record["counter"] - last - 1)

    def keep(r):
      return tf.cond(
        r["ok"] & tf.equal(r["dropped"], 0),
        lambda: tf.constant(True),
        lambda: tf.py_function(
          counter.report,
          [r["path"], r["index"], r["kind"], r["reason"], r["counter"] + 1, r["dropped"], r["ok"]],
          tf.bool,
        ),
      )

    ds = ds.map(select_and_decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.ignore_errors().scan(tf.constant(-1, tf.int64), gaps).filter(keep)
  ds = ds.batch(batch_size, drop_remainder=True)
  return ds.map(_to_unit_range, num_parallel_calls=tf.data.AUTOTUNE)
