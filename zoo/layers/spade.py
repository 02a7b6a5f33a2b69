"""SPADE: spatially-adaptive normalisation (Park et al. 2019), in 2D and 3D (Egan 2019, Fig. 3-11).

`SPADE` normalises without parameters, then applies a per-pixel gamma and beta computed from
the segmentation mask by a shared 3x3 conv (ReLU) and two 3x3 convs. In 3D the mask branch
stays 2D: the mask is an image, and one gamma / beta is broadcast over every frame ("a single
pixel-wise affine transformation that is applied to every frame"). `SPADEResBlock` is
SPADE's generator block with spectral norm on its convolutions (SPADE's `spectralspade...`
setting); in 3D its convolutions are 3x3x3, time padded by replication (inflation).

Given class ids rather than a one-hot mask, the shared convolution runs as `mask_conv`: the
convolution of a one-hot input is a sum of kernel rows looked up by id, which asks for
1/num_classes of its multiply-adds; which form runs is measured (`zoo.layers.form_choice`).
The gamma and beta convolutions run as `map_conv`, whose weight gradient is TF's or one
matmul per kernel tap, again as measured.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo.layers import activations
from zoo.layers import batch_norm
from zoo.layers import form_choice
from zoo.layers import resblocks
from zoo.layers import strided_conv

NHIDDEN = 128  # SPADE's hidden width of the mask branch
BN_MOMENTUM = 0.9  # PyTorch's 0.1
BN_EPSILON = 1e-5


def one_hot_mask(mask, num_classes, model):
  """Class ids [B, H, W] -> one-hot float32 [B, H, W, num_classes]; a float
  [B, H, W, num_classes] input passes through.

  Ids may come as floats (a NumPy array of them; Keras' `model.export` traces every input
  as float32): they are rounded to the nearest id. Called eagerly, ids outside
  [0, num_classes) are refused naming `model` (`zoo.base.class_ids`).
  """
  mask = tf.convert_to_tensor(mask)
  if mask.shape.rank == 3 and not mask.dtype.is_integer:
    mask = tf.cast(tf.round(mask), tf.int32)
  if mask.dtype.is_integer:
    return tf.one_hot(base.class_ids(mask, num_classes, model), num_classes, dtype=tf.float32)
  if mask.shape[-1] != num_classes:
    raise ValueError(
      f"Expected class ids [B, H, W] or a one-hot [B, H, W, {num_classes}] "
      f"mask, received shape {mask.shape}."
    )
  return tf.cast(mask, tf.float32)


def segmentation(mask, num_classes, model):
  """The mask as SPADE's norms take it: class ids [B, H, W] -> int32 ids (float ids rounded,
  as `one_hot_mask` rounds them; checked eagerly, `zoo.base.class_ids`); a float one-hot or
  soft [B, H, W, num_classes] mask passes through as float32."""
  mask = tf.convert_to_tensor(mask)
  if mask.shape.rank == 3:
    if not mask.dtype.is_integer:
      mask = tf.round(mask)
    return base.class_ids(tf.cast(mask, tf.int32), num_classes, model)
  return one_hot_mask(mask, num_classes, model)


def resize_ids(ids, size):
  """Class ids [B, H, W] resized to `size` by nearest neighbour: the pixels
  `tf.image.resize(one_hot, size, "nearest")` takes for the one-hot mask."""
  if tuple(ids.shape[1:3]) == tuple(size):
    return ids
  # As float32 (exact for any class id): TFLite's builtin resize takes no int32.
  ids = tf.cast(ids, tf.float32)[..., tf.newaxis]
  return tf.cast(tf.image.resize(ids, size, method="nearest")[..., 0], tf.int32)


# The mask's regions when forms are timed: blocks of this many pixels, of this many classes
# (a segmentation's few large regions, where a lookup's weight gradient adds into few rows).
_MEASURE_BLOCK = 16
_MEASURE_CLASSES = 8


def mask_conv(layer, ids, num_classes):
  """`layer` (SPADE's `shared`, a stride-1 "same" Conv2D) on the one-hot mask of `ids`.

  The class ids [B, H, W] are convolved in whichever of two forms with the same arithmetic
  runs faster here:

  * "native": TF's convolution of `tf.one_hot(ids)`, as the layer computes it;
  * "lookup": for each kernel tap, the kernel's row of the id found there, summed (ids
    outside [0, num_classes) and the zero padding look up a row of zeros, as `tf.one_hot`
    gives them no class); its weight gradient adds dL/dY into the rows of the ids it read.

  The choice is measured on first use of a shape and dtype (`zoo.layers.form_choice`: the
  forward pass and the weight gradient together, on a mask of a few large regions), "native"
  inside XLA unless remembered; `VIDEOGAN_CONV_FORMS=lookup` forces the lookup, "native"
  the convolution, "rules" takes the lookup.
  """
  if tuple(layer.strides) != (1, 1) or layer.padding != "same" or layer.groups != 1:
    raise ValueError(f"Expected a stride-1 'same' Conv2D, received {layer.name}.")
  if not layer.built:
    with keras.name_scope(layer.name, caller=layer):
      layer.build((None, None, None, num_classes))
  dtype = layer.compute_dtype
  kernel = tf.cast(layer.kernel, dtype)
  form = _mask_conv_form(ids.shape, kernel, num_classes)
  out = _MASK_CONV_FORMS[form](ids, kernel, num_classes)
  if layer.use_bias:
    out = out + tf.cast(layer.bias, dtype)
  return layer.activation(out)


def _native_mask_conv(ids, kernel, num_classes):
  return tf.nn.conv2d(tf.one_hot(ids, num_classes, dtype=kernel.dtype), kernel, 1, "SAME")


def _lookup_mask_conv(ids, kernel, num_classes):
  kh, kw, _, filters = kernel.shape
  taps, rows = kh * kw, num_classes + 1  # the last row: zeros, for padding and no class
  shape = [d if d is not None else tf.shape(ids)[k] for k, d in enumerate(ids.shape)]
  ids = tf.where((ids < 0) | (ids >= num_classes), num_classes, tf.cast(ids, tf.int32))
  top, left = (kh - 1) // 2, (kw - 1) // 2
  ids = tf.pad(ids, [[0, 0], [top, kh - 1 - top], [left, kw - 1 - left]], constant_values=rows - 1)
  # Each pixel's neighbour at tap (i, j), in the kernel's order, as [N] ids (slices, not
  # ExtractImagePatches: TFLite has no builtin for it).
  neighbours = [
    tf.reshape(ids[:, i : i + shape[1], j : j + shape[2]], [-1])
    for i in range(kh)
    for j in range(kw)
  ]
  # Sums of low-precision rows are taken in float32, as the convolution accumulates.
  total = tf.float32 if kernel.dtype in (tf.bfloat16, tf.float16) else kernel.dtype

  def forward(table):  # [taps, rows, filters] -> [N, filters]
    out = None
    for rows_of_tap, tap in zip(tf.unstack(table), neighbours, strict=True):
      row = tf.gather(rows_of_tap, tap)  # one sum at a time: the taps' rows are never all alive
      out = row if out is None else out + row
    return out

  @tf.custom_gradient
  def lookup(table):
    def grad(dy):  # each tap's rows get dL/dY of the pixels that read them
      return tf.stack([tf.math.unsorted_segment_sum(dy, tap, rows) for tap in neighbours])

    return forward(table), grad

  table = tf.concat([tf.cast(kernel, total), tf.zeros([kh, kw, 1, filters], total)], axis=2)
  # Converters take no custom gradient (`strided_conv.forward_only`): the same forward alone.
  out = (forward if strided_conv.is_forward_only() else lookup)(
    tf.reshape(table, [taps, rows, filters])
  )
  return tf.cast(tf.reshape(out, [*shape, filters]), kernel.dtype)


_MASK_CONV_FORMS = {form_choice.NATIVE: _native_mask_conv, "lookup": _lookup_mask_conv}


def _mask_conv_form(ids_shape, kernel, num_classes):
  return form_choice.choose_form(
    "mask_conv",
    kernel.dtype,
    ids_shape,
    f"{kernel.shape.as_list()}",
    _MASK_CONV_FORMS,
    "lookup",
    lambda name, shape: _mask_conv_runner(
      _MASK_CONV_FORMS[name], shape, kernel.shape, kernel.dtype, num_classes
    ),
  )


def _mask_conv_runner(form, ids_shape, kernel_shape, dtype, num_classes):
  """A zero-argument callable that runs `form` and its weight gradient once on a mask of a
  few large regions and a random kernel of these shapes."""

  def build():
    b, h, w = ids_shape.as_list()
    block, classes = _MEASURE_BLOCK, min(num_classes, _MEASURE_CLASSES)
    coarse = tf.random.stateless_uniform(
      [b, -(-h // block), -(-w // block)], [1, 2], 0, classes, tf.int32
    )
    ids = tf.repeat(tf.repeat(coarse, block, axis=1), block, axis=2)[:, :h, :w]
    kernel = tf.random.normal(kernel_shape, dtype=dtype)

    @tf.function
    def step(ids, kernel):
      out = form(ids, kernel, num_classes)
      # Symbolic gradients: `form_choice` times inside `tf.init_scope`, which pauses tapes.
      (grad,) = tf.gradients(out, [kernel], tf.ones_like(out))
      return tf.concat([tf.reshape(out, [-1])[:1], tf.reshape(grad, [-1])[:1]], 0)

    return lambda: step(ids, kernel)

  return form_choice.once_built(build)


TAPS = "taps"


def map_conv(layer, hidden):
  """`layer` (SPADE's gamma or beta, a stride-1 "same" Conv2D of odd kernel) on `hidden`.

  Its weight gradient runs in whichever of two forms is faster here:

  * "native": TF's filter gradient (`Conv2DBackpropFilter`), as the layer computes it;
  * "taps": one matmul per kernel tap. X padded as "same" pads it and dL/dY on the same
    padded grid (zeros where no output is) are flattened to rows of positions; the tap at
    offset (i, j) pairs each output's row with the input row i * (W + 2p) + j further on,
    so its gradient is X's rows from that offset on, transposed, times dL/dY's rows (a
    slice of the flat X, no copy of the input per tap).

  The forward pass and the input gradient are TF's convolutions in both. Why: at SPADE's
  widest maps (128 channels into 32-64 at 128x128 and 64x64, batch 8) oneDNN's filter
  gradient on a Zen 3 ran at 2.5-4x its forward's time and the taps at 2.2-2.8x less
  (docs/benchmarks.md). The choice is measured on first use of a shape and dtype
  (`zoo.layers.form_choice`: the filter gradient alone), "native" inside XLA unless
  remembered; `VIDEOGAN_CONV_FORMS=taps` forces the taps, "native" TF's, "rules" takes the
  taps.
  """
  kh, kw = layer.kernel_size
  if (
    tuple(layer.strides) != (1, 1)
    or layer.padding != "same"
    or tuple(layer.dilation_rate) != (1, 1)
    or layer.groups != 1
    or kh % 2 == 0
    or kw % 2 == 0
  ):
    raise ValueError(f"Expected a stride-1 'same' Conv2D of odd kernel, received {layer.name}.")
  if not layer.built:
    with keras.name_scope(layer.name, caller=layer):
      layer.build(hidden.shape)
  dtype = layer.compute_dtype
  hidden = tf.cast(hidden, dtype)
  kernel = tf.cast(layer.kernel, dtype)
  if strided_conv.is_forward_only():  # converters take no custom gradient
    out = tf.nn.conv2d(hidden, kernel, 1, "SAME")
  else:
    out = _MAP_CONVS[_map_filter_gradient_form(hidden.shape, kernel)](hidden, kernel)
  if layer.use_bias:
    out = out + tf.cast(layer.bias, dtype)
  return layer.activation(out)


def _native_filter_gradient(x, dy, kernel_shape):
  return tf.raw_ops.Conv2DBackpropFilter(
    input=x,
    filter_sizes=list(kernel_shape),
    out_backprop=dy,
    strides=[1, 1, 1, 1],
    padding="SAME",
  )


def _taps_filter_gradient(x, dy, kernel_shape):
  kh, kw, c_in, c_out = kernel_shape
  ph, pw = kh // 2, kw // 2
  x = tf.pad(x, [[0, 0], [ph, ph], [pw, pw], [0, 0]])  # [B, H + 2ph, W + 2pw, C_in]
  dy = tf.pad(dy, [[0, 0], [0, 2 * ph], [0, 2 * pw], [0, 0]])  # outputs at the grid's corner
  row = x.shape[2] if x.shape[2] is not None else tf.shape(x)[2]
  x, dy = tf.reshape(x, [-1, c_in]), tf.reshape(dy, [-1, c_out])
  rows = tf.shape(x)[0]
  taps = []
  for i in range(kh):
    for j in range(kw):
      # Row r of dL/dY meets row r + offset of X; rows where no output is carry a zero.
      offset = i * row + j
      taps.append(tf.matmul(x[offset:], dy[: rows - offset], transpose_a=True))
  return tf.reshape(tf.stack(taps), [kh, kw, c_in, c_out])


_FILTER_GRADIENTS = {form_choice.NATIVE: _native_filter_gradient, TAPS: _taps_filter_gradient}


def _conv_with_filter_gradient(filter_gradient):
  """TF's "same" stride-1 convolution X -> Y whose kernel gradient is `filter_gradient`."""

  @tf.custom_gradient
  def conv(x, kernel):
    def grad(dy):
      dx = tf.raw_ops.Conv2DBackpropInput(
        input_sizes=tf.shape(x),
        filter=kernel,
        out_backprop=dy,
        strides=[1, 1, 1, 1],
        padding="SAME",
      )
      return dx, filter_gradient(x, dy, kernel.shape)

    return tf.nn.conv2d(x, kernel, 1, "SAME"), grad

  return conv


_MAP_CONVS = {name: _conv_with_filter_gradient(fg) for name, fg in _FILTER_GRADIENTS.items()}


def _map_filter_gradient_form(x_shape, kernel):
  def runner(name, shape):
    out_shape = tf.TensorShape([*shape[:-1], kernel.shape[-1]])
    form = _FILTER_GRADIENTS[name]
    return form_choice.random_runner(
      lambda x, dy: form(x, dy, kernel.shape), [(shape, kernel.dtype), (out_shape, kernel.dtype)]
    )

  return form_choice.choose_form(
    "conv2d_filter_gradient",
    kernel.dtype,
    x_shape,
    f"{kernel.shape.as_list()}",
    _FILTER_GRADIENTS,
    TAPS,
    runner,
  )


def instance_norm(x, epsilon=1e-5):
  """Parameter-free instance norm over every axis but batch and channels (2D or 3D)."""
  axes = list(range(1, x.shape.rank - 1))
  mean, var = tf.nn.moments(x, axes, keepdims=True)
  return (x - mean) * tf.math.rsqrt(var + epsilon)


class SPADE(keras.layers.Layer):
  """x -> BN(x) * (1 + gamma(mask)) + beta(mask); BN without affine parameters.

  Args:
    rank: 2 or 3 (of x; the mask branch is always 2D).
    channels: channels of x.
    nhidden: width of the shared mask conv.
    num_classes: of the class ids it may be given (`mask_conv`); None: one-hot masks only.
  """

  def __init__(self, rank, channels, nhidden=NHIDDEN, num_classes=None, **kwargs):
    super().__init__(**kwargs)
    self.rank = resblocks.check_rank(rank)
    self.num_classes = num_classes
    self.norm = batch_norm.FusedBatchNormalization(
      center=False, scale=False, momentum=BN_MOMENTUM, epsilon=BN_EPSILON, name="norm"
    )
    self.shared = keras.layers.Conv2D(nhidden, 3, padding="same", activation="relu", name="shared")
    self.gamma = keras.layers.Conv2D(channels, 3, padding="same", name="gamma")
    self.beta = keras.layers.Conv2D(channels, 3, padding="same", name="beta")

  def call(self, x, segmap, training=False):
    """`segmap`: class ids [B, H0, W0] (`mask_conv`; the layer's `num_classes` needed) or a
    one-hot [B, H0, W0, L], resized here (nearest) to x's height and width."""
    normalized = self.norm(x, training=training)
    size = x.shape[-3:-1]
    if segmap.dtype.is_integer:
      if self.num_classes is None:
        raise ValueError(f"Expected {self.name} built with num_classes to take class ids.")
      hidden = mask_conv(self.shared, resize_ids(segmap, size), self.num_classes)
    else:
      hidden = self.shared(tf.image.resize(segmap, size, method="nearest"))
    gamma, beta = map_conv(self.gamma, hidden), map_conv(self.beta, hidden)
    if self.rank == 3:  # one affine map for every frame
      gamma, beta = tf.expand_dims(gamma, 1), tf.expand_dims(beta, 1)
    return normalized * (1.0 + tf.cast(gamma, x.dtype)) + tf.cast(beta, x.dtype)


class SPADEResBlock(keras.layers.Layer):
  """SPADE's residual generator block (Park et al. 2019, Fig. 4 right; Egan Fig. 3-10).

  dx = conv_1(lrelu(SPADE_1(conv_0(lrelu(SPADE_0(x)))))), hidden width min(fin, fout);
  shortcut conv_s(SPADE_s(x)) (1x1, no bias) when fin != fout, else x; out = shortcut + dx.
  LeakyReLU 0.2; spectral norm on the three convolutions.

  Args:
    rank: 2 or 3.
    fin, fout: channels.
    nhidden: SPADE mask branch width.
    spectral_norm: on conv_0, conv_1, conv_s.
    temporal_padding: "replicate" or "reflect" (3D).
    num_classes: of the class ids its norms may be given (`SPADE`).
  """

  def __init__(
    self,
    rank,
    fin,
    fout,
    nhidden=NHIDDEN,
    spectral_norm=True,
    temporal_padding="replicate",
    num_classes=None,
    **kwargs,
  ):
    super().__init__(**kwargs)
    fmid = min(fin, fout)
    conv = lambda f, k, bias, name: resblocks.PaddedConv(
      rank,
      f,
      k,
      use_bias=bias,
      spectral_norm=spectral_norm,
      temporal_padding=temporal_padding,
      name=name,
    )
    self.norm_0 = SPADE(rank, fin, nhidden, num_classes, name="norm_0")
    self.conv_0 = conv(fmid, 3, True, "conv_0")
    self.norm_1 = SPADE(rank, fmid, nhidden, num_classes, name="norm_1")
    self.conv_1 = conv(fout, 3, True, "conv_1")
    self.learned_shortcut = fin != fout
    if self.learned_shortcut:
      self.norm_s = SPADE(rank, fin, nhidden, num_classes, name="norm_s")
      self.conv_s = conv(fout, 1, False, "conv_s")

  def call(self, x, segmap, training=False):
    act = activations.leaky_relu
    skip = x
    if self.learned_shortcut:
      skip = self.conv_s(self.norm_s(x, segmap, training=training), training=training)
    dx = self.conv_0(act(self.norm_0(x, segmap, training=training)), training=training)
    dx = self.conv_1(act(self.norm_1(dx, segmap, training=training)), training=training)
    return skip + dx
