"""bench/torch_vgan.py, the networks of bench/torch_step.py: Keras's VGAN, its FLOPs, a step.

Skipped without PyTorch (`pip install torch==2.13.0`, the bench extra). Smoke size (8x16x16
clips, G widths (32, 16), D widths (8, 16)) but for the paper-size parameter counts, which
build no graph: a few seconds each.
"""

import copy
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

torch = pytest.importorskip("torch")

from bench import flops
from bench import torch_vgan
from configs import vgan_two_stream
from trainers import tasks


@pytest.fixture(scope="module")
def config():
  return vgan_two_stream.get_config("smoke")


def load_keras_weights(module, keras_model):
  """Copies a Keras model's trainable variables into `module`'s parameters, in order.

  Conv kernels [k..., in, out] (Keras's transposed convs: [k..., out, in]) become PyTorch's
  [out, in, k...] ([in, out, k...]): the same permutation. Asserts every shape on the way,
  which makes this a layer-by-layer check of the architecture.
  """
  params, variables = list(module.parameters()), keras_model.trainable_variables
  assert len(params) == len(variables)
  with torch.no_grad():
    for p, v in zip(params, variables, strict=True):
      value = np.asarray(v.numpy())
      if value.ndim >= 3:
        spatial = value.ndim - 2
        value = value.transpose(spatial + 1, spatial, *range(spatial))
      assert tuple(p.shape) == value.shape, v.path
      p.copy_(torch.from_numpy(np.ascontiguousarray(value)))


def channels_first(x):
  """A channels-last array [B, ..., C] -> a PyTorch tensor [B, C, ...]."""
  return torch.from_numpy(np.moveaxis(np.asarray(x), -1, 1).copy())


def relative_diff(torch_value, keras_value):
  """max |torch - keras| / max |keras|, the PyTorch value channels-first."""
  ours = np.moveaxis(torch_value.detach().numpy(), 1, -1)
  theirs = np.asarray(keras_value)
  return float(np.abs(ours - theirs).max() / max(np.abs(theirs).max(), 1e-30))


@pytest.mark.parametrize("arg", ["smoke", None])
def test_parameter_counts_equal_keras(arg):
  c = vgan_two_stream.get_config(arg)
  task = tasks.make_task(c)
  task.generator.build((None, task.generator.latent_dim))
  d = task.discriminators["d"]
  d.build((None, *c.model.discriminators.d.args.video_shape))
  g_torch, ds_torch, weights = torch_vgan.networks(c)
  trainable = lambda m: sum(int(np.prod(v.shape)) for v in m.trainable_variables)
  assert torch_vgan.trainable_count(g_torch) == trainable(task.generator)
  assert torch_vgan.trainable_count(ds_torch["d"]) == trainable(d)
  assert weights == task.d_weights
  if arg == "smoke":  # by hand: conv 3->8, 8->16 (k 4^3, bias), BN 16, final (2,4,4) 16->1
    assert torch_vgan.trainable_count(ds_torch["d"]) == (
      (4**3 * 3 * 8 + 8) + (4**3 * 8 * 16 + 16) + 2 * 16 + (2 * 4 * 4 * 16 + 1)
    )


def test_forward_matches_keras_with_the_same_weights(config):
  # Training mode (batch statistics): freshly initialised networks emit ~1e-4 in inference
  # mode, which would check nothing. The outputs check strides, padding, BN and the composition.
  keras.utils.set_random_seed(0)
  task = tasks.make_task(config)
  g, d = task.generator, task.discriminators["d"]
  z = tf.random.stateless_normal([2, g.latent_dim], [5, 6])
  real = tf.random.stateless_uniform([2, *g.video_shape], [7, 8], -1.0, 1.0)
  keras_video, keras_logits = g(z, training=True), d(real, training=True)
  g_torch, ds_torch, _ = torch_vgan.networks(config)
  load_keras_weights(g_torch, g)
  load_keras_weights(ds_torch["d"], d)
  with torch.no_grad():
    video, _ = g_torch.train()(torch.from_numpy(z.numpy()))
    logits = ds_torch["d"].train()(channels_first(real))
  assert relative_diff(video, keras_video) < 1e-4
  assert tuple(logits.shape) == tuple(keras_logits.shape)
  assert float(np.abs(logits.numpy() - keras_logits.numpy()).max()) < 1e-4 * max(
    float(np.abs(keras_logits.numpy()).max()), 1.0
  )


def test_flop_counter_counts_what_bench_flops_counts(config):
  task = tasks.make_task(config)
  shape = tuple(config.model.discriminators.d.args.video_shape)
  task.build({"video": tf.zeros((1, *shape))})
  expected = flops.gan_step_flops(task, {"video": tf.TensorSpec((2, *shape))})
  g, ds, weights = torch_vgan.networks(config)
  step = torch_vgan.Step(g, ds, weights, config)
  counter = torch_vgan.FlopCounter([g, *ds.values()])
  with counter:
    step(torch.rand(2, 3, *shape[:3]) * 2 - 1)
  forward = expected["forward"]
  assert counter.forward == 2 * forward["generator"] + 3 * forward["d_d"]
  assert counter.total == expected["total"]


@pytest.mark.parametrize("variant", ["contiguous", "channels_last", "channels_last_bf16"])
def test_one_step_trains_both_networks_with_finite_losses(config, variant):
  g, ds, d_weights = torch_vgan.networks(config)
  memory_format = torch.contiguous_format
  if variant.startswith("channels_last"):
    g.to_channels_last()
    for d in ds.values():
      d.to_channels_last()
    memory_format = torch.channels_last_3d
  t, h, w = config.data.num_frames, config.data.height, config.data.width
  real = (torch.rand(2, 3, t, h, w) * 2 - 1).contiguous(memory_format=memory_format)
  step = torch_vgan.Step(
    g, ds, d_weights, config, memory_format, autocast=variant.endswith("_bf16")
  )
  weights = lambda m: [copy.deepcopy(p.detach()) for p in m.parameters() if p.dim() >= 2]
  before_g, before_d = weights(g), weights(ds["d"])
  d_loss, g_loss = step(real)
  assert np.isfinite(d_loss) and np.isfinite(g_loss)
  for old, new in zip(before_g + before_d, weights(g) + weights(ds["d"]), strict=True):
    assert not torch.equal(old, new)
  assert all(p.dtype == torch.float32 for p in g.parameters())  # autocast keeps fp32 weights
  assert all(p.requires_grad for p in ds["d"].parameters())  # unfrozen after the G step


def test_torch_step_imports_no_tensorflow():
  code = "import sys, bench.torch_step; print('tensorflow' in sys.modules, 'keras' in sys.modules)"
  out = subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
  )
  assert out.stdout.split() == ["False", "False"]


def test_the_bf16_matmul_is_small_where_the_cpu_has_no_bf16_instructions():
  # A 4096^2 bf16 matmul ran over 20 minutes on one core of an AMD Zen 3 (1.3 GFLOP/s).
  assert torch_vgan.bf16_matmul_size({"flags": ["avx", "avx2", "fma"]}, 4096) == 512
  assert torch_vgan.bf16_matmul_size({"flags": ["avx2", "avx512_bf16"]}, 4096) == 4096
  assert torch_vgan.bf16_matmul_size({"flags": ["avx2", "amx_bf16"]}, 4096) == 4096
  assert torch_vgan.bf16_matmul_size({"flags": []}, 4096) == 4096  # not x86: as asked
  assert torch_vgan.bf16_matmul_size({"flags": ["avx2"]}, 256) == 256
