"""The XLA-compiled train step against the eager one, for every family.

`runtime.jit_compile="auto"` compiles the step with XLA on GPU and TPU only
(`trainers.strategy.use_jit`), where these tests cannot run; "true" compiles it on CPU too.
So each family's smoke config is built twice by the loop itself (`trainers.loop.Trainer`,
same seeds, same synthetic batches), once with XLA and once without, and one train call's
every loss term (D and G losses, penalties, gradient norms) must agree: the compiled step
builds, runs and computes the same thing.

The same seed does not give the same noise in both: TF's kernels and XLA draw the same
random bits (Philox) but turn them into floats differently (the low or the high mantissa
bits), whatever `alg` says. So both steps here draw their floats through `portable_random`,
one conversion of the shared bits.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from trainers import config_files
from trainers import loop

# One smoke config per family. The first runs in CI: egan_dcgan_video:smoke (a GAN with z,
# a D step and spectral norm) took 9 s for both builds after other tests, 19-24 s as the first
# test of a process; the others are slow. Measured on a 2-core Xeon while other jobs loaded it
# (load 4-7), about 6 minutes together: relive_cnn_next_frame
# 4 s, relive_lstm 9-24 s, relive_convlstm 8-21 s, vgan_two_stream 20 s, relive_wgan 26 s,
# egan_resnet_video 29 s, egan_spade_video 47 s, dvdgan_s 100 s, radner_style 112 s.
FAMILIES = (
  "egan_dcgan_video:smoke",
  "vgan_two_stream:smoke",
  "relive_wgan:smoke",
  "relive_lstm:smoke",
  "relive_convlstm:smoke",
  "relive_cnn_next_frame:smoke",
  "egan_resnet_video:smoke",
  "egan_spade_video:smoke",
  "radner_style:smoke",
  "dvdgan_s:smoke",
)
# XLA fuses and reorders float32 arithmetic, and the first Adam step moves each weight by
# about lr x sign(gradient), so a gradient near 0 may flip between the two.
RTOL, ATOL = 1e-3, 1e-5


@pytest.fixture
def portable_random(monkeypatch):
  """tf.random.stateless_uniform / stateless_normal and the dropout Keras calls, with the same
  floats in and out of XLA."""
  bits = tf.random.stateless_uniform

  def uniform(shape, seed, minval=0, maxval=None, dtype=tf.float32, name=None, alg="auto_select"):
    dtype = tf.as_dtype(dtype)
    if not dtype.is_floating:
      return bits(shape, seed, minval, maxval, dtype, name, alg)
    drawn = bits(shape, seed, minval=None, maxval=None, dtype=tf.uint32, alg=alg)
    unit = tf.cast(tf.bitwise.right_shift(drawn, 8), tf.float32) * 2.0**-24  # [0, 1)
    maxval = 1.0 if maxval is None else maxval
    return tf.cast(minval + unit * (maxval - minval), dtype)

  def normal(shape, seed, mean=0.0, stddev=1.0, dtype=tf.float32, name=None, alg="auto_select"):
    shape = tf.cast(tf.convert_to_tensor(shape), tf.int32)
    u = uniform(tf.concat([[2], shape], 0), seed, alg=alg)
    z = tf.sqrt(-2.0 * tf.math.log(1.0 - u[0])) * tf.cos(2.0 * math.pi * u[1])  # Box-Muller
    return tf.cast(mean + stddev * z, dtype)

  def dropout(x, rate, seed, rng_alg=None, noise_shape=None, name=None):  # Keras's dropout
    keep = uniform(tf.shape(x) if noise_shape is None else noise_shape, seed) >= rate
    return x * tf.cast(keep, x.dtype) / (1.0 - rate)

  monkeypatch.setattr(tf.random, "stateless_uniform", uniform)
  monkeypatch.setattr(tf.random, "stateless_normal", normal)
  monkeypatch.setattr(tf.nn.experimental, "stateless_dropout", dropout)


def first_call_terms(spec, jit, workdir, grad_accum=None):
  """The loss terms of the first train call of `spec` built with or without XLA."""
  config = config_files.load(spec)
  with config.unlocked():
    config.runtime.jit_compile = "true" if jit else "false"
    config.train.grad_accum = grad_accum or config.train.grad_accum
  trainer = loop.Trainer(config, str(workdir))
  assert trainer.jit is jit
  terms, bad_step, _ = trainer.train_call()
  assert int(bad_step) == -1, "a loss term was not finite"
  return {k: float(v) for k, v in terms.items()}


@pytest.mark.parametrize(
  "spec",
  [FAMILIES[0]] + [pytest.param(spec, marks=pytest.mark.slow) for spec in FAMILIES[1:]],
)
def test_jit_compiled_step_matches_the_eager_step(spec, tmp_path, portable_random):
  del portable_random
  assert_same_terms(spec, tmp_path)


def test_jit_compiled_micro_batch_loop_matches_the_eager_step(tmp_path, portable_random):
  """Micro-batches run in a graph loop (`gan_step.sum_over`), which XLA compiles too."""
  del portable_random
  assert_same_terms(FAMILIES[0], tmp_path, grad_accum=2)


def assert_same_terms(spec, tmp_path, grad_accum=None):
  eager = first_call_terms(spec, False, tmp_path / "eager", grad_accum)
  compiled = first_call_terms(spec, True, tmp_path / "xla", grad_accum)
  assert sorted(compiled) == sorted(eager)
  assert any(k.endswith("/total") for k in eager)
  for name, value in eager.items():
    np.testing.assert_allclose(compiled[name], value, rtol=RTOL, atol=ATOL, err_msg=name)
