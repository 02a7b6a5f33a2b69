"""trainers.eval.prediction against values computed by hand."""

import math

import numpy as np
import pytest

from trainers.eval import prediction


def test_constant_offset_mse_psnr():
  target = np.zeros([2, 3, 12, 12, 3], np.float32)
  pred = target + 0.2  # 0.1 on [0, 1]
  per_frame, mean = prediction.mse(pred, target)
  assert per_frame.shape == (2, 3)
  np.testing.assert_allclose(per_frame, 0.04, rtol=1e-6)
  per_frame, mean = prediction.psnr(pred, target)
  np.testing.assert_allclose(per_frame, 20.0, rtol=1e-5)  # 10 log10(1 / 0.01)
  assert mean == pytest.approx(20.0, rel=1e-5)


def test_uint8_and_per_frame_values():
  target = np.zeros([1, 2, 12, 12, 3], np.uint8)
  pred = target.copy()
  pred[0, 0] = 51  # 0.2 on [0, 1], 0.4 on [-1, 1]
  per_frame, mean = prediction.mse(pred, target)
  np.testing.assert_allclose(per_frame, [[0.16, 0.0]], atol=1e-12)
  assert mean == pytest.approx(0.08)
  per_frame, mean = prediction.psnr(pred, target)
  assert per_frame[0, 0] == pytest.approx(10 * math.log10(1 / 0.04)) and per_frame[0, 1] == np.inf
  assert mean == np.inf


def test_ssim():
  rng = np.random.RandomState(0)
  x = rng.uniform(-1, 1, size=(2, 2, 16, 16, 3)).astype(np.float32)
  per_frame, mean = prediction.ssim(x, x)
  np.testing.assert_allclose(per_frame, 1.0, atol=1e-6)
  noisy = np.clip(x + rng.normal(0, 0.3, size=x.shape), -1, 1)
  assert prediction.ssim(noisy, x)[1] < 0.95
  with pytest.raises(ValueError, match="at least 11x11"):
    prediction.ssim(x[:, :, :8, :8], x[:, :, :8, :8])


def test_accumulator_and_errors():
  target = np.zeros([1, 2, 12, 12, 3], np.float32)
  pred = target.copy()
  pred[:, 1] = 0.2
  metrics = prediction.PredictionMetrics(("mse", "ssim"))
  metrics.update(pred, target).update(np.concatenate([pred, pred]), np.concatenate([target] * 2))
  out = metrics.result()
  np.testing.assert_allclose(out["mse_per_step"], [0.0, 0.04], atol=1e-12)
  assert out["mse"] == pytest.approx(0.02) and out["ssim_per_step"][0] == pytest.approx(1.0)
  with pytest.raises(ValueError, match="one shape"):
    prediction.mse(pred, target[:, :1])
  with pytest.raises(ValueError, match="metric names"):
    prediction.PredictionMetrics(("fvd",))
