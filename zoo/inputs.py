"""Inputs a generator takes, drawn and assembled through its contract (`zoo.base`)."""

import tensorflow as tf

from zoo import base


def noise(generator, batch_size, seed):
  """Stateless N(0, 1) latents [batch_size, latent_dim]; `seed` is a shape-[2] int tensor."""
  return base.contract(generator).noise(batch_size, seed)


def generator_inputs(generator, batch_size, seed, condition=None):
  """What `generator(...)` takes (`zoo.base.GeneratorSpec.inputs`), with z drawn from `seed`.

  `condition` is the conditioning tensor (e.g. a frame [B, H, W, 3]), or the dict with its
  extra conditions, for conditional models; when missing for a conditional model, zeros of
  the right shape stand in (used only to build variables, never to generate).
  """
  spec = base.contract(generator)
  z = spec.noise(batch_size, seed) if spec.takes_noise else None
  if condition is None:
    condition = spec.condition_placeholder(batch_size)
  return spec.inputs(z, condition)


def uint8_to_unit(frames):
  """uint8 [0, 255] -> float32 [-1, 1]: x * (1 / 127.5) - 1 in one element-wise pass.

  The one conversion of stored frames to a network's range: the input pipeline and the
  serving signatures both call it, so training and serving see the same values. TF's
  Dequantize does it in one kernel instead of three passes (cast, divide, subtract); the
  values equal `x / 127.5 - 1` in a tf.function (docs/benchmarks.md has the CPU saved).
  """
  return tf.quantization.dequantize(tf.bitcast(frames, tf.quint8), -1.0, 1.0,
                                    mode="MIN_COMBINED")
