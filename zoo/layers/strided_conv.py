"""3D "k4 s2" convolutions computed in whichever of several forms runs fastest here.

A kernel-4, stride-2 3D convolution from X (C_x channels, an even size per axis) to Y (C_y),
padding "same" (X of 2n -> Y of n) or "valid" (X of 2n + 2, padded by its caller, -> Y of
n), and its transpose Y -> X, can run far below TF's usual speed at some shapes, so each of
three computations has forms with the same arithmetic (same variables, results and
gradients; docs/benchmarks.md has the figures):

* the transposed convolution Y -> X: TF's op, or ONE stride-1 2x2x2 convolution to 8 * C_x
  channels (one per output parity of t, h, w), then depth-to-space and, for "same", a crop
  of 1 at each end (the sub-pixel form; fast into few channels: video and mask heads, a
  discriminator's gradient into the video);
* the convolution X -> Y and its filter gradient: TF's ops, or the 4x4x4 windows of X
  (`tf.extract_volume_patches`, in the kernel's (kt, kh, kw, C_x) order) times the kernel or
  dL/dY as a matrix (the patch form; fast for a small Y with many channels);
* the filter gradient also as that of a stride-1 2x2x2 convolution of X's space-to-depth
  (each 2x2x2 block of the padded X as 8 * C_x channels; the sub-pixel form's transpose),
  folded back into the 4x4x4 kernel (the space-to-depth form; faster where TF's filter
  gradient of a large X runs at half its forward's speed).

Which form runs is measured on first use of each shape and dtype on this machine and
remembered (`zoo.layers.form_choice`, which also holds the policy: measure, TF's ops, the old
fixed thresholds, or one forced form). Both directions are `tf.custom_gradient`s whose
gradients are again these functions, so second derivatives (gradient penalties) work. The
patch op has neither a TFLite builtin nor an XLA kernel: under `forward_only()` (for
converters) and inside XLA-compiled functions (`jit_compile`, TPU) it is never a candidate,
and inside XLA nothing is measured (the remembered choice or TF's op).

`Conv3D` and `Conv3DTranspose` are the Keras layers with the same variables, config and
results, computed this way; `conv_transpose` is the function for kernels a model builds at
call time.
"""

import contextlib
import functools
import threading

import keras
import tensorflow as tf

from zoo.layers import form_choice

# The "rules" policy: crossovers measured on one CPU (an AMD EPYC, docs/benchmarks.md).
# Largest C_x for which the sub-pixel transposed convolution is used.
SUBPIXEL_MAX_CHANNELS = 8
# Largest Y extent (t * h * w per clip) for which the patch + matmul forms are used.
PATCHES_MAX_POSITIONS = 32

_STRIDES = [1, 2, 2, 2, 1]
_PADDINGS = ("SAME", "VALID")
_STATE = threading.local()


@contextlib.contextmanager
def forward_only():
  """Traces the fast paths, and every other `tf.custom_gradient` of the zoo (LeakyReLU's,
  `zoo.layers.activations`; the LSTM's backward pass, `zoo.layers.lstm`), without it (same
  forward ops).

  For graphs that are never differentiated and go to converters that do not take custom
  gradients: a frozen function with one converts to a TFLite model with no signature.
  """
  previous = getattr(_STATE, "forward_only", False)
  _STATE.forward_only = True
  try:
    yield
  finally:
    _STATE.forward_only = previous


def is_forward_only():
  """Whether this traces under `forward_only()`."""
  return getattr(_STATE, "forward_only", False)


def _patches_allowed():
  """Whether the patch form may be traced here: its ExtractVolumePatches has no TFLite builtin
  (`forward_only`) and no XLA kernel."""
  return not (is_forward_only() or form_choice.in_xla())


def _choose(operation, padding, forms, operands, rule):
  """The name of the form among `forms` (name -> fn(*operands)) that computes `operation`
  with `padding` here (`form_choice.choose_form`; "valid" in the operation's name).

  `operands` are X (or Y), the kernel and, for a filter gradient, dL/dY: both batches are
  measured on at most `form_choice.MEASURE_MAX_BATCH` clips. `rule` is the "rules" policy's
  form.
  """
  x, kernel, *others = operands

  def runner(name, *shapes):
    dtypes = [o.dtype for o in operands]
    shapes = [shapes[0], kernel.shape, *shapes[1:]]
    return form_choice.random_runner(forms[name], list(zip(shapes, dtypes, strict=True)))

  return form_choice.choose_form(
    operation if padding == "SAME" else f"{operation}_{padding.lower()}",
    x.dtype,
    x.shape,
    str(kernel.shape.as_list()),
    forms,
    rule,
    runner,
    others=[o.shape for o in others],
  )


def _fast_path(
  x_shape,
  kernel_shape,
  strides,
  padding,
  dilation_rate=(1, 1, 1),
  groups=1,
  data_format="channels_last",
):
  """Whether a convolution between X of `x_shape` and Y may take this module's forms ("k4 s2",
  "same" or "valid" on an X of even sizes, and the policy allows another form than TF's)."""
  strides = tuple(strides) if isinstance(strides, (list, tuple)) else (strides,) * 3
  dilation = (
    tuple(dilation_rate) if isinstance(dilation_rate, (list, tuple)) else (dilation_rate,) * 3
  )
  padding = str(padding).upper()
  smallest = 2 if padding == "SAME" else 4
  return (
    len(x_shape) == 5
    and len(kernel_shape) == 5
    and tuple(kernel_shape[:3]) == (4, 4, 4)
    and strides == (2, 2, 2)
    and padding in _PADDINGS
    and dilation == (1, 1, 1)
    and groups == 1
    and data_format == "channels_last"
    and all(s is not None and s % 2 == 0 and s >= smallest for s in x_shape[1:4])
    and _policy_takes(x_shape, kernel_shape, padding)
  )


def _policy_takes(x_shape, kernel_shape, padding):
  """Whether the policy may choose a form other than TF's (else Keras' own layer runs)."""
  policy = form_choice.policy()
  if policy == "rules":
    return _few_channels(kernel_shape) or _few_positions(x_shape, padding)
  return policy != form_choice.NATIVE


def _few_channels(kernel_shape):
  """Whether the transposed convolution into C_x channels is computed sub-pixel."""
  return kernel_shape[3] <= SUBPIXEL_MAX_CHANNELS


def _y_sizes(x_shape, padding):
  """Y's (t, h, w) for X's: each halved ("same"), less one ("valid")."""
  less = 0 if padding == "SAME" else 1
  return [s // 2 - less for s in x_shape[1:4]]


def _few_positions(x_shape, padding):
  """Whether Y is small enough for the patch + matmul forms."""
  t, h, w = _y_sizes(x_shape, padding)
  return t * h * w <= PATCHES_MAX_POSITIONS


def _subpixel_kernel(kernel):
  """[4, 4, 4, C_x, C_y] -> the stride-1 [2, 2, 2, C_y, 8 * C_x] kernel of the sub-pixel form.

  Kernel tap k = 2 b + p on each axis: block b of the 2x2x2 kernel, parity p of the output.
  The stride-1 convolution correlates with the taps reversed (b -> 1 - b) and maps C_y to the
  (p_t, p_h, p_w, C_x) channels `_depth_to_space` expects.
  """
  c_x, c_y = kernel.shape[3], kernel.shape[4]
  k = tf.reshape(kernel, [2, 2, 2, 2, 2, 2, c_x, c_y])  # (bt, pt, bh, ph, bw, pw, cx, cy)
  k = tf.reverse(k, [0, 2, 4])
  k = tf.transpose(k, [0, 2, 4, 7, 1, 3, 5, 6])  # (bt, bh, bw, cy, pt, ph, pw, cx)
  return tf.reshape(k, [2, 2, 2, c_y, 8 * c_x])


def _depth_to_space(x):
  """[B, t, h, w, (2, 2, 2, C)] -> [B, 2t, 2h, 2w, C], with at most rank-6 ops (TFLite)."""
  _, t, h, w, c8 = x.shape
  c = c8 // 8
  x = tf.reshape(x, [-1, t, h, w, 2, 4 * c])
  x = tf.transpose(x, [0, 1, 4, 2, 3, 5])  # [B, t, pt, h, w, (ph, pw, C)]
  x = tf.reshape(x, [-1, h, w, 4 * c])
  x = tf.nn.depth_to_space(x, 2)
  return tf.reshape(x, [-1, 2 * t, 2 * h, 2 * w, c])


def _subpixel_transpose(y, kernel, padding):
  """TF's stride-2 conv3d_transpose of y with a [4, 4, 4, C_x, C_y] kernel, sub-pixel: the
  "valid" one whole (2n + 2 from n), the "same" one cropped to its 2n."""
  y = tf.pad(y, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])
  x = _depth_to_space(tf.nn.conv3d(y, _subpixel_kernel(kernel), [1, 1, 1, 1, 1], "VALID"))
  return x[:, 1:-1, 1:-1, 1:-1] if padding == "SAME" else x


def _patches(x, padding):
  """[B, 2t, 2h, 2w, C] -> [B * t * h * w, 64 * C]: each output's 4x4x4 window, kernel order."""
  p = tf.extract_volume_patches(x, [1, 4, 4, 4, 1], _STRIDES, padding)
  return tf.reshape(p, [-1, p.shape[-1]])


def _patch_forward(x, kernel, padding):
  """The convolution X -> Y as patches @ kernel."""
  y = tf.matmul(_patches(x, padding), tf.reshape(kernel, [-1, kernel.shape[-1]]))
  return tf.reshape(y, [-1, *_y_sizes(x.shape, padding), kernel.shape[-1]])


def _native_forward(x, kernel, padding):
  return tf.nn.conv3d(x, kernel, _STRIDES, padding)


def _forward(x, kernel, padding):
  """The convolution X -> Y: TF's, or patches @ kernel ("rules": a small fp32 Y)."""
  forms = {form_choice.NATIVE: _native_forward}
  if _patches_allowed():
    forms["patch"] = _patch_forward
  few = x.dtype == tf.float32 and _few_positions(x.shape, padding)
  form = _choose("forward", padding, _bound(forms, padding), [x, kernel], _rule(few, "patch"))
  return forms[form](x, kernel, padding)


def _native_transpose(y, kernel, padding):
  more = 0 if padding == "SAME" else 2
  x_shape = tf.stack([tf.shape(y)[0]] + [2 * s + more for s in y.shape[1:4]] + [kernel.shape[3]])
  return tf.nn.conv3d_transpose(y, kernel, x_shape, _STRIDES, padding)


def _transpose_forward(y, kernel, padding):
  """The transposed convolution Y -> X: TF's, or sub-pixel ("rules": into few channels)."""
  forms = {form_choice.NATIVE: _native_transpose, "subpixel": _subpixel_transpose}
  rule = _rule(_few_channels(kernel.shape), "subpixel")
  return forms[_choose("transpose", padding, _bound(forms, padding), [y, kernel], rule)](
    y, kernel, padding
  )


def _patch_filter_gradient(x, kernel, dy, padding):
  """d(loss)/d(kernel) as patches^T @ dY."""
  grad = tf.matmul(_patches(x, padding), tf.reshape(dy, [-1, dy.shape[-1]]), transpose_a=True)
  return tf.reshape(grad, tf.shape(kernel))


def _native_filter_gradient(x, kernel, dy, padding):
  return tf.raw_ops.Conv3DBackpropFilterV2(
    input=x, filter_sizes=tf.shape(kernel), out_backprop=dy, strides=_STRIDES, padding=padding
  )


def _space_to_depth(x):
  """[B, 2t, 2h, 2w, C] -> [B, t, h, w, (2, 2, 2, C)], with at most rank-6 ops; the inverse
  of `_depth_to_space`."""
  _, t2, h2, w2, c = x.shape
  x = tf.nn.space_to_depth(tf.reshape(x, [-1, h2, w2, c]), 2)  # [B * 2t, h, w, (ph, pw, C)]
  x = tf.reshape(x, [-1, t2 // 2, 2, h2 // 2, w2 // 2, 4 * c])
  x = tf.transpose(x, [0, 1, 3, 4, 2, 5])  # [B, t, h, w, pt, (ph, pw, C)]
  return tf.reshape(x, [-1, t2 // 2, h2 // 2, w2 // 2, 8 * c])


def _space_to_depth_filter_gradient(x, kernel, dy, padding):
  """d(loss)/d(kernel) as the filter gradient of the stride-1 2x2x2 convolution of X's
  space-to-depth (X padded as "same" pads it), its [2, 2, 2, (2, 2, 2, C_x), C_y] taps put
  back in the 4x4x4 kernel's order: tap k = 2 b + p per axis, block b, parity p."""
  if padding == "SAME":
    x = tf.pad(x, [[0, 0], [1, 1], [1, 1], [1, 1], [0, 0]])
  c_x, c_y = kernel.shape[3], kernel.shape[4]
  grad = tf.raw_ops.Conv3DBackpropFilterV2(
    input=_space_to_depth(x),
    filter_sizes=[2, 2, 2, 8 * c_x, c_y],
    out_backprop=dy,
    strides=[1, 1, 1, 1, 1],
    padding="VALID",
  )
  grad = tf.reshape(grad, [2, 2, 2, 2, 2, 2, c_x, c_y])  # (bt, bh, bw, pt, ph, pw, cx, cy)
  return tf.reshape(tf.transpose(grad, [0, 3, 1, 4, 2, 5, 6, 7]), [4, 4, 4, c_x, c_y])


def _filter_gradient(x, kernel, dy, padding):
  """d(loss)/d(kernel) from X and dL/dY: TF's, patches^T @ dY ("rules": a small Y), or the
  space-to-depth form."""
  forms = {
    form_choice.NATIVE: _native_filter_gradient,
    "space_to_depth": _space_to_depth_filter_gradient,
  }
  if _patches_allowed():
    forms["patch"] = _patch_filter_gradient
  rule = _rule(_few_positions(x.shape, padding), "patch")
  form = _choose("filter_gradient", padding, _bound(forms, padding), [x, kernel, dy], rule)
  return forms[form](x, kernel, dy, padding)


def _rule(applies, form):
  return form if applies else form_choice.NATIVE


def _bound(forms, padding):
  """`forms` as the functions of the operands alone that the chooser times."""
  return {name: functools.partial(form, padding=padding) for name, form in forms.items()}


def _differentiable(padding):
  """The convolution X -> Y and its transpose Y -> X with `padding`, as `tf.custom_gradient`s
  whose gradients are this module's forms again (so second derivatives take them too)."""

  @tf.custom_gradient
  def conv(x, kernel):
    y = _forward(x, kernel, padding)

    def grad(dy):
      return transpose(dy, kernel), _filter_gradient(x, kernel, dy, padding)

    return y, grad

  @tf.custom_gradient
  def transpose(y, kernel):
    x = _transpose_forward(y, kernel, padding)

    def grad(dx):
      return conv(dx, kernel), _filter_gradient(dx, kernel, y, padding)

    return x, grad

  return conv, transpose


_DIFFERENTIABLE = {padding: _differentiable(padding) for padding in _PADDINGS}


def _convolve(x, kernel, padding):
  """X -> Y: with this module's gradients, or only the forward under `forward_only()`."""
  if is_forward_only():
    return _forward(x, kernel, padding)
  return _DIFFERENTIABLE[padding][0](x, kernel)


def _convolve_transpose(y, kernel, padding):
  """Y -> X: with this module's gradients, or only the forward under `forward_only()`."""
  if is_forward_only():
    return _transpose_forward(y, kernel, padding)
  return _DIFFERENTIABLE[padding][1](y, kernel)


def _as_kernel(kernel, dtype):
  return tf.cast(tf.convert_to_tensor(kernel), dtype)


def conv(x, kernel, strides, padding):
  """`keras.ops.conv` (channels_last), in this module's forms where they apply.

  For kernels a layer reads at call time (`zoo.layers.resblocks`' time-padded convolution).
  Inputs of another rank or shape go to `keras.ops.conv` itself.

  Args:
    x: [B, ..., C_x].
    kernel: [..., C_x, C_y].
    strides, padding: as for `keras.ops.conv`.
  """
  kernel = _as_kernel(kernel, x.dtype)
  if _fast_path(x.shape, kernel.shape, strides, padding):
    return _convolve(x, kernel, padding.upper())
  return keras.ops.conv(x, kernel, strides=strides, padding=padding)


def conv_transpose(y, kernel, strides, padding):
  """`keras.ops.conv_transpose` (channels_last), in this module's forms where they apply.

  For kernels a model builds at call time (e.g. several heads' kernels concatenated). Inputs
  of another rank or shape go to `keras.ops.conv_transpose` itself.

  Args:
    y: [B, ..., C_y].
    kernel: [..., C_x, C_y] (Keras' transposed-convolution layout).
    strides, padding: as for `keras.ops.conv_transpose`.
  """
  kernel = _as_kernel(kernel, y.dtype)
  x_shape = _transpose_output_shape(y.shape, kernel.shape, padding)
  if _fast_path(x_shape, kernel.shape, strides, padding):
    return _convolve_transpose(y, kernel, padding.upper())
  return keras.ops.conv_transpose(y, kernel, strides=strides, padding=padding)


def _transpose_output_shape(y_shape, kernel_shape, padding):
  """X's shape for a "k4 s2" transposed convolution of y (each size doubled, plus 2 for
  "valid")."""
  more = 0 if str(padding).upper() == "SAME" else 2
  return (
    (y_shape[0],)
    + tuple(None if s is None else 2 * s + more for s in y_shape[1:4])
    + (kernel_shape[3],)
  )


class _StridedLayer:
  """Mixin for a Keras conv layer: `call` takes this module's forms where `_takes(shape)`."""

  def call(self, inputs):
    if not self._takes(inputs.shape):
      return super().call(inputs)
    out = self._compute(inputs, _as_kernel(self.kernel, inputs.dtype))
    if self.use_bias:
      out = out + tf.cast(self.bias, out.dtype)
    return self.activation(out)


@keras.saving.register_keras_serializable(package="zoo")
class Conv3D(_StridedLayer, keras.layers.Conv3D):
  """`keras.layers.Conv3D`; "k4 s2" in this module's forms where they run faster (sub-pixel
  input gradient, patch forward and filter gradient)."""

  def _takes(self, input_shape):
    return _fast_path(
      input_shape,
      self.kernel.shape,
      self.strides,
      self.padding,
      self.dilation_rate,
      self.groups,
      self.data_format,
    )

  def _compute(self, x, kernel):
    return _convolve(x, kernel, self.padding.upper())


@keras.saving.register_keras_serializable(package="zoo")
class Conv3DTranspose(_StridedLayer, keras.layers.Conv3DTranspose):
  """`keras.layers.Conv3DTranspose`; "k4 s2" in this module's forms where they run faster
  (sub-pixel forward, patch gradients)."""

  def _takes(self, input_shape):
    return self.output_padding is None and _fast_path(
      _transpose_output_shape(input_shape, self.kernel.shape, self.padding),
      self.kernel.shape,
      self.strides,
      self.padding,
      self.dilation_rate,
      data_format=self.data_format,
    )

  def _compute(self, y, kernel):
    return _convolve_transpose(y, kernel, self.padding.upper())
