"""The converter on damaged MP4s: one process reads hundreds of mutations of a real-looking
H.264 video and ends in bounded time without a traceback, every file converted or skipped
with a reason, and no clip of a damaged stretch written unless --keep_damaged."""

import glob
import json
import os
import re
import subprocess
import sys
import time

import av
import helpers
import numpy as np
import tensorflow as tf

SIZE, FPS, FRAMES, GOP = (48, 64), 12, 30, 8  # 2.5 s; a key frame every 8 frames
CLIP = 8
# Mutations of the file's bytes. Header: the ftyp and moov boxes (the sample tables);
# middle: the coded frames of mdat; tail: the last tenth.
KINDS = (
  "flip_header",
  "flip_middle",
  "flip_tail",
  "truncate",
  "zero_range",
  "duplicate_chunk",
  "swap_boxes",
)
INTERNAL = re.compile(r"\w+(Error|Exception): ")
# Boxes that hold boxes, for swapping siblings at any depth.
CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta"}


def _frames():
  """uint8 [FRAMES, H, W, 3]: a textured background scrolling right, a disk and a square
  crossing it: what a codec has to predict in real footage."""
  rng = np.random.default_rng(0)
  h, w = SIZE
  texture = rng.integers(40, 200, (h, 2 * w, 3), np.uint8)
  texture = (texture.astype(np.int32) + np.roll(texture, 1, 1) + np.roll(texture, 1, 0)) // 3
  y, x = np.mgrid[:h, :w]
  out = []
  for t in range(FRAMES):
    frame = texture[:, t : t + w].astype(np.uint8).copy()
    cy, cx = h // 2 + int(10 * np.sin(t / 4)), (3 * t) % w
    frame[(y - cy) ** 2 + (x - cx) ** 2 < 64] = (230, 40, 40)
    top, left = (2 * t) % (h - 12), w - 12 - (2 * t) % (w - 12)
    frame[top : top + 12, left : left + 12] = (30, 60, 220)
    out.append(frame)
  return np.stack(out)


def _write_mp4(path, frames, faststart):
  options = {"movflags": "+faststart"} if faststart else {}
  with av.open(str(path), "w", options=options) as container:
    stream = container.add_stream("libx264", rate=FPS)
    stream.width, stream.height, stream.pix_fmt = SIZE[1], SIZE[0], "yuv420p"
    stream.options = {"crf": "23", "g": str(GOP), "threads": "1"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)


def _boxes(data, start, end):
  """[(type, start, end)] of the MP4 boxes between `start` and `end`, recursively."""
  out = []
  while start + 8 <= end:
    size, kind = int.from_bytes(data[start : start + 4], "big"), bytes(data[start + 4 : start + 8])
    header = 8
    if size == 1:
      size, header = int.from_bytes(data[start + 8 : start + 16], "big"), 16
    elif size == 0:
      size = end - start
    if size < header or start + size > end:
      break
    out.append((kind, start, start + size))
    if kind in CONTAINERS:
      out.extend(_boxes(data, start + header, start + size))
    start += size
  return out


def _flip(data, rng, lo, hi):
  for pos in rng.integers(lo, max(hi, lo + 1), rng.integers(1, 9)):
    data[pos] ^= int(rng.integers(1, 256))
  return data


def mutate(data, kind, rng):
  """A damaged copy of the MP4 `data` (bytes) by one mutation of `kind`."""
  data = bytearray(data)
  n = len(data)
  boxes = _boxes(data, 0, n)
  if kind == "flip_header":
    spans = [(s, e) for k, s, e in boxes if k in (b"ftyp", b"moov")]
    s, e = spans[rng.integers(len(spans))]
    return _flip(data, rng, s, e)
  if kind == "flip_middle":
    ((s, e),) = [(s, e) for k, s, e in boxes if k == b"mdat"]
    return _flip(data, rng, s + (e - s) // 4, s + 3 * (e - s) // 4)
  if kind == "flip_tail":
    return _flip(data, rng, n - n // 10, n)
  if kind == "truncate":
    return data[: rng.integers(1, n)]
  if kind == "zero_range":
    s = int(rng.integers(0, n))
    e = min(n, s + int(rng.integers(16, 4096)))
    data[s:e] = bytes(e - s)
    return data
  if kind == "duplicate_chunk":
    s = int(rng.integers(0, n))
    chunk = data[s : s + int(rng.integers(16, 4096))]
    at = int(rng.integers(0, n))
    return data[:at] + chunk + data[at:]
  assert kind == "swap_boxes"
  parents = {}
  for _, s, e in boxes:  # siblings share the enclosing box: the smallest one around them
    around = min(
      ((s2, e2) for k2, s2, e2 in boxes if k2 in CONTAINERS and s2 < s and e <= e2),
      default=(0, n),
      key=lambda r: r[1] - r[0],
    )
    parents.setdefault(around, []).append((s, e))
  groups = [g for g in parents.values() if len(g) >= 2]
  group = groups[rng.integers(len(groups))]
  i, j = sorted(rng.choice(len(group), 2, replace=False))
  (s1, e1), (s2, e2) = group[i], group[j]
  return data[:s1] + data[s2:e2] + data[e1:s2] + data[s1:e1] + data[e2:]


def _convert(inputs, output, *flags, timeout=300):
  start = time.monotonic()
  res = subprocess.run(
    [
      sys.executable,
      "-m",
      "trainers.data.make_tfrecords",
      f"--input={inputs}",
      f"--output={output}",
      f"--clip_length={CLIP}",
      "--num_shards=1",
      "--format=jpeg",
      *flags,
    ],
    env=helpers.ENV,
    cwd=helpers.ROOT,
    capture_output=True,
    text=True,
    timeout=timeout,
  )
  with open(f"{output}.manifest.json") as f:
    return res, json.load(f), time.monotonic() - start


def _records_by_source(output):
  counts = {}
  for shard in glob.glob(f"{output}-*.tfrecord"):
    for r in tf.data.TFRecordDataset(shard):
      source = tf.io.parse_single_example(r, {"source": tf.io.FixedLenFeature([], tf.string)})
      key = source["source"].numpy().decode()
      counts[key] = counts.get(key, 0) + 1
  return counts


def test_mutated_videos_are_converted_or_skipped_with_a_reason(tmp_path):
  # ~20 s on 2 cores (Xeon family 6 model 167): 210 files, 30 per kind, in one process.
  num_files = 210
  base = {}
  for faststart in (False, True):  # the sample tables after the frames, and before them
    path = tmp_path / f"base{int(faststart)}.mp4"
    _write_mp4(path, _frames(), faststart)
    base[faststart] = path.read_bytes()
  folder = tmp_path / "fuzz"
  folder.mkdir()
  names = set()
  for k in range(num_files):
    kind = KINDS[k % len(KINDS)]
    data = mutate(base[k % 2 == 1], kind, np.random.default_rng(k))
    path = folder / f"{k:03d}-{kind}.mp4"
    path.write_bytes(bytes(data))
    names.add(str(path))
  res, manifest, seconds = _convert(folder, tmp_path / "out" / "t")
  assert "Traceback" not in res.stderr, res.stderr[-3000:]
  assert res.returncode == 0, res.stderr[-3000:]
  # One process, which imports TensorFlow, then reads ~70 files/s here: the bound is a hang's.
  assert seconds < 120
  converted = {e["path"]: e for e in manifest["sources"]}
  skipped = {e["path"]: e for e in manifest["skipped"]}
  assert len(converted) + len(skipped) == len(manifest["sources"]) + len(manifest["skipped"])
  assert converted.keys() | skipped.keys() == names  # every file, once
  assert not converted.keys() & skipped.keys()
  for path, entry in skipped.items():
    assert entry["reason"].strip(), path
    assert f"skipped {path}: " in res.stderr
  for entry in converted.values():
    assert entry["num_clips"] > 0 and entry["damaged_kept"] == 0, entry
  for entry in [*skipped.values(), *converted.values()]:
    # A reason that names a Python exception is a failure the converter did not explain.
    assert not INTERNAL.match(entry.get("reason") or entry.get("error") or ""), entry
    # FFmpeg's words, not its error numbers; no "Operation not permitted" from a failed seek.
    assert not re.search(r"\[Errno|not permitted", entry.get("reason") or ""), entry
  assert _records_by_source(tmp_path / "out" / "t") == {
    p: e["num_clips"] for p, e in converted.items()
  }
  damaged = {p: e for p, e in converted.items() if e["dropped_damaged"]}
  damaged.update({p: e for p, e in skipped.items() if e.get("dropped_damaged")})
  # The fuzz reached each way out: skipped files, dropped damaged clips, clean clips.
  assert skipped and damaged and manifest["num_clips"]
  # --keep_damaged keeps exactly the clips dropped as damaged, and counts them.
  kept_dir = tmp_path / "damaged"
  kept_dir.mkdir()
  for path in damaged:
    os.link(path, kept_dir / os.path.basename(path))
  res, kept, _ = _convert(kept_dir, tmp_path / "kept" / "t", "--keep_damaged")
  assert res.returncode == 0 and "Traceback" not in res.stderr, res.stderr[-3000:]
  by_name = {os.path.basename(e["path"]): e for e in kept["sources"]}
  assert len(by_name) == len(damaged)
  for path, entry in damaged.items():
    again = by_name[os.path.basename(path)]
    assert again["damaged_kept"] == entry["dropped_damaged"], (entry, again)
    assert again["num_clips"] == entry.get("num_clips", 0) + entry["dropped_damaged"]
