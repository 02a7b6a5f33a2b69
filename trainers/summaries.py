"""What a run reports: the progress line, TensorBoard scalars and videos, sample files."""

import os
import time

from absl import logging
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from trainers.data import video_io


def video_summary(tag, frames, step, fps=8):
  """An animated GIF in TensorBoard's image dashboard (uint8 frames [T, H, W, 3])."""
  t, h, w, _ = frames.shape
  metadata = summary_pb2.SummaryMetadata(
    plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name="images")
  )
  tensor = tf.constant([str(w), str(h), video_io.gif_bytes(frames, fps)])
  tf.summary.write(tag, tensor, step=step, metadata=metadata)


def format_duration(seconds):
  seconds = int(max(seconds, 0))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


class Progress:
  """The progress line: step/total, steps/s, clips/s, ETA and the loss terms."""

  def __init__(self, total_steps, global_batch, start_step):
    self.total = total_steps
    self.global_batch = global_batch
    self.last_time = time.perf_counter()
    self.last_step = start_step

  def rate(self, step):
    now = time.perf_counter()
    steps = step - self.last_step
    rate = steps / max(now - self.last_time, 1e-9)
    self.last_time, self.last_step = now, step
    return rate

  def line(self, step, steps_per_s, terms, lrs):
    eta = (self.total - step) / steps_per_s if steps_per_s > 0 else float("inf")
    parts = [
      f"step {step}/{self.total} ({100.0 * step / self.total:.1f}%)",
      f"{steps_per_s:.2f} steps/s",
      f"{steps_per_s * self.global_batch:.1f} clips/s",
      f"ETA {format_duration(eta) if np.isfinite(eta) else '?'}",
    ]
    parts += [f"{k}={v:.4g}" for k, v in sorted(terms.items()) if k.endswith(("total", "loss"))]
    parts += [f"{k}={v:.3g}" for k, v in lrs.items()]
    return " | ".join(parts)


def write_samples(directory, step, outputs, fps=8):
  """Writes the sample grid of one step as MP4 and GIF, plus the streams side by side.

  `outputs`: {"video": [N, T, H, W, 3] in [-1, 1], optional "foreground", "background"
  ([N, H, W, 3] or [N, T, H, W, 3]) and "mask" ([N, T, H, W, 1] in [0, 1])}.
  Returns the uint8 grid of the composite video (for the TensorBoard summary).
  """
  tf.io.gfile.makedirs(directory)
  video = np.asarray(outputs["video"])
  composite = video_io.grid(video_io.to_uint8(video))
  stem = os.path.join(directory, f"step_{step:08d}")
  video_io.write_video(stem + ".mp4", composite, fps)
  video_io.write_video(stem + ".gif", composite, fps)
  streams = [k for k in ("foreground", "background", "mask") if k in outputs]
  if streams:
    video_io.write_video(stem + "_streams.mp4", video_io.streams_panel(outputs, streams), fps)
  logging.info("Wrote samples %s.{mp4,gif}", stem)
  return composite
