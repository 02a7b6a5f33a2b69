"""The TFRecord format of the zoo: one `tf.train.Example` per clip.

Features of a record:

    frames        bytes list   layout "frames": one encoded JPEG or PNG per frame (one format
                               per dataset); layout "mosaic": ONE image, the mosaic below
    layout        bytes        "frames" or "mosaic"; absent in records written before mosaics
                               existed, which read as "frames"
    num_frames    int64        number of frames (len(frames) for layout "frames")
    height, width int64        frame size
    fps           float        frames per second of the stored clip (the source video's over
                               the writer's frame stride; 8 for synthetic clips, frame
                               folders and VGAN images unless the writer's --fps says)
    source        bytes        path of the file the clip was cut from
    start_frame   int64        index of the first stored frame in that file
    label         int64        optional class id (-1 when absent)
    middle_frame  int64        optional index of the conditioning frame in the clip (-1: absent)
    segmentation  bytes        optional PNG of class ids, uint8, one channel ("" when absent)

A mosaic (writer formats "jpeg_mosaic", "png_mosaic") tiles a clip's frames vertically in one
image of num_frames * pitch rows and `width` columns, frame i at rows [i * pitch, i * pitch +
height), where the pitch is `height` rounded up to a multiple of 16 (`mosaic_pitch`) and the
rows between frames repeat a frame's last row. No JPEG block (8x8 at 4:4:4, 16x16 at 4:2:0)
then straddles two frames, so a JPEG mosaic decodes to the same pixels as one JPEG per frame
at the same quality (tests/trainers/data/test_data_format.py), with one decode per clip
instead of one per frame: ~25% less decoding CPU for 32x64x64 clips, and a reader that needs
only some frames decodes only their rows (`decode_mosaic`). A JPEG is at most 65500 rows
high: 1023 frames of 64 rows.

Shards are named `PREFIX-00000-of-00008.tfrecord`, described by `PREFIX.manifest.json`
(trainers.data.make_tfrecords: clips per shard, sources, options); GZIP compression is an
option of the writer and the reader (`data.compression`), not part of the name.

Encoding uses Pillow (no TensorFlow op runs, so writer threads stay cheap); decoding uses
TensorFlow ops so that it runs inside `tf.data`.
"""

import io
import json
import os
import re

import numpy as np
from PIL import Image
import tensorflow as tf

CODECS = ("jpeg", "png")  # How one image is encoded.
FORMATS = ("jpeg", "png", "jpeg_mosaic", "png_mosaic")  # How a clip is: codec[_mosaic].
LAYOUTS = ("frames", "mosaic")
MOSAIC_ALIGN = 16  # JPEG's largest block (an MCU at 4:2:0) is 16x16.
MAX_JPEG_ROWS = 65500  # libjpeg's limit on either side of an image.
SHARD_SUFFIX = ".tfrecord"
MANIFEST_SUFFIX = ".manifest.json"
_SHARD_NAME = re.compile(r"^(.*)-\d{5}-of-\d{5}" + re.escape(SHARD_SUFFIX) + "$")

FEATURES = {
  "frames": tf.io.RaggedFeature(tf.string),
  "layout": tf.io.FixedLenFeature([], tf.string, default_value="frames"),
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


# A file name that says TFRecord: ours (.tfrecord), TFDS's (name.tfrecord-00000-of-00016),
# and the .tfrecords / .tfrec others write.
_RECORD_NAME = re.compile(r"\.tfrec", re.IGNORECASE)
TEMPORARY_SUFFIX = ".tmp"  # a shard being written (make_tfrecords renames it when complete)


def match_files(patterns):
  """The files comma-separated `patterns` name, sorted. Each pattern is a glob; a folder (the
  record files in it: names holding ".tfrecord" or ".tfrec"); or, when it matches nothing,
  the converter's `--output` PREFIX (its shards PREFIX-NNNNN-of-NNNNN.tfrecord). Of what a
  glob matches, the converter's manifests (PREFIX.manifest.json), shards a killed writer
  left under their temporary name (.tmp) and folders are passed over: `train*` names the
  shards, not the manifest beside them."""
  files = set()
  for pattern in (p.strip() for p in str(patterns).split(",")):
    if not pattern:
      continue
    if tf.io.gfile.isdir(pattern):
      found = [
        os.path.join(pattern, name)
        for name in tf.io.gfile.listdir(pattern)
        if _RECORD_NAME.search(name) and not name.endswith("/")  # a bucket's folders end so
      ]
    else:
      found = tf.io.gfile.glob(pattern) or tf.io.gfile.glob(f"{pattern}-*-of-*{SHARD_SUFFIX}")
    files.update(
      f for f in found if not f.endswith((MANIFEST_SUFFIX, TEMPORARY_SUFFIX)) and not _is_folder(f)
    )
  return sorted(files)


def _is_folder(path):
  """Whether `path` is a folder: asked of the OS for a local path; in a bucket, asked only of
  a name that does not say TFRecord (one round trip per shard would add up)."""
  if "://" not in path:
    return os.path.isdir(path)
  return not _RECORD_NAME.search(os.path.basename(path)) and tf.io.gfile.isdir(path)


def manifest_path(prefix):
  """`PREFIX.manifest.json`: the manifest of the shards `PREFIX-*-of-*.tfrecord`."""
  return prefix + MANIFEST_SUFFIX


SYNTHETIC_FPS = 8.0  # the synthetic source has no clock of its own: the writer's default


def manifests(data):
  """(path, manifest) of every manifest beside the shards data.train_files names, in path
  order; none for other sources and for shards written without one."""
  prefixes = set()
  if data.get("source") == "tfrecord" and data.get("train_files"):
    prefixes.update(shard_prefix(p) for p in match_files(data.train_files))
  for prefix in sorted(p for p in prefixes if p is not None):
    path = manifest_path(prefix)
    if tf.io.gfile.exists(path):
      with tf.io.gfile.GFile(path) as f:
        yield path, json.load(f)


def clip_fps(data):
  """Frames per second of the clips the `data` config section reads: the stored clips' fps
  (the manifests beside data.train_files' shards, the most common one) over data.frame_stride.

  What samples and exported videos are written at, so that they play at the speed of the
  videos the model learnt from. SYNTHETIC_FPS for the synthetic source and for sources
  without manifests (TFDS, shards written before manifests recorded their sources).
  """
  stride = max(int(data.get("frame_stride", 1) or 1), 1)
  counts = {}  # fps -> clips
  for _, manifest in manifests(data):
    for source in manifest.get("sources", []):
      if source.get("fps") and source.get("num_clips"):
        fps = round(float(source["fps"]) / _writer_stride(manifest), 3)
        counts[fps] = counts.get(fps, 0) + source["num_clips"]
  fps = max(counts, key=counts.get) if counts else SYNTHETIC_FPS
  return fps / stride


def segmentation_classes(data):
  """{manifest path: the class ids its shards' segmentations hold (`segmentation.class_pixels`),
  sorted} for the manifests beside data.train_files' shards that count them."""
  found = {}
  for path, manifest in manifests(data):
    pixels = (manifest.get("segmentation") or {}).get("class_pixels") or {}
    ids = sorted(int(c) for c, n in pixels.items() if n)
    if ids:
      found[path] = ids
  return found


def _writer_stride(manifest):
  return max(int(manifest.get("options", {}).get("frame_stride", 1) or 1), 1)


def encode_image(image, fmt="jpeg", quality=95):
  """Encodes one uint8 image [H, W, 3] or [H, W] as JPEG or PNG bytes.

  JPEG keeps full chroma resolution (4:4:4): the sharp colour edges of small clips bleed
  visibly under the usual 4:2:0 subsampling at 64 px.
  """
  if fmt not in CODECS:
    raise ValueError(f"Expected an image format in {CODECS}, received {fmt!r}.")
  buffer = io.BytesIO()
  pil = Image.fromarray(np.asarray(image, np.uint8))
  if fmt == "jpeg":
    pil.save(buffer, format="JPEG", quality=int(quality), subsampling=0)
  else:
    pil.save(buffer, format="PNG", compress_level=1)  # Fast: shards are read far more than written.
  return buffer.getvalue()


def mosaic_pitch(height):
  """Rows from the top of one frame of a mosaic to the next: `height` (int or tensor) rounded
  up to a multiple of 16."""
  return (height + MOSAIC_ALIGN - 1) // MOSAIC_ALIGN * MOSAIC_ALIGN


def tile_frames(frames):
  """uint8 frames [T, H, W, C] -> the mosaic [T * mosaic_pitch(H), W, C] (numpy)."""
  frames = np.asarray(frames)
  t, h = frames.shape[:2]
  pad = mosaic_pitch(h) - h
  if pad:  # Repeating the last row, as a JPEG encoder pads a frame's last block.
    frames = np.concatenate([frames, np.repeat(frames[:, -1:], pad, axis=1)], axis=1)
  return frames.reshape((t * (h + pad),) + frames.shape[2:])


def encode_frames(frames, fmt="jpeg", quality=95):
  """Encodes uint8 frames [T, H, W, 3] in a clip format of FORMATS: (images, layout).

  "jpeg" and "png" give one image per frame (layout "frames"); "jpeg_mosaic" and
  "png_mosaic" give one image, the frames tiled by `tile_frames` (layout "mosaic").
  """
  if fmt not in FORMATS:
    raise ValueError(f"Expected a clip format in {FORMATS}, received {fmt!r}.")
  codec, mosaic = fmt.removesuffix("_mosaic"), fmt.endswith("_mosaic")
  if not mosaic:
    return [encode_image(f, codec, quality) for f in frames], "frames"
  t, h = len(frames), frames.shape[1]
  if codec == "jpeg" and t * mosaic_pitch(h) > MAX_JPEG_ROWS:
    raise ValueError(
      f"Expected a jpeg_mosaic of at most {MAX_JPEG_ROWS} rows (frames x "
      f"{mosaic_pitch(h)}), received {t} frames: use a shorter --clip_length."
    )
  return [encode_image(tile_frames(frames), codec, quality)], "mosaic"


def _int64(values):
  return tf.train.Feature(int64_list=tf.train.Int64List(value=list(values)))


def _bytes(values):
  return tf.train.Feature(bytes_list=tf.train.BytesList(value=list(values)))


def example_from_encoded(
  encoded_frames,
  height,
  width,
  fps=0.0,
  source="",
  start_frame=0,
  label=None,
  middle_frame=None,
  segmentation_png=None,
  layout="frames",
  num_frames=None,
):
  """Builds the Example of a clip whose frames are already encoded (see `encode_frames`).

  `num_frames` defaults to len(encoded_frames), the count of layout "frames"; a mosaic's
  single image needs it.
  """
  if layout not in LAYOUTS:
    raise ValueError(f"Expected a layout in {LAYOUTS}, received {layout!r}.")
  if layout == "mosaic" and (len(encoded_frames) != 1 or num_frames is None):
    raise ValueError(
      f"Expected one mosaic image and num_frames, received "
      f"{len(encoded_frames)} images and num_frames={num_frames}."
    )
  feature = {
    "frames": _bytes(encoded_frames),
    "layout": _bytes([layout.encode()]),
    "num_frames": _int64([len(encoded_frames) if num_frames is None else num_frames]),
    "height": _int64([height]),
    "width": _int64([width]),
    "fps": tf.train.Feature(float_list=tf.train.FloatList(value=[float(fps)])),
    # A path as the OS names it: a file name that is not UTF-8 (an archive from another
    # system) reaches Python as surrogate escapes, which os.fsencode turns back into its bytes.
    "source": _bytes([os.fsencode(source) if isinstance(source, str) else source]),
    "start_frame": _int64([start_frame]),
  }
  if label is not None:
    feature["label"] = _int64([label])
  if middle_frame is not None:
    feature["middle_frame"] = _int64([middle_frame])
  if segmentation_png is not None:
    feature["segmentation"] = _bytes([segmentation_png])
  return tf.train.Example(features=tf.train.Features(feature=feature))


def encode_clip(
  frames,
  fmt="jpeg",
  quality=95,
  fps=0.0,
  source="",
  start_frame=0,
  label=None,
  middle_frame=None,
  segmentation=None,
):
  """Encodes a clip, uint8 numpy [T, H, W, 3], as a `tf.train.Example`.

  Args:
    frames: uint8 [T, H, W, 3].
    fmt: a clip format of FORMATS: "jpeg" or "png" for every frame, or one "jpeg_mosaic" or
      "png_mosaic" image of all of them.
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
      raise ValueError(
        f"Expected segmentation class ids [{h}, {w}] in [0, 255], received shape "
        f"{segmentation.shape}."
      )
    seg_png = encode_image(segmentation.astype(np.uint8), "png")
  encoded, layout = encode_frames(frames, fmt, quality)
  return example_from_encoded(
    encoded, h, w, fps, source, start_frame, label, middle_frame, seg_png, layout, num_frames=t
  )


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


def decode_mosaic(image, height, width, first, count):
  """Decodes frames [first, first + count) of a mosaic (TF ops): uint8 [count, H, W, 3].

  A JPEG decodes only the rows of those frames (`decode_and_crop_jpeg`; the entropy decoder
  still reads the rows above them, none below); a PNG is decoded whole, then sliced.
  """
  height, width, first, count = (tf.cast(v, tf.int32) for v in (height, width, first, count))
  pitch = mosaic_pitch(height)
  top, rows = first * pitch, count * pitch

  def jpeg():
    return tf.io.decode_and_crop_jpeg(image, tf.stack([top, 0, rows, width]), channels=3)

  def png():
    return tf.io.decode_png(image, channels=3)[top : top + rows]

  tiles = tf.cond(tf.io.is_jpeg(image), jpeg, png)
  return tf.reshape(tiles, [count, pitch, width, 3])[:, :height]


def decode_clip(features):
  """Decodes every frame of a parsed record, either layout (TF ops): uint8 [T, H, W, 3]."""
  frames = features["frames"]
  return tf.cond(
    tf.equal(features["layout"], "mosaic"),
    lambda: decode_mosaic(
      frames[0], features["height"], features["width"], 0, features["num_frames"]
    ),
    lambda: decode_frames(frames),
  )


def decode_segmentation(png):
  """Decodes the segmentation PNG to uint8 [H, W, 1] class ids (TF op)."""
  return tf.io.decode_png(png, channels=1)


def decode_example(serialized):
  """Parses and fully decodes one record (eager or graph): frames uint8 [T, H, W, 3] and the rest.

  For tools and tests; the input pipeline decodes only the frames it needs.
  """
  features = parse(serialized)
  out = dict(features)
  out["frames"] = decode_clip(features)
  if tf.executing_eagerly() and features["segmentation"].numpy():
    out["segmentation"] = decode_segmentation(features["segmentation"])[..., 0]
  return out
