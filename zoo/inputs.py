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
  serving signatures both call it, so training and serving see the same values.

  TF's Dequantize computes min + x * (max - min) / 255 in one kernel: the same float32 values
  as `x / 127.5 - 1` inside a tf.function (Grappler turns the division into a multiplication
  by 1 / 127.5; run eagerly or in tf.data, the division differs by at most 1.2e-7), at 40% of
  the CPU of that formula's three passes over a batch (cast, divide, subtract), which took
  ~0.3 of ~1.8 ms per 32x64x64 clip.
  """
  return tf.quantization.dequantize(tf.bitcast(frames, tf.quint8), -1.0, 1.0,
                                    mode="MIN_COMBINED")


def cover_size(h, w, height, width):
  """(rh, rw) int32: the size an h x w image is resized to, aspect kept, so that it just
  covers height x width before a centre or random crop (the short side, relative to the
  target's aspect, lands on the target; rounding never leaves a side short)."""
  hf, wf = tf.cast(h, tf.float64), tf.cast(w, tf.float64)
  scale = tf.maximum(height / hf, width / wf)
  rh = tf.maximum(tf.cast(tf.round(hf * scale), tf.int32), height)
  rw = tf.maximum(tf.cast(tf.round(wf * scale), tf.int32), width)
  return rh, rw


def resize_images(images, size):
  """Images [B, h, w, C] or [h, w, C] (uint8 or float on the [0, 255] scale) -> float32 of
  `size` (rh, rw): bilinear with antialiasing.

  The one resize from data to serving: the input pipeline (trainers.data.pipeline) and the
  serving preprocessing (export.preprocess: the SavedModel's signatures, export.animate)
  both call it, so a photo at serving and a frame in training reach the model as the same
  pixels. Antialiased because real frames shrink a lot (1080p to 64 pixels): without it
  fine texture (grass, leaves) aliases into moiré. It lives in zoo, which trainers and
  export both import and which itself needs only TensorFlow.
  """
  return tf.image.resize(tf.cast(images, tf.float32), size, method="bilinear", antialias=True)
