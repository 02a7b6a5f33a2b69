"""FusedBatchNormalization computes exactly what keras.layers.BatchNormalization computes."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import batch_norm


def _pair(shape, **kwargs):
  """A Keras BN and a fused BN with the same (non-trivial) weights."""
  layers = []
  for cls in (keras.layers.BatchNormalization, batch_norm.FusedBatchNormalization):
    layer = cls(momentum=0.9, epsilon=1e-5, **kwargs)
    layer.build(shape)
    layers.append(layer)
  rng = np.random.default_rng(0)
  for a, b in zip(*(l.weights for l in layers), strict=True):
    value = rng.uniform(0.5, 1.5, a.shape).astype(np.float32)
    a.assign(value)
    b.assign(value)
  return layers


@pytest.mark.parametrize("shape", [(4, 3, 5, 6, 8), (4, 5, 6, 8), (6, 8), (4, 7, 8)])
@pytest.mark.parametrize("scale", [True, False])
def test_same_outputs_gradients_and_moving_statistics(shape, scale):
  keras_bn, fused_bn = _pair(shape, scale=scale)
  assert [w.path.split("/")[-1] for w in fused_bn.weights] == [
    w.path.split("/")[-1] for w in keras_bn.weights
  ]  # same order: checkpoints interchange
  x = tf.random.stateless_normal(shape, [1, 2]) * 3.0 + 1.0
  with tf.GradientTape(persistent=True) as tape:
    tape.watch(x)
    outs = [bn(x, training=True) for bn in (keras_bn, fused_bn)]
    losses = [tf.reduce_sum(y**3) for y in outs]
  np.testing.assert_allclose(outs[1], outs[0], rtol=1e-5, atol=1e-5)
  for a, b in zip(
    tape.gradient(losses[0], [x] + keras_bn.trainable_weights),
    tape.gradient(losses[1], [x] + fused_bn.trainable_weights),
    strict=True,
  ):
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-4 * float(np.abs(a).max()))
  # Moving statistics use the biased batch variance, as Keras does.
  for a, b in zip(keras_bn.non_trainable_weights, fused_bn.non_trainable_weights, strict=True):
    np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(
    fused_bn(x, training=False), keras_bn(x, training=False), rtol=1e-5, atol=1e-5
  )


def test_moving_variance_update_by_hand():
  bn = batch_norm.FusedBatchNormalization(momentum=0.75)
  x = tf.constant([[[[1.0]], [[3.0]]], [[[5.0]], [[7.0]]]])  # [2, 2, 1, 1]: n = 4 values
  bn(x, training=True)
  # mean 4, biased variance (9 + 1 + 1 + 9) / 4 = 5 (the unbiased one would be 20 / 3).
  np.testing.assert_allclose(bn.moving_mean.numpy(), [0.25 * 4.0])
  np.testing.assert_allclose(bn.moving_variance.numpy(), [0.75 * 1.0 + 0.25 * 5.0], rtol=1e-6)


def test_fuses_under_a_keras_without_renorm():
  """Keras 3.12, the newest release for Python 3.10, has no `renorm` attribute."""
  bn = batch_norm.FusedBatchNormalization()
  x = tf.ones([2, 3, 3, 4])
  bn.build(x.shape)
  if hasattr(bn, "renorm"):
    object.__delattr__(bn, "renorm")
  assert bn._fusable(x, None)
  np.testing.assert_allclose(bn(x, training=True), tf.zeros_like(x), atol=1e-3)


def test_bfloat16_inputs_keep_float32_statistics():
  bn = batch_norm.FusedBatchNormalization(dtype="mixed_bfloat16")
  x = tf.cast(tf.random.stateless_normal([2, 4, 4, 4, 8], [3, 4]) * 2.0 + 5.0, tf.bfloat16)
  y = bn(x, training=True)
  assert y.dtype == tf.bfloat16
  assert all(w.dtype == "float32" for w in bn.weights)
  assert abs(float(tf.reduce_mean(tf.cast(y, tf.float32)))) < 0.05
  np.testing.assert_allclose(
    bn.moving_mean.numpy(),
    0.01 * tf.reduce_mean(tf.cast(x, tf.float32), axis=[0, 1, 2, 3]).numpy(),
    rtol=0.02,
  )


# Two logical CPUs must exist before TensorFlow initialises: a fresh process. Replica 0
# normalizes zeros, replica 1 fours; with momentum 0 the moving mean is the replicas' mean.
_REPLICAS_CHILD = r"""
import json
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from zoo.layers import batch_norm
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
  bn = batch_norm.FusedBatchNormalization(momentum=0.0)
  bn.build((None, 2, 2, 3))
x = np.concatenate([np.zeros((2, 2, 2, 3)), 4 * np.ones((2, 2, 2, 3))]).astype("float32")
batches = strategy.experimental_distribute_dataset(tf.data.Dataset.from_tensors(x))
run = tf.function(lambda b: strategy.run(lambda t: bn(t, training=True), args=(b,)))
steps = 0
for b in batches:
  run(b)
  steps += 1
assert steps == 1, steps
print(json.dumps({v.name: [c.numpy().tolist() for c in v.value.values] for v in bn.weights}))
"""


def test_moving_statistics_stay_equal_on_every_replica(fresh_python):
  proc = fresh_python("-c", _REPLICAS_CHILD)
  copies = json.loads(proc.stdout.strip().splitlines()[-1])
  assert copies["moving_mean"] == [[2.0] * 3, [2.0] * 3]  # the mean of 0 and 4, on both
  assert copies["moving_variance"] == [[0.0] * 3, [0.0] * 3]  # each replica's own
