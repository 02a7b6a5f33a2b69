"""Video files: grids of clips, MP4 (PyAV) and GIF (Pillow) writing.

Every writer takes uint8 frames [T, H, W, 3]; `to_uint8` converts [-1, 1] floats.
Files are written under a temporary name and renamed when complete.
"""

import os

import av
import numpy as np
from PIL import Image


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
    out[:, y:y + h, x:x + w] = videos[i]
  return out


def _check_frames(frames):
  frames = np.asarray(frames)
  if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
    raise ValueError("Expected uint8 frames [T, H, W, 3], received "
                     f"{frames.dtype} {frames.shape}.")
  return frames


def write_mp4(path, frames, fps=8):
  """H.264 MP4 (yuv420p; odd sizes are padded by one pixel, as the codec needs even sizes)."""
  frames = _check_frames(frames)
  t, h, w, _ = frames.shape
  frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
  tmp = path + ".tmp.mp4"
  with av.open(tmp, mode="w") as container:
    stream = container.add_stream("libx264", rate=fps)
    stream.width, stream.height = frames.shape[2], frames.shape[1]
    stream.pix_fmt = "yuv420p"
    stream.options = {"crf": "18"}
    for frame in frames:
      for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
        container.mux(packet)
    for packet in stream.encode():
      container.mux(packet)
  os.replace(tmp, path)


def write_gif(path, frames, fps=8):
  frames = _check_frames(frames)
  images = [Image.fromarray(f) for f in frames]
  tmp = path + ".tmp.gif"
  images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:],
                 duration=int(round(1000 / fps)), loop=0)
  os.replace(tmp, path)


def write_video(path, frames, fps=8):
  """Writes MP4 or GIF by the file's extension."""
  ext = os.path.splitext(path)[1].lower()
  if ext == ".mp4":
    write_mp4(path, frames, fps)
  elif ext == ".gif":
    write_gif(path, frames, fps)
  else:
    raise ValueError(f"Expected an output path ending in .mp4 or .gif, received {path!r}.")
