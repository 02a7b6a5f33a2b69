"""3D pooling that also runs with a float16 compute dtype on a machine without a GPU.

TensorFlow's CPU has no float16 kernels for 3D pooling (AvgPool3D and MaxPool3D take float32
and bfloat16 there; a GPU has float16 ones), so a zoo network with 3D pooling built under
Keras' "mixed_float16" policy stopped on a NotFoundError without a GPU. These layers pool
float16 in float32 there (the same maximum; a mean as accurate or more) and give float16
back; elsewhere they are Keras' own.
"""

import keras
import tensorflow as tf


def _in_float32(x):
  """Whether TensorFlow has no 3D pooling kernel for `x` here (float16 without a GPU)."""
  return x.dtype == tf.float16 and not tf.config.list_logical_devices("GPU")


def avg_pool3d(x, ksize, strides, padding):
  """`tf.nn.avg_pool3d`, of float16 too (module docstring)."""
  if _in_float32(x):
    return tf.cast(tf.nn.avg_pool3d(tf.cast(x, tf.float32), ksize, strides, padding), x.dtype)
  return tf.nn.avg_pool3d(x, ksize, strides, padding)


class _Float16Pooling:
  """Pools float16 in float32 where TensorFlow has no kernel for it (module docstring)."""

  def call(self, inputs):
    if _in_float32(inputs):
      return tf.cast(super().call(tf.cast(inputs, tf.float32)), inputs.dtype)
    return super().call(inputs)


@keras.saving.register_keras_serializable(package="zoo")
class AveragePooling3D(_Float16Pooling, keras.layers.AveragePooling3D):
  """Keras' `AveragePooling3D`, of float16 too (module docstring)."""


@keras.saving.register_keras_serializable(package="zoo")
class MaxPooling3D(_Float16Pooling, keras.layers.MaxPooling3D):
  """Keras' `MaxPooling3D`, of float16 too (module docstring)."""
