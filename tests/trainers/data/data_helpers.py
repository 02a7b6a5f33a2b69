"""Helpers shared by the tests of trainers.data: tiny configs, index-coded clips, shards."""

import json

from absl import flags
import av
import numpy as np
import tensorflow as tf

from configs import common
from trainers.data import format as record_format
from trainers.data import make_tfrecords

# Index-coded clips: R = 7 * frame, G = 4 * row, B = 4 * column (exact under PNG).
R_STEP, G_STEP, B_STEP = 7, 4, 4


def data_config(**overrides):
  """The `data` section of the base config, shrunk for tests, with `overrides` applied."""
  c = common.base().data
  c.num_frames, c.height, c.width = 4, 16, 16
  c.shuffle_buffer = 8
  c.synthetic.max_shapes = 3
  for key, value in overrides.items():
    c[key] = value
  return c


def index_clip(num_frames, height, width):
  """uint8 [T, H, W, 3] whose pixels say which frame, row and column they come from."""
  t, y, x = np.meshgrid(np.arange(num_frames), np.arange(height), np.arange(width), indexing="ij")
  return np.stack([R_STEP * t, G_STEP * y, B_STEP * x], -1).astype(np.uint8)


def decode_index(video):
  """Float video in [-1, 1] [..., H, W, 3] -> integer (frame, row, column) arrays."""
  u8 = np.rint((np.asarray(video) + 1.0) * 127.5).astype(np.int64)
  return u8[..., 0] // R_STEP, u8[..., 1] // G_STEP, u8[..., 2] // B_STEP


def write_shards(prefix, examples, num_shards=1, gzip=False):
  """Writes tf.train.Examples round robin to `prefix-*-of-*.tfrecord`; returns the glob."""
  options = tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")
  writers = [
    tf.io.TFRecordWriter(record_format.shard_path(prefix, i, num_shards), options)
    for i in range(num_shards)
  ]
  for i, example in enumerate(examples):
    writers[i % num_shards].write(example.SerializeToString())
  for w in writers:
    w.close()
  return f"{prefix}-*-of-*.tfrecord"


def encode_video(
  path, frames, codec="libx264", rate=10, pix_fmt="yuv420p", frame_format="rgb24", **open_args
):
  """Encodes `frames` (uint8 [T, H, W, C] in `frame_format`) with PyAV into the file `path`
  (`open_args`: av.open's, such as format="mpegts"); returns `path`."""
  with av.open(str(path), "w", **open_args) as container:
    stream = container.add_stream(codec, rate=rate)
    stream.height, stream.width = frames[0].shape[:2]
    stream.pix_fmt = pix_fmt
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format=frame_format)):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  return path


def batches(ds, n=None):
  """The first `n` batches (all when None) as lists of numpy dicts."""
  out = []
  for i, b in enumerate(ds):
    if n is not None and i >= n:
      break
    out.append({k: v.numpy() for k, v in b.items()})
  return out


def convert(**kwargs):
  """Runs the converter's command in-process with its own FlagValues, `--key=value` for each
  keyword; returns (exit code, manifest)."""
  values = flags.FlagValues()
  make_tfrecords.define_flags(values)
  values(["make_tfrecords"] + [f"--{k}={v}" for k, v in kwargs.items()])
  code = make_tfrecords.run(values)
  with open(kwargs["output"] + ".manifest.json") as f:
    return code, json.load(f)
