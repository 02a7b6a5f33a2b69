"""trainers.eval.frechet against scipy's sqrtm, closed forms and numpy's mean / cov."""

import numpy as np
import pytest
from scipy import linalg

from trainers.eval import frechet


def _random_cov(rng, d, n=200):
  x = rng.normal(size=(n, d)) @ rng.normal(size=(d, d))
  return np.cov(x, rowvar=False)


def test_trace_sqrt_product_matches_scipy():
  rng = np.random.default_rng(0)
  for d in (3, 20):
    s1, s2 = _random_cov(rng, d), _random_cov(rng, d)
    expected = np.trace(linalg.sqrtm(s1 @ s2)).real
    assert frechet.trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-6)
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    fd_scipy = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * linalg.sqrtm(s1 @ s2).real)
    assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(fd_scipy, rel=1e-6)


def test_self_distance_zero_and_symmetry():
  rng = np.random.default_rng(1)
  s1, s2 = _random_cov(rng, 16), _random_cov(rng, 16)
  mu1, mu2 = rng.normal(size=16), rng.normal(size=16)
  assert abs(frechet.frechet_distance(mu1, s1, mu1, s1)) < 1e-8 * np.trace(s1)
  assert frechet.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
    frechet.frechet_distance(mu2, s2, mu1, s1), rel=1e-9
  )


def test_closed_forms():
  # 1-D: (m1 - m2)^2 + s1 + s2 - 2 sqrt(s1 s2) = 4 + 4 + 9 - 12.
  assert frechet.frechet_distance([1.0], [[4.0]], [3.0], [[9.0]]) == pytest.approx(5.0)
  # Diagonal: sum over axes of the 1-D form.
  v1, v2 = np.array([1.0, 4.0, 0.25]), np.array([4.0, 1.0, 0.25])
  expected = 1.0 + np.sum(v1 + v2 - 2 * np.sqrt(v1 * v2))
  got = frechet.frechet_distance([0, 0, 1], np.diag(v1), [0, 0, 0], np.diag(v2))
  assert got == pytest.approx(expected, rel=1e-12)


def test_shape_errors():
  with pytest.raises(ValueError, match="Expected cov2 of shape"):
    frechet.frechet_distance([0, 0], np.eye(2), [0, 0], np.eye(3))


def test_streaming_stats_match_numpy():
  rng = np.random.default_rng(2)
  x = rng.normal(loc=50.0, size=(103, 7)).astype(np.float32)
  stats = frechet.GaussianStats()
  for start in range(0, 103, 10):
    stats.update(x[start : start + 10])
  assert stats.n == 103
  np.testing.assert_allclose(stats.mean, x.astype(np.float64).mean(0), rtol=1e-12)
  np.testing.assert_allclose(
    stats.cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10, atol=1e-12
  )
  merged = frechet.GaussianStats().update(x[:40]).merge(frechet.GaussianStats().update(x[40:]))
  np.testing.assert_allclose(merged.cov, stats.cov, rtol=1e-10, atol=1e-12)


def test_stats_save_load_and_errors(tmp_path):
  rng = np.random.default_rng(3)
  stats = frechet.GaussianStats().update(rng.normal(size=(5, 3)))
  stats.save(str(tmp_path / "s.npz"))
  loaded = frechet.GaussianStats.load(str(tmp_path / "s.npz"))
  assert loaded.n == 5
  np.testing.assert_array_equal(loaded.cov, stats.cov)
  assert frechet.frechet_distance_from_stats(stats, loaded) == pytest.approx(0.0, abs=1e-10)
  with pytest.raises(ValueError, match="dimension 3, received 4"):
    stats.update(np.zeros([2, 4]))
  with pytest.raises(ValueError, match="at least 2"):
    _ = frechet.GaussianStats().update(np.zeros([1, 3])).cov
