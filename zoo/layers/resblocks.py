"""Convolutions that inflate cleanly from 2D to 3D, and the GAN-Stability ResBlock.

Model inflation (Egan 2019, Section 3.1.2) turns a 2D network into a 3D one whose output on
a temporally constant clip is the 2D output on every frame. That needs two things of every
3D convolution, which `PaddedConv` provides:

* no zero padding in time: zeros would darken the first and last frames. Time is padded by
  replicating (`"replicate"`, the default) or reflecting (`"reflect"`) the end frames, space
  with zeros exactly as the 2D parent's padding "same";
* one layer class for both ranks, so that a 2D and a 3D network of the same family list their
  weights in the same order (what `zoo.inflation` pairs them by).

Spectral normalisation is Keras's `keras.layers.SpectralNormalization` wrapper (its state is
one non-trainable `vector_u` [1, out_channels]; see `zoo.inflation` for what inflation
carries), frozen when not trainable (`SpectralNormalization` here).
"""

import keras
import tensorflow as tf

from zoo.layers import activations
from zoo.layers import form_choice
from zoo.layers import pooling
from zoo.layers import strided_conv

TEMPORAL_PADDINGS = ("replicate", "reflect")

# The 3D transposed ones run "k4 s2" (Egan's DCGAN) in the fastest of `strided_conv`'s forms
# on this machine (`TimePaddedConv3D` too, through `time_padded_conv`), and are Keras' own
# layers at every other shape: the same variables, config and results.
_CONV_TRANSPOSE = {2: keras.layers.Conv2DTranspose, 3: strided_conv.Conv3DTranspose}
_POOL = {2: keras.layers.AveragePooling2D, 3: pooling.AveragePooling3D}
_UPSAMPLE = {2: keras.layers.UpSampling2D, 3: keras.layers.UpSampling3D}


def check_rank(rank):
  if rank not in (2, 3):
    raise ValueError(f"Expected rank 2 (images) or 3 (videos), received {rank!r}.")
  return rank


def as_tuple(value, rank):
  """An int or a sequence -> a tuple of `rank` ints."""
  if isinstance(value, int):
    return (value,) * rank
  value = tuple(int(v) for v in value)
  if len(value) != rank:
    raise ValueError(f"Expected {rank} values, received {value!r}.")
  return value


def same_padding(size, kernel, stride):
  """(before, after) padding of TF's "same" for one axis of static length `size`."""
  if size % stride == 0:
    total = max(kernel - stride, 0)
  else:
    total = max(kernel - size % stride, 0)
  return total // 2, total - total // 2


def pad_time(x, before, after, mode):
  """Pads axis 1 (time) of [B, T, H, W, C] by replicating or reflecting the end frames."""
  if not before and not after:
    return x
  if mode == "replicate":
    parts = [tf.repeat(x[:, :1], before, axis=1), x, tf.repeat(x[:, -1:], after, axis=1)]
    return tf.concat(parts, axis=1)
  if mode == "reflect":
    return tf.pad(x, [[0, 0], [before, after], [0, 0], [0, 0], [0, 0]], mode="REFLECT")
  raise ValueError(f"Expected temporal_padding in {TEMPORAL_PADDINGS}, received {mode!r}.")


def time_padded_conv(x, kernel, strides, mode, bias=None):
  """The 3D convolution "same" of x [B, T, H, W, C] whose time padding replicates or reflects
  (`mode`) the end frames and whose space padding is zeros, plus `bias`.

  Two forms with the same arithmetic, the faster on this machine chosen as
  `zoo.layers.form_choice` chooses (forward and both gradients timed once per shape and
  dtype; TF's op inside XLA unless remembered; `VIDEOGAN_CONV_FORMS=edges` or "rules" forces
  the second, "native" the first):

  * "native": x padded (space with zeros, time by `mode`), then TF's "valid" convolution;
  * "edges": TF's "same" convolution, which pads time with zeros, then for each output frame
    whose window reaches past an end, the taps that read padding convolved (2D) with the
    frame that padding copies (gathered), added into that output frame in place. No padded
    copy of x, or of its gradient, is made, and oneDNN's weight gradient of the "same"
    convolution ran 2-2.6x faster than that of the "valid" one on the padded clip (3x3x3,
    8x8x128x128x64, AMD Zen 3).
  """
  before, after = same_padding(int(x.shape[1]), kernel.shape[0], strides[0])
  if before == after == 0:  # nothing to pad in time: "same" pads space with zeros
    return _with_bias(strided_conv.conv(x, kernel, strides, "same"), bias)
  form = _time_padded_form(x.shape, kernel, strides, mode)
  return _TIME_PADDED_FORMS[form](x, kernel, strides, mode, bias)


def _with_bias(y, bias):
  return y if bias is None else y + tf.cast(bias, y.dtype)


def pad_as_same(x, kernel_size, strides, mode):
  """x [B, T, H, W, C] padded as "same" pads it for a convolution of `kernel_size` and
  `strides` (T, H, W): time by replicating or reflecting (`mode`), space with zeros."""
  sizes = zip(x.shape[1:4], kernel_size, strides, strict=True)
  pads = [same_padding(int(n), k, s) for n, k, s in sizes]
  # Space first: with a Pad right before the convolution, Grappler's remapper fuses the two
  # and then fails on the training graph, whose weight gradient still reads the Pad.
  x = tf.pad(x, [[0, 0], [0, 0], list(pads[1]), list(pads[2]), [0, 0]])
  return pad_time(x, *pads[0], mode)


def _padded_conv(x, kernel, strides, mode, bias):
  padded = pad_as_same(x, kernel.shape[:3], strides, mode)
  return _with_bias(strided_conv.conv(padded, kernel, strides, "valid"), bias)


def _edges_conv(x, kernel, strides, mode, bias):
  t, kt, st = int(x.shape[1]), kernel.shape[0], strides[0]
  before, _ = same_padding(t, kt, st)
  # The bias goes on the "same" convolution's output, where Grappler fuses it into the op.
  y = _with_bias(strided_conv.conv(x, kernel, strides, "same"), bias)
  # Output frame o reads padded frames o*st .. o*st+kt-1; one outside the clip copies frame
  # `_copied(...)`. The taps of one output that read the same frame share one kernel.
  fixes = {}
  for o in range(-(-t // st)):
    for tap in range(kt):
      p = o * st + tap - before
      if not 0 <= p < t:
        fixes.setdefault(o, {}).setdefault(_copied(p, t, mode), []).append(tap)
  # The end frames are gathered, and the corrections added into y's frames in place, as rows
  # of the clips' frames [B * T, ...]: slicing frames out of x and y and concatenating y
  # again made each slice's gradient a zero-filled copy of the whole clip (measured: 14%
  # slower at 8x8x128x128x64, 2.6x on a 3-channel input). For the same reason the gathered
  # frames and the kernel's taps are unstacked, not sliced: one stack in the gradient.
  frames = sorted({frame for copied in fixes.values() for frame in copied})
  ends = tf.gather(_frames_as_rows(x), _rows(x, frames))
  ends = tf.unstack(tf.reshape(ends, [-1, len(frames), *x.shape[2:]]), axis=1)
  kernel_taps = tf.unstack(kernel)
  fix = [
    tf.add_n(
      [
        tf.nn.conv2d(
          ends[frames.index(frame)],
          tf.add_n([kernel_taps[tap] for tap in taps]),
          strides[1:],
          "SAME",
        )
        for frame, taps in copied.items()
      ]
    )
    for copied in fixes.values()
  ]
  fix = tf.reshape(tf.stack(fix, axis=1), [-1, *y.shape[2:]])
  rows = tf.tensor_scatter_nd_add(_frames_as_rows(y), _rows(y, list(fixes))[:, tf.newaxis], fix)
  return tf.reshape(rows, [-1, *y.shape[1:]])


def _frames_as_rows(x):
  """[B, T, ...] -> [B * T, ...]."""
  return tf.reshape(x, [-1, *x.shape[2:]])


def _rows(x, frames):
  """The rows of `frames` of every clip of x [B, T, ...] in `_frames_as_rows(x)`, clip by
  clip."""
  clips = tf.range(tf.shape(x)[0])[:, tf.newaxis] * x.shape[1]
  return tf.reshape(clips + tf.constant(frames, tf.int32), [-1])


def _copied(p, t, mode):
  """The frame of a clip of `t` frames that padded frame `p` (< 0 or >= t) copies."""
  if mode == "replicate":
    return 0 if p < 0 else t - 1
  return -p if p < 0 else 2 * (t - 1) - p  # reflect: the end frame is not repeated


_TIME_PADDED_FORMS = {form_choice.NATIVE: _padded_conv, "edges": _edges_conv}
# Version 2 of "edges" gathers the end frames and adds its corrections in place; version 3
# unstacks the frames and taps it reads.
_TIME_PADDED_VERSIONS = {"edges": 3}


def _time_padded_form(x_shape, kernel, strides, mode):
  return form_choice.choose_form(
    "time_padded_conv",
    kernel.dtype,
    x_shape,
    f"{kernel.shape.as_list()} {list(strides)} {mode}",
    _TIME_PADDED_FORMS,
    "edges",
    lambda name, shape: _time_padded_runner(
      _TIME_PADDED_FORMS[name], shape, kernel.shape, kernel.dtype, strides, mode
    ),
    versions=_TIME_PADDED_VERSIONS,
  )


def _time_padded_runner(form, x_shape, kernel_shape, dtype, strides, mode):
  """A zero-argument callable that runs `form` and both its gradients once on random inputs
  of these shapes."""

  def build():
    x = tf.random.normal(x_shape, dtype=dtype)
    kernel = tf.random.normal(kernel_shape, dtype=dtype)

    @tf.function
    def step(x, kernel):
      out = form(x, kernel, strides, mode, None)
      # Symbolic gradients: `form_choice` times inside `tf.init_scope`, which pauses tapes.
      dx, dk = tf.gradients(out, [x, kernel], tf.ones_like(out))
      return tf.stack([tf.reshape(t, [-1])[0] for t in (out, dx, dk)])

    return lambda: step(x, kernel)

  return form_choice.once_built(build)


@keras.saving.register_keras_serializable(package="zoo")
class SpectralNormalization(keras.layers.SpectralNormalization):
  """Keras' `SpectralNormalization`, frozen when it is not trainable, as Keras' batch norm is.

  In training mode Keras' layer divides its kernel by the spectral norm and writes it back,
  with the power iteration's u, whether or not the layer is trainable: a frozen network
  (`model.trainable = False`) called with `training=True` still changed. Here a layer that
  is not trainable (itself or a model holding it) leaves both as they are.
  """

  def call(self, inputs, training=False):
    return super().call(inputs, training=training if self.trainable else False)


def maybe_spectral(layer, spectral_norm):
  """`layer`, wrapped in `SpectralNormalization` with `spectral_norm`; the wrapper keeps the
  layer's dtype policy (a float32 final layer stays float32 under mixed precision)."""
  if not spectral_norm:
    return layer
  return SpectralNormalization(layer, dtype=layer.dtype_policy)


@keras.saving.register_keras_serializable(package="zoo")
class TimePaddedConv3D(keras.layers.Conv3D):
  """`keras.layers.Conv3D` with padding "same" in which time is padded by replicating or
  reflecting the end frames (`temporal_padding`) instead of zeros: `time_padded_conv`."""

  def __init__(self, filters, kernel_size, temporal_padding="replicate", **kwargs):
    if temporal_padding not in TEMPORAL_PADDINGS:
      raise ValueError(
        f"Expected temporal_padding in {TEMPORAL_PADDINGS}, received {temporal_padding!r}."
      )
    kwargs["padding"] = "same"
    super().__init__(filters, kernel_size, **kwargs)
    if self.groups != 1 or any(d != 1 for d in self.dilation_rate):
      raise ValueError(f"Expected {self.name} without groups or dilation.")
    self.temporal_padding = temporal_padding

  def call(self, inputs):
    kernel = tf.cast(tf.convert_to_tensor(self.kernel), inputs.dtype)
    bias = self.bias if self.use_bias else None
    out = time_padded_conv(inputs, kernel, self.strides, self.temporal_padding, bias)
    return self.activation(out)

  def get_config(self):
    return {**super().get_config(), "temporal_padding": self.temporal_padding}


class PaddedConv(keras.layers.Layer):
  """A 2D or 3D convolution with "same" padding that is never zero in time.

  2D: `Conv2D(padding="same")`. 3D: `TimePaddedConv3D`, as if the input were padded as
  "same" pads it, time by replicating or reflecting the end frames and space with zeros, and
  then convolved "valid".

  Args:
    rank: 2 or 3.
    filters, kernel_size, strides, use_bias: of the convolution.
    spectral_norm: wrap the convolution in `keras.layers.SpectralNormalization`.
    temporal_padding: "replicate" or "reflect" (3D only).
    kernel_initializer: of the convolution.
  """

  def __init__(
    self,
    rank,
    filters,
    kernel_size,
    strides=1,
    use_bias=True,
    spectral_norm=False,
    temporal_padding="replicate",
    kernel_initializer="glorot_uniform",
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.rank = check_rank(rank)
    if temporal_padding not in TEMPORAL_PADDINGS:
      raise ValueError(
        f"Expected temporal_padding in {TEMPORAL_PADDINGS}, received {temporal_padding!r}."
      )
    self.kernel_size = as_tuple(kernel_size, rank)
    self.strides = as_tuple(strides, rank)
    self.temporal_padding = temporal_padding
    padding = {"padding": "same"} if rank == 2 else {"temporal_padding": temporal_padding}
    conv = (keras.layers.Conv2D if rank == 2 else TimePaddedConv3D)(
      filters,
      self.kernel_size,
      strides=self.strides,
      use_bias=use_bias,
      kernel_initializer=kernel_initializer,
      dtype=self.dtype_policy,  # a float32 PaddedConv convolves in float32
      name="conv",
      **padding,
    )
    self.conv = maybe_spectral(conv, spectral_norm)

  def paddings(self, sizes):
    """(before, after) of "same" for each of the (T, H, W) `sizes` (3D)."""
    return [
      same_padding(int(size), k, s)
      for size, k, s in zip(sizes, self.kernel_size, self.strides, strict=True)
    ]

  def pad(self, x):
    """x padded as the convolution sees it: time by `temporal_padding`, space with zeros
    (3D; a 2D input is returned as it is)."""
    if self.rank == 2:
      return x
    return pad_as_same(x, self.kernel_size, self.strides, self.temporal_padding)

  def call(self, x, training=False):
    return self.conv(x, training=training)


def conv_transpose(rank, filters, kernel_size, strides, padding, spectral_norm, name=None):
  """A (spectrally normalised) transposed convolution. It has no input padding to worry
  about; the edge outputs of a temporally strided one see fewer taps (see `zoo.inflation`)."""
  layer = _CONV_TRANSPOSE[check_rank(rank)](
    filters, kernel_size, strides=strides, padding=padding, name=name
  )
  return maybe_spectral(layer, spectral_norm)


def avg_pool(rank, pool_size, strides):
  """Average pooling, padding "same" (padding excluded from the mean, so a constant stays
  constant in time)."""
  return _POOL[check_rank(rank)](pool_size, strides=strides, padding="same")


def upsample(rank, size):
  """Nearest-neighbour upsampling by `size` (an int per axis)."""
  return _UPSAMPLE[check_rank(rank)](size)


class ResBlock(keras.layers.Layer):
  """The GAN-Stability ResBlock (Mescheder et al. 2018, `gan_training/models/resnet.py`).

  out = shortcut(x) + 0.1 * conv3(lrelu(conv3(lrelu(x)))), LeakyReLU 0.2, hidden width
  min(fin, fout); the shortcut is a 1x1 convolution without bias only when fin != fout,
  otherwise the identity. In 3D every 3x3 becomes 3x3x3 (the shortcut 1x1x1), time padded
  by replication (Egan 2019, Figure 3-6).

  Args:
    rank: 2 or 3.
    fin, fout: input and output channels.
    temporal_padding: "replicate" or "reflect" (3D).
  """

  def __init__(self, rank, fin, fout, temporal_padding="replicate", **kwargs):
    super().__init__(**kwargs)
    self.fin, self.fout = int(fin), int(fout)
    hidden = min(self.fin, self.fout)
    conv = lambda f, k, bias, name: PaddedConv(
      rank, f, k, use_bias=bias, temporal_padding=temporal_padding, name=name
    )
    self.conv_0 = conv(hidden, 3, True, "conv_0")
    self.conv_1 = conv(self.fout, 3, True, "conv_1")
    self.shortcut = conv(self.fout, 1, False, "shortcut") if self.fin != self.fout else None

  def call(self, x, training=False):
    if self.shortcut is None:
      # The identity shortcut and the LeakyReLU read x twice. When x is a convolution's
      # output (Egan's ResNet discriminator's first block), Grappler's remapper fuses
      # convolution + bias + LeakyReLU regardless, removes the bias output the shortcut
      # still reads and then drops every fusion of the graph ("remapper failed: ... fanout
      # '.../add' exist for missing node '.../BiasAdd'"). EnsureShape (it forwards its
      # input, no copy) in between leaves convolution + bias as the fusion: valid with two
      # readers.
      x = tf.ensure_shape(x, x.shape)
    skip = x if self.shortcut is None else self.shortcut(x)
    dx = self.conv_0(activations.leaky_relu(x))
    dx = self.conv_1(activations.leaky_relu(dx))
    return skip + 0.1 * dx
