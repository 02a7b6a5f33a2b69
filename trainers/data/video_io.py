"""Video files: grids of clips, MP4 (PyAV) and GIF (Pillow) writing, and reading.

Every writer takes uint8 frames [T, H, W, 3]; `to_uint8` converts [-1, 1] floats.
Files are written under a temporary name and renamed when complete.

The readers (`read_video`, `read_frame_folder`, `read_vgan_clip`) return uint8 frames
[T, H, W, 3] and raise ValueError naming the file when it cannot be decoded; they feed
`trainers.data.make_tfrecords`.
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


VIDEO_EXTENSIONS = (".mp4", ".avi", ".mkv", ".webm", ".gif", ".mov", ".m4v")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp")


def iter_video(path):
  """Yields the frames of a video file (any container PyAV/FFmpeg reads) as uint8 [H, W, 3].

  A generator so that a caller can resize each frame before the next one is decoded, which
  keeps long, large videos out of memory. Decoding errors are re-raised as ValueError naming
  `path`.
  """
  try:
    with av.open(path) as container:
      if not container.streams.video:
        raise ValueError(f"Expected a video stream in {path}, received none.")
      stream = container.streams.video[0]
      stream.thread_type = "AUTO"
      for frame in container.decode(stream):
        yield frame.to_ndarray(format="rgb24")
  except (av.FFmpegError, OSError, EOFError) as e:
    raise ValueError(f"Could not decode video file {path}: {e}") from e


def video_fps(path, default=0.0):
  """Frames per second of the first video stream of `path`, or `default` when unknown."""
  try:
    with av.open(path) as container:
      stream = container.streams.video[0]
      rate = stream.average_rate or stream.guessed_rate or stream.base_rate
      return float(rate) if rate else default
  except (av.FFmpegError, OSError, EOFError, IndexError):
    return default


def read_video(path):
  """Reads every frame of a video file: (uint8 frames [T, H, W, 3], fps)."""
  frames = list(iter_video(path))
  if not frames:
    raise ValueError(f"Expected at least one frame in {path}, received none.")
  return np.stack(frames), video_fps(path)


def _read_image(path):
  try:
    with Image.open(path) as image:
      return np.asarray(image.convert("RGB"))
  except (OSError, ValueError) as e:
    raise ValueError(f"Could not decode image file {path}: {e}") from e


def frame_folder_files(path):
  """The image files of a folder of frames, sorted by name (the frame order)."""
  names = sorted(n for n in os.listdir(path) if n.lower().endswith(IMAGE_EXTENSIONS))
  return [os.path.join(path, n) for n in names]


def read_frame_folder(path):
  """Reads a folder of frame images (one folder = one video, frames sorted by name)."""
  files = frame_folder_files(path)
  if not files:
    raise ValueError(f"Expected image files ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}, "
                     "received none.")
  frames = [_read_image(f) for f in files]
  for f, frame in zip(files, frames):
    if frame.shape != frames[0].shape:
      raise ValueError(f"Expected every frame of {path} to be {frames[0].shape}, received "
                       f"{frame.shape} in {f}.")
  return np.stack(frames)


def read_vgan_clip(path, frame_height=64):
  """Reads a VGAN-style clip: frames stacked vertically in one image, each `frame_height` tall.

  Vondrick et al.'s released data stores 32 frames of 64x64 as one JPEG 64 wide and 2048 tall.
  """
  image = _read_image(path)
  if image.shape[0] % frame_height:
    raise ValueError(f"Expected the height of {path} to be a multiple of the frame height "
                     f"{frame_height}, received {image.shape[0]}.")
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
