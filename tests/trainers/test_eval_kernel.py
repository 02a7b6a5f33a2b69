"""trainers.eval.kernel against a direct O(n^2) loop."""

import math

import numpy as np
import pytest

from trainers.eval import kernel


def _direct_mmd2(x, y):
  """The unbiased MMD^2 written out pair by pair."""
  d = x.shape[1]
  k = lambda a, b: (float(np.dot(a, b)) / d + 1.0) ** 3
  m, n = len(x), len(y)
  xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
  yy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
  xy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
  return xx + yy - 2 * xy


def test_mmd2_matches_direct_loop():
  rng = np.random.default_rng(0)
  x, y = rng.normal(size=(9, 4)), rng.normal(0.5, 1.0, size=(7, 4))
  assert kernel.mmd2_unbiased(x, y) == pytest.approx(_direct_mmd2(x, y), rel=1e-10)
  est, err = kernel.kernel_distance(x, y)
  assert est == pytest.approx(_direct_mmd2(x, y), rel=1e-10) and math.isnan(err)


def test_blocks_follow_tfgan_split():
  rng = np.random.default_rng(1)
  x, y = rng.normal(size=(11, 3)), rng.normal(size=(10, 3))
  # ceil(11 / 4) = 3 blocks: real sizes 3, 4, 4; fake sizes 3, 3, 4.
  ests = [
    _direct_mmd2(x[0:3], y[0:3]),
    _direct_mmd2(x[3:7], y[3:6]),
    _direct_mmd2(x[7:11], y[6:10]),
  ]
  est, err = kernel.kernel_distance(x, y, max_block_size=4)
  assert est == pytest.approx(np.mean(ests), rel=1e-10)
  assert err == pytest.approx(np.std(ests, ddof=1) / math.sqrt(3), rel=1e-10)


def test_subsets_are_seeded():
  rng = np.random.default_rng(2)
  x, y = rng.normal(size=(30, 5)), rng.normal(size=(25, 5))
  a = kernel.kid(x, y, num_subsets=4, subset_size=10, seed=3)
  assert a == kernel.kvd(x, y, num_subsets=4, subset_size=10, seed=3)
  pick = np.random.default_rng(3)
  ests = []
  for _ in range(4):
    ix, iy = pick.choice(30, 10, replace=False), pick.choice(25, 10, replace=False)
    ests.append(_direct_mmd2(x[ix], y[iy]))
  assert a[0] == pytest.approx(np.mean(ests), rel=1e-10)
  assert a[1] == pytest.approx(np.std(ests), rel=1e-10)


def test_same_distribution_near_zero():
  rng = np.random.default_rng(4)
  x, y = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
  z = rng.normal(0.5, 1.0, size=(400, 8))
  same, _ = kernel.kid(x, y)
  differ, _ = kernel.kid(x, z)
  assert differ > 1.0 and abs(same) < 0.03 * differ


def test_shape_error():
  with pytest.raises(ValueError, match="same d"):
    kernel.kid(np.zeros([4, 3]), np.zeros([4, 2]))
