"""(Re)live Photos generators (Chen, Kang, Kim; report sec. 4, poster "Architectures").

Registered names: `relive_wgan`, `relive_conditional_wgan`, `relive_segmentation_conditional`,
`relive_inception_conditional`. Shapes and decisions: docs/architecture.md.
"""

import keras
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.layers import batch_norm
from zoo.relive import inception
from zoo.relive import layers
from zoo.vgan import generators as vgan_generators

VIDEO_WIDTHS = (512, 256, 128, 64)
ENCODER_WIDTHS = (64, 128, 256, 512)
INCEPTION_WIDTHS = (512, 256, 128)
STREAMS = vgan_generators.STREAMS
SEGMENTATION_CLASSES = 23


def _widths(name, widths, length=None):
  widths = tuple(int(w) for w in widths)
  if not widths or (length is not None and len(widths) != length):
    raise ValueError(
      f"Expected {name} with {length or 'at least one'} entries, received {widths!r}."
    )
  return widths


class VideoDecoder(keras.layers.Layer):
  """Code [B, t, h, w, widths[0]] -> video, plus mask and background streams if two-stream.

  Trunk: "k4 s2" transposed 3D convs of `widths[1:]`, BN + ReLU, then a tanh head (3
  channels). Two-stream (VGAN's composition m*f + (1-m)*b): a sigmoid mask head on the last
  hidden layer, and a background from a 2D map [B, 4, 4, C] through transposed 2D convs of
  `background_widths[1:]` (BN + ReLU) and a tanh head.
  """

  def __init__(self, widths, two_stream=False, background_widths=None, **kwargs):
    super().__init__(**kwargs)
    self.trunk = layers.stack(
      3, widths[1:], transpose=True, norm="batch", activation="relu", prefix="up"
    )
    self.video_head = layers.output_head(3, 3, "tanh", name="video")
    self.two_stream = bool(two_stream)
    if self.two_stream:
      self.mask_head = layers.output_head(3, 1, "sigmoid", name="mask")
      self.background = layers.stack(
        2,
        background_widths[1:],
        transpose=True,
        norm="batch",
        activation="relu",
        prefix="background",
      )
      self.background_head = layers.output_head(2, 3, "tanh", name="background_image")

  def call(self, code, background_map=None, training=False, return_streams=False):
    hidden = layers.run(self.trunk, code, training)
    video = self.video_head(hidden)
    if not self.two_stream:
      return {"video": video} if return_streams else video
    mask = self.mask_head(hidden)
    background = self.background_head(layers.run(self.background, background_map, training))
    compose = vgan_generators._two_stream_outputs
    return compose(video, background, mask, return_streams)


class _Projection(keras.layers.Layer):
  """Dense -> BN -> ReLU, reshaped to `shape`: the fully connected first generator layer."""

  def __init__(self, shape, **kwargs):
    super().__init__(**kwargs)
    self.shape = tuple(shape)
    size = 1
    for s in self.shape:
      size *= s
    self.dense = keras.layers.Dense(size, name="dense")
    self.norm = batch_norm.FusedBatchNormalization(name="norm")

  def call(self, z, training=False):
    x = tf.nn.relu(self.norm(self.dense(z), training=training))
    return tf.reshape(x, (-1,) + self.shape)


@registry.register("relive_wgan")
class WGANGenerator(base.SymbolicBuild, keras.Model):
  """(Re)live Photos' WGAN generator, one- or two-stream (report sec. 4.2, poster).

  z (100, N(0, 1)) -> fully connected -> 2x4x4x512 (BN, ReLU) -> transposed 3D convs "k4 s2"
  256 (4x8x8) -> 128 (8x16x16) -> 64 (16x32x32), BN + ReLU -> 3 (32x64x64), tanh.
  Two-stream (`two_stream=True`): a sigmoid mask head on the 16x32x32x64 layer and a
  background with its own fully connected layer z -> 4x4x512 and transposed 2D convs
  256 -> 128 -> 64 -> 3 (64x64), tanh; video = m*f + (1-m)*b, as VGAN.

  Decisions: the fully connected layer is the first of the report's "five layers"; Keras
  default initializers. The depth follows `widths`: n entries give clips of 2^(n+1) frames of
  2^(n+2) pixels squared (32x64x64 for 4); `background_widths` has as many entries.

  Args:
    latent_dim: size of z.
    widths: channels of the projection and hidden layers (512, 256, 128, 64).
    two_stream: foreground / background / mask streams.
    background_widths: channels of the background's projection and hidden layers.
  """

  condition = None

  def __init__(
    self,
    latent_dim=100,
    widths=VIDEO_WIDTHS,
    two_stream=False,
    background_widths=VIDEO_WIDTHS,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.latent_dim = int(latent_dim)
    self.widths = _widths("widths", widths)
    self.background_widths = _widths("background_widths", background_widths, len(self.widths))
    self.two_stream = bool(two_stream)
    self.streams = STREAMS if self.two_stream else ()
    self.video_shape = vgan_generators.video_shape_for(len(self.widths))
    self.project = _Projection((2, 4, 4, self.widths[0]), name="project")
    if self.two_stream:
      self.background_project = _Projection(
        (4, 4, self.background_widths[0]), name="background_project"
      )
    self.decoder = VideoDecoder(
      self.widths, self.two_stream, self.background_widths, name="decoder"
    )

  def call(self, z, training=False, return_streams=False):
    code = self.project(z, training=training)
    background_map = self.background_project(z, training=training) if self.two_stream else None
    return self.decoder(code, background_map, training=training, return_streams=return_streams)

  def get_config(self):
    return {
      "name": self.name,
      "latent_dim": self.latent_dim,
      "widths": list(self.widths),
      "two_stream": self.two_stream,
      "background_widths": list(self.background_widths),
    }


class PhotoEncoder(keras.layers.Layer):
  """Photo [B, S, S, C] -> (code [B, 2, 4, 4, w], the 4x4 feature map) (report sec. 4.4).

  Conv2D "k4 s2" `encoder_widths` (ReLU; BN on all but the first, as VGAN's encoder) down to
  4x4, then Conv2D 2w kernel 3 "same" + BN + ReLU, its channels split into 2 frames of w:
  five layers from 64x64 to the generator's 2x4x4x512 input.
  """

  def __init__(self, encoder_widths, code_width, **kwargs):
    super().__init__(**kwargs)
    self.code_width = int(code_width)
    self.down = layers.stack(
      2,
      encoder_widths,
      transpose=False,
      norm="batch",
      activation="relu",
      first_norm="none",
      prefix="down",
    )
    self.to_code = layers.ConvNormAct(
      2, 2 * self.code_width, 3, 1, "same", norm="batch", activation="relu", name="to_code"
    )

  def call(self, image, training=False):
    features = layers.run(self.down, image, training)
    code = self.to_code(features, training=training)  # [B, 4, 4, 2w]
    code = tf.reshape(code, [-1, 4, 4, 2, self.code_width])
    return tf.transpose(code, [0, 3, 1, 2, 4]), features


@registry.register("relive_conditional_wgan")
class ConditionalGenerator(base.SymbolicBuild, keras.Model):
  """(Re)live Photos' conditional WGAN generator: a photo -> 32 frames around it (sec. 4.4).

  The photo is the clip's middle frame (index 15 of 32: 15 frames before, 16 after); the
  trainer's reconstruction term compares generated frame 15 with it. `PhotoEncoder` maps it
  to the 2x4x4x512 code, which replaces z and the fully connected layer of `WGANGenerator`;
  the decoder is the same (one- or two-stream). Two-stream: the background decodes the
  encoder's 4x4x512 map (`background_widths[1:]` are its transposed 2D convs).

  Decisions: no noise input (`latent_dim` 0; the report's encoder output is the whole code);
  Keras default initializers. The depth follows `widths` as `WGANGenerator`, with
  `encoder_widths` of the same length (a 2^(n+2)-pixel photo down to 4x4).

  Args:
    encoder_widths: channels of the strided encoder convs (64, 128, 256, 512).
    widths, two_stream, background_widths: as `WGANGenerator`.
  """

  latent_dim = 0
  condition = "image"
  extra_channels = 0

  def __init__(
    self,
    encoder_widths=ENCODER_WIDTHS,
    widths=VIDEO_WIDTHS,
    two_stream=False,
    background_widths=VIDEO_WIDTHS,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.widths = _widths("widths", widths)
    self.encoder_widths = _widths("encoder_widths", encoder_widths, len(self.widths))
    self.background_widths = _widths("background_widths", background_widths, len(self.widths))
    self.two_stream = bool(two_stream)
    self.streams = STREAMS if self.two_stream else ()
    self.video_shape = vgan_generators.video_shape_for(len(self.widths))
    self.encoder = PhotoEncoder(self.encoder_widths, self.widths[0], name="encoder")
    self.decoder = VideoDecoder(
      self.widths, self.two_stream, self.background_widths, name="decoder"
    )

  def encoder_input(self, inputs):
    return base.unit_frames(inputs, self.name)

  def call(self, inputs, training=False, return_streams=False):
    code, features = self.encoder(self.encoder_input(inputs), training=training)
    return self.decoder(code, features, training=training, return_streams=return_streams)

  def get_config(self):
    return {
      "name": self.name,
      "encoder_widths": list(self.encoder_widths),
      "widths": list(self.widths),
      "two_stream": self.two_stream,
      "background_widths": list(self.background_widths),
    }


@registry.register("relive_segmentation_conditional")
class SegmentationConditionalGenerator(ConditionalGenerator):
  """The conditional generator fed a photo and its semantic segmentation (report sec. 4.4.2).

  Input: a dict {"image": [B, H, W, 3] in [-1, 1], "segmentation": [B, H, W] int class ids};
  the encoder sees the photo and the one-hot segmentation (`num_classes`, 23 by default)
  concatenated on channels (3 + 23 = 26). Everything else is `ConditionalGenerator`.
  `condition` stays "image" (the critic and the reconstruction term see the photo); the
  trainer passes the dict when `objective.condition` is "middle_frame+segmentation", the
  record's `segmentation` feature. Given only an image the model raises: a segmenter
  (`zoo.segmenter`, a user's SavedModel) must produce the segmentation first, as
  `make_tfrecords --segmenter` and the export's segment_and_animate(image) do.

  Args:
    num_classes: segmentation classes (one-hot channels).
    encoder_widths, widths, two_stream, background_widths: as `ConditionalGenerator`.
  """

  def __init__(self, num_classes=SEGMENTATION_CLASSES, **kwargs):
    super().__init__(**kwargs)
    # Not `num_classes`, which marks a classifier in the generator slot (trainers.tasks).
    self.segmentation_classes = int(num_classes)

  @property
  def extra_conditions(self):
    """What the generator takes beside the photo (zoo.inputs): {name: (shape, dtype)}."""
    return {"segmentation": (self.video_shape[1:3], tf.int32)}

  def build(self, input_shape):
    if not isinstance(input_shape, dict):
      raise ValueError(
        "Expected input shapes {'image', 'segmentation'} for "
        f"relive_segmentation_conditional, received {input_shape!r}."
      )
    self.compute_output_spec(
      {
        "image": keras.KerasTensor(tuple(input_shape["image"])),
        "segmentation": keras.KerasTensor(tuple(input_shape["segmentation"]), dtype="int32"),
      }
    )

  def encoder_input(self, inputs):
    if not isinstance(inputs, dict) or "segmentation" not in inputs:
      raise ValueError(
        "Expected a dict {'image', 'segmentation'} for "
        f"relive_segmentation_conditional, received {type(inputs).__name__}."
      )
    image = tf.cast(base.unit_frames(inputs["image"], self.name), tf.float32)
    ids = base.class_ids(
      tf.cast(inputs["segmentation"], tf.int32), self.segmentation_classes, self.name
    )
    onehot = tf.one_hot(ids, self.segmentation_classes)
    return tf.concat([image, onehot], axis=-1)

  def get_config(self):
    return {**super().get_config(), "num_classes": self.segmentation_classes}


@registry.register("relive_inception_conditional")
class InceptionConditionalGenerator(base.SymbolicBuild, keras.Model):
  """The conditional generator with a pretrained, frozen Inception encoder (report sec. 4.4.1).

  Photo -> resized to `input_size` (299) -> frozen InceptionV3 -> 8x8x2048 -> 1x1 conv 512
  (BN, ReLU) -> tiled over 4 frames: 4x8x8x512 -> transposed 3D convs "k4 s2" 256 (8x16x16)
  -> 128 (16x32x32), BN + ReLU -> 3 (32x64x64), tanh. Weights: see `zoo.relive.inception`
  ("imagenet" from the Keras cache or a given file; the model refuses to build otherwise).

  Decisions: InceptionV3 instead of the report's InceptionV4 (not in Keras); one-stream; no
  noise. `video_shape` is generic: with n `widths` the code is video_shape / 2^n in T, H, W,
  and the features are area-resized to that grid when it is not the backbone's 8x8.

  Args:
    weights: "imagenet", a weights file path, or inception.UNTRAINED_FOR_TESTS_ONLY.
    input_size: the backbone's input size (299).
    widths: channels of the 1x1 projection and the hidden layers (512, 256, 128).
    video_shape: (T, H, W, 3) of the clips.
  """

  latent_dim = 0
  condition = "image"
  streams = ()

  def __init__(
    self,
    weights="imagenet",
    input_size=299,
    widths=INCEPTION_WIDTHS,
    video_shape=(32, 64, 64, 3),
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.weights_source = weights
    self.input_size = int(input_size)
    self.widths = _widths("widths", widths)
    self.video_shape = tuple(int(s) for s in video_shape)
    scale = 2 ** len(self.widths)
    if any(s % scale for s in self.video_shape[:3]):
      raise ValueError(
        f"Expected video_shape T, H, W divisible by 2^len(widths) = {scale}, "
        f"received {self.video_shape}."
      )
    self.code_shape = tuple(s // scale for s in self.video_shape[:3])
    self.features = inception.FrozenFeatures(
      weights, self.input_size, self.code_shape[1:], name="inception"
    )
    self.project = layers.ConvNormAct(
      2, self.widths[0], 1, 1, "same", norm="batch", activation="relu", name="project"
    )
    self.decoder = VideoDecoder(self.widths, name="decoder")

  def call(self, image, training=False):
    code = self.project(self.features(base.unit_frames(image, self.name)), training=training)
    code = layers.tile_over_time(code, self.code_shape[0])
    return self.decoder(code, training=training)

  def get_config(self):
    return {
      "name": self.name,
      "weights": self.weights_source,
      "input_size": self.input_size,
      "widths": list(self.widths),
      "video_shape": list(self.video_shape),
    }
