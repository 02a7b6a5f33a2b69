"""Keras's LSTM with a backward pass that batches what does not depend on the recurrence.

Keras's unrolled LSTM, differentiated by autodiff, multiplies by its weights one frame at a
time: per frame a B-row matmul with the kernel, one with the recurrent kernel, and in the
backward pass their transposes and two weight-gradient products of B rows each, summed over
the frames (B = 16 at the learning check's batch, which a CPU runs far below its peak). Only
the recurrence itself is sequential. This layer

- takes the input projection of all B * T rows in one matmul;
- computes its gradients itself (`tf.custom_gradient`): back through the frames, only the
  gate arithmetic (by autodiff, frame by frame) and dL/dh = dL/dz @ R^T run per frame; the
  recurrent kernel's gradient is then one matmul over all B * T rows;
- multiplies by a transposed weight (dL/dz @ R^T, and dL/dP @ W^T into the input) in the
  form this machine runs fastest (`matmul_transposed`).

Graphs for converters (`strided_conv.forward_only`) take the same forward pass without the
custom gradient, which would leave a TFLite model no signature.

Same weights (the LSTM cell's kernel, recurrent kernel and bias, as checkpoints hold them),
same equations (Keras's gate order i, f, c, o), same outputs and gradients.

cuDNN is not in play either way: Keras uses it only for a rolled-up (`unroll=False`) LSTM.
"""

import keras
import tensorflow as tf

from zoo.layers import form_choice
from zoo.layers import strided_conv

TRANSPOSED = "transposed"
# The "rules" policy: (b @ a^T)^T up to this many rows of a. On a 2-core AMD EPYC (family 25
# model 1, Zen 3) with TensorFlow's own kernels (oneDNN off), a [16, 4096] @ b^T for b
# [1024, 4096] took 2.4 ms against 10.0 ms as TF's matmul with transpose_b; with a
# [2048, 1024] and b [1024, 1024], 59.6 against 34.9 ms. With oneDNN the two are within 15%.
TRANSPOSED_MAX_ROWS = 512


def _native_product(a, b):
  return tf.matmul(a, b, transpose_b=True)


def _transposed_product(a, b):
  return tf.transpose(tf.matmul(b, a, transpose_b=True))


_PRODUCT_FORMS = {form_choice.NATIVE: _native_product, TRANSPOSED: _transposed_product}


def matmul_transposed(a, b):
  """a [M, K] @ b [N, K]^T -> [M, N], as TF's matmul with `transpose_b` or as (b @ a^T)^T,
  whichever this machine runs faster for these shapes and dtype (`form_choice`: timed once,
  cached; "rules": the transposed form up to `TRANSPOSED_MAX_ROWS` rows of a).

  TensorFlow's own CPU matmul (oneDNN off) with a transposed right operand and few rows in a
  ran 4x slower than the same product taken the other way round on the Zen 3 above.
  """
  few_rows = a.shape[0] is not None and a.shape[0] <= TRANSPOSED_MAX_ROWS
  name = form_choice.choose_form(
    "matmul_transposed",
    a.dtype,
    a.shape,
    str(b.shape.as_list()),
    _PRODUCT_FORMS,
    TRANSPOSED if few_rows else form_choice.NATIVE,
    lambda name, a_shape: form_choice.random_runner(
      _PRODUCT_FORMS[name], [(a_shape, a.dtype), (b.shape, b.dtype)]
    ),
    whole_batch=True,
  )
  return _PRODUCT_FORMS[name](a, b)


def _projection(x, kernel):
  """x [N, C] @ kernel [C, G]; dL/dx in the faster form (`matmul_transposed`)."""
  if strided_conv.is_forward_only():  # for converters, which take no custom gradient
    return tf.matmul(x, kernel)

  @tf.custom_gradient
  def project(x, kernel):
    def grad(dy):
      return matmul_transposed(dy, kernel), tf.matmul(x, dy, transpose_a=True)

    return tf.matmul(x, kernel), grad

  return project(x, kernel)


def _cell(cell, z, c):
  """One frame's gate arithmetic: (h, c) from the pre-activations z [B, 4U] and c [B, U]."""
  i, f, g, o = tf.split(z, 4, axis=-1)
  c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
  return cell.recurrent_activation(o) * cell.activation(c), c


def _frames(cell, projected, recurrent, h, c):
  """The forward pass: the pre-activations z of every frame, and the states c and h from the
  initial ones on (T + 1 each)."""
  zs, cs, hs = [], [c], [h]
  for t in range(projected.shape[1]):
    zs.append(projected[:, t] + tf.matmul(hs[-1], recurrent))
    h, c = _cell(cell, zs[-1], cs[-1])
    cs.append(c)
    hs.append(h)
  return zs, cs, hs


def _recurrence(cell, projected, recurrent, h0, c0):
  """(outputs [B, T, U], h, c) of the LSTM over the input projections [B, T, 4U] (bias
  included) from the state (h0, c0), with the batched backward pass the module describes."""
  if strided_conv.is_forward_only():
    _, cs, hs = _frames(cell, projected, recurrent, h0, c0)
    return tf.stack(hs[1:], axis=1), hs[-1], cs[-1]

  @tf.custom_gradient
  def run(projected, recurrent, h0, c0):
    zs, cs, hs = _frames(cell, projected, recurrent, h0, c0)

    def grad(d_outputs, d_h, d_c):
      dh = tf.zeros_like(h0) if d_h is None else d_h
      dc = tf.zeros_like(c0) if d_c is None else d_c
      dzs = [None] * len(zs)
      for t in reversed(range(len(zs))):
        if d_outputs is not None:
          dh = dh + d_outputs[:, t]
        with tf.GradientTape() as tape:
          tape.watch([zs[t], cs[t]])
          h_t, c_t = _cell(cell, zs[t], cs[t])
        dzs[t], dc = tape.gradient(
          [h_t, c_t], [zs[t], cs[t]], output_gradients=[dh, dc], unconnected_gradients="zero"
        )
        dh = matmul_transposed(dzs[t], recurrent)
      d_projected = tf.stack(dzs, axis=1)
      rows = lambda x: tf.reshape(x, [-1, x.shape[-1]])
      previous = tf.stack(hs[:-1], axis=1)
      d_recurrent = tf.matmul(rows(previous), rows(d_projected), transpose_a=True)
      return d_projected, d_recurrent, dh, dc

    return (tf.stack(hs[1:], axis=1), hs[-1], cs[-1]), grad

  return run(projected, recurrent, h0, c0)


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(keras.layers.LSTM):
  """`keras.layers.LSTM`, unrolled, with the batched input projection and backward pass.

  Anything the batched form does not cover (a mask, going backwards, the cell's own dropout,
  no bias, frames of unknown number) runs Keras's own loop.
  """

  def inner_loop(self, sequences, initial_state, mask, training=False):
    cell = self.cell
    plain = (
      mask is None
      and not self.go_backwards
      and not cell.dropout
      and not cell.recurrent_dropout
      and cell.use_bias
      and sequences.shape[1] is not None
    )
    if not plain:
      return super().inner_loop(sequences, initial_state, mask, training=training)
    if sequences.shape[1] == 0:
      raise ValueError(f"Expected at least one frame, received {tuple(sequences.shape)}.")
    dtype = sequences.dtype
    kernel = tf.cast(cell.kernel, dtype)
    frames, features = sequences.shape[1], sequences.shape[2]
    rows = _projection(tf.reshape(sequences, [-1, features]), kernel)
    projected = tf.reshape(rows, [-1, frames, rows.shape[-1]]) + tf.cast(cell.bias, dtype)
    h, c = initial_state
    outputs, h, c = _recurrence(cell, projected, tf.cast(cell.recurrent_kernel, dtype), h, c)
    return h, outputs, [h, c]
