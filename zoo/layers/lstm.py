"""Keras's LSTM with the input projection taken for every frame in one matmul.

Keras's unrolled LSTM multiplies each frame's input by the kernel on its own: T matmuls of
B rows each (B = 8 at the bench's batch), which a CPU runs far below its peak, and as many
weight-gradient matmuls. The input projection does not depend on the recurrence, so this
layer takes it for all B * T rows at once; only the recurrent product stays per frame. Same
weights (the LSTM cell's kernel, recurrent kernel and bias, as checkpoints hold them), same
equations (Keras's gate order i, f, c, o), same outputs.

cuDNN is not in play either way: Keras uses it only for a rolled-up (`unroll=False`) LSTM.
"""

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(keras.layers.LSTM):
  """`keras.layers.LSTM`; the input projection of every frame is one matmul.

  Anything the batched form does not cover (a mask, going backwards, the cell's own dropout)
  runs Keras's own loop.
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
    dtype = sequences.dtype
    kernel = tf.cast(cell.kernel, dtype)
    recurrent = tf.cast(cell.recurrent_kernel, dtype)
    projected = tf.einsum("btc,cg->btg", sequences, kernel) + tf.cast(cell.bias, dtype)
    h, c = initial_state
    outputs = []
    for t in range(sequences.shape[1]):
      z = projected[:, t] + tf.matmul(h, recurrent)
      i, f, g, o = tf.split(z, 4, axis=-1)
      c = cell.recurrent_activation(f) * c + cell.recurrent_activation(i) * cell.activation(g)
      h = cell.recurrent_activation(o) * cell.activation(c)
      outputs.append(h)
    if not outputs:
      raise ValueError(f"Expected at least one frame, received {tuple(sequences.shape)}.")
    return h, tf.stack(outputs, axis=1), [h, c]
