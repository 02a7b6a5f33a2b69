"""Kernel distances (KID for images, KVD for videos): unbiased polynomial-kernel MMD^2, float64.

Bińkowski et al. 2018 ("Demystifying MMD GANs"), with the kernel k(x, y) = (x.y / d + 1)^3.
Unlike the Frechet distance, the estimator is unbiased, so values from different sample sizes
compare; it can be slightly negative when the two sets come from one distribution.

Two ways of splitting the samples, both from the references:
- blocks (default, TF-GAN's `kernel_classifier_distance_and_std_from_activations`): the
  samples are cut, in order, into `ceil(max(n_r, n_g) / max_block_size)` blocks of nearly
  equal size; the estimate is the mean of the per-block MMD^2 and the second value is its
  standard error (NaN with a single block). The inputs should be in random order.
- subsets (`num_subsets` given, the KID paper's code and torch-fidelity): `num_subsets` random
  subsets of `subset_size` from each set, drawn without replacement with numpy's seeded
  generator; the second value is the standard deviation over subsets.
KVD is the same computation on I3D embeddings; the name only says which embedder was used.
"""

import math

import numpy as np


def polynomial_kernel(x, y):
  """(x y^T / d + 1)^3 for x [n, d], y [m, d] -> [n, m], float64."""
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y):
  """Unbiased MMD^2 of two sets with the cubic polynomial kernel (TF-GAN's per-block formula).

  mean_{i != j} k(x_i, x_j) + mean_{i != j} k(y_i, y_j) - 2 mean_{i, j} k(x_i, y_j).
  """
  m, n = len(x), len(y)
  if m < 2 or n < 2:
    raise ValueError(f"Expected at least 2 samples in each set, received {m} and {n}.")
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  return float(
    (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
    + (k_yy.sum() - np.trace(k_yy)) / (n * (n - 1))
    - 2.0 * k_xy.mean()
  )


def _block_bounds(n, n_blocks):
  """TF-GAN's split: the first blocks get n // n_blocks samples, the last n % n_blocks one more."""
  v = n // n_blocks
  n_plus_one = n - v * n_blocks
  sizes = [v] * (n_blocks - n_plus_one) + [v + 1] * n_plus_one
  return np.concatenate([[0], np.cumsum(sizes)])


def kernel_distance(real, fake, max_block_size=1024, num_subsets=None, subset_size=1000, seed=0):
  """KID / KVD of two embedding sets [n, d]: returns (estimate, spread) as Python floats.

  Without `num_subsets`: TF-GAN's block estimator, spread = standard error. With it: the mean
  over random subsets of `min(subset_size, n_r, n_g)`, spread = standard deviation.
  """
  real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
  if real.ndim != 2 or fake.ndim != 2 or real.shape[1] != fake.shape[1]:
    raise ValueError(
      f"Expected embeddings [n, d] with the same d, received shapes {real.shape} and {fake.shape}."
    )
  if num_subsets:
    size = min(subset_size, len(real), len(fake))
    rng = np.random.default_rng(seed)
    ests = np.array(
      [
        mmd2_unbiased(
          real[rng.choice(len(real), size, replace=False)],
          fake[rng.choice(len(fake), size, replace=False)],
        )
        for _ in range(num_subsets)
      ]
    )
    return float(ests.mean()), float(ests.std())
  if max_block_size < 2:
    raise ValueError(f"Expected max_block_size >= 2, received {max_block_size}.")
  n_blocks = math.ceil(max(len(real), len(fake)) / max_block_size)
  b_r, b_g = _block_bounds(len(real), n_blocks), _block_bounds(len(fake), n_blocks)
  ests = np.array(
    [mmd2_unbiased(real[b_r[i] : b_r[i + 1]], fake[b_g[i] : b_g[i + 1]]) for i in range(n_blocks)]
  )
  mean = float(ests.mean())
  if n_blocks <= 1:
    return mean, float("nan")
  return mean, float(math.sqrt(np.sum((ests - mean) ** 2) / (n_blocks - 1) / n_blocks))


def kid(real, fake, **kwargs):
  """Kernel Inception Distance of two embedding sets; see `kernel_distance`."""
  return kernel_distance(real, fake, **kwargs)


def kvd(real, fake, **kwargs):
  """Kernel Video Distance (on I3D embeddings) of two embedding sets; see `kernel_distance`."""
  return kernel_distance(real, fake, **kwargs)
