"""Turning user images into generator inputs, and generator outputs into pixels.

One implementation serves both the in-graph SavedModel signatures (`animate(image)` takes
uint8 images of any size) and the `export.animate` CLI, so a clip made from a photo on the
command line and one made by TF Serving from the same photo see the same pixels.
"""

import tensorflow as tf


def resize_and_crop(images, height, width):
  """uint8 images [B, h, w, 3] of any size -> float32 [B, height, width, 3] in [-1, 1].

  Scales so that the image covers height x width (the short side, relative to the target's
  aspect, lands on the target size), then centre-crops. Bilinear with half-pixel centres and
  no antialiasing: the resize TF Serving, TFLite and the CLI all have, so the three agree;
  antialiasing would be kinder to large downscales but is not in every runtime's kernel.
  Works eagerly and inside a tf.function with unknown h, w.
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  h = tf.cast(shape[1], tf.float64)
  w = tf.cast(shape[2], tf.float64)
  scale = tf.maximum(height / h, width / w)
  # Rounding can leave a side one pixel short of the target; never crop beyond the image.
  new_h = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), height)
  new_w = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), width)
  resized = tf.image.resize(tf.cast(images, tf.float32), tf.stack([new_h, new_w]),
                            method="bilinear", antialias=False)
  top = (new_h - height) // 2
  left = (new_w - width) // 2
  cropped = resized[:, top:top + height, left:left + width, :]
  cropped = tf.ensure_shape(cropped, [None, height, width, 3])
  return cropped / 127.5 - 1.0


def resize_and_crop_mask(masks, height, width):
  """int class ids [B, h, w] of any size -> int32 [B, height, width], nearest neighbour.

  Same geometry as `resize_and_crop`; nearest so that no new class id is invented.
  """
  masks = tf.convert_to_tensor(masks)
  shape = tf.shape(masks)
  h = tf.cast(shape[1], tf.float64)
  w = tf.cast(shape[2], tf.float64)
  scale = tf.maximum(height / h, width / w)
  new_h = tf.maximum(tf.cast(tf.round(h * scale), tf.int32), height)
  new_w = tf.maximum(tf.cast(tf.round(w * scale), tf.int32), width)
  resized = tf.image.resize(tf.cast(masks, tf.int32)[..., None], tf.stack([new_h, new_w]),
                            method="nearest")[..., 0]
  top = (new_h - height) // 2
  left = (new_w - width) // 2
  cropped = resized[:, top:top + height, left:left + width]
  return tf.ensure_shape(tf.cast(cropped, tf.int32), [None, height, width])


def to_uint8(video):
  """float [-1, 1] -> uint8, rounding half to even as numpy's `rint` does.

  The in-graph twin of `trainers.data.video_io.to_uint8`, so a served `video_uint8` equals
  what the sample CLI writes.
  """
  return tf.cast(tf.clip_by_value(tf.round((video + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
