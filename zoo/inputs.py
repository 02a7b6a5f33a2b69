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
  return tf.quantization.dequantize(tf.bitcast(frames, tf.quint8), -1.0, 1.0, mode="MIN_COMBINED")


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

  uint8 images are resized as they are: the kernel computes in float32 and gives the very
  values of a float32 copy, without that copy (four times the image: 580 MB more for a
  48 MP photo), and ten times faster.
  """
  images = tf.convert_to_tensor(images)
  if images.dtype != tf.uint8:
    images = tf.cast(images, tf.float32)
  return tf.image.resize(images, size, method="bilinear", antialias=True)
