"""Torch-convention parameter counting shared by the zoo tests (VGAN, Egan)."""

import numpy as np


def conv_params(kernel_volume, cin, cout):
  """Weights + bias of a (transposed) conv, as Torch counts them."""
  return kernel_volume * cin * cout + cout


def bn_params(channels):
  """Gamma + beta (Torch does not count running statistics as parameters)."""
  return 2 * channels


# Buffers, not parameters, in Torch: BN running statistics and spectral norm's u vector.
BUFFERS = ("moving_mean", "moving_variance", "vector_u")


def torch_count(model):
  return sum(int(np.prod(w.shape)) for w in model.weights if w.name not in BUFFERS)


def trainable_count(model):
  return sum(int(np.prod(w.shape)) for w in model.trainable_weights)
