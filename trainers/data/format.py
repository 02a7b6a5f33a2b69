"""The TFRecord format of the zoo: one `tf.train.Example` per clip.

Features of a record:

    frames        bytes list   one encoded JPEG or PNG per frame (one format per dataset)
    num_frames    int64        len(frames)
    height, width int64        frame size
    fps           float        frames per second of the stored clip
    source        bytes        path of the file the clip was cut from
    start_frame   int64        index of the first stored frame in that file
    label         int64        optional class id (-1 when absent)
    middle_frame  int64        optional index into `frames` of the conditioning frame (-1: absent)
    segmentation  bytes        optional PNG of class ids, uint8, one channel ("" when absent)

Shards are named `PREFIX-00000-of-00008.tfrecord`, described by `PREFIX.manifest.json`
(trainers.data.make_tfrecords: clips per shard, sources, options); GZIP compression is an
option of the writer and the reader (`data.compression`), not part of the name.

Encoding uses Pillow (no TensorFlow op runs, so writer threads stay cheap); decoding uses
TensorFlow ops so that it runs inside `tf.data`.
"""

import io
import re

import numpy as np
from PIL import Image
import tensorflow as tf

FORMATS = ("jpeg", "png")
SHARD_SUFFIX = ".tfrecord"
MANIFEST_SUFFIX = ".manifest.json"
_SHARD_NAME = re.compile(r"^(.*)-\d{5}-of-\d{5}" + re.escape(SHARD_SUFFIX) + "$")

FEATURES = {
    "frames": tf.io.RaggedFeature(tf.string),
    "num_frames": tf.io.FixedLenFeature([], tf.int64),
    "height": tf.io.FixedLenFeature([], tf.int64),
    "width": tf.io.FixedLenFeature([], tf.int64),
    "fps": tf.io.FixedLenFeature([], tf.float32, default_value=0.0),
    "source": tf.io.FixedLenFeature([], tf.string, default_value=""),
    "start_frame": tf.io.FixedLenFeature([], tf.int64, default_value=0),
    "label": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "middle_frame": tf.io.FixedLenFeature([], tf.int64, default_value=-1),
    "segmentation": tf.io.FixedLenFeature([], tf.string, default_value=""),
}


def shard_path(prefix, index, num_shards):
  """`PREFIX-00003-of-00008.tfrecord`: the name of shard `index` of `num_shards`."""
  return f"{prefix}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def shard_prefix(path):
  """PREFIX of a shard path named as `shard_path` makes, or None for another name."""
  match = _SHARD_NAME.match(path)
  return match.group(1) if match else None


def manifest_path(prefix):
  """`PREFIX.manifest.json`: the manifest of the shards `PREFIX-*-of-*.tfrecord`."""
  return prefix + MANIFEST_SUFFIX


def encode_image(image, fmt="jpeg", quality=95):
  """Encodes one uint8 image [H, W, 3] or [H, W] as JPEG or PNG bytes.

  JPEG keeps full chroma resolution (4:4:4): the sharp colour edges of small clips bleed
  visibly under the usual 4:2:0 subsampling at 64 px.
  """
  if fmt not in FORMATS:
    raise ValueError(f"Expected an image format in {FORMATS}, received {fmt!r}.")
  buffer = io.BytesIO()
  pil = Image.fromarray(np.asarray(image, np.uint8))
  if fmt == "jpeg":
    pil.save(buffer, format="JPEG", quality=int(quality), subsampling=0)
  else:
    pil.save(buffer, format="PNG", compress_level=1)  # Fast: shards are read far more than written.
  return buffer.getvalue()


def _int64(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def example_from_encoded(encoded_frames, height, width, fps=0.0, source="", start_frame=0,
                         label=None, middle_frame=None, segmentation_png=None):
  """Builds the Example of a clip whose frames are already encoded (see `encode_image`)."""
  feature = {
      "frames": _bytes(encoded_frames),
      "num_frames": _int64([len(encoded_frames)]),
      "height": _int64([height]),
      "width": _int64([width]),
      "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(fps)])),
      "source": _bytes([source.encode() if isinstance(source, str) else source]),
      "start_frame": _int64([start_frame]),
  }
  if label is not None:
    feature["label"] = _int64([label])
  if middle_frame is not None:
    feature["middle_frame"] = _int64([middle_frame])
  if segmentation_png is not None:
    feature["segmentation"] = _bytes([segmentation_png])
  return tf.train.Example(features=tf.train.Features(feature=feature))


def encode_clip(frames, fmt="jpeg", quality=95, fps=0.0, source="", start_frame=0, label=None,
                middle_frame=None, segmentation=None):
  """Encodes a clip, uint8 numpy [T, H, W, 3], as a `tf.train.Example`.

  Args:
    frames: uint8 [T, H, W, 3].
    fmt: "jpeg" or "png", the encoding of every frame.
    quality: JPEG quality (ignored for PNG).
    fps, source, start_frame: where the clip comes from (kept for provenance).
    label: optional int class id.
    middle_frame: optional index into `frames` of the conditioning frame.
    segmentation: optional class-id map, integer [H, W] with values in [0, 255].
  """
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"Expected uint8 frames [T, H, W, 3], received {frames.dtype} {frames.shape}.")
  t, h, w, _ = frames.shape
  if middle_frame is not None and not 0 <= middle_frame < t:
    raise ValueError(f"Expected middle_frame in [0, {t}), received {middle_frame}.")
  seg_png = None
  if segmentation is not None:
    segmentation = np.asarray(segmentation)
    if segmentation.shape != (h, w) or segmentation.min() < 0 or segmentation.max() > 255:
      raise ValueError(f"Expected segmentation class ids [{h}, {w}] in [0, 255], received shape "
                       f"{segmentation.shape}.")
    seg_png = encode_image(segmentation.astype(np.uint8), "png")
  encoded = [encode_image(f, fmt, quality) for f in frames]
  return example_from_encoded(encoded, h, w, fps, source, start_frame, label, middle_frame,
                              seg_png)


def parse(serialized):
  """Parses one serialized record (TF op): a dict of the FEATURES, `frames` a string vector."""
  return tf.io.parse_single_example(serialized, FEATURES)


def decode_frames(encoded):
  """Decodes a vector of encoded JPEG/PNG frames to uint8 [N, H, W, 3] (TF ops).

  With a static length (the usual case: the clip length of the config) the decodes are
  unrolled, which tf.data runs faster than a `tf.map_fn` loop.
  """
  n = encoded.shape[0]
  decode = lambda x: tf.io.decode_image(x, channels=3, expand_animations=False)
  if n is not None:
    return tf.stack([decode(encoded[i]) for i in range(n)])
  return tf.map_fn(decode, encoded, fn_output_signature=tf.TensorSpec([None, None, 3], tf.uint8))


def decode_segmentation(png):
  """Decodes the segmentation PNG to uint8 [H, W, 1] class ids (TF op)."""
  return tf.io.decode_png(png, channels=1)


def decode_example(serialized):
  """Parses and fully decodes one record (eager or graph): frames uint8 [T, H, W, 3] and the rest.

  For tools and tests; the input pipeline decodes only the frames it needs.
  """
  features = parse(serialized)
  out = dict(features)
  out["frames"] = decode_frames(features["frames"])
  if tf.executing_eagerly() and features["segmentation"].numpy():
    out["segmentation"] = decode_segmentation(features["segmentation"])[..., 0]
  return out
