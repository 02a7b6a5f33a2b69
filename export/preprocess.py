"""Turning user images into generator inputs, and generator outputs into pixels.

One implementation serves both the in-graph SavedModel signatures (`animate(image)` takes
uint8 images of any size) and the `export.animate` CLI, so a clip made from a photo on the
command line and one made by TF Serving from the same photo see the same pixels.
"""

import tensorflow as tf

from zoo import inputs as zoo_inputs


def resize_and_crop(images, height, width):
  """uint8 images [B, h, w, 3] of any size -> float32 [B, height, width, 3] in [-1, 1].

  Scales so that the image covers height x width (zoo.inputs.cover_size), with the resize of
  the training pipeline (zoo.inputs.resize_images: bilinear, antialiased), then centre-crops;
  a model sees a served photo as it saw the frames it was trained on. Works eagerly and
  inside a tf.function with unknown h, w.
  """
  images = tf.convert_to_tensor(images)
  shape = tf.shape(images)
  new_h, new_w = zoo_inputs.cover_size(shape[1], shape[2], height, width)
  resized = zoo_inputs.resize_images(images, tf.stack([new_h, new_w]))
  top = (new_h - height) // 2
  left = (new_w - width) // 2
  cropped = resized[:, top : top + height, left : left + width, :]
  cropped = tf.ensure_shape(cropped, [None, height, width, 3])
  return cropped / 127.5 - 1.0


def resize_and_crop_mask(masks, height, width):
  """int class ids [B, h, w] of any size -> int32 [B, height, width], nearest neighbour.

  Same geometry as `resize_and_crop`; nearest so that no new class id is invented.
  """
  masks = tf.convert_to_tensor(masks)
  shape = tf.shape(masks)
  new_h, new_w = zoo_inputs.cover_size(shape[1], shape[2], height, width)
  resized = tf.image.resize(
    tf.cast(masks, tf.int32)[..., None], tf.stack([new_h, new_w]), method="nearest"
  )[..., 0]
  top = (new_h - height) // 2
  left = (new_w - width) // 2
  cropped = resized[:, top : top + height, left : left + width]
  return tf.ensure_shape(tf.cast(cropped, tf.int32), [None, height, width])


def to_uint8(video):
  """float [-1, 1] -> uint8, rounding half to even as numpy's `rint` does.

  The in-graph twin of `trainers.data.video_io.to_uint8`, so a served `video_uint8` equals
  what the sample CLI writes.
  """
  return tf.cast(tf.clip_by_value(tf.round((video + 1.0) * 127.5), 0.0, 255.0), tf.uint8)
