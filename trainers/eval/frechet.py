"""Frechet distance between Gaussians fitted to embeddings (FID, FVD, FD-R3D), in float64.

`GaussianStats` accumulates a set of embeddings batch by batch, so thousands of clips never sit
in memory; `frechet_distance(mu1, cov1, mu2, cov2)` is the distance of Heusel et al. 2017,

    ||mu1 - mu2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^(1/2)),

with Tr((cov1 cov2)^(1/2)) computed as TF-GAN's `trace_sqrt_product` does (the code behind the
reference FVD): A = sqrt(cov1) by SVD of the symmetric matrix, then Tr(sqrt(A cov2 A)), since
A cov2 A is symmetric PSD and similar to cov1 cov2. Singular values below 1e-10 are kept
as-is rather than square-rooted, as TF-GAN does. All arithmetic is numpy float64.
"""

import numpy as np

_SQRT_EPS = 1e-10


def symmetric_matrix_square_root(mat, eps=_SQRT_EPS):
  """sqrt of a symmetric PSD matrix via SVD: U diag(sqrt(s)) V^T (TF-GAN's form)."""
  u, s, vh = np.linalg.svd(np.asarray(mat, np.float64))
  si = np.where(s < eps, s, np.sqrt(s))
  return (u * si) @ vh


def trace_sqrt_product(sigma, sigma_v):
  """Tr(sqrt(sigma sigma_v)) of symmetric PSD matrices: Tr(sqrt(A sigma_v A)), A = sqrt(sigma)."""
  sqrt_sigma = symmetric_matrix_square_root(sigma)
  sqrt_a_sigmav_a = sqrt_sigma @ (np.asarray(sigma_v, np.float64) @ sqrt_sigma)
  return float(np.trace(symmetric_matrix_square_root(sqrt_a_sigmav_a)))


def frechet_distance(mu1, cov1, mu2, cov2):
  """Frechet distance between N(mu1, cov1) and N(mu2, cov2), a Python float."""
  mu1, mu2 = (np.atleast_1d(np.asarray(m, np.float64)) for m in (mu1, mu2))
  cov1, cov2 = (np.atleast_2d(np.asarray(c, np.float64)) for c in (cov1, cov2))
  d = mu1.shape[0]
  for name, x, shape in (
    ("mu1", mu1, (d,)),
    ("mu2", mu2, (d,)),
    ("cov1", cov1, (d, d)),
    ("cov2", cov2, (d, d)),
  ):
    if x.shape != shape:
      raise ValueError(f"Expected {name} of shape {shape}, received {x.shape}.")
  mean_term = float(np.sum(np.square(mu1 - mu2)))
  trace_term = float(np.trace(cov1) + np.trace(cov2)) - 2.0 * trace_sqrt_product(cov1, cov2)
  return mean_term + trace_term


class GaussianStats:
  """Streaming mean and unbiased covariance of D-dimensional embeddings, in float64.

  `update(batch)` folds a [B, D] batch in with the pairwise merge of Chan et al. (1979):
  count, mean and the centred sum of outer products. That is algebraically the same as
  accumulating n, sum(x) and sum(x x^T), but does not cancel catastrophically when the mean is
  large next to the spread (I3D logits). `merge` combines two accumulators (one per
  worker or per shard); `save` / `load` cache the real-data statistics between runs.
  """

  def __init__(self, dim=None):
    self.dim = dim
    self.n = 0
    self._mean = None if dim is None else np.zeros([dim], np.float64)
    self._m2 = None if dim is None else np.zeros([dim, dim], np.float64)

  def _combine(self, n_b, mean_b, m2_b):
    if self.dim is None:
      self.dim = mean_b.shape[0]
      self._mean = np.zeros([self.dim], np.float64)
      self._m2 = np.zeros([self.dim, self.dim], np.float64)
    if mean_b.shape[0] != self.dim:
      raise ValueError(f"Expected embeddings of dimension {self.dim}, received {mean_b.shape[0]}.")
    if n_b == 0:
      return
    n = self.n + n_b
    delta = mean_b - self._mean
    self._mean = self._mean + delta * (n_b / n)
    self._m2 = self._m2 + m2_b + np.outer(delta, delta) * (self.n * n_b / n)
    self.n = n

  def update(self, embeddings):
    """Adds a batch of embeddings [B, D] (any float dtype); returns self."""
    x = np.asarray(embeddings, np.float64)
    if x.ndim != 2:
      raise ValueError(f"Expected embeddings of rank 2 [B, D], received shape {x.shape}.")
    if x.shape[0] == 0:
      return self
    mean_b = x.mean(axis=0)
    centred = x - mean_b
    self._combine(x.shape[0], mean_b, centred.T @ centred)
    return self

  def merge(self, other):
    """Folds another accumulator in; returns self."""
    if other.n:
      self._combine(other.n, other._mean, other._m2)
    return self

  @property
  def mean(self):
    if self.n < 1:
      raise ValueError("Expected at least 1 embedding for a mean, received 0.")
    return self._mean.copy()

  @property
  def cov(self):
    """Unbiased (n - 1) covariance, as np.cov and TF-GAN."""
    if self.n < 2:
      raise ValueError(f"Expected at least 2 embeddings for a covariance, received {self.n}.")
    return self._m2 / (self.n - 1)

  def state(self):
    """{"n", "mean", "m2"}: the count, mean and centred scatter matrix, as arrays."""
    if self.n < 1:
      raise ValueError("Expected at least 1 embedding to save statistics, received 0.")
    return {"n": np.int64(self.n), "mean": self._mean, "m2": self._m2}

  @classmethod
  def from_state(cls, state):
    """The accumulator `state()` described (a dict or an opened .npz)."""
    stats = cls(int(state["mean"].shape[0]))
    stats.n, stats._mean, stats._m2 = int(state["n"]), state["mean"], state["m2"]
    return stats

  def save(self, path):
    """Writes n, mean and the centred scatter matrix to an .npz file."""
    state = self.state()
    with open(path, "wb") as f:
      np.savez(f, **state)

  @classmethod
  def load(cls, path):
    with np.load(path) as data:
      return cls.from_state(data)


def frechet_distance_from_stats(stats1, stats2):
  """Frechet distance of two `GaussianStats`."""
  return frechet_distance(stats1.mean, stats1.cov, stats2.mean, stats2.cov)
