"""Inception-v1 Inflated 3D ConvNet (I3D), the network behind FVD.

Carreira & Zisserman 2017, "Quo Vadis, Action Recognition? A New Model and the Kinetics
Dataset", section 2.4 and figure 3: InceptionV1 (Szegedy et al. 2015) with every 2D filter
and pool inflated to 3D. Layer names, widths, kernel sizes, strides and the head follow
DeepMind's release (`kinetics-i3d/i3d.py`, Sonnet 1) so that its Kinetics checkpoints load
one-to-one (see `checkpoint.py`):

* a `Unit3D` is a bias-free Conv3D, BatchNorm with an offset (beta) but no scale (Sonnet's
  `snt.BatchNorm` defaults: create_scale=False, eps 1e-3, decay 0.999), then ReLU;
* every convolution and max pool uses TF "SAME" padding (Keras' "same" on the TensorFlow
  backend calls the same ops, so asymmetric padding at stride 2 matches);
* the head averages Mixed_5c with a (2, 7, 7) window, stride 1, "VALID", applies dropout and a
  1x1x1 convolution with bias (no BN, no activation), squeezes space and averages over time.

Decisions where the release is silent or too narrow:

* The release squeezes the spatial axes, so it only runs on 224x224 (7x7 at Mixed_5c). Here
  the pooling window is clamped to the Mixed_5c extent when that is smaller than (2, 7, 7)
  (e.g. 8x64x64 clips give 1x2x2, so the head becomes a global average), and the logits are
  averaged over time and space rather than squeezed. For 16..64 frames at 224x224 this is
  exactly the reference computation.
* Dropout defaults to 0 (the release's `dropout_keep_prob=1.0`); it only acts in training.
* Mixed_5b's second conv of branch 2 is named `Conv3d_0a_3x3` in the release (not `0b`);
  the name is kept so the checkpoint maps without special cases.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.layers import batch_norm
from zoo.layers import pooling

# Endpoint order of the release (its VALID_ENDPOINTS, without "Predictions").
ENDPOINTS = (
  "Conv3d_1a_7x7",
  "MaxPool3d_2a_3x3",
  "Conv3d_2b_1x1",
  "Conv3d_2c_3x3",
  "MaxPool3d_3a_3x3",
  "Mixed_3b",
  "Mixed_3c",
  "MaxPool3d_4a_3x3",
  "Mixed_4b",
  "Mixed_4c",
  "Mixed_4d",
  "Mixed_4e",
  "Mixed_4f",
  "MaxPool3d_5a_2x2",
  "Mixed_5b",
  "Mixed_5c",
  "Logits",
)

# Inception block widths (paper figure 3 / GoogLeNet table 1): branch 0 1x1; branch 1 1x1
# then 3x3x3; branch 2 1x1 then 3x3x3; branch 3 3x3x3 max pool then 1x1.
MIXED_WIDTHS = {
  "Mixed_3b": (64, 96, 128, 16, 32, 32),
  "Mixed_3c": (128, 128, 192, 32, 96, 64),
  "Mixed_4b": (192, 96, 208, 16, 48, 64),
  "Mixed_4c": (160, 112, 224, 24, 64, 64),
  "Mixed_4d": (128, 128, 256, 24, 64, 64),
  "Mixed_4e": (112, 144, 288, 32, 64, 64),
  "Mixed_4f": (256, 160, 320, 32, 128, 128),
  "Mixed_5b": (256, 160, 320, 32, 128, 128),
  "Mixed_5c": (384, 192, 384, 48, 128, 128),
}

# (kernel, stride) of the max pools between stages.
MAX_POOLS = {
  "MaxPool3d_2a_3x3": ((1, 3, 3), (1, 2, 2)),
  "MaxPool3d_3a_3x3": ((1, 3, 3), (1, 2, 2)),
  "MaxPool3d_4a_3x3": ((3, 3, 3), (2, 2, 2)),
  "MaxPool3d_5a_2x2": ((2, 2, 2), (2, 2, 2)),
}

LOGITS_POOL = (2, 7, 7)
FEATURES_DIM = 1024


class Unit3D(keras.layers.Layer):
  """Conv3D (+ BatchNorm without scale) (+ ReLU): the release's `Unit3D`.

  `self.conv` and `self.batch_norm` mirror the Sonnet scopes `conv_3d` and `batch_norm`.
  """

  def __init__(
    self,
    filters,
    kernel_size=(1, 1, 1),
    strides=(1, 1, 1),
    use_batch_norm=True,
    activation="relu",
    use_bias=False,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.filters = filters
    self.kernel_size = tuple(kernel_size)
    self.strides = tuple(strides)
    self.use_batch_norm = use_batch_norm
    self.activation = activation
    self.use_bias = use_bias
    self.conv = keras.layers.Conv3D(
      filters,
      self.kernel_size,
      strides=self.strides,
      padding="same",
      use_bias=use_bias,
      name="conv_3d",
    )
    self.batch_norm = (
      batch_norm.FusedBatchNormalization(
        epsilon=1e-3, momentum=0.999, center=True, scale=False, name="batch_norm"
      )
      if use_batch_norm
      else None
    )
    self.activation_fn = keras.activations.get(activation) if activation else None

  def build(self, input_shape):
    self.conv.build(input_shape)
    if self.batch_norm is not None:
      self.batch_norm.build(self.conv.compute_output_shape(input_shape))

  def call(self, inputs, training=False):
    if self.batch_norm is not None and not training:
      x = self._folded_conv(inputs)
    else:
      x = self.conv(inputs)
      if self.batch_norm is not None:
        x = self.batch_norm(x, training=training)
    if self.activation_fn is not None:
      x = self.activation_fn(x)
    return x

  def _folded_conv(self, inputs):
    """Inference: the batch norm folded into the convolution, one conv + bias (+ ReLU).

    BN(conv(x)) = conv(x) * s + (beta - mean * s) with s = gamma / sqrt(var + eps) per output
    channel, which is conv(x) with kernel * s plus that bias; the moving statistics and
    beta are the same variables, so the checkpoint and `training=True` are unchanged. TF's
    graph optimizer then fuses conv, bias and ReLU into one oneDNN primitive on CPU.
    """
    bn = self.batch_norm
    inv = tf.math.rsqrt(tf.cast(bn.moving_variance, tf.float32) + bn.epsilon)
    if bn.scale:
      inv = inv * tf.cast(bn.gamma, tf.float32)
    bias = -tf.cast(bn.moving_mean, tf.float32) * inv
    if bn.center:
      bias = bias + tf.cast(bn.beta, tf.float32)
    if self.use_bias:
      bias = bias + tf.cast(self.conv.bias, tf.float32) * inv
    dtype = self.compute_dtype
    kernel = tf.cast(tf.cast(self.conv.kernel, tf.float32) * inv, dtype)
    x = tf.nn.conv3d(tf.cast(inputs, dtype), kernel, strides=(1, *self.strides, 1), padding="SAME")
    return tf.nn.bias_add(x, tf.cast(bias, dtype))

  def compute_output_shape(self, input_shape):
    return self.conv.compute_output_shape(input_shape)

  def get_config(self):
    config = super().get_config()
    config.update(
      filters=self.filters,
      kernel_size=self.kernel_size,
      strides=self.strides,
      use_batch_norm=self.use_batch_norm,
      activation=self.activation,
      use_bias=self.use_bias,
    )
    return config


class Mixed3D(keras.layers.Layer):
  """An inflated Inception block: four branches concatenated on channels.

  `widths` = (b0, b1a, b1b, b2a, b2b, b3) as in `MIXED_WIDTHS`; `branch_2_name` is the
  release's name of branch 2's 3x3x3 conv (`Conv3d_0b_3x3`, `Conv3d_0a_3x3` in Mixed_5b).
  """

  def __init__(self, widths, branch_2_name="Conv3d_0b_3x3", **kwargs):
    super().__init__(**kwargs)
    if len(widths) != 6:
      raise ValueError(
        f"Expected 6 branch widths (b0, b1a, b1b, b2a, b2b, b3), received: {widths!r}."
      )
    self.widths = tuple(widths)
    self.branch_2_name = branch_2_name
    b0, b1a, b1b, b2a, b2b, b3 = self.widths
    self.branch_0 = Unit3D(b0, name="Branch_0_Conv3d_0a_1x1")
    self.branch_1a = Unit3D(b1a, name="Branch_1_Conv3d_0a_1x1")
    self.branch_1b = Unit3D(b1b, (3, 3, 3), name="Branch_1_Conv3d_0b_3x3")
    self.branch_2a = Unit3D(b2a, name="Branch_2_Conv3d_0a_1x1")
    self.branch_2b = Unit3D(b2b, (3, 3, 3), name=f"Branch_2_{branch_2_name}")
    self.branch_3_pool = pooling.MaxPooling3D(
      (3, 3, 3), strides=(1, 1, 1), padding="same", name="Branch_3_MaxPool3d_0a_3x3"
    )
    self.branch_3 = Unit3D(b3, name="Branch_3_Conv3d_0b_1x1")

  def units(self):
    """{release scope under the block: Unit3D}, e.g. "Branch_1/Conv3d_0b_3x3"."""
    return {
      "Branch_0/Conv3d_0a_1x1": self.branch_0,
      "Branch_1/Conv3d_0a_1x1": self.branch_1a,
      "Branch_1/Conv3d_0b_3x3": self.branch_1b,
      "Branch_2/Conv3d_0a_1x1": self.branch_2a,
      f"Branch_2/{self.branch_2_name}": self.branch_2b,
      "Branch_3/Conv3d_0b_1x1": self.branch_3,
    }

  def build(self, input_shape):
    self.branch_0.build(input_shape)
    self.branch_1a.build(input_shape)
    self.branch_1b.build(self.branch_1a.compute_output_shape(input_shape))
    self.branch_2a.build(input_shape)
    self.branch_2b.build(self.branch_2a.compute_output_shape(input_shape))
    self.branch_3.build(input_shape)

  def call(self, inputs, training=False):
    b0 = self.branch_0(inputs, training=training)
    b1 = self.branch_1b(self.branch_1a(inputs, training=training), training=training)
    b2 = self.branch_2b(self.branch_2a(inputs, training=training), training=training)
    b3 = self.branch_3(self.branch_3_pool(inputs), training=training)
    return tf.concat([b0, b1, b2, b3], axis=-1)

  def compute_output_shape(self, input_shape):
    b0, _, b1b, _, b2b, b3 = self.widths
    return tuple(input_shape[:-1]) + (b0 + b1b + b2b + b3,)

  def get_config(self):
    config = super().get_config()
    config.update(widths=self.widths, branch_2_name=self.branch_2_name)
    return config


@registry.register("i3d")
class InceptionI3D(keras.Model):
  """I3D (RGB or flow stream): videos [B, T, H, W, C] -> [B, num_classes] logits.

  Inputs are expected in [-1, 1] (the release feeds RGB as 2x/255 - 1; no rescaling here).
  `call(..., return_features=True)` returns {"logits", "features"} where "features" is the
  pooled 1024-d Mixed_5c activation the logits are a linear function of;
  `return_endpoints=True` returns every endpoint of `ENDPOINTS` plus "features".
  Channels are not fixed: 3 for the RGB checkpoints, 2 for the flow ones.
  """

  def __init__(self, num_classes=400, dropout_rate=0.0, **kwargs):
    kwargs.setdefault("name", "i3d")
    super().__init__(**kwargs)
    if not isinstance(num_classes, int) or num_classes < 1:
      raise ValueError(f"Expected a positive int num_classes, received: {num_classes!r}.")
    if not 0.0 <= dropout_rate < 1.0:
      raise ValueError(f"Expected 0 <= dropout_rate < 1, received: {dropout_rate!r}.")
    self.num_classes = num_classes
    self.dropout_rate = dropout_rate
    self.conv3d_1a = Unit3D(64, (7, 7, 7), (2, 2, 2), name="Conv3d_1a_7x7")
    self.conv3d_2b = Unit3D(64, name="Conv3d_2b_1x1")
    self.conv3d_2c = Unit3D(192, (3, 3, 3), name="Conv3d_2c_3x3")
    self.pools = {
      name: pooling.MaxPooling3D(size, strides=strides, padding="same", name=name)
      for name, (size, strides) in MAX_POOLS.items()
    }
    self.mixed = {
      name: Mixed3D(
        widths,
        name=name,
        branch_2_name=("Conv3d_0a_3x3" if name == "Mixed_5b" else "Conv3d_0b_3x3"),
      )
      for name, widths in MIXED_WIDTHS.items()
    }
    self.dropout = keras.layers.Dropout(dropout_rate, name="dropout")
    self.logits_conv = Unit3D(
      num_classes, use_batch_norm=False, activation=None, use_bias=True, name="Logits_Conv3d_0c_1x1"
    )

  def _stages(self):
    """(endpoint name, layer) in forward order, up to Mixed_5c."""
    stem = {
      "Conv3d_1a_7x7": self.conv3d_1a,
      "Conv3d_2b_1x1": self.conv3d_2b,
      "Conv3d_2c_3x3": self.conv3d_2c,
    }
    layers = {**stem, **self.pools, **self.mixed}
    return [(name, layers[name]) for name in ENDPOINTS[:-1]]

  def units(self):
    """{release scope: Unit3D} for every unit, e.g. "Mixed_3b/Branch_1/Conv3d_0b_3x3"."""
    units = {}
    for name, layer in self._stages():
      if isinstance(layer, Unit3D):
        units[name] = layer
      elif isinstance(layer, Mixed3D):
        units.update({f"{name}/{sub}": unit for sub, unit in layer.units().items()})
    units["Logits/Conv3d_0c_1x1"] = self.logits_conv
    return units

  def build(self, input_shape):
    input_shape = tuple(input_shape)
    if len(input_shape) != 5:
      raise ValueError(f"Expected an input shape [B, T, H, W, C], received: {input_shape}.")
    shape = input_shape
    for _, layer in self._stages():
      layer.build(shape)
      shape = layer.compute_output_shape(shape)
    self.logits_conv.build(shape[:1] + (1, 1, 1) + shape[-1:])
    self.built = True

  @staticmethod
  def _logits_pool_size(shape):
    """LOGITS_POOL clamped to the Mixed_5c extent; unknown extents keep the release's."""
    return tuple(
      min(window, size) if size is not None else window
      for window, size in zip(LOGITS_POOL, shape[1:4])
    )

  def call(self, videos, training=False, return_features=False, return_endpoints=False):
    endpoints = {}
    x = base.float_frames(videos, self.name)
    for name, layer in self._stages():
      x = layer(x, training=training) if not name.startswith("MaxPool") else layer(x)
      endpoints[name] = x
    pool_size = self._logits_pool_size(x.shape)
    x = pooling.avg_pool3d(x, ksize=pool_size, strides=(1, 1, 1), padding="VALID")
    features = tf.reduce_mean(x, axis=(1, 2, 3))
    x = self.dropout(x, training=training)
    logits = tf.reduce_mean(self.logits_conv(x, training=training), axis=(1, 2, 3))
    if return_endpoints:
      endpoints["Logits"] = logits
      endpoints["features"] = features
      return endpoints
    if return_features:
      return {"logits": logits, "features": features}
    return logits

  def get_config(self):
    config = super().get_config()
    config.update(num_classes=self.num_classes, dropout_rate=self.dropout_rate)
    return config
