"""Tiny segmentation SavedModels following zoo.segmenter's convention (no test cases here).

`ColourSegmenter`: class scores = a 1x1 "conv" of the frame, kernel a tf.Variable (so that an
export embedding it must save and restore a variable); with 4 classes the kernel picks
(red, green, blue, -red), so a frame painted in a class's colour segments to that class.
`Hidden`: one whose int8 TFLite conversion really quantizes it. `Cumprod`: one that no
TFLite builtin converts.
"""

import numpy as np
import tensorflow as tf

COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0]], np.float32)  # class -> RGB


def colour_kernel(num_classes=4):
  """[3, num_classes]: the colours' kernel for 4 classes, seeded random weights otherwise."""
  if num_classes == 4:
    return COLOURS.T
  return np.random.default_rng(num_classes).standard_normal((3, num_classes)).astype(np.float32)


class ColourSegmenter(tf.Module):
  """frames float32 [N, H, W, 3] -> scores [N, H, W, C] (or ids [N, H, W] with `ids`)."""

  def __init__(self, num_classes=4, ids=False):
    super().__init__()
    self.kernel = tf.Variable(colour_kernel(num_classes))
    self.ids = ids

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  def __call__(self, frames):
    scores = tf.einsum("nhwc,ck->nhwk", frames, self.kernel)
    return tf.argmax(scores, -1, output_type=tf.int32) if self.ids else scores


def save(path, num_classes=4, ids=False, signature_only=False):
  """Writes a ColourSegmenter SavedModel to `path` (as a serving_default signature only, its
  root not callable, with `signature_only`); returns `path` as a str."""
  module = ColourSegmenter(num_classes, ids)
  if signature_only:
    holder = tf.Module()
    holder.segmenter = module
    tf.saved_model.save(holder, str(path), signatures={"serving_default": module.__call__})
  else:
    tf.saved_model.save(module, str(path))
  return str(path)


class Resizing(tf.Module):
  """Breaks the convention: scores at half the frames' size."""

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  def __call__(self, frames):
    return tf.nn.avg_pool2d(frames, 2, 2, "VALID")


def save_resizing(path):
  tf.saved_model.save(Resizing(), str(path))
  return str(path)


class Hidden(tf.Module):
  """frames -> scores [N, H, W, 4] through a hidden ReLU layer of 512: seeded kernels of more
  than 1024 elements, so that TFLite's int8 dynamic-range conversion quantizes them (smaller
  tensors stay float) and the argmax flips at a few pixels of noise images."""

  def __init__(self, hidden=512, num_classes=4):
    super().__init__()
    rng = np.random.default_rng(0)
    self.w1 = tf.Variable(rng.standard_normal((3, hidden)).astype(np.float32))
    self.w2 = tf.Variable(
      (rng.standard_normal((hidden, num_classes)) / np.sqrt(hidden)).astype(np.float32)
    )

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  def __call__(self, frames):
    hidden = tf.nn.relu(tf.einsum("nhwc,ck->nhwk", frames, self.w1))
    return tf.einsum("nhwk,kc->nhwc", hidden, self.w2)


def save_hidden(path):
  tf.saved_model.save(Hidden(), str(path))
  return str(path)


class Cumprod(ColourSegmenter):
  """Follows the convention, but its scores go through Cumprod, a Select TF op: no TFLite
  builtin converts it."""

  @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
  def __call__(self, frames):
    return tf.math.cumprod(tf.einsum("nhwc,ck->nhwk", frames, self.kernel), axis=-1)


def save_cumprod(path):
  tf.saved_model.save(Cumprod(), str(path))
  return str(path)
