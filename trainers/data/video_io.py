"""Video files: grids of clips, MP4 (PyAV) and GIF (Pillow) writing, and reading.

Every writer takes uint8 frames [T, H, W, 3]; `to_uint8` converts [-1, 1] floats.
Files are written under a temporary name and renamed when complete.

The readers (`iter_video`, `iter_frame_folder`, `read_vgan_clip`, `read_image`) return
upright uint8 RGB frames and raise ValueError naming the file when it cannot be decoded;
they feed `trainers.data.make_tfrecords`, and `read_image` is also the photo loader of the
export CLIs.
"""

import collections
import contextlib
import dataclasses
import fractions
import hashlib
import heapq
import io
import os
import re
import stat
import struct
import tempfile
import threading

from absl import logging
import av
import av.logging
from av.video.reformatter import VideoReformatter
import numpy as np
from PIL import Image
from PIL import ImageCms
from PIL import ImageOps

from trainers import cli

# Damaged headers can hold metadata that is not UTF-8; it must not stop the decoding. PyAV
# before 19 raises on it unless told to replace; 19 (what pip installs on Python 3.13)
# dropped the argument and raises TypeError on it, so every file was skipped.
_PYAV_MAJOR = int(av.__version__.split(".")[0])
_OPEN_OPTIONS = {"metadata_errors": "replace"} if _PYAV_MAJOR < 19 else {}


def to_uint8(video):
  """float [-1, 1] (any leading shape) -> uint8 [0, 255], rounding to nearest."""
  video = np.asarray(video, np.float32)
  return np.clip(np.rint((video + 1.0) * 127.5), 0, 255).astype(np.uint8)


def grid(videos, columns=None, pad=2):
  """Tiles clips [N, T, H, W, C] into one clip [T, H', W', C] with `pad` black pixels between."""
  videos = np.asarray(videos)
  if videos.ndim != 5:
    raise ValueError(f"Expected videos of rank 5 [N, T, H, W, C], received shape {videos.shape}.")
  n, t, h, w, c = videos.shape
  columns = columns or int(np.ceil(np.sqrt(n)))
  rows = int(np.ceil(n / columns))
  out = np.zeros((t, rows * (h + pad) + pad, columns * (w + pad) + pad, c), videos.dtype)
  for i in range(n):
    r, col = divmod(i, columns)
    y, x = pad + r * (h + pad), pad + col * (w + pad)
    out[:, y : y + h, x : x + w] = videos[i]
  return out


def _check_frames(frames):
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError(f"Expected uint8 frames [T, H, W, 3], received {frames.dtype} {frames.shape}.")
  return frames


@contextlib.contextmanager
def _written_as(path, suffix):
  """A temporary name beside `path` (`path` + `suffix`) to write to, renamed to `path` when
  the block ends; removed when it raises (a full disk, Ctrl-C), so that a failed write
  leaves nothing behind, under either name."""
  directory, name = os.path.split(path)
  tmp = path + suffix
  if len(os.fsencode(name + suffix)) > _name_max(directory):
    # A name near the file system's limit (255 bytes) leaves no room for the suffix.
    tmp = os.path.join(directory, f".{hashlib.sha1(os.fsencode(name)).hexdigest()[:16]}{suffix}")
  try:
    yield tmp
    os.replace(tmp, path)
  except BaseException:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def write_mp4(path, frames, fps=8):
  """H.264 MP4 (yuv420p; odd sizes are padded by one pixel, as the codec needs even sizes)."""
  frames = _check_frames(frames)
  t, h, w, _ = frames.shape
  frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
  with _written_as(path, ".tmp.mp4") as tmp, av.open(tmp, mode="w") as container:
    # A Fraction keeps NTSC rates (29.97 = 30000/1001) exact.
    rate = fractions.Fraction(fps).limit_denominator(1001)
    stream = container.add_stream("libx264", rate=rate)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "18"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def gif_bytes(frames, fps=8):
  """uint8 frames [T, H, W, 3] as an endlessly looping GIF at `fps`: the file's bytes (for
  TensorBoard's animated samples)."""
  buf = io.BytesIO()
  _save_animation(buf, frames, fps, "GIF")
  return buf.getvalue()


def write_gif(path, frames, fps=8):
  with _written_as(path, ".tmp.gif") as tmp:
    _save_animation(tmp, frames, fps, "GIF")


def write_webp(path, frames, fps=8):
  """An endlessly looping animated WebP at `fps` (lossy, quality 90): what browsers show
  in place of a GIF, at full colour (a GIF has 256) and a fraction of its size."""
  with _written_as(path, ".tmp.webp") as tmp:
    _save_animation(tmp, frames, fps, "WEBP", quality=90)


def _save_animation(fp, frames, fps, image_format, **options):
  """The one animated-image encoder of the package (GIF, WebP: Pillow's `image_format`):
  into `fp`, a path or a binary file object, looping endlessly at `fps`."""
  images = [Image.fromarray(f) for f in _check_frames(frames)]
  images[0].save(
    fp,
    format=image_format,
    save_all=True,
    append_images=images[1:],
    duration=int(round(1000 / fps)),
    loop=0,
    **options,
  )


# The clip files the programs write: their writers by extension (`write_video`).
WRITERS = {".mp4": write_mp4, ".gif": write_gif, ".webp": write_webp}
OUTPUT_EXTENSIONS = tuple(WRITERS)


def check_output_extension(path, what="an output path"):
  """`path`'s extension, lower case, when `write_video` writes it; else an InputError naming
  `what` (a flag) and the extensions it takes."""
  ext = os.path.splitext(path)[1].lower()
  if ext not in OUTPUT_EXTENSIONS:
    raise InputError(
      f"Expected {what} to end in {', '.join(OUTPUT_EXTENSIONS[:-1])} or "
      f"{OUTPUT_EXTENSIONS[-1]}, received {path!r}."
    )
  return ext


def write_video(path, frames, fps=8):
  """Writes MP4, GIF or animated WebP by the file's extension. A URL (`gs://...`, any
  filesystem TensorFlow's `tf.io.gfile` reaches) is written through a local temporary file
  copied there whole, since FFmpeg and Pillow write local files only."""
  ext = check_output_extension(path)
  if "://" not in path:
    WRITERS[ext](path, frames, fps)
    return
  import tensorflow as tf  # only here: the converter's workers never write to URLs

  fd, local = tempfile.mkstemp(suffix=ext)
  os.close(fd)
  try:
    WRITERS[ext](local, frames, fps)
    tf.io.gfile.copy(local, path, overwrite=True)
  finally:
    with contextlib.suppress(OSError):
      os.remove(local)


# Phones (.3gp), camcorders (.mts, .m2ts), broadcast and DVD (.ts, .mpg) and old web formats
# too: a directory is walked by these, and a file named otherwise is not seen as a video.
VIDEO_EXTENSIONS = (
  ".mp4",
  ".avi",
  ".mkv",
  ".webm",
  ".gif",
  ".mov",
  ".m4v",
  ".3gp",
  ".3g2",
  ".mts",
  ".m2ts",
  ".ts",
  ".mpg",
  ".mpeg",
  ".wmv",
  ".flv",
  ".ogv",
  ".apng",
)
# HEIF/HEIC: the iPhone's photos, read by `_read_heif` (Pillow cannot).
HEIF_EXTENSIONS = (".heic", ".heif", ".hif")
IMAGE_EXTENSIONS = (
  ".jpg",
  ".jpeg",
  ".png",
  ".bmp",
  ".webp",
  ".avif",
  ".tif",
  ".tiff",
  *HEIF_EXTENSIONS,
)
# Image formats a file of which may hold an animation (stickers, web "GIFs" saved as WebP,
# APNG or AVIF): such a file is a video (`is_video_file`).
ANIMATED_IMAGE_EXTENSIONS = (".webp", ".png", ".avif")
BACKGROUND = (255, 255, 255)  # what transparent pixels of a photo are composited on


class InputError(cli.UserError, ValueError):
  """A user's file or path that cannot be used; its message is one line naming it and why.

  The CLIs print it as that one line (`trainers.cli`) instead of a traceback.
  """


def check_local_output(path, flag):
  """InputError for an output `path` (given as `flag`) named by URL (`gs://...`): the
  converter's shards, the exports and the sampled clips are written as local files (renamed
  into place when complete), which `os` would make, silently, under a folder named `gs:` in
  the current directory."""
  if "://" in str(path):
    raise InputError(
      f"Expected {flag} to be a local path, received {path}: this program writes local "
      "files; copy them there afterwards (gcloud storage cp -r, gsutil -m cp -r)."
    )


def _name_max(directory):
  """The longest file name, in bytes, the file system of `directory` takes (255 on most)."""
  try:
    return os.pathconf(directory or ".", "PC_NAME_MAX")
  except (OSError, ValueError):
    return 255


def check_output_directory(path, flag, names=()):
  """Creates the directory of the output `path` (given as `flag`); InputError when it cannot
  be made (a file in the way) or written to (read-only), or is a URL, or when the name of
  `path` or of the files `names` to be written beside it is longer than its file system
  takes (255 bytes)."""
  check_local_output(path, flag)
  directory = os.path.dirname(os.path.abspath(path))
  try:
    os.makedirs(directory, exist_ok=True)
  except OSError as e:
    raise InputError(
      f"Expected {flag} in a directory that can be created, received {path}: "
      f"{e.strerror} ({e.filename})."
    ) from e
  if not os.access(directory, os.W_OK | os.X_OK):
    raise InputError(
      f"Expected {flag} in a writable directory, received {path}: {directory} is read-only."
    )
  limit = _name_max(directory)
  for name in (os.path.basename(path), *names):
    if len(os.fsencode(name)) > limit:
      raise InputError(
        f"Expected {flag} to make file names of at most {limit} bytes, its file system's "
        f"limit, received {path}: it makes one of {len(os.fsencode(name))} bytes "
        f"({name[:24]}...)."
      )
  return directory


# ----------------------------------------------------------------------------- photos


def _to_rgb(image, background):
  """Any Pillow mode -> RGB uint8 [h, w, 3]; None for modes without a meaning as a photo."""
  if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
    # 16-bit greyscale (PNG): Pillow's convert("RGB") clips it at 255, i.e. white.
    grey = np.asarray(image).astype(np.float64)
    bits = 16 if image.mode.startswith("I;16") or grey.max() > 255 else 8
    grey = np.clip(np.rint(grey * (255.0 / (2**bits - 1))), 0, 255).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)
  if image.mode == "P" and "transparency" in image.info:
    image = image.convert("RGBA")
  if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
    rgba = image.convert("RGBA")
    flat = Image.new("RGBA", rgba.size, tuple(background) + (255,))
    return np.asarray(Image.alpha_composite(flat, rgba).convert("RGB"))
  if image.mode == "RGB":
    return np.asarray(image)  # `convert` would copy it first
  if image.mode in ("L", "1", "P", "CMYK", "YCbCr", "RGBX"):
    return np.asarray(image.convert("RGB"))
  return None


# The largest photo the loaders read: phones take 200 MP photos (16320x12240), past the
# 179 MP at which Pillow refuses a file (twice its MAX_IMAGE_PIXELS, a guard for servers
# decoding untrusted uploads; it warns from 89 MP, where 108 MP phones sit). 2^29 pixels
# are 1.5 GiB as RGB.
PHOTO_MAX_PIXELS = 2**29
_PIXEL_LIMIT_LOCK = threading.Lock()


def _open_image(path):
  """`Image.open(path)` with PHOTO_MAX_PIXELS in place of Pillow's own limit (its global is
  lifted for the header's parse only, under a lock); a larger image raises InputError, as
  does a named pipe or a device (`special_file`)."""
  _refuse_special(path, "an image file")
  with _PIXEL_LIMIT_LOCK:
    pillows = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
      image = Image.open(path)
    finally:
      Image.MAX_IMAGE_PIXELS = pillows
  if image.width * image.height > PHOTO_MAX_PIXELS:
    image.close()
    raise InputError(
      f"Expected an image of at most {PHOTO_MAX_PIXELS} pixels, received {path}: "
      f"{image.width}x{image.height} = {image.width * image.height} pixels."
    )
  return image


_colour = threading.local()  # this thread's transforms to sRGB, by (profile bytes, mode)
_COLOUR_MODES = {"RGB": "RGB", "RGBA": "RGBA", "CMYK": "RGB"}  # image mode -> sRGB mode


def _srgb_transform(icc, mode, path):
  """A transform of `mode` pixels from the colour profile `icc` (bytes) to sRGB, or None to
  read them as stored: the profile is sRGB's own (its description says so: most cameras'
  and editors'), or it cannot be used (logged once per profile, naming `path`). Built once
  per profile and thread (a transform is not shared between threads)."""
  cache = getattr(_colour, "transforms", None)
  if cache is None:
    cache = _colour.transforms = {}
  key = (icc, mode)
  if key not in cache:
    try:
      profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
      if "srgb" in ImageCms.getProfileDescription(profile).lower():
        cache[key] = None
      else:
        cache[key] = ImageCms.buildTransform(
          profile,
          ImageCms.createProfile("sRGB"),
          mode,
          _COLOUR_MODES[mode],
          renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
        )
    except (ImageCms.PyCMSError, OSError, ValueError) as e:
      logging.warning(
        "%s: its colour profile cannot be used (%s); its pixels are read as stored.", path, e
      )
      cache[key] = None
  return cache[key]


def _in_srgb(image, path):
  """`image` with its embedded colour profile applied: pixels as a colour-managed viewer shows
  them, in sRGB. A phone's photo in Display P3 (the iPhone's) read as if it were sRGB loses
  saturation; a CMYK print file's inks are mapped by its profile, not by Pillow's naive
  formula. Images without a profile, or with sRGB's, are returned as they are."""
  icc = image.info.get("icc_profile")
  if not icc or image.mode not in _COLOUR_MODES:
    return image
  transform = _srgb_transform(icc, image.mode, path)
  return image if transform is None else ImageCms.applyTransform(image, transform)


def _image_error(path, e, expected):
  """InputError for an image file Pillow could not open or decode: one line naming `path`
  and what was wrong, in words a user can act on where the cause is known."""
  if os.path.isdir(path):
    return InputError(f"Expected {expected}, received a directory: {path}")
  gone = _gone(path)
  if gone:
    return InputError(f"Expected {expected}, received {path}: {gone}.")
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    return InputError(f"Expected {expected}, received an empty file (0 bytes): {path}")
  if os.path.isfile(path) and (path.lower().endswith(VIDEO_EXTENSIONS) or _looks_like_video(path)):
    return InputError(
      f"Expected {expected}, received a video: {path} (to use one of its frames, save it as "
      "a photo first: ffmpeg -ss SECONDS -i VIDEO -frames:v 1 photo.png)"
    )
  return InputError(f"Expected {expected}, received {path}: {e}")


# ---------------------------------------------------------------------------- HEIF / HEIC
# The iPhone's photos (and many Android phones'): HEVC-coded images in an ISO base media file
# (ISO/IEC 23008-12). Pillow cannot read them; FFmpeg's demuxer gives each coded image item a
# stream (its id the item's), but not how a "grid" item (the iPhone's: 512x512 tiles) puts
# its tiles together, nor its rotation: those are read here from the file's `meta` box.


def _boxes(data, start, end):
  """(type, payload start, payload end) of the ISO boxes in data[start:end]."""
  while start + 8 <= end:
    size, kind = struct.unpack_from(">I4s", data, start)
    header = 8
    if size == 1:
      size, header = struct.unpack_from(">Q", data, start + 8)[0], 16
    elif size == 0:
      size = end - start
    if size < header or start + size > end:
      raise ValueError(f"its '{kind.decode('latin-1')}' box runs past its parent")
    yield kind, start + header, start + size
    start += size


def _uint(data, at, size):
  return int.from_bytes(data[at : at + size], "big") if size else 0


def _heif_items(data):
  """The primary item of a HEIF file and what its `meta` box says of the items: a dict with
  "primary" (item id), "types" {id: 4cc}, "refs" {(4cc, from id): [to ids]}, "extents" {id:
  [(construction method, offset, length)]}, "props" {id: [(4cc, payload bytes)]} in
  association order, and "idat" (the payload's offset, or None)."""
  meta = next(((a, b) for k, a, b in _boxes(data, 0, len(data)) if k == b"meta"), None)
  if meta is None:
    raise ValueError("it has no 'meta' box")
  info = {"types": {}, "refs": {}, "extents": {}, "props": {}, "idat": None, "primary": None}
  properties, associations = [], []
  for kind, a, b in _boxes(data, meta[0] + 4, meta[1]):  # meta is a full box
    version = data[a]
    if kind == b"pitm":
      info["primary"] = _uint(data, a + 4, 2 if version == 0 else 4)
    elif kind == b"idat":
      info["idat"] = a
    elif kind == b"iinf":
      at = a + 4 + (2 if version == 0 else 4)
      for entry, c, _ in _boxes(data, at, b):
        if entry == b"infe" and data[c] >= 2:
          width = 2 if data[c] == 2 else 4
          item = _uint(data, c + 4, width)
          info["types"][item] = bytes(data[c + 4 + width + 2 : c + 4 + width + 6])
    elif kind == b"iref":
      width = 2 if version == 0 else 4
      for ref, c, _ in _boxes(data, a + 4, b):
        source, count = _uint(data, c, width), _uint(data, c + width, 2)
        at = c + width + 2
        info["refs"][(ref, source)] = [_uint(data, at + k * width, width) for k in range(count)]
    elif kind == b"iloc":
      sizes, more = data[a + 4], data[a + 5]
      offset_size, length_size, base_size = sizes >> 4, sizes & 15, more >> 4
      index_size = more & 15 if version in (1, 2) else 0
      width = 4 if version == 2 else 2
      count, at = _uint(data, a + 6, width), a + 6 + width
      for _ in range(count):
        item, at = _uint(data, at, width), at + width
        method = 0
        if version in (1, 2):
          method, at = _uint(data, at, 2) & 15, at + 2
        at += 2  # data_reference_index: this file
        base, at = _uint(data, at, base_size), at + base_size
        extents, at = _uint(data, at, 2), at + 2
        spans = []
        for _ in range(extents):
          at += index_size
          offset, at = _uint(data, at, offset_size), at + offset_size
          length, at = _uint(data, at, length_size), at + length_size
          spans.append((method, base + offset, length))
        info["extents"][item] = spans
    elif kind == b"iprp":
      for part, c, d in _boxes(data, a, b):
        if part == b"ipco":
          properties = [(k, bytes(data[e:f])) for k, e, f in _boxes(data, c, d)]
        elif part == b"ipma":
          associations.append((c, d))
  for c, _ in associations:
    version, flags = data[c], _uint(data, c + 1, 3)
    count, at = _uint(data, c + 4, 4), c + 8
    for _ in range(count):
      width = 2 if version == 0 else 4
      item, at = _uint(data, at, width), at + width
      n, at = data[at], at + 1
      for _ in range(n):
        if flags & 1:
          index, at = _uint(data, at, 2) & 0x7FFF, at + 2
        else:
          index, at = data[at] & 0x7F, at + 1
        if 0 < index <= len(properties):
          info["props"].setdefault(item, []).append(properties[index - 1])
  if info["primary"] is None:
    raise ValueError("it names no primary image ('pitm')")
  return info


def _item_bytes(data, info, item):
  out = b""
  for method, offset, length in info["extents"].get(item, []):
    if method == 1:
      if info["idat"] is None:
        raise ValueError(f"item {item} is in an 'idat' box the file does not have")
      offset += info["idat"]
    elif method != 0:
      raise ValueError(f"item {item} is stored by construction method {method}")
    out += bytes(data[offset : offset + length])
  return out


def _heif_tiles(data, wanted):
  """{item id: decoded frame} for the coded image items `wanted` of the HEIF file's bytes
  `data` (read once, by `_read_heif`), decoded by FFmpeg (every packet demuxed once: a
  stream's frame can arrive only when its decoder is flushed)."""
  frames = {}
  with av.open(io.BytesIO(data), **_OPEN_OPTIONS) as container:
    streams = {s.id: s for s in container.streams.video if s.id in wanted}
    for packet in container.demux(*streams.values()):
      for frame in packet.decode():  # the flush packets at the end decode the last frames
        frames.setdefault(packet.stream.id, frame)
  missing = sorted(set(wanted) - set(frames))
  if missing:
    raise ValueError(f"FFmpeg decoded no picture for item(s) {missing}")
  return frames


def _nclx(frame, props):
  """The item's colour description ('colr' nclx), where its HEVC stream gives none."""
  for kind, payload in props:
    if kind == b"colr" and payload[:4] == b"nclx" and len(payload) >= 11:
      primaries, transfer, matrix = struct.unpack_from(">HHH", payload, 4)
      frame.color_primaries, frame.color_trc, frame.colorspace = primaries, transfer, matrix
      frame.color_range = 2 if payload[10] & 0x80 else 1  # AVCOL_RANGE_JPEG / MPEG
  return frame


def _clean_aperture(rgb, payload):
  """rgb cropped to a HEIF `clap` box (ISO/IEC 14496-12, CleanApertureBox): a window of the
  box's width and height, centred at the image's centre moved by the box's offsets, every
  value a fraction."""
  if len(payload) < 32:
    raise ValueError("its clean aperture ('clap') box is too short")
  width_n, width_d, height_n, height_d = struct.unpack_from(">IIII", payload)
  x_n, x_d, y_n, y_d = struct.unpack_from(">iIiI", payload, 16)
  if not (width_d and height_d and x_d and y_d):
    raise ValueError("its clean aperture ('clap') box divides by zero")
  height, width = rgb.shape[:2]
  crop_w, crop_h = fractions.Fraction(width_n, width_d), fractions.Fraction(height_n, height_d)
  left = fractions.Fraction(x_n, x_d) + fractions.Fraction(width - 1, 2) - (crop_w - 1) / 2
  top = fractions.Fraction(y_n, y_d) + fractions.Fraction(height - 1, 2) - (crop_h - 1) / 2
  left, top = left // 1, top // 1  # floor
  right, bottom = left + int(crop_w), top + int(crop_h)
  if not (0 <= left < right <= width and 0 <= top < bottom <= height):
    raise ValueError(
      f"its clean aperture ({crop_w}x{crop_h} at {left},{top}) is not inside its "
      f"{width}x{height} image"
    )
  return rgb[top:bottom, left:right]


def _read_heif(path):
  """A HEIF/HEIC photo's primary image as uint8 RGB [H, W, 3]: its tiles put together (a grid
  item), cropped to the grid's size, cropped to its clean aperture ('clap'), turned and
  mirrored as its 'irot' and 'imir' say, and its colour profile applied (`_in_srgb`) or its
  nclx colours converted (`_rgb`)."""
  with open(path, "rb") as f:
    data = f.read()
  info = _heif_items(data)
  primary = info["primary"]
  kind = info["types"].get(primary)
  props = info["props"].get(primary, [])
  if kind == b"grid":
    grid = _item_bytes(data, info, primary)
    if len(grid) < 8:
      raise ValueError("its grid item is too short")
    wide = grid[1] & 1
    rows, cols = grid[2] + 1, grid[3] + 1
    width, height = struct.unpack_from(">II" if wide else ">HH", grid, 4)
    tiles = info["refs"].get((b"dimg", primary), [])
    if len(tiles) != rows * cols:
      raise ValueError(f"its {rows}x{cols} grid names {len(tiles)} tiles")
  elif kind in (b"hvc1", b"av01"):
    tiles, rows, cols, width, height = [primary], 1, 1, None, None
  else:
    raise ValueError(f"its primary image is of type {kind!r}, not a coded image or a grid")
  if width and height and width * height > PHOTO_MAX_PIXELS:
    raise InputError(
      f"Expected an image of at most {PHOTO_MAX_PIXELS} pixels, received {path}: "
      f"{width}x{height} = {width * height} pixels."
    )
  frames = _heif_tiles(data, tiles)
  parts = [_rgb(_nclx(frames[t], props + info["props"].get(t, []))) for t in tiles]
  th, tw = parts[0].shape[:2]
  if any(p.shape[:2] != (th, tw) for p in parts):
    raise ValueError("its tiles differ in size")
  rgb = np.concatenate(
    [np.concatenate(parts[r * cols : (r + 1) * cols], axis=1) for r in range(rows)], axis=0
  )
  rgb = rgb[: height or rgb.shape[0], : width or rgb.shape[1]]
  for name, payload in props:  # transformative properties, in their association order
    if name == b"clap":
      rgb = _clean_aperture(rgb, payload)
    elif name == b"irot" and payload:
      rgb = np.rot90(rgb, payload[0] & 3)  # anticlockwise quarter turns
    elif name == b"imir" and payload:
      rgb = rgb[::-1] if payload[0] & 1 else rgb[:, ::-1]  # 1: top-bottom, 0: left-right
  icc = next(  # the image's own profile, else its tiles'
    (
      p[4:]
      for k, p in props + info["props"].get(tiles[0], [])
      if k == b"colr" and p[:4] in (b"prof", b"rICC")
    ),
    None,
  )
  if icc:
    image = Image.fromarray(np.ascontiguousarray(rgb))
    image.info["icc_profile"] = icc
    rgb = np.asarray(_in_srgb(image, path))
  return np.ascontiguousarray(rgb)


def read_image(path, background=BACKGROUND, colour_managed=True):
  """A user's photo (or frame) as uint8 RGB [h, w, 3], upright and 8-bit.

  The one photo loader of the package (the converter's frames, export.animate,
  export.from_mask's colour masks): the EXIF orientation is applied (as viewers show the
  photo), an embedded colour profile is applied (`_in_srgb`: Display P3 and CMYK mapped to
  sRGB), 16-bit greyscale is scaled to 8 bits, palette, greyscale and CMYK become RGB, and
  alpha (RGBA, LA, transparent palettes) is composited on `background` (white). Anything
  else (an unreadable file, a float or Lab image, more than PHOTO_MAX_PIXELS) raises
  InputError naming the file and the reason. `colour_managed=False` keeps the stored values
  instead of applying the profile: a drawing whose colours are labels (export.from_mask's
  legend), not colours to show.
  """
  if path.lower().endswith(HEIF_EXTENSIONS):
    _refuse_special(path, "an image file")  # the others ask in `_open_image`
    try:
      return _read_heif(path)
    except InputError:
      raise
    except (OSError, ValueError, struct.error, av.FFmpegError) as e:
      raise _image_error(
        path,
        f"a HEIC/HEIF photo this reader cannot put together ({e}); convert it to JPEG or PNG",
        "an image file",
      ) from e
  try:
    with _open_image(path) as image:
      # In place: a copy of a 48 MP photo is 190 MB more to hold (`_to_rgb` makes no other).
      ImageOps.exif_transpose(image, in_place=True)
      mode = image.mode
      rgb = _to_rgb(_in_srgb(image, path) if colour_managed else image, background)
  except InputError:
    raise
  except (OSError, ValueError, SyntaxError) as e:
    raise _image_error(path, e, "an image file Pillow can read (PNG, JPEG, ...)") from e
  if rgb is None:
    raise InputError(
      f"Expected an RGB, greyscale, palette, CMYK or 16-bit image, received "
      f"{path} in Pillow mode {mode}."
    )
  return rgb


def read_mask_image(path):
  """A class-id map (one-channel or palette PNG) as int32 [h, w], EXIF orientation applied
  as `read_image` applies it to the photo the mask belongs to."""
  try:
    with _open_image(path) as image:
      ImageOps.exif_transpose(image, in_place=True)
      if image.mode not in ("L", "P", "I", "I;16"):
        raise InputError(
          f"Expected a class-id mask image (one channel: mode L, P or I), "
          f"received {path} in mode {image.mode}."
        )
      if image.format in ("JPEG", "MPO"):  # ids 3 and 4 of two regions become 2..6 at edges
        raise InputError(
          f"Expected a class-id mask in a lossless format (PNG), received a JPEG: {path}, "
          "whose compression changes the ids about every edge."
        )
      return np.asarray(image, np.int32)
  except (OSError, SyntaxError) as e:
    raise _image_error(path, e, "a class-id mask image (one-channel PNG)") from e


# ----------------------------------------------------------------------------- videos


def is_animated_image(path):
  """Whether an image file holds more than one frame (an animated WebP, PNG or AVIF); False
  for a still image, None for a file Pillow cannot open (which the reader then names). Reads
  the header alone."""
  try:
    with _open_image(path) as image:
      return bool(getattr(image, "is_animated", False))
  except (OSError, ValueError, SyntaxError):  # InputError (too large) included
    return None


def is_video_file(path):
  """Whether `path` is a video: a regular file with a video extension (VIDEO_EXTENSIONS), a
  WebP, PNG or AVIF that holds an animation, a motion photo (`motion_photo_video`: a JPEG,
  HEIC/HEIF or AVIF with its video), or a file named otherwise that begins as a video
  container does (`_looks_like_video`). A still image is not a video, nor a named pipe or
  a device (`special_file`)."""
  if special_file(path):
    return False
  lower = path.lower()
  if lower.endswith(VIDEO_EXTENSIONS):
    return True
  if lower.endswith(ANIMATED_IMAGE_EXTENSIONS) and is_animated_image(path):
    return True
  if lower.endswith(MOTION_PHOTO_EXTENSIONS):
    return motion_photo_video(path) is not None
  return not lower.endswith(IMAGE_EXTENSIONS) and _looks_like_video(path)


def special_file(path):
  """What `path` is, in words, when it exists and is neither a regular file nor a folder
  (links followed): a named pipe, whose reader waits for a writer forever, a device (a
  link to /dev/zero never ends) or a socket; else None."""
  try:
    mode = os.stat(path).st_mode
  except (OSError, ValueError):
    return None
  if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
    return None
  if stat.S_ISFIFO(mode):
    return "a named pipe (FIFO)"
  if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
    return "a device"
  return "a socket" if stat.S_ISSOCK(mode) else "not a regular file"


def _refuse_special(path, expected):
  """Raises InputError naming `path` when it is a `special_file`: opening a named pipe
  would wait for a writer forever. Every reader of a user's file asks first (`iter_video`,
  `probe_video`, `read_image` and `_open_image`), before any look at its first bytes."""
  kind = special_file(path)
  if kind:
    raise InputError(f"Expected {expected}, received {kind}: {path}")


# ISO base media brands (`ftyp`) of files that are not videos: HEIF/AVIF photos, audio, and
# Canon's CR3 raw photos.
_STILL_AND_AUDIO_BRANDS = {
  b"heic", b"heix", b"heim", b"heis", b"mif1", b"msf1", b"avif", b"avis", b"avio",
  b"M4A ", b"M4B ", b"M4P ", b"crx ",
}  # fmt: skip


def _looks_like_video(path):
  """Whether a file named without a video extension (a download saved as `video`, a camera's
  files copied under other names) begins as a container of video does: MP4/MOV (an ISO box,
  not a photo's or an audio file's brand), Matroska/WebM, AVI, ASF (WMV), FLV, MPEG program
  or transport streams (M2TS's 192-byte packets too), Ogg with Theora or VP8, GIF; or is a
  PNG, WebP or AVIF that holds an animation."""
  try:
    with open(path, "rb") as f:
      head = f.read(400)
  except OSError:
    return False
  if (
    head.startswith(b"\x89PNG")
    or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
    or (head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis"))
  ):
    return bool(is_animated_image(path))  # an image, a video when animated (APNG, WebP, AVIF)
  if head[4:8] in _ISO_FIRST_BOXES:
    return head[4:8] != b"ftyp" or head[8:12] not in _STILL_AND_AUDIO_BRANDS
  if head[:4] == b"RIFF":
    return head[8:12] == b"AVI "
  if head[:4] == b"OggS":
    return b"\x80theora" in head or b"OVP80" in head
  return head.startswith(_VIDEO_SIGNATURES) or any(
    len(head) > start + 2 * 188 and all(head[start + k * step] == 0x47 for k in range(3))
    for start, step in ((0, 188), (4, 192))
  )


_VIDEO_SIGNATURES = (
  b"\x1a\x45\xdf\xa3",  # Matroska, WebM
  b"\x30\x26\xb2\x75\x8e\x66\xcf\x11",  # ASF: WMV
  b"FLV\x01",
  b"\x00\x00\x01\xba",  # MPEG program stream (.mpg, .vob)
  b"GIF87a",
  b"GIF89a",
)


# A motion photo is a photo with the short video its phone recorded around the shot appended
# (Google's Motion Photo, PXL_*.MP.jpg, and its older MicroVideo, MVIMG_*.jpg; Samsung's):
# a JPEG, or a HEIC/HEIF or AVIF, whose video Samsung and Google put in a top-level `mpvd` box.
MOTION_PHOTO_EXTENSIONS = (".jpg", ".jpeg", *HEIF_EXTENSIONS, ".avif")
_XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
_MICRO_VIDEO_OFFSET = re.compile(rb'MicroVideoOffset\s*=\s*"(\d+)"|MicroVideoOffset>(\d+)<')
_CONTAINER_ITEM = re.compile(rb"<Container:Item\b[^>]*>|<rdf:li\b[^>]*Item:[^>]*>", re.S)
_ITEM_LENGTH = re.compile(rb'Item:Length\s*=\s*"(\d+)"')
_SAMSUNG_MARKER = b"MotionPhoto_Data"


def _jpeg_xmp(f):
  """The XMP packet of the JPEG open as `f`, read segment by segment up to the image data (a
  few small reads, whatever the file's size), or b"" when it has none."""
  if f.read(2) != b"\xff\xd8":
    return b""
  while True:
    marker = f.read(4)
    if len(marker) < 4 or marker[0] != 0xFF or marker[1] in (0xD9, 0xDA):  # EOI, SOS
      return b""
    length = struct.unpack(">H", marker[2:])[0]
    if length < 2:
      return b""
    if marker[1] == 0xE1:  # APP1: Exif or XMP
      body = f.read(length - 2)
      if body.startswith(_XMP_HEADER):
        return body[len(_XMP_HEADER) :]
    else:
      f.seek(length - 2, os.SEEK_CUR)


def _is_mp4_at(f, offset, size):
  if not 0 < offset <= size - 8:
    return False
  f.seek(offset)
  head = f.read(8)
  return head[4:8] == b"ftyp" and 8 <= struct.unpack(">I", head[:4])[0] <= 4096


def motion_photo_video(path):
  """The byte offset at which the video appended to a motion photo starts, or None for any
  other file (a plain JPEG or HEIC; a motion photo whose video an editor removed).

  Where the video starts in a JPEG: Google's XMP says how far from the end
  (MicroVideoOffset; or the length of the Container directory's MotionPhoto item, the last
  one); Samsung's follows a `MotionPhoto_Data` marker, before a trailer that ends the file in
  `SEFT`. Whatever the metadata says, the video must begin with an MP4 `ftyp` box there,
  else the first such box after the marker (or after the photo's metadata) is taken. In a
  HEIC/HEIF or AVIF (an ISO base media file, whatever its name says): the payload of its
  top-level `mpvd` box, or an MP4 appended as is (a second top-level `ftyp`), found by
  reading the boxes' headers only.
  """
  try:
    size = os.path.getsize(path)
    with open(path, "rb") as f:
      if f.read(8)[4:8] == b"ftyp":
        return _iso_motion_video(f, size)
      f.seek(0)
      xmp = _jpeg_xmp(f)
      f.seek(max(size - 4, 0))
      samsung = f.read(4) == b"SEFT"
      if b"MotionPhoto" not in xmp and b"MicroVideo" not in xmp and not samsung:
        return None
      offsets = []
      found = _MICRO_VIDEO_OFFSET.search(xmp)
      if found:
        offsets.append(size - int(found.group(1) or found.group(2)))
      for item in _CONTAINER_ITEM.findall(xmp):
        length = _ITEM_LENGTH.search(item)
        if b"MotionPhoto" in item and length:
          offsets.append(size - int(length.group(1)))
      for offset in offsets:
        if _is_mp4_at(f, offset, size):
          return offset
      f.seek(0)
      data = f.read()
  except (OSError, struct.error):
    return None
  marker = data.find(_SAMSUNG_MARKER)
  start = marker + len(_SAMSUNG_MARKER) if marker >= 0 else 2
  at = data.find(b"ftyp", start)
  while at >= 0:
    offset = at - 4
    if offset >= start and 8 <= struct.unpack(">I", data[offset:at])[0] <= 4096:
      return offset
    at = data.find(b"ftyp", at + 1)
  return None


def _read_by_pillow(path):
  """Whether the file is a WebP (RIFF....WEBP) or an AVIF (ISO `ftyp` of brand avif or
  avis) but not an AVIF motion photo, whatever it is named: images whose animations FFmpeg 8
  does not decode (an animated WebP not at all, an animated AVIF as its first frame), read
  through Pillow instead."""
  try:
    with open(path, "rb") as f:
      head = f.read(12)
  except OSError:
    return False
  if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
    return True
  avif = head[4:8] == b"ftyp" and head[8:12] in (b"avif", b"avis")
  return avif and motion_photo_video(path) is None  # an AVIF motion photo's video is an MP4


def _pillow_error(path, e):
  return ValueError(f"Could not decode video file {path}: {e or type(e).__name__}.")


# Browsers show an animation frame that lasts 10 ms or less (0: "as fast as possible") for
# 100 ms, as FFmpeg shows a GIF's; an animated WebP or PNG saved with no durations plays at
# 10 fps.
_SHORTEST_SHOWN_MS, _SHOWN_INSTEAD_MS = 10, 100


def _probe_pillow(path):
  """VideoInfo of a WebP or AVIF, still or animated, through Pillow (`_iter_pillow`): its rate
  is the mean of the frames' durations, which these formats store instead of a rate, each as
  browsers show it (_SHORTEST_SHOWN_MS)."""
  try:
    with _open_image(path) as image:
      durations = []
      for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()  # Pillow reads a frame's duration as it decodes it
        duration = image.info.get("duration") or 0
        durations.append(duration if duration > _SHORTEST_SHOWN_MS else _SHOWN_INSTEAD_MS)
      width, height = image.size
  except (OSError, ValueError, SyntaxError, EOFError) as e:
    raise _pillow_error(path, e) from e
  fps = 1000.0 * len(durations) / sum(durations)
  return VideoInfo(height, width, fps=fps, num_frames=len(durations), declared_fps=fps)


def _iter_pillow(path, stats):
  """The frames of a WebP or AVIF through Pillow: FFmpeg 8 decodes a still WebP but not an
  animated one ("image data not found"), and only the first frame of an animated AVIF. Each
  frame as viewers show it (Pillow composes a frame on
  the ones before by the file's blend and dispose rules), alpha on white as `read_image`."""
  try:
    with _open_image(path) as image:
      for index in range(getattr(image, "n_frames", 1)):
        image.seek(index)
        image.load()
        rgb = _to_rgb(_in_srgb(image, path), BACKGROUND)
        if rgb is None:
          raise ValueError(f"a frame in Pillow mode {image.mode}")
        stats.frames += 1
        yield rgb
  except (OSError, ValueError, SyntaxError, EOFError) as e:
    raise _pillow_error(path, e) from e


@dataclasses.dataclass(frozen=True)
class VideoInfo:
  """What the first video stream of a file declares.

  `height`, `width`: the decoded (stored) frame size; `rotation`: the degrees, counter-
  clockwise, that players turn the frame by (the display matrix phones write, or an older
  `rotate` tag), one of 0, 90, 180, 270; `mirrored`: whether players then mirror it left to
  right (a display matrix with a flip); `pixel_aspect`: the sample aspect ratio (width of a
  pixel over its height); `fps`: the frames per second of the packets' timestamps (the
  header's rate when it agrees, `_frame_rate`); `declared_fps`: the header's rate;
  `num_frames`: video packets in the container (0: unknown).
  """

  height: int
  width: int
  rotation: int = 0
  pixel_aspect: float = 1.0
  fps: float = 0.0
  num_frames: int = 0
  declared_fps: float = 0.0
  mirrored: bool = False

  @property
  def display_size(self):
    """(height, width) as players show it: square pixels, upright."""
    h, w = self.height, max(int(round(self.width * self.pixel_aspect)), 1)
    return (w, h) if self.rotation in (90, 270) else (h, w)

  def as_dict(self):
    return {
      "decoded_size": [self.height, self.width],
      "display_size": list(self.display_size),
      "rotation": self.rotation,
      **({"mirrored": True} if self.mirrored else {}),
      "pixel_aspect": round(self.pixel_aspect, 6),
      "fps": round(self.fps, 6),
      **({"declared_fps": round(self.declared_fps, 6)} if self.declared_fps != self.fps else {}),
    }


@dataclasses.dataclass
class DecodeStats:
  """Counts of one file's decoding, updated by `iter_video` before each frame is yielded.

  `errors`: error messages of the demuxer and decoder (FFmpeg conceals a damaged macroblock
  and carries on, so the frame arrives but its pixels are guessed); `damaged_frames`: frames
  output from the first error until the next key frame (the concealment propagates through
  the frames that reference it); `damaged`: whether the frame just yielded is one of them;
  `resized_frames`: frames decoded at another size than the first one and scaled to it;
  `interlaced_frames`: interlaced frames, deinterlaced by `_one_field`; `lost_frames`:
  frames whose packets were read but that the decoder never made (a packet it refused, the
  frames after a damaged key frame it drops), counted before the next frame it does make
  (`_FrameNumbers`): their places in the file, which a reader of frame numbers must keep.
  """

  frames: int = 0
  errors: int = 0
  damaged_frames: int = 0
  damaged: bool = False
  messages: list = dataclasses.field(default_factory=list)  # the first few, for the log
  resized_frames: int = 0  # decoded at another size than the first frame (`iter_video`)
  interlaced_frames: int = 0  # deinterlaced (`_one_field`)
  lost_frames: int = 0  # read but never decoded, before the frame just yielded


_ERROR_LEVEL = av.logging.ERROR
_KEPT_MESSAGES = 3


def _enable_decoder_errors():
  """FFmpeg's log is off in PyAV unless a level is set; errors are what the counts read.

  PyAV also drops a message equal to the one logged just before, by any thread: with files
  decoded in parallel, one file's error could vanish because another file's decoder said
  the same words first, and a damaged clip would be kept. Every message is kept instead.
  """
  if av.logging.get_level() is None or av.logging.get_level() < _ERROR_LEVEL:
    av.logging.set_level(_ERROR_LEVEL)
  if av.logging.get_skip_repeated():
    av.logging.set_skip_repeated(False)


def _rotation_tag(stream):
  """Counter-clockwise degrees from a `rotate` metadata tag (clockwise degrees), or 0."""
  for key, value in stream.metadata.items():
    if key.lower() == "rotate":
      try:
        return (-int(float(value))) % 360
      except ValueError:
        return 0
  return 0


def _normal_rotation(degrees):
  """Nearest multiple of 90 in [0, 360)."""
  return int(90 * round(float(degrees) / 90.0)) % 360


def _display_matrix(frame):
  """The nine int32 of a decoded frame's display matrix, or None when it has none."""
  # PyAV 19 (what pip installs on Python 3.13) iterates over the types, earlier over the data.
  side_data = frame.side_data
  for data in side_data.values() if _PYAV_MAJOR >= 19 else side_data:
    if getattr(data.type, "name", "") == "DISPLAYMATRIX" and data.buffer_size == 36:
      return struct.unpack("=9i", bytes(data))
  return None


def _orientation(frame, tag_rotation=0):
  """(rotation, mirrored): how players show a decoded frame, turned `rotation` degrees
  counter-clockwise and then, when `mirrored`, mirrored left to right.

  Read from the frame's display matrix as FFmpeg's player (ffplay) and transcoder read it,
  flips included: a matrix that mirrors the picture reports a turn of 180 degrees (or 90
  for a transposition), which alone would store it upside down. Without a matrix (or with
  one that leaves the frame as it is), the stream's `rotate` tag, `tag_rotation`.
  """
  matrix = _display_matrix(frame)
  if matrix is None:
    return tag_rotation, False
  clockwise = -_normal_rotation(frame.rotation) % 360
  if clockwise == 90:  # FFmpeg: transpose, or a turn clockwise
    orientation = (270, True) if matrix[3] > 0 else (270, False)
  elif clockwise == 270:  # FFmpeg: an anti-transpose, or a turn counter-clockwise
    orientation = (90, True) if matrix[3] < 0 else (90, False)
  elif clockwise == 180:  # FFmpeg: a flip for each negative entry of the diagonal
    hflip, vflip = matrix[0] < 0, matrix[4] < 0
    if hflip and vflip:
      orientation = (180, False)
    elif hflip or vflip:
      orientation = (180, True) if vflip else (0, True)
    else:
      orientation = (0, False)
  else:
    orientation = (180, True) if matrix[4] < 0 else (0, False)
  return orientation if orientation != (0, False) else (tag_rotation, False)


def _upright(frame, rotation, mirrored=False):
  """Turns a decoded frame [H, W, 3] `rotation` degrees counter-clockwise, then mirrors it
  left to right when `mirrored`, as players do (`_orientation`)."""
  if not rotation and not mirrored:
    return frame
  frame = np.rot90(frame, rotation // 90)
  return np.ascontiguousarray(frame[:, ::-1] if mirrored else frame)


# AVColorSpace's "unspecified": a stream that does not say which YUV matrix it was made with.
_UNSPECIFIED_COLORSPACE = 2
# AVColorTransferCharacteristic's HDR curves (SMPTE 2084 "PQ", ARIB STD-B67 "HLG"),
# AVColorPrimaries' wide gamuts (BT.2020, DCI-P3, Display P3: HDR video and Apple's screen
# recordings and exports), and BT.709 (both enums), what SDR RGB is. SD video's BT.601
# primaries, within a few levels of BT.709's, are read as they are: converting them would
# cost swscale's slow tables for every standard-definition file.
_HDR_TRANSFERS = (16, 18)
_WIDE_GAMUT_PRIMARIES = (9, 11, 12)
_BT709 = 1

_thread = threading.local()


def _reformatter():
  """This thread's VideoReformatter, kept across frames and files: swscale builds the tables
  of a conversion to SDR once per context and frame size, which takes seconds."""
  if getattr(_thread, "reformatter", None) is None:
    _thread.reformatter = VideoReformatter()
  return _thread.reformatter


def _rgb(frame, size=None):
  """A decoded frame as uint8 RGB [H, W, 3], in the colours players show, scaled to `size`
  (width, height) when it is given and the frame's differs.

  YUV that does not name its matrix is read as BT.709 when it is HD (at least 1280 wide or
  more than 576 rows, as mpv decides); FFmpeg alone reads it as BT.601 at any size, which
  moves saturated HD colours by up to about 25 levels. HDR video (PQ or HLG, as phones record
  by default) and other BT.2020 video is tone-mapped and gamut-mapped to SDR BT.709 by
  swscale; read as it is coded, its reference white (203 nits) would be a grey of about 146
  and its colours washed out. SDR video in a P3 gamut is gamut-mapped the same way. Pixels
  with alpha (PNG or QuickTime RLE in MOV, ProRes 4444, FFV1, palettes) are composited on
  BACKGROUND, as `read_image` composites a photo and FFmpeg's GIF decoder does; FFmpeg alone
  drops the alpha and keeps whatever colour the transparent pixels hold (often black). WebM's
  VP8/VP9 alpha arrives here through libvpx's decoder (`_decode`).
  """
  fmt = frame.format
  options = {}
  if (
    frame.colorspace == _UNSPECIFIED_COLORSPACE
    and not fmt.is_rgb
    and len(fmt.components) >= 3
    and (frame.width >= 1280 or frame.height > 576)
  ):
    options["src_colorspace"] = "ITU709"
  if frame.color_trc in _HDR_TRANSFERS or frame.color_primaries in _WIDE_GAMUT_PRIMARIES:
    options.update(dst_color_trc=_BT709, dst_color_primaries=_BT709)
  if size is not None and (frame.width, frame.height) != tuple(size):
    options.update(width=size[0], height=size[1], interpolation="AREA")
  has_alpha = fmt.has_palette or any(c.is_alpha for c in fmt.components)
  out = "rgba" if has_alpha else "rgb24"
  try:
    pixels = _reformatter().reformat(frame, format=out, **options).to_ndarray()
  except av.FFmpegError:
    if "dst_color_trc" not in options:
      raise
    # A combination of tags swscale cannot convert: the pixels as they are coded.
    options.pop("dst_color_trc"), options.pop("dst_color_primaries")
    pixels = _reformatter().reformat(frame, format=out, **options).to_ndarray()
  if not has_alpha:
    return pixels
  rgba = pixels.astype(np.uint16)
  alpha = rgba[..., 3:]
  background = np.asarray(BACKGROUND, np.uint16)
  return ((rgba[..., :3] * alpha + background * (255 - alpha) + 127) // 255).astype(np.uint8)


def _one_field(rgb):
  """An interlaced frame [H, W, 3] (two fields, half a frame apart in time, on alternate
  rows: a camcorder's 1080i, broadcast) without combing: its top field, the other field's
  rows interpolated from the lines above and below. Half the vertical detail, which the
  clips' 64-256 rows scale away; woven as decoded, every moving edge would be comb-toothed."""
  out = rgb.copy()
  top = rgb[0::2].astype(np.uint16)
  below = np.concatenate([top[1:], top[-1:]])
  out[1::2] = ((top + below + 1) // 2)[: rgb.shape[0] // 2].astype(np.uint8)
  return out


def _file_boxes(f, size, start=0):
  """(type, offset, header size, size) of the top-level ISO boxes of the file open as `f`
  (`size` bytes) from byte `start`, read from their headers alone; the last may run past the
  end of a file that was cut off. Raises ValueError at a size no box can have."""
  offset = start
  while offset + 8 <= size:
    f.seek(offset)
    head = f.read(16)
    length, kind = struct.unpack(">I4s", head[:8])
    header = 8
    if length == 1:
      if len(head) < 16:
        raise ValueError("a box header cut off")
      length, header = struct.unpack(">Q", head[8:])[0], 16
    elif length == 0:  # the last box runs to the end of the file
      length = size - offset
    if length < header:
      raise ValueError(f"a '{kind.decode('latin-1')}' box of {length} bytes")
    yield kind, offset, header, length
    offset += length


def _iso_motion_video(f, size):
  """Where the video of the HEIF/AVIF motion photo open as `f` starts (`motion_photo_video`),
  or None."""
  try:
    for kind, offset, header, _ in _file_boxes(f, size):
      if kind == b"mpvd" and _is_mp4_at(f, offset + header, size):
        return offset + header
      if kind == b"ftyp" and offset > 0 and _is_mp4_at(f, offset, size):
        return offset
  except (ValueError, struct.error):
    pass
  return None


def _open(path):
  """The container of a video file, or of the video inside a motion photo."""
  source = path
  if path.lower().endswith(MOTION_PHOTO_EXTENSIONS):
    start = motion_photo_video(path)
    if start is not None:  # seconds of video: a few MB, read whole
      with open(path, "rb") as f:
        f.seek(start)
        source = io.BytesIO(f.read())
  options = {}
  if isinstance(source, str) and _is_png(source):
    # An animated PNG's frames of 10 ms or less as browsers show them (_SHORTEST_SHOWN_MS):
    # FFmpeg's APNG reader times a 0-ms frame at 1/15 s and a 5-ms one at 5 ms. Its
    # max_fps bound is on whole frames per second, hence 99 for "more than 10 ms".
    options = {
      "default_fps": str(1000 // _SHOWN_INSTEAD_MS),
      "max_fps": str(1000 // _SHORTEST_SHOWN_MS - 1),
    }
  return av.open(source, options=options, **_OPEN_OPTIONS)


def _is_png(path):
  try:
    with open(path, "rb") as f:
      return f.read(8) == b"\x89PNG\r\n\x1a\n"
  except OSError:
    return False


# The boxes an MP4/MOV file (ISO base media, QuickTime) may begin with.
_ISO_FIRST_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"styp"}


def _is_box_type(kind):
  """Whether the 4 bytes `kind` can name an ISO box: printable ASCII, or QuickTime's (c)."""
  return all(32 <= b < 127 or b == 0xA9 for b in kind)


def _cut_off(path):
  """Why an MP4/MOV file (or a motion photo's video) cannot be read whole, in words, when it
  is cut short, or damaged where a top-level box should begin; else None.

  Its top-level boxes are walked by their sizes: a box that needs more bytes than the file
  holds is a recording or a copy that stopped early. Cameras and phones write the index (the
  `moov` box) when a recording stops, so a recording cut off before then has none, and
  FFmpeg's own words ("moov atom not found", "no video stream"), or a video that opens with
  no frame, do not say why.
  """
  try:
    size = os.path.getsize(path)
    start = 0
    if path.lower().endswith(MOTION_PHOTO_EXTENSIONS):
      start = motion_photo_video(path) or 0
    with open(path, "rb") as f:
      f.seek(start)
      if f.read(8)[4:] not in _ISO_FIRST_BOXES:
        return None
      boxes, end = set(), start
      for kind, offset, _, length in _file_boxes(f, size, start):
        end = offset + length
        if not _is_box_type(kind):  # damaged bytes where a box should begin: not a cut
          if b"moov" in boxes:  # after the index: bytes players and FFmpeg never read
            return None
          return (
            f"the file is damaged: byte {offset} should begin a box and does not, and its "
            "index (the 'moov' box) is not before it"
          )
        boxes.add(kind)
        if offset + length > size:
          name = kind.decode("latin-1")
          index = (
            ""
            if b"moov" in boxes - {kind} or kind == b"moov"
            else " before its index (the 'moov' box a camera writes when it stops recording)"
          )
          return (
            f"the file is cut off{index}: its '{name}' box needs {offset + length} bytes "
            f"and the file ends at {size} (an interrupted recording, download or copy)"
          )
      if not boxes & {b"moov", b"moof"} and end < size:  # fewer than 8 bytes: a header cut
        return (
          "the file is cut off before its index (the 'moov' box a camera writes when it stops "
          f"recording): it ends {size - end} bytes into the header of a box at byte {end} (an "
          "interrupted recording, download or copy)"
        )
      if not boxes & {b"moov", b"moof"}:
        return (
          "the file has no index (the 'moov' box a camera writes when it stops recording): "
          "a recording that was interrupted"
        )
  except (OSError, ValueError, struct.error):  # not a box: damage FFmpeg describes better
    return None
  return None


# Video streams that are pictures, not the video: cover art (MP4's `covr`, Matroska's
# image attachments; downloaders embed the thumbnail) and thumbnail tracks.
_PICTURE_DISPOSITIONS = av.stream.Disposition.attached_pic | av.stream.Disposition.timed_thumbnails


def _video_stream(container, path):
  """The first video stream of `container` that is not a picture (`_PICTURE_DISPOSITIONS`:
  a cover can come first, and would be read as a one-frame video); a ValueError naming
  `path` when there is none or FFmpeg has no decoder for it (a damaged header can name no
  codec), saying so when the file is cut off (`_cut_off`)."""
  streams = [s for s in container.streams.video if not s.disposition & _PICTURE_DISPOSITIONS]
  cut = None if streams and streams[0].codec_context else _cut_off(path)
  if cut:
    raise ValueError(f"Could not decode video file {path}: {cut}.")
  if not streams:
    pictures = len(container.streams.video)
    raise ValueError(
      f"Expected a video stream in {path}, received "
      + (f"only {pictures} cover picture{'s' * (pictures > 1)}." if pictures else "none.")
    )
  stream = streams[0]
  if stream.codec_context is None:
    raise ValueError(
      f"Expected a video stream of a known codec in {path}, received one that names none "
      "(a damaged header or a codec FFmpeg lacks)."
    )
  return stream


# Decoders that read the alpha plane WebM stores beside VP8/VP9 frames (Matroska's
# BlockAdditional, flagged by the track's `alpha_mode`); FFmpeg's own vp8/vp9 decoders drop
# it, and the transparent pixels keep whatever colour the encoder left (often black).
_ALPHA_DECODERS = {"vp8": "libvpx", "vp9": "libvpx-vp9"}


def _has_alpha_side_plane(stream):
  return any(
    k.lower() == "alpha_mode" and str(v).strip() == "1" for k, v in stream.metadata.items()
  )


# Demuxer errors in a row, no packet read between them, after which a file is read no
# further: FFmpeg's demuxers resume at the next unit they can parse (a Matroska cluster, a
# TS packet) on the next read, but a read that fails where it stands would fail forever.
_DEMUX_ERRORS_IN_A_ROW = 8


def _packets(container, stream, refused):
  """The packets of `stream`, ending with the empty packet that flushes its decoder. Bytes the
  demuxer cannot parse (av.InvalidDataError) are appended to `refused` and reading goes on
  past them, as players go on, until _DEMUX_ERRORS_IN_A_ROW come in a row."""
  in_a_row = 0
  while True:
    try:
      for packet in container.demux(stream):  # resumes where the last read stopped
        in_a_row = 0
        yield packet
      return
    except av.InvalidDataError as e:
      refused.append(e)
      in_a_row += 1
      if in_a_row >= _DEMUX_ERRORS_IN_A_ROW:
        raise


def _decode(container, stream, refused, numbers=None):
  """The decoded frames of `stream`, one at a time: FFmpeg's decoder, or libvpx's for VP8/VP9
  that carries an alpha plane (`_ALPHA_DECODERS`; composited on white by `_rgb`).

  A packet the decoder refuses (av.InvalidDataError: damaged bytes, "Invalid NAL unit
  size") is appended to `refused` and the next one decoded: the frames that referenced it
  come out concealed until the next key frame, and the rest of the file is read, as FFmpeg's
  command line and players read it (`_packets` likewise for the demuxer). Stopping at the
  first such packet lost the rest of the file: 35 of 60 frames for 3 KB of damage.
  `numbers` (a _FrameNumbers) is told each packet's timestamp as it is read."""
  decoder = stream.codec_context
  name = _ALPHA_DECODERS.get(decoder.name)
  if name and name in av.codecs_available and _has_alpha_side_plane(stream):
    decoder = av.CodecContext.create(name, "r")
    decoder.thread_type = "NONE"
  for packet in _packets(container, stream, refused):
    if numbers is not None and packet.size:
      numbers.read(packet.pts)
    try:
      frames = decoder.decode(packet)
    except av.InvalidDataError as e:
      refused.append(e)
      continue
    yield from frames


class _FrameNumbers:
  """Where each decoded frame sits among the file's frames: after the packets read before it
  whose timestamps come earlier. A decoder outputs frames in timestamp order, so packets
  whose frames never came out (refused, or dropped for want of a reference frame, several
  frames after a damaged key frame) are the earlier timestamps still waiting when a frame
  comes out. Frames or packets without a timestamp, or a frame whose timestamp no packet
  had, are not counted: their places are not known. `iter_video` counts them only where
  the decoder reported damage: a clean stream may hold packets that are not frames (an
  interlaced picture's second field in a packet of its own)."""

  def __init__(self):
    self._waiting = []  # a heap of the read packets' timestamps
    self._counts = collections.Counter()

  def read(self, pts):
    if pts is not None:
      heapq.heappush(self._waiting, pts)
      self._counts[pts] += 1

  def missing_before(self, pts):
    """The number of frames lost just before the frame with timestamp `pts`."""
    if pts is None or not self._counts[pts]:
      return 0
    missing = 0
    while self._waiting[0] < pts:
      self._counts[heapq.heappop(self._waiting)] -= 1
      missing += 1
    self._counts[heapq.heappop(self._waiting)] -= 1
    return missing


def _gone(path):
  """Why `path` cannot be opened when it is gone (deleted, moved, a drive unplugged since it
  was listed, a link whose target went) or may not be read; else None."""
  if not os.path.lexists(path):
    return "it does not exist"
  if not os.path.exists(path):
    return f"it is a link to {os.readlink(path)}, which does not exist"
  if not os.access(path, os.R_OK):
    return "it may not be read (permission denied)"
  return None


def _decode_error(path, e, logs=()):
  if os.path.isdir(path):
    return InputError(f"Expected a video file, received a directory: {path}")
  gone = _gone(path)
  if gone:
    # The converter lists its inputs before it reads them: one may go in between.
    return ValueError(
      f"Could not read video file {path}: {gone} (deleted, moved or unmounted since it was "
      "listed?)."
    )
  if os.path.isfile(path) and os.path.getsize(path) == 0:
    return ValueError(f"Could not decode video file {path}: the file is empty (0 bytes).")
  if isinstance(e, UnicodeDecodeError):
    return ValueError(
      f"Could not decode video file {path}: a text field of its header is not "
      f"UTF-8 ({e.reason} at byte {e.start}), the file is damaged."
    )
  cut = _cut_off_error(path)
  if cut:
    return cut
  if isinstance(e, av.FFmpegError):
    # FFmpeg's words without its error number or the failing call, and the last error this
    # thread logged (PyAV's `e.log` is the process's last: another file's, in parallel).
    reason = (e.strerror or "FFmpeg error").rstrip(".")
    errors = [m for m in logs if m[0] <= _ERROR_LEVEL and m[2].strip()]
    if errors:
      reason += f" ({errors[-1][1]}: {errors[-1][2].strip()})"
    return ValueError(f"Could not decode video file {path}: {reason}.")
  return ValueError(f"Could not decode video file {path}: {e}")


def _cut_off_error(path):
  """The ValueError naming `path` and how it is cut off (`_cut_off`), or None."""
  cut = _cut_off(path)
  return ValueError(f"Could not decode video file {path}: {cut}.") if cut else None


# How far a header's frame rate may be from its timestamps' before the timestamps are believed.
RATE_TOLERANCE = 0.05


# Packets a decoder may reorder a frame across (B-frames; 16 is H.264's and HEVC's most).
_REORDER_PACKETS = 16


def _timestamp_rate(times, time_base):
  """Mean frames per second of packets at `times` (in `time_base` units, in the order read):
  the number of intervals over the span; 0.0 with fewer than two timestamps or none apart.

  A timestamp before one read more than _REORDER_PACKETS packets earlier (which no B-frame
  is) starts the clock again: files joined end to end (`cat a.ts b.ts`, a recorder's
  restarted clock). The rate is then of the runs' intervals over their spans together; over
  the whole file's span it was several times too high.
  """
  if len(times) < 2 or not time_base:
    return 0.0
  intervals = span = start = 0
  low = high = times[0]
  settled = None  # the highest timestamp of the run no later packet can be reordered before
  for i in range(1, len(times)):
    t, j = times[i], i - _REORDER_PACKETS - 1
    if j >= start:
      settled = times[j] if settled is None else max(settled, times[j])
    if settled is not None and t < settled:  # a run ends
      intervals, span = intervals + i - start - 1, span + high - low
      start, low, high, settled = i, t, t, None
    else:
      low, high = min(low, t), max(high, t)
  intervals, span = intervals + len(times) - start - 1, (span + high - low) * time_base
  return float(intervals / span) if span > 0 else 0.0


def _duration_rate(durations, time_base):
  """Frames per second of packets lasting `durations` (in `time_base` units) on average; 0.0
  when they do not say (none, or 0)."""
  known = [d for d in durations if d]
  if not known or not time_base:
    return 0.0
  return float(len(known) / (sum(known) * time_base))


def _frame_rate(declared, measured):
  """The frame rate to record: the header's (exact, e.g. 30000/1001) unless the timestamps
  disagree by more than RATE_TOLERANCE. A variable-rate file's header often does: a Matroska
  default duration, or WebM from a browser whose only rate is its 1 ms time base (1000)."""
  if measured and (not declared or abs(declared / measured - 1.0) > RATE_TOLERANCE):
    return measured
  return declared


def probe_video(path, count_frames=True):
  """VideoInfo of `path`: demuxes every packet (no decoding) to count frames and measure their
  rate, and decodes the first frame for its display matrix. Errors name the file
  (ValueError). Without `count_frames` only the header and the first frame are read (the
  display size, not the count or the measured rate: `num_frames` 0, `fps` the header's)."""
  _refuse_special(path, "a video file")
  if _read_by_pillow(path):
    return _probe_pillow(path)
  _enable_decoder_errors()
  logs = []
  try:
    with av.logging.Capture(local=True) as logs, _open(path) as container:
      stream = _video_stream(container, path)
      rate = stream.average_rate or stream.guessed_rate or stream.base_rate
      sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
      pixel_aspect = float(sar) if sar and float(sar) > 0 else 1.0
      rotation, mirrored = _rotation_tag(stream), False
      height, width = stream.codec_context.height, stream.codec_context.width
      refused = []
      frame = next(_decode(container, stream, refused), None)
      if frame is not None:
        height, width = frame.height, frame.width
        rotation, mirrored = _orientation(frame, rotation)
      elif cut := _cut_off_error(path):  # FFmpeg opened what it has of the index
        raise cut
      elif refused:  # not one packet decoded: FFmpeg's words for the first
        raise refused[0]
    # Counted in a second pass from the start: seeking back fails in some damaged indexes
    # (FFmpeg answers EPERM, "Operation not permitted"), reading the file again does not.
    times, measured = [], 0.0
    if count_frames:
      with av.logging.Capture(local=True) as logs, _open(path) as container:
        stream = _video_stream(container, path)
        durations = []  # not the packets: they hold the whole file's bytes
        for p in _packets(container, stream, []):
          if p.size:
            times.append(p.pts if p.pts is not None else p.dts)
            durations.append(p.duration)
        known = [t for t in times if t is not None]
        measured = _timestamp_rate(known, stream.time_base)
        if not measured and len(known) > 1:  # timestamps that do not advance
          measured = _duration_rate(durations, stream.time_base)
          rate = stream.guessed_rate  # FFmpeg's average is then of nothing (300 fps, 1000)
  except (av.FFmpegError, OSError, EOFError, UnicodeDecodeError) as e:
    raise _decode_error(path, e, logs) from e
  declared = float(rate) if rate else 0.0
  fps = _frame_rate(declared, measured)
  return VideoInfo(height, width, rotation, pixel_aspect, fps, len(times), declared, mirrored)


def iter_video(path, stats=None):
  """Yields the frames of a video file (any container PyAV/FFmpeg reads, and WebP and AVIF
  through Pillow, `_iter_pillow`) as uint8 [H, W, 3], upright (turned and mirrored by the
  stream's display matrix, as players show it), in the colours players show (`_rgb`:
  untagged HD as BT.709, HDR mapped to SDR, alpha on white), deinterlaced (`_one_field`).

  A generator so that a caller can resize each frame before the next one is decoded, which
  keeps long, large videos out of memory. `stats` (a DecodeStats) is updated before each
  frame. FFmpeg's error messages are captured per frame in this thread, so the decoder runs
  in it alone: messages from FFmpeg's own frame or slice threads cannot be attributed to a
  file (the converter decodes several files in parallel instead). Decoding errors that stop
  the file are re-raised as ValueError naming `path`.
  """
  stats = stats if stats is not None else DecodeStats()
  _refuse_special(path, "a video file")
  if _read_by_pillow(path):
    yield from _iter_pillow(path, stats)
    return
  _enable_decoder_errors()
  container = None
  logs = []
  try:
    with av.logging.Capture(local=True) as logs:
      container = _open(path)
    _count_errors(logs, stats)
    stream = _video_stream(container, path)
    stream.thread_type = "NONE"
    rotation, mirrored = _rotation_tag(stream), False
    refused, numbers = [], _FrameNumbers()
    decoder = _decode(container, stream, refused, numbers)
    first, size = True, None
    while True:
      before = len(refused)
      with av.logging.Capture(local=True) as logs:
        frame = next(decoder, None)
      new_errors = _count_errors(logs, stats, refused[before:])
      if frame is None:
        # A file cut off (a partial download of a video whose index comes first decodes up
        # to the cut, where FFmpeg stops, silently at a packet's edge) says so after its
        # frames: asked when there are fewer than the header counts, or errors; a file of
        # which not one packet decoded, in FFmpeg's words for the first. (A cut inside an
        # index at the end that FFmpeg still read whole is no loss: not reported.)
        short = stats.frames + stats.lost_frames < (stream.frames or 0)
        if (first or short or refused or stats.errors) and (cut := _cut_off_error(path)):
          raise cut
        if first and refused:
          raise refused[0]
        break
      if first:
        rotation, mirrored = _orientation(frame, rotation)
        size = (frame.width, frame.height)
        first = False
      elif (frame.width, frame.height) != size:
        # Browser recordings (WebRTC, MediaRecorder) change resolution with the bandwidth;
        # players show every frame in one window: the frames are scaled to the first's size.
        if not stats.resized_frames:
          logging.warning(
            "%s: frame %d is %dx%d where the first is %dx%d; such frames are scaled to the "
            "first's size, as players show them.",
            path,
            stats.frames,
            frame.width,
            frame.height,
            *size,
          )
        stats.resized_frames += 1
      missing = numbers.missing_before(frame.pts)
      if new_errors or stats.damaged:  # else packets that are not frames (a field's half)
        stats.lost_frames += missing
      if new_errors:
        stats.damaged = True
      elif frame.key_frame:
        stats.damaged = False
      stats.frames += 1
      stats.damaged_frames += stats.damaged
      rgb = _rgb(frame, size)
      if frame.interlaced_frame:
        rgb = _one_field(rgb)
        stats.interlaced_frames += 1
      yield _upright(rgb, rotation, mirrored)
  except (av.FFmpegError, OSError, EOFError, UnicodeDecodeError) as e:
    raise _decode_error(path, e, logs) from e
  finally:
    if container is not None:
      container.close()


def _count_errors(logs, stats, refused=()):
  """Adds to `stats` the errors FFmpeg logged (`logs`) and the packets it refused
  (`refused`, their exceptions) in one step: as many errors as the larger of the two (a
  refused packet is logged too, but not by every decoder); returns that count."""
  errors = [(name, message.strip()) for level, name, message in logs if level <= _ERROR_LEVEL]
  errors += [("decoder", str(e.strerror or e)) for e in refused[len(errors) :]]
  stats.errors += len(errors)
  for name, message in errors[: max(_KEPT_MESSAGES - len(stats.messages), 0)]:
    stats.messages.append(f"{name}: {message}")
  return len(errors)


def video_fps(path, default=0.0):
  """Frames per second of the first video stream of `path` (`probe_video`'s), or `default`
  when unknown."""
  try:
    return probe_video(path).fps or default
  except ValueError:
    return default


def read_video(path):
  """Reads every frame of a video file: (uint8 frames [T, H, W, 3], fps)."""
  frames = list(iter_video(path))
  if not frames:
    raise ValueError(f"Expected at least one frame in {path}, received none.")
  return np.stack(frames), video_fps(path)


def natural_key(name):
  """Sort key of a file name with its numbers compared as numbers: "frame2.png" before
  "frame10.png", as file browsers order them and as `ffmpeg -i v.mp4 %d.png` numbers frames;
  zero-padded names keep their order."""
  return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", name)]


# Names Windows hides as system files and folders, which Linux and macOS show on a drive it
# has used: its recycle bin (the files deleted from the drive), its indexer's folder, and
# Explorer's thumbnail caches and folder settings.
_SYSTEM_NAMES = frozenset(
  ("$recycle.bin", "recycler", "system volume information")
  + ("thumbs.db", "ehthumbs.db", "desktop.ini")
)


def is_hidden(name):
  """Whether a file browser hides the file or folder `name`: a leading dot (`.thumbnails`,
  `.Trashes`, `.DS_Store`, the `._x.mp4` AppleDouble files macOS leaves on USB drives), or
  one of Windows' system names (`$RECYCLE.BIN`, `Thumbs.db`)."""
  return name.startswith(".") or name.lower() in _SYSTEM_NAMES


def _visible(names, hidden=None):
  """`names` without hidden ones (`is_hidden`), in natural order (`natural_key`); the hidden
  ones are appended to the list `hidden`, if one is given."""
  kept = []
  for name in names:
    if not is_hidden(name):
      kept.append(name)
    elif hidden is not None:
      hidden.append(name)
  return sorted(kept, key=natural_key)


def walk_visible(path, repeated=None, hidden=None):
  """`os.walk(path)` as file browsers show the tree: hidden folders and files passed over
  (`is_hidden`; their paths appended to the list `hidden`, if one is given), names in
  natural order. A caller may prune the yielded folder list.

  Linked folders are walked (datasets are often put together from links to other disks),
  each real folder once: a link to a folder already walked (a link back up the tree would
  loop) is passed over and appended to the list `repeated`, if one is given."""
  seen = {os.path.realpath(path)}
  for dirpath, dirnames, filenames in os.walk(path, followlinks=True):
    kept, passed = [], []
    for name in _visible(dirnames, passed):
      real = os.path.realpath(os.path.join(dirpath, name))
      if real in seen:
        if repeated is not None:
          repeated.append(os.path.join(dirpath, name))
        continue
      seen.add(real)
      kept.append(name)
    dirnames[:] = kept
    files = _visible(filenames, passed)
    if hidden is not None:
      hidden.extend(os.path.join(dirpath, name) for name in sorted(passed, key=natural_key))
    yield dirpath, dirnames, files


# AppleDouble (and AppleSingle) files begin with this magic number: the `._NAME` files macOS
# writes beside each file it copies to a drive that cannot hold its metadata (exFAT, FAT,
# SMB shares), a few kilobytes, named like the video they describe.
_APPLE_DOUBLE_MAGIC = (b"\x00\x05\x16\x07", b"\x00\x05\x16\x00")


def is_apple_double(path):
  """Whether `path` is a macOS AppleDouble file: named `._NAME`, beginning with its magic."""
  if not os.path.basename(path).startswith("._"):
    return False
  try:
    with open(path, "rb") as f:
      return f.read(4) in _APPLE_DOUBLE_MAGIC
  except OSError:
    return False


def frame_folder_files(path):
  """The image files of a folder of frames in natural name order (the frame order: frame2
  before frame10), hidden files passed over."""
  names = [n for n in _visible(os.listdir(path)) if n.lower().endswith(IMAGE_EXTENSIONS)]
  return [os.path.join(path, n) for n in names]


def iter_frame_folder(path, stats=None):
  """Yields the frames of a folder of frame images (one folder = one video, sorted by name)
  one at a time; every frame must have the first one's size.

  A frame that cannot be read (an empty file, one cut off by a copy, not an image) is passed
  over as a video's refused packet is: counted in `stats` (a DecodeStats) as a lost frame,
  its place kept (`lost_frames`), its reason kept among `messages` and the first few
  logged; one such frame ended the folder (10,000 extracted frames lost to one bad one).
  A folder none of whose frames can be read raises the first one's error."""
  stats = stats if stats is not None else DecodeStats()
  files = frame_folder_files(path)
  if not files:
    raise ValueError(
      f"Expected image files ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}, received none."
    )
  shape, unreadable = None, None
  for f in files:
    try:
      frame = read_image(f)
    except InputError as e:
      unreadable = unreadable or e
      stats.lost_frames += 1
      if len(stats.messages) < _KEPT_MESSAGES:
        stats.messages.append(str(e))
        logging.warning("%s; its place is kept, its clips dropped.", e)
      continue
    shape = shape or frame.shape
    if frame.shape != shape:
      raise ValueError(
        f"Expected every frame of {path} to be {shape}, received {frame.shape} in {f}."
      )
    stats.frames += 1
    yield frame
  if not stats.frames:
    raise unreadable


def read_frame_folder(path):
  """Reads a folder of frame images (one folder = one video, frames sorted by name)."""
  return np.stack(list(iter_frame_folder(path)))


def read_vgan_clip(path, frame_height=64):
  """Reads a VGAN-style clip: frames stacked vertically in one image, each `frame_height` tall.

  Vondrick et al.'s released data stores 32 frames of 64x64 as one JPEG 64 wide and 2048 tall.
  """
  image = read_image(path)
  if image.shape[0] % frame_height:
    raise ValueError(
      f"Expected the height of {path} to be a multiple of the frame height "
      f"{frame_height}, received {image.shape[0]}."
    )
  return image.reshape(image.shape[0] // frame_height, frame_height, *image.shape[1:])


PANEL_PAD = 4  # black pixels between the panels of `streams_panel`


def stream_as_clip(x, num_frames):
  """A stream as uint8 clips [N, T, H, W, 3].

  Backgrounds may be one image per clip ([N, H, W, C] or [N, 1, H, W, C]): repeated over
  time. One-channel streams are masks in [0, 1] (sigmoid): shown as grey, white = 1.
  Everything else is taken to be in [-1, 1], as the videos.
  """
  x = np.asarray(x, np.float32)
  if x.ndim == 4:
    x = x[:, None]
  if x.shape[1] == 1:
    x = np.repeat(x, num_frames, axis=1)
  if x.shape[-1] == 1:
    x = np.repeat(x, 3, axis=-1) * 2.0 - 1.0
  return to_uint8(x)


def streams_panel(outputs, streams):
  """One clip: the grids of each stream, then the composite, side by side."""
  num_frames = outputs["video"].shape[1]
  grids = [grid(stream_as_clip(outputs[k], num_frames)) for k in streams]
  grids.append(grid(to_uint8(outputs["video"])))
  pad = np.zeros(grids[0].shape[:2] + (PANEL_PAD, 3), np.uint8)
  pieces = []
  for g in grids:
    pieces += [g, pad]
  return np.concatenate(pieces[:-1], axis=2)
