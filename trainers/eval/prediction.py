"""Frame-prediction metrics: MSE, PSNR and SSIM per frame, and their means.

Inputs are clips [B, T, H, W, C], uint8 or float in [-1, 1] (the zoo's convention).
- MSE is computed on [-1, 1] values, mean over H, W and C of each frame. The (Re)live Photos
  report (Table 1: 0.33 ... 0.037) does not state its range; its per-pixel magnitudes fit
  tanh outputs in [-1, 1], so that is our definition. On [0, 1] values it is MSE / 4.
- PSNR uses [0, 1] values with data range 1: 10 log10(1 / MSE_[0,1]); identical frames give
  +inf (as tf.image.psnr does), and so does any mean that includes them.
- SSIM is `tf.image.ssim` on [0, 1] values with max_val 1 and its defaults (11x11 Gaussian
  window, sigma 1.5, k1 0.01, k2 0.03) per frame, channels averaged; frames must be at least
  11x11.
Each function returns (per_frame [B, T] float64 numpy, mean over all frames as a float);
`PredictionMetrics` accumulates batches and also reports the curve over time steps.
"""

import numpy as np
import tensorflow as tf

SSIM_FILTER_SIZE = 11
SSIM_FILTER_SIGMA = 1.5


def _unit_range(videos):
  """-> float64 numpy in [-1, 1]; uint8 maps by 2x/255 - 1."""
  videos = np.asarray(videos)
  if videos.dtype == np.uint8:
    return videos.astype(np.float64) * (2.0 / 255.0) - 1.0
  return videos.astype(np.float64)


def _pair(prediction, target):
  prediction, target = _unit_range(prediction), _unit_range(target)
  if prediction.shape != target.shape or prediction.ndim != 5:
    raise ValueError(
      "Expected prediction and target clips of one shape [B, T, H, W, C], "
      f"received {prediction.shape} and {target.shape}."
    )
  return prediction, target


def mse(prediction, target):
  """Per-frame mean squared error on [-1, 1] values: ([B, T], mean)."""
  prediction, target = _pair(prediction, target)
  per_frame = np.mean(np.square(prediction - target), axis=(2, 3, 4))
  return per_frame, float(per_frame.mean())


def psnr(prediction, target):
  """Per-frame PSNR in dB on [0, 1] values, data range 1: ([B, T], mean of per-frame PSNR)."""
  per_frame_mse, _ = mse(prediction, target)
  mse01 = per_frame_mse / 4.0  # (a - b)^2 on [-1, 1] is 4x the same on [0, 1]
  with np.errstate(divide="ignore"):
    per_frame = 10.0 * np.log10(1.0 / mse01)
  return per_frame, float(per_frame.mean())


def ssim(prediction, target):
  """Per-frame SSIM (tf.image.ssim, max_val 1 on [0, 1]): ([B, T], mean)."""
  prediction, target = _pair(prediction, target)
  b, t, h, w, c = prediction.shape
  if h < SSIM_FILTER_SIZE or w < SSIM_FILTER_SIZE:
    raise ValueError(
      f"Expected frames of at least {SSIM_FILTER_SIZE}x{SSIM_FILTER_SIZE} for "
      f"SSIM, received {h}x{w}."
    )
  to01 = lambda x: tf.constant(((x + 1.0) / 2.0).reshape(b * t, h, w, c), tf.float32)
  values = tf.image.ssim(
    to01(prediction),
    to01(target),
    max_val=1.0,
    filter_size=SSIM_FILTER_SIZE,
    filter_sigma=SSIM_FILTER_SIGMA,
  )
  per_frame = values.numpy().astype(np.float64).reshape(b, t)
  return per_frame, float(per_frame.mean())


METRICS = {"mse": mse, "psnr": psnr, "ssim": ssim}


class PredictionMetrics:
  """Accumulates MSE / PSNR / SSIM over batches of predicted and true clips.

  `result()` -> {name: mean over every frame seen, name + "_per_step": [T] mean per time
  step}. Clips of every batch must have the same number of frames.
  """

  def __init__(self, names=("mse", "psnr", "ssim")):
    unknown = [n for n in names if n not in METRICS]
    if unknown:
      raise ValueError(f"Expected metric names in {sorted(METRICS)}, received {unknown}.")
    self.names = tuple(names)
    self._sums = {n: None for n in self.names}
    self.count = 0  # clips

  def update(self, prediction, target):
    for name in self.names:
      per_frame, _ = METRICS[name](prediction, target)
      total = per_frame.sum(axis=0)
      if self._sums[name] is not None and self._sums[name].shape != total.shape:
        raise ValueError(
          f"Expected clips of {self._sums[name].shape[0]} frames, received {total.shape[0]}."
        )
      self._sums[name] = total if self._sums[name] is None else self._sums[name] + total
    self.count += len(np.asarray(prediction))
    return self

  def result(self):
    if not self.count:
      raise ValueError("Expected at least one update before result(), received none.")
    out = {}
    for name in self.names:
      per_step = self._sums[name] / self.count
      out[name] = float(per_step.mean())
      out[name + "_per_step"] = per_step
    return out
