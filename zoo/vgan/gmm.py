"""Fits the Gaussian mixture of VGAN's autoencoder baseline (Vondrick et al. 2016, Section 3.2).

scikit-learn is imported inside `fit_gmm` so that importing `zoo` stays light.
"""

import numpy as np


def fit_gmm(codes, num_components=256, seed=0):
  """Fits a full-covariance Gaussian mixture to autoencoder codes.

  Args:
    codes: [N, D] array of codes (`AutoencoderGMM.encode` over the training clips).
    num_components: number of components (paper: 256).
    seed: scikit-learn's `random_state`.

  Returns:
    (weights [K], means [K, D], cholesky [K, D, D]) as float32 numpy arrays, what
    `AutoencoderGMM.set_gmm` takes; `cholesky` is the lower-triangular factor L of each
    covariance (covariance = L L^T), `np.linalg.cholesky(GaussianMixture.covariances_)`.
  """
  from sklearn import mixture

  codes = np.asarray(codes, np.float64)
  if codes.ndim != 2 or codes.shape[0] < num_components:
    raise ValueError(
      f"Expected codes [N, D] with N >= num_components ({num_components}), "
      f"received shape {codes.shape}."
    )
  gmm = mixture.GaussianMixture(
    n_components=num_components, covariance_type="full", random_state=seed
  )
  gmm.fit(codes)
  return (
    gmm.weights_.astype(np.float32),
    gmm.means_.astype(np.float32),
    np.linalg.cholesky(gmm.covariances_).astype(np.float32),
  )
