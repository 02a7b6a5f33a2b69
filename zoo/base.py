"""The generator contract: what a zoo generator takes and gives, as code.

The trainer, the evaluation and the export read a generator through `contract(generator)`
instead of branching on its attributes. A generator is a `keras.Model` with

  latent_dim        int, the size of the noise z, 0 when the model takes none;
  condition         its condition kind, a `Condition` value (None, "image", "mask", "frames");
  video_shape       (T, H, W, C) of the video `call` returns;
  streams           tuple of the extra outputs `call(..., return_streams=True)` gives beside
                    "video" (e.g. ("foreground", "background", "mask")), () for one stream;
  extra_conditions  optional {name: (shape without batch, dtype)} it reads beside its
                    condition (e.g. {"segmentation": ((H, W), int32)});
  context_frames    for "frames": the number K of frames it reads;
  mask_classes      for "mask": how many class ids it takes, [0, mask_classes);
  segmentation_classes  for a "segmentation" beside the image: the same (either is
                    `GeneratorSpec.classes`);
and `call(inputs, training=False[, num_frames=T][, seed=...][, return_streams=...])`
returning a video float32 [B, T, H, W, C] in [-1, 1], or with `return_streams=True` a dict
{"video", <streams>}. Its inputs, by condition kind (B the batch size):

  NONE    z float32 [B, latent_dim], drawn N(0, 1) (`noise`); latent_dim must be > 0.
  IMAGE   "image" float32 [B, H, W, C] in [-1, 1]: a photo or a clip's first frame.
  MASK    "mask" int32 [B, H, W]: class ids in [0, the generator's num_classes).
  FRAMES  "frames" float32 [B, K, H, W, C] in [-1, 1]: the first K = context_frames frames
          of a clip (next-frame predictors, which also have `rollout(frames, horizon)`).
  extras  each extra condition [B, *shape] of its dtype (a segmentation: int32 class ids).

`inputs` is the one way to put them together: z alone (NONE); the condition tensor alone (a
conditional generator without noise or extras); otherwise the dict {"z" (when it takes
noise), <kind>: condition, <extra>: ...}.
"""

import dataclasses
import enum
import inspect

import keras
import tensorflow as tf


class Condition(enum.Enum):
  """What a generator is conditioned on; the values are those of `generator.condition`."""

  NONE = None
  IMAGE = "image"
  MASK = "mask"
  FRAMES = "frames"


@dataclasses.dataclass(frozen=True)
class GeneratorSpec:
  """A generator's contract (see the module docstring), read from its attributes."""

  name: str
  latent_dim: int
  condition: Condition
  video_shape: tuple
  streams: tuple = ()
  extra_conditions: dict = dataclasses.field(default_factory=dict)
  context_frames: int | None = None
  takes_num_frames: bool = False
  classes: int | None = None

  def __post_init__(self):
    if self.condition is Condition.NONE and not self.latent_dim:
      raise ValueError(
        f"Expected an unconditional generator to take noise, received "
        f"latent_dim=0 from {self.name}."
      )
    if len(self.video_shape) != 4:
      raise ValueError(
        f"Expected video_shape (T, H, W, C), received {self.video_shape!r} from {self.name}."
      )

  @property
  def takes_noise(self):
    return self.latent_dim > 0

  @property
  def key(self):
    """The condition's name in the input dict ("image", "mask", "frames"; None for NONE)."""
    return self.condition.value

  def noise(self, batch_size, seed):
    """Stateless N(0, 1) latents [batch_size, latent_dim]; `seed` is a shape-[2] int tensor."""
    return tf.random.stateless_normal([batch_size, self.latent_dim], seed=seed)

  def condition_spec(self, batch_size=None, frames=None):
    """TensorSpec of the condition (None for NONE); `frames` defaults to context_frames."""
    _, h, w, c = self.video_shape
    if frames is None:
      frames = self.context_frames
    shape, dtype = {
      Condition.NONE: (None, None),
      Condition.IMAGE: ([batch_size, h, w, c], tf.float32),
      Condition.MASK: ([batch_size, h, w], tf.int32),
      Condition.FRAMES: ([batch_size, frames, h, w, c], tf.float32),
    }[self.condition]
    return None if shape is None else tf.TensorSpec(shape, dtype, name=self.key)

  def input_specs(self, batch_size=None, frames=None):
    """What `generator(...)` takes, as TensorSpecs in the structure `inputs` builds."""
    z = (
      tf.TensorSpec([batch_size, self.latent_dim], tf.float32, name="z")
      if self.takes_noise
      else None
    )
    extras = {
      k: tf.TensorSpec([batch_size, *shape], dtype, name=k)
      for k, (shape, dtype) in self.extra_conditions.items()
    }
    return self.inputs(z, self.condition_spec(batch_size, frames), extras)

  def condition_placeholder(self, batch_size):
    """Zeros standing in for the condition and its extras (to build variables, never to
    generate): the condition tensor, or the dict {<kind>: ..., <extra>: ...} with extras;
    None for NONE. A "frames" placeholder is one frame long."""
    if self.condition is Condition.NONE:
      return None
    spec = self.condition_spec(batch_size, frames=1)
    condition = tf.zeros(spec.shape, spec.dtype)
    if not self.extra_conditions:
      return condition
    return {
      self.key: condition,
      **{
        k: tf.zeros([batch_size, *shape], dtype)
        for k, (shape, dtype) in self.extra_conditions.items()
      },
    }

  def placeholders(self, batch_size, frames=None):
    """Zeros of every input (z included), in the structure of `input_specs`."""
    return tf.nest.map_structure(
      lambda s: tf.zeros(s.shape, s.dtype), self.input_specs(batch_size, frames)
    )

  def split(self, condition):
    """(the condition tensor, {extra: tensor}) of a condition given as a tensor or as the
    dict {<kind>: ..., <extra>: ...} (a training batch's, `trainers.tasks.batch_condition`)."""
    if isinstance(condition, dict):
      extras = {k: v for k, v in condition.items() if k != self.key}
      return condition.get(self.key), extras
    return condition, {}

  def inputs(self, z=None, condition=None, extras=None):
    """What `generator(...)` takes: z (NONE), the condition alone (no noise, no extras), or
    the dict {"z", <kind>, <extra>...}. `condition` may carry the extras as a dict (`split`).
    Tensors, arrays and TensorSpecs are all assembled alike."""
    condition, carried = self.split(condition)
    extras = {**carried, **(extras or {})}
    if self.takes_noise and z is None:
      raise ValueError(f"Expected z [B, {self.latent_dim}] for {self.name}, received None.")
    if self.condition is Condition.NONE:
      return z
    if condition is None:
      raise ValueError(f"Expected the {self.key!r} condition for {self.name}, received None.")
    if set(extras) != set(self.extra_conditions):
      raise ValueError(
        f"Expected extra conditions {sorted(self.extra_conditions)} for "
        f"{self.name}, received {sorted(extras)}."
      )
    if not self.takes_noise and not extras:
      return condition
    return {**({"z": z} if self.takes_noise else {}), self.key: condition, **extras}


def contract(generator):
  """The `GeneratorSpec` of a generator, read from its attributes (module docstring)."""
  name = type(generator).__name__
  missing = [a for a in ("condition", "latent_dim", "video_shape") if not hasattr(generator, a)]
  if missing:
    raise TypeError(
      f"Expected a generator (a model with condition, latent_dim and video_shape), "
      f"received {name}, which has no {', '.join(missing)}."
    )
  try:
    condition = Condition(generator.condition)
  except ValueError:
    raise ValueError(
      f"Expected generator.condition in {[c.value for c in Condition]}, "
      f"received {generator.condition!r} from {name}."
    ) from None
  return GeneratorSpec(
    name=name,
    latent_dim=int(generator.latent_dim),
    condition=condition,
    video_shape=tuple(generator.video_shape),
    streams=tuple(getattr(generator, "streams", ()) or ()),
    extra_conditions=dict(getattr(generator, "extra_conditions", None) or {}),
    context_frames=getattr(generator, "context_frames", None),
    classes=getattr(generator, "mask_classes", None)
    or getattr(generator, "segmentation_classes", None),
    takes_num_frames="num_frames"
    in inspect.signature(getattr(generator, "call", generator)).parameters,
  )


# How far past [-1, 1] frames may lie before they are taken for another scale: augmentation
# noise and resampling overshoot stay within it; a [0, 255] image, or one normalised by
# ImageNet's mean and deviation ([-2.1, 2.6]), lies beyond it.
RANGE_SLACK = 1.0


def unit_frames(frames, model):
  """A photo [B, H, W, C] or frames [B, K, H, W, C] as the contract has them: float in
  [-1, 1]. Refused naming `model` (its name) when they cannot be: an integer
  dtype (uint8 frames as an image library or a video decoder gives them: convert them with
  `zoo.inputs.uint8_to_unit`), or, when called eagerly (a notebook's `generator(photo)`),
  values of another scale, beyond [-2, 2] (a [0, 255] image cast to float). Inside a
  tf.function (`predict`, training, the exports) only the dtype is checked: the values are
  not looked at."""
  frames = float_frames(frames, model)
  if tf.executing_eagerly() and tf.size(frames) > 0:
    low, high = float(tf.reduce_min(frames)), float(tf.reduce_max(frames))
    if low < -1 - RANGE_SLACK or high > 1 + RANGE_SLACK:
      hint = " (a [0, 255] image as floats: x / 127.5 - 1)" if low >= 0 and high > 2 else ""
      raise ValueError(
        f"Expected frames in [-1, 1] for {model}, received values in [{low:.4g}, {high:.4g}]{hint}."
      )
  return frames


def float_frames(frames, model):
  """Frames or videos as a float tensor; integer ones (uint8 pixels) are refused naming
  `model` and `zoo.inputs.uint8_to_unit`. What a discriminator checks of its video: the
  values are not looked at (`unit_frames` also checks the scale of a generator's input)."""
  frames = tf.convert_to_tensor(frames)
  if not frames.dtype.is_floating:
    raise TypeError(
      f"Expected frames as floats in [-1, 1] for {model}, received {frames.dtype.name} "
      f"{list(frames.shape)}: convert uint8 frames with zoo.inputs.uint8_to_unit(frames)."
    )
  return frames


def class_ids(ids, num_classes, model):
  """Class ids [B, H, W] (integers) checked, when called eagerly, to lie in [0, num_classes):
  an id outside (a dataset's 255 "ignore" label, ids counted from 1) would one-hot to no
  class at all, silently. Inside a tf.function the values are not looked at."""
  if tf.executing_eagerly() and tf.size(ids) > 0:
    low, high = int(tf.reduce_min(ids)), int(tf.reduce_max(ids))
    if low < 0 or high >= num_classes:
      raise ValueError(
        f"Expected class ids in [0, {num_classes}) for {model}, received ids in "
        f"[{low}, {high}]: map the ids outside (an ignore label such as 255) to a class."
      )
  return ids


class SymbolicBuild:
  """Mixin for subclassed models: `build(input_shape)` creates every variable.

  It traces `call` on a symbolic input (no computation), so `model.build((None, 100))`
  works like a first call; without it Keras would mark the model built with no variables.
  """

  def build(self, input_shape):
    self.compute_output_spec(keras.KerasTensor(tuple(input_shape)))
