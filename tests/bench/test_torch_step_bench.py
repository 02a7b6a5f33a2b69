"""bench/torch_vgan.py, the networks of bench/torch_step.py: Keras's VGAN, and a step trains.

Skipped without PyTorch (`pip install -e '.[bench]'`). Smoke size (8x16x16 clips, G widths
(32, 16), D widths (8, 16)): a few seconds.
"""

import copy

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from bench import torch_vgan
from configs import vgan_two_stream


@pytest.fixture(scope="module")
def config():
  return vgan_two_stream.get_config("smoke")


@pytest.fixture(scope="module")
def reference(config):
  return torch_vgan.build_reference(config)


def test_parameter_counts_equal_keras(reference):
  params = reference["params"]
  assert params["generator"]["torch"] == params["generator"]["keras"]
  # D by hand: conv 3->8 and 8->16 (k 4^3, bias), BN 16 (gamma, beta), final conv (2,4,4) 16->1.
  d = (4**3 * 3 * 8 + 8) + (4**3 * 8 * 16 + 16) + 2 * 16 + (2 * 4 * 4 * 16 + 1)
  assert params["d_d"] == {"keras": d, "torch": d}


def test_forward_matches_keras_with_the_same_weights(reference):
  # load_keras_weights already checked every shape; the outputs check strides, padding, BN
  # and the composition (training mode: O(1) activations, relative differences).
  assert reference["relative_diff"]["video"] < 1e-4
  assert reference["relative_diff"]["d_d_logits"] < 1e-4


@pytest.mark.parametrize("channels_last", [False, True])
def test_one_step_trains_both_networks_with_finite_losses(config, reference, channels_last):
  g = copy.deepcopy(reference["generator"])
  ds = copy.deepcopy(reference["discriminators"])
  memory_format = torch.contiguous_format
  if channels_last:
    g.to_channels_last()
    for d in ds.values():
      d.to_channels_last()
    memory_format = torch.channels_last_3d
  t, h, w = config.data.num_frames, config.data.height, config.data.width
  real = (torch.rand(2, 3, t, h, w) * 2 - 1).contiguous(memory_format=memory_format)
  step = torch_vgan.Step(g, ds, reference["task"].d_weights, config, memory_format)
  weights = lambda m: [p.detach().clone() for p in m.parameters() if p.dim() >= 2]
  before_g, before_d = weights(g), weights(ds["d"])
  d_loss, g_loss = step(real)
  assert np.isfinite(d_loss) and np.isfinite(g_loss)
  for old, new in zip(before_g + before_d, weights(g) + weights(ds["d"]), strict=True):
    assert not torch.equal(old, new)
  assert all(p.requires_grad for p in ds["d"].parameters())  # unfrozen after the G step
