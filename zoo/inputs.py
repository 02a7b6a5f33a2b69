"""Inputs a generator takes, built from its contract (see zoo.registry)."""

import tensorflow as tf


def noise(generator, batch_size, seed):
  """Stateless N(0, 1) latents [batch_size, latent_dim]; `seed` is a shape-[2] int tensor."""
  return tf.random.stateless_normal([batch_size, generator.latent_dim], seed=seed)


def generator_inputs(generator, batch_size, seed, condition=None):
  """What `generator(...)` takes: z, the condition, or {"z", <condition>} when both.

  `condition` is the conditioning tensor (e.g. a frame [B, H, W, 3]) for conditional models;
  when missing for a conditional model, zeros of the right shape stand in (used only to build
  variables, never to generate).
  """
  z = noise(generator, batch_size, seed) if generator.latent_dim else None
  if generator.condition is None:
    return z
  if condition is None:
    condition = placeholder_condition(generator, batch_size)
  if z is None:
    return condition
  return {"z": z, generator.condition: condition}


def placeholder_condition(generator, batch_size):
  """Zeros of the condition's shape; a dict with the generator's `extra_conditions`
  ({name: (shape without batch, dtype)}, e.g. a segmentation beside the photo) when it has any."""
  extras = getattr(generator, "extra_conditions", None) or {}
  condition = _placeholder(generator, batch_size)
  if not extras:
    return condition
  return {generator.condition: condition,
          **{k: tf.zeros([batch_size, *shape], dtype) for k, (shape, dtype) in extras.items()}}


def _placeholder(generator, batch_size):
  t, h, w, c = generator.video_shape
  if generator.condition == "image":
    return tf.zeros([batch_size, h, w, c])
  if generator.condition == "mask":
    return tf.zeros([batch_size, h, w], tf.int32)
  if generator.condition == "frames":
    return tf.zeros([batch_size, 1, h, w, c])
  raise ValueError(f"Unknown generator condition {generator.condition!r}; expected None, "
                   "'image', 'mask' or 'frames'.")


def uint8_to_unit(frames):
  """uint8 [0, 255] -> float32 [-1, 1]: x * (1 / 127.5) - 1 in one element-wise pass.

  The one conversion of stored frames to a network's range: the input pipeline and the
  serving signatures both call it, so training and serving see the same values. TF's
  Dequantize does it in one kernel instead of three passes (cast, divide, subtract); the
  values equal `x / 127.5 - 1` in a tf.function (docs/benchmarks.md has the CPU saved).
  """
  return tf.quantization.dequantize(tf.bitcast(frames, tf.quint8), -1.0, 1.0,
                                    mode="MIN_COMBINED")
