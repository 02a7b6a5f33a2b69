"""(Re)live Photos next-frame predictors: LSTM, ConvLSTM and CNN baselines (report sec. 4.6, 6.1).

Registered names: `relive_lstm`, `relive_convlstm`, `relive_cnn_next_frame`.

Every predictor is a generator with `condition = "frames"` (zoo.base) and three ways in:
* `teacher_forced(frames)` [B, K, H, W, 3] -> [B, K, H, W, 3]: output k predicts frame k + 1
  from the true frames 0..k (training: "each frame of the video is fed to the network");
* `rollout(frames, horizon)` -> [B, horizon, H, W, 3]: the context frames are read as in
  teacher forcing, then each prediction is fed back as the next input ("recursive"
  prediction, evaluation). `horizon` is a Python int (unrolled) or an int32 tensor
  (a tf.while_loop, the exported `predict(frames, horizon)` signature);
* `call(frames)` (the registry contract): the given `context_frames` frames followed by the
  rollout up to `video_shape[0]` frames, [B, T, H, W, 3].
The recurrent layers run with `unroll=True`, so a frozen graph of `call` is builtin TFLite ops.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.layers import lstm
from zoo.relive import layers

VIDEO_SHAPE = (32, 64, 64, 3)
MODES = ("direct", "residual")


class _Predictor(base.SymbolicBuild, keras.Model):
  """Frame encoder -> recurrent core (optional) -> frame decoder, stepped over time.

  Subclasses define `encode(frames [N, H, W, 3])`, `core(sequence [B, K, ...], state)` ->
  (outputs, state) and `decode(features [N, ...])` -> [N, H, W, 3]; `finish(previous frame,
  decoded)` turns a decoded output into the predicted frame (identity unless residual).
  """

  latent_dim = 0
  condition = "frames"
  streams = ()

  def __init__(self, video_shape=VIDEO_SHAPE, context_frames=1, **kwargs):
    super().__init__(**kwargs)
    self.video_shape = tuple(int(s) for s in video_shape)
    self.context_frames = int(context_frames)
    self._one_pass = False  # set while `build` traces one teacher-forced pass
    if not 1 <= self.context_frames < self.video_shape[0]:
      raise ValueError(
        f"Expected 1 <= context_frames < {self.video_shape[0]}, received {context_frames}."
      )

  def core(self, sequence, state, training):
    del training
    return sequence, state  # no recurrence

  def finish(self, previous, decoded):
    del previous
    return decoded

  def _per_frame(self, fn, x):
    """Applies fn to [B, K, ...] as one batch of B * K and restores [B, K, ...]."""
    leading = tf.shape(x)[:2]
    flat = fn(tf.reshape(x, tf.concat([[-1], tf.shape(x)[2:]], 0)))
    y = tf.reshape(flat, tf.concat([leading, tf.shape(flat)[1:]], 0))
    return tf.ensure_shape(y, x.shape[:2].concatenate(flat.shape[1:]))

  def _predict(self, frames, state, training):
    """One pass over frames [B, K, ...]: (predictions of frames 1..K, recurrent state)."""
    features = self._per_frame(lambda x: self.encode(x, training), frames)
    outputs, state = self.core(features, state, training)
    decoded = self._per_frame(lambda x: self.decode(x, training), outputs)
    return self.finish(frames, decoded), state

  def _checked(self, frames):
    """Frames as float32, refused when outside the contract (`zoo.base.unit_frames`)."""
    return tf.cast(base.unit_frames(frames, self.name), tf.float32)

  def teacher_forced(self, frames, training=False):
    """Predictions [B, K, H, W, 3] of frames 1..K from the true frames 0..K-1."""
    predictions, _ = self._predict(self._checked(frames), None, training)
    return predictions

  def rollout(self, frames, horizon, training=False):
    """`horizon` frames after `frames` [B, K, ...], each predicted from the previous outputs."""
    return self._rollout(self._checked(frames), horizon, training)

  def _rollout(self, frames, horizon, training):
    """`rollout` of frames already checked and float32."""
    predictions, state = self._predict(frames, None, training)
    frame = predictions[:, -1:]
    if isinstance(horizon, int):
      out = [frame]
      for _ in range(horizon - 1):
        frame, state = self._predict(frame, state, training)
        out.append(frame)
      return tf.concat(out, axis=1)[:, :horizon]
    horizon = tf.convert_to_tensor(horizon, tf.int32)
    state = () if state is None else state  # a while_loop carries no None
    out = tf.TensorArray(tf.float32, size=tf.maximum(horizon, 1), element_shape=frame.shape)
    out = out.write(0, frame)

    def body(i, frame, state, out):
      frame, state = self._predict(frame, state, training)
      return i + 1, frame, state, out.write(i, frame)

    _, _, _, out = tf.while_loop(lambda i, *_: i < horizon, body, (1, frame, state, out))
    video = tf.transpose(out.stack()[:, :, 0], [1, 0, 2, 3, 4])
    return video[:, :horizon]

  def build(self, input_shape):
    """Creates every variable from one teacher-forced pass on symbolic frames. `call`'s
    rollout would trace the same layers once per frame (31 passes: 11 s for relive_lstm at
    paper size, where one pass takes well under a second) for the same variables."""
    self._one_pass = True
    try:
      super().build(input_shape)
    finally:
      self._one_pass = False

  def call(self, frames, training=False):
    if self._one_pass:
      return self.teacher_forced(frames, training)
    frames = self._checked(frames)
    horizon = self.video_shape[0] - (frames.shape[1] or self.context_frames)
    return tf.concat([frames, self._rollout(frames, horizon, training)], axis=1)

  def _base_config(self):
    return {
      "name": self.name,
      "video_shape": list(self.video_shape),
      "context_frames": self.context_frames,
    }


def _check_sizes(video_shape, down, up, what):
  size = video_shape[1]
  if video_shape[1] != video_shape[2] or size % (2**down) or size // 2**down * 2**up != size:
    raise ValueError(f"Expected square frames of {what}, received {tuple(video_shape)}.")


class _FrameEncoder(keras.layers.Layer):
  """Conv2D "k4 s2" `widths`, LeakyReLU 0.2, BN on all but the first layer."""

  def __init__(self, widths, **kwargs):
    super().__init__(**kwargs)
    self.layers_ = layers.stack(
      2,
      widths,
      transpose=False,
      norm="batch",
      activation="leaky_relu",
      first_norm="none",
      prefix="down",
    )

  def call(self, x, training=False):
    return layers.run(self.layers_, x, training)


class _FrameDecoder(keras.layers.Layer):
  """Transposed Conv2D "k4 s2" `widths` (BN, ReLU), then a "k4 s2" tanh head to 3 channels."""

  def __init__(self, widths, **kwargs):
    super().__init__(**kwargs)
    self.layers_ = layers.stack(
      2, widths, transpose=True, norm="batch", activation="relu", prefix="up"
    )
    self.head = layers.output_head(2, 3, "tanh", name="frame")

  def call(self, x, training=False):
    return self.head(layers.run(self.layers_, x, training))


@registry.register("relive_lstm")
class LSTMPredictor(_Predictor):
  """The report's LSTM next-frame predictor (sec. 4.6, Figure 3; poster "Next Frame Prediction").

  Each 64x64 frame -> Conv2D "k4 s2" 64, 128, 256, 512 (4x4x512) -> Dense 1024 -> LSTM 1024
  -> Dense 4x4x512 (ReLU) -> transposed Conv2D 256, 128, 64 (BN, ReLU) -> 3 (64x64), tanh.
  Dropout (`dropout`, 0.2) on the LSTM's input and output at every frame ("between layers and
  between frames"). Loss and teacher forcing are the trainer's (PredictionTask).

  Decisions: LeakyReLU 0.2 and BN in the encoder (no BN on the first layer), BN + ReLU in the
  decoder ("multiple batch normalization layers"); Keras default initializers.

  Args:
    video_shape: (T, H, W, 3) of the clips; frames of 4 * 2^len(encoder_widths) pixels.
    context_frames: frames `call` is given before rolling out (1: from the first frame).
    encoder_widths: channels of the strided encoder convs.
    units: size of the per-frame vector and of the LSTM (1024).
    decoder_widths: channels of the Dense map and the transposed convs (512, 256, 128, 64).
    dropout: dropout rate.
  """

  def __init__(
    self,
    video_shape=VIDEO_SHAPE,
    context_frames=1,
    encoder_widths=(64, 128, 256, 512),
    units=1024,
    decoder_widths=(512, 256, 128, 64),
    dropout=0.2,
    **kwargs,
  ):
    super().__init__(video_shape, context_frames, **kwargs)
    self.encoder_widths = tuple(int(w) for w in encoder_widths)
    self.decoder_widths = tuple(int(w) for w in decoder_widths)
    self.units = int(units)
    self.dropout_rate = float(dropout)
    _check_sizes(
      self.video_shape,
      len(self.encoder_widths),
      len(self.decoder_widths),
      f"4 * 2^{len(self.encoder_widths)} pixels",
    )
    self.encoder = _FrameEncoder(self.encoder_widths, name="encoder")
    self.flatten = keras.layers.Flatten()
    self.to_vector = keras.layers.Dense(self.units, activation="relu", name="to_vector")
    self.lstm = lstm.LSTM(
      self.units, return_sequences=True, return_state=True, unroll=True, name="lstm"
    )
    self.dropout_in = keras.layers.Dropout(self.dropout_rate)
    self.dropout_out = keras.layers.Dropout(self.dropout_rate)
    self.to_map = keras.layers.Dense(16 * self.decoder_widths[0], activation="relu", name="to_map")
    self.decoder = _FrameDecoder(self.decoder_widths[1:], name="decoder")

  def encode(self, frames, training):
    x = self.to_vector(self.flatten(self.encoder(frames, training=training)))
    return self.dropout_in(x, training=training)

  def core(self, sequence, state, training):
    outputs, h, c = self.lstm(sequence, initial_state=state, training=training)
    return self.dropout_out(outputs, training=training), [h, c]

  def decode(self, vectors, training):
    x = tf.reshape(self.to_map(vectors), [-1, 4, 4, self.decoder_widths[0]])
    return self.decoder(x, training=training)

  def get_config(self):
    return {
      **self._base_config(),
      "encoder_widths": list(self.encoder_widths),
      "units": self.units,
      "decoder_widths": list(self.decoder_widths),
      "dropout": self.dropout_rate,
    }


@registry.register("relive_convlstm")
class ConvLSTMPredictor(_Predictor):
  """The report's convolutional LSTM predictor (sec. 4.6.1, Figure 12).

  Each 64x64 frame -> Conv2D "k4 s2" 64 (32x32), 128 (16x16) -> ConvLSTM2D 128, kernel 3
  (Keras's ConvLSTM2D: the report's equations, no peepholes) -> transposed Conv2D 64 (32x32,
  BN, ReLU) -> 3 (64x64), tanh. Dropout on the ConvLSTM's input and output.

  Args:
    video_shape, context_frames: as `LSTMPredictor`.
    encoder_widths: channels of the strided encoder convs (frames / 2^len at the ConvLSTM).
    filters: ConvLSTM channels.
    kernel_size: ConvLSTM kernel.
    decoder_widths: channels of the transposed convs before the output layer.
    dropout: dropout rate.
  """

  def __init__(
    self,
    video_shape=VIDEO_SHAPE,
    context_frames=1,
    encoder_widths=(64, 128),
    filters=128,
    kernel_size=3,
    decoder_widths=(64,),
    dropout=0.2,
    **kwargs,
  ):
    super().__init__(video_shape, context_frames, **kwargs)
    self.encoder_widths = tuple(int(w) for w in encoder_widths)
    self.decoder_widths = tuple(int(w) for w in decoder_widths)
    self.filters = int(filters)
    self.kernel_size = int(kernel_size)
    self.dropout_rate = float(dropout)
    _check_sizes(
      self.video_shape,
      len(self.encoder_widths),
      len(self.decoder_widths) + 1,
      "a size the encoder and decoder invert",
    )
    self.encoder = _FrameEncoder(self.encoder_widths, name="encoder")
    self.convlstm = keras.layers.ConvLSTM2D(
      self.filters,
      self.kernel_size,
      padding="same",
      return_sequences=True,
      return_state=True,
      unroll=True,
      name="convlstm",
    )
    self.dropout_in = keras.layers.Dropout(self.dropout_rate)
    self.dropout_out = keras.layers.Dropout(self.dropout_rate)
    self.decoder = _FrameDecoder(self.decoder_widths, name="decoder")

  def encode(self, frames, training):
    return self.dropout_in(self.encoder(frames, training=training), training=training)

  def core(self, sequence, state, training):
    outputs, h, c = self.convlstm(sequence, initial_state=state, training=training)
    return self.dropout_out(outputs, training=training), [h, c]

  def decode(self, maps, training):
    return self.decoder(maps, training=training)

  def get_config(self):
    return {
      **self._base_config(),
      "encoder_widths": list(self.encoder_widths),
      "filters": self.filters,
      "kernel_size": self.kernel_size,
      "decoder_widths": list(self.decoder_widths),
      "dropout": self.dropout_rate,
    }


@registry.register("relive_cnn_next_frame")
class CNNNextFrame(_Predictor):
  """The report's encoder-decoder baselines: one frame in, the next out (no memory).

  Conv2D "k4 s2" 64, 128, 256, 512 (4x4x512) -> transposed Conv2D 256, 128, 64 (BN, ReLU) ->
  3 (64x64), tanh. `mode="direct"` predicts the frame; `mode="residual"` predicts the change
  d in [-1, 1] (tanh) and returns clip(frame + 2 d, -1, 1), the difference's full range.

  Args:
    video_shape, context_frames: as `LSTMPredictor`.
    mode: "direct" or "residual".
    encoder_widths: channels of the strided encoder convs.
    decoder_widths: channels of the transposed convs before the output layer.
  """

  def __init__(
    self,
    video_shape=VIDEO_SHAPE,
    context_frames=1,
    mode="direct",
    encoder_widths=(64, 128, 256, 512),
    decoder_widths=(256, 128, 64),
    **kwargs,
  ):
    super().__init__(video_shape, context_frames, **kwargs)
    if mode not in MODES:
      raise ValueError(f"Expected mode in {MODES}, received {mode!r}.")
    self.mode = mode
    self.encoder_widths = tuple(int(w) for w in encoder_widths)
    self.decoder_widths = tuple(int(w) for w in decoder_widths)
    _check_sizes(
      self.video_shape,
      len(self.encoder_widths),
      len(self.decoder_widths) + 1,
      "a size the encoder and decoder invert",
    )
    self.encoder = _FrameEncoder(self.encoder_widths, name="encoder")
    self.decoder = _FrameDecoder(self.decoder_widths, name="decoder")

  def encode(self, frames, training):
    return self.encoder(frames, training=training)

  def decode(self, maps, training):
    return self.decoder(maps, training=training)

  def finish(self, previous, decoded):
    if self.mode == "direct":
      return decoded
    return tf.clip_by_value(previous + 2.0 * decoded, -1.0, 1.0)

  def get_config(self):
    return {
      **self._base_config(),
      "mode": self.mode,
      "encoder_widths": list(self.encoder_widths),
      "decoder_widths": list(self.decoder_widths),
    }
