"""Batch normalization as one fused TensorFlow op (forward and backward), 4D and 5D.

Keras 3's `BatchNormalization` runs as separate ops (moments, then an elementwise
normalization chain, and as many again in the gradient). TensorFlow's FusedBatchNormV3
kernels compute the same function with one op each way. Every input goes to the op as a
4D NHWC view (5D [B, D, H, W, C] as [B * D, H, W, C]: a reshape, with the same per-channel
statistics), because on CPU only the 4D op runs on oneDNN (about twice as fast as the
5D op; docs/benchmarks.md).

It subclasses `keras.layers.BatchNormalization`, so it has the same variables in the same
order (gamma, beta, moving_mean, moving_variance: checkpoints are interchangeable), the same
arguments and the same semantics:
  * training: normalize by the batch mean and the biased batch variance; update
    moving = momentum * moving + (1 - momentum) * batch, with the biased variance as Keras
    does (the fused op returns the Bessel-corrected variance; it is scaled back by (n-1)/n);
  * inference: normalize by the moving statistics;
  * mixed precision: float16 / bfloat16 inputs, float32 statistics and parameters.
Anything the fused op does not cover (a mask, renorm, synchronized BN, an axis other than
the last, a backend other than TensorFlow) falls back to the Keras layer.

Under a `tf.distribute` strategy with several replicas, each replica updates the moving
statistics from its own share of the batch. Keras 3 creates them without an aggregation, so
the replicas' copies drift apart (replica 0's is what a checkpoint saves; another replica
normalizes by its own at inference). Here they are created with the "mean" aggregation:
every update is averaged over the replicas, as TF-Keras 2 did, and the copies stay equal.
The average is a synchronisation point, which TensorFlow does not allow inside a
`tf.while_loop` or nested `tf.function` in replica context: under such a strategy no model
of the zoo trains a batch norm inside a graph loop (`conv_gru.unroll`'s cell has none; the
predictors' rollout loop runs at inference; the trainers unroll micro-batches there).
"""

import keras
import tensorflow as tf

_FUSED_DTYPES = (tf.float32, tf.bfloat16, tf.float16)


@keras.saving.register_keras_serializable(package="zoo")
class FusedBatchNormalization(keras.layers.BatchNormalization):
  """`keras.layers.BatchNormalization` over the last axis, computed by FusedBatchNormV3."""

  def add_weight(self, *args, **kwargs):
    if not kwargs.get("trainable", True):  # moving_mean, moving_variance
      kwargs["aggregation"] = "mean"
    return super().add_weight(*args, **kwargs)

  def _fusable(self, inputs, mask):
    rank = len(inputs.shape)
    return (
      mask is None
      and not getattr(self, "renorm", False)
      and not getattr(self, "synchronized", False)
      and keras.backend.backend() == "tensorflow"
      and rank >= 2
      and self.axis in (-1, rank - 1)
    )

  def call(self, inputs, training=None, mask=None):
    if not self._fusable(inputs, mask):
      return super().call(inputs, training=training, mask=mask)
    x = tf.convert_to_tensor(inputs)
    if x.dtype not in _FUSED_DTYPES:
      x = tf.cast(x, tf.float32)
    rank = len(x.shape)
    channels = x.shape[-1]
    original_shape = None
    if rank == 5:  # [B, D, H, W, C] -> [B * D, H, W, C]: the same per-channel statistics
      original_shape = tf.shape(x)
      x = tf.reshape(x, tf.concat([[-1], original_shape[2:]], 0))
    elif rank != 4:  # [B, C] or [B, L, C] (or more): one 4D view, same statistics
      original_shape = tf.shape(x)
      x = tf.reshape(x, [tf.shape(x)[0], 1, -1, channels])
    data_format = "NHWC"
    gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
    beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
    if training and self.trainable:
      empty = tf.constant([], tf.float32)
      y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=gamma,
        offset=beta,
        mean=empty,
        variance=empty,
        epsilon=self.epsilon,
        exponential_avg_factor=1.0,
        data_format=data_format,
        is_training=True,
      )
      count = tf.cast(tf.size(x) // channels, tf.float32)
      variance = variance * (count - 1.0) / tf.maximum(count, 1.0)  # Bessel-corrected -> biased
      self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
      self.moving_variance.assign(
        self.moving_variance * self.momentum + variance * (1.0 - self.momentum)
      )
    else:
      y, _, _, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x,
        scale=gamma,
        offset=beta,
        mean=tf.cast(self.moving_mean, tf.float32),
        variance=tf.cast(self.moving_variance, tf.float32),
        epsilon=self.epsilon,
        exponential_avg_factor=1.0,
        data_format=data_format,
        is_training=False,
      )
    if original_shape is not None:
      y = tf.reshape(y, original_shape)
    return tf.cast(y, self.compute_dtype)
