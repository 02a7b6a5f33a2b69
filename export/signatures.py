"""The one wrapper every zoo generator is exported through, for TF Serving and TF-Hub.

`GeneratorModule(generator)` reads the generator's contract (`zoo.base`) and defines

* for TF Serving, signatures chosen by the generator's condition kind:
    None      sample(z float32 [B, latent_dim]) and
              sample_seeded(seed int64 [], batch_size int32 [])      (stateless normal z)
    "image"   animate(image uint8 [B, h, w, 3], any size: resized + centre-cropped in graph)
              A generator that also reads the photo's segmentation (`extra_conditions`
              {"segmentation"}: relive_segmentation_conditional) gets instead
              animate(image uint8 [B, h, w, 3], segmentation int32 [B, h, w] class ids of the
              same size, resized nearest + cropped alike; the one-hot is the generator's own,
              in graph), and, when exported with a segmenter (`zoo.segmenter`, embedded in
              the SavedModel), segment_and_animate(image) first, the serving_default: the
              segmenter reads the resized photo, float32 [B, H, W, 3] in [-1, 1].
              Class ids outside [0, num_classes) fail the call (tf.one_hot would silently
              make them all-zero rows).
    "mask"    from_mask(mask int32 [B, H, W] class ids)
    "frames"  predict(frames uint8 [B, K, H, W, 3], horizon int32 []): the next `horizon`
              frames [B, horizon, H, W, 3], each predicted from the previous outputs
              (the predictor's `rollout`; zoo.relive.predictors)
  A conditional generator that also takes noise gets z from seed 0 in the plain signature
  and a `<name>_seeded(<condition>, seed int64 [])` twin for other draws; z is always
  `zoo.inputs.noise(generator, B, [seed, 0])`, the noise the sample and animate CLIs use.
  A generator whose `call` takes `num_frames` (Radner's models) gets a `num_frames`
  (int32 []) input in every serving signature: `animate(image, num_frames)`.
  Every signature returns `video` (float32 [B, T, H, W, 3] in [-1, 1]; predict: the
  `horizon` predicted frames) and `video_uint8`,
  plus the generator's streams (e.g. foreground, background, mask) for two-stream models.
  `serving_default` aliases the first signature, as TF Serving's REST API expects one.
* for TF-Hub (a reusable SavedModel): `__call__(inputs)` = `generator(inputs,
  training=False)` on the generator's own inputs (z, the float condition in [-1, 1], or the
  dict of both), `variables`, `trainable_variables` and `regularization_losses` (empty).

It subclasses AutoTrackable, tf.Module's base, rather than tf.Module: tf.Module makes
`variables` / `trainable_variables` read-only properties that only find `tf.Variable`s,
while a reusable SavedModel must save them as lists (here of
the tf.Variables behind the Keras 3 variables, see `tf_variable`). The generator itself is
not tracked, so only variables and functions are saved, never Keras objects.
"""

import tensorflow as tf

from export import preprocess
from zoo import base
from zoo import inputs as zoo_inputs
from zoo import segmenter as segmenter_lib

Condition = base.Condition

SIGNATURE_BY_CONDITION = {
  Condition.NONE: "sample",
  Condition.IMAGE: "animate",
  Condition.MASK: "from_mask",
  Condition.FRAMES: "predict",
}
SEGMENTATION = "segmentation"
SEGMENTING_SIGNATURE = "segment_and_animate"
SEGMENTATION_SPEC = tf.TensorSpec([None, None, None], tf.int32, name=SEGMENTATION)


def load_segmenter(path, generator, name):
  """The `zoo.segmenter.Segmenter` at `path` (--segmenter of export and animate), checked
  against the generator's size and classes; None for no path. Raises ValueError when the
  generator (registry name `name`) does not read a segmentation."""
  if not path:
    return None
  if SEGMENTATION not in base.contract(generator).extra_conditions:
    raise ValueError(
      f"Expected --segmenter only for a generator that reads a segmentation "
      f"(relive_segmentation_conditional), received {name!r}."
    )
  segmenter = segmenter_lib.Segmenter(path)
  _, h, w, _ = generator.video_shape
  segmenter.check(h, w, base.contract(generator).classes)
  return segmenter


NUM_FRAMES_SPEC = tf.TensorSpec([], tf.int32, name="num_frames")


def outputs(generator, inputs, num_frames=None):
  """{"video", <streams>} from one inference call (training=False), of `num_frames` frames
  when given (generators that take it)."""
  kwargs = {} if num_frames is None else {"num_frames": num_frames}
  streams = base.contract(generator).streams
  if streams:
    result = generator(inputs, training=False, return_streams=True, **kwargs)
    return {k: result[k] for k in ("video",) + streams}
  return {"video": generator(inputs, training=False, **kwargs)}


def signature_names(generator, segmenter=False):
  """The serving signature names for this generator (exported with a segmenter or not), main
  one first."""
  spec = base.contract(generator)
  name = SIGNATURE_BY_CONDITION[spec.condition]
  if SEGMENTATION in spec.extra_conditions:
    return (SEGMENTING_SIGNATURE, name) if segmenter else (name,)
  if spec.condition is Condition.NONE or spec.takes_noise:
    return (name, name + "_seeded")
  return (name,)


# What generates from a generator of each kind: named when a CLI is given another kind.
USAGE = {
  Condition.NONE: "python -m export.sample --workdir=... --out=grid.mp4",
  Condition.IMAGE: "python -m export.animate --workdir=... --image=photo.jpg --out=clip.mp4",
  Condition.MASK: "python -m export.from_mask --workdir=... --mask=mask.png --out=clip.mp4",
  Condition.FRAMES: "the predict signature of the SavedModel from python -m export.export",
}


def check_condition(generator, kind, expected, workdir, name):
  """Raises ValueError, naming the tool for the generator's kind, unless it is `kind`.

  `expected` words the generator the CLI wants; `name` is the workdir's registry name."""
  condition = Condition(generator.condition)
  if condition is not kind:
    raise ValueError(
      f"Expected a workdir with {expected}, received {workdir!r} holding "
      f"{name!r} conditioned on {condition.value!r}; use {USAGE[condition]}."
    )


def serving_spec(spec):
  """What a serving signature takes for the condition of `spec` (a `zoo.base.GeneratorSpec`):
  uint8 frames as stored (an image of any size; a predictor's `context_frames`, a static
  length: its recurrence unrolls), class ids as they are."""
  _, h, w, c = spec.video_shape
  return {
    Condition.IMAGE: tf.TensorSpec([None, None, None, c], tf.uint8, name="image"),
    Condition.MASK: tf.TensorSpec([None, h, w], tf.int32, name="mask"),
    Condition.FRAMES: tf.TensorSpec([None, spec.context_frames, h, w, c], tf.uint8, name="frames"),
  }[spec.condition]


# How each serving condition (serving_spec) becomes the generator's own, in graph:
# (condition, H, W) -> the condition `zoo.base` documents.
SERVING_PREPROCESS = {
  Condition.IMAGE: lambda x, h, w: preprocess.resize_and_crop(x, h, w),
  Condition.MASK: lambda x, h, w: x,
  Condition.FRAMES: lambda x, h, w: zoo_inputs.uint8_to_unit(x),
}


def tf_variable(variable):
  """The tf.Variable behind a Keras 3 variable (or the tf.Variable itself).

  Saving the Keras wrappers would save a second copy of each variable (Keras exports a
  wrapper as a new tf.Variable initialised from the one the functions read): TF2's loader
  copes, but TF1-style loaders (TF Serving, saved_model_cli run) restore only the copies and
  fail on the uninitialised originals, and hub fine-tuning would train the copies.
  """
  if isinstance(variable, tf.Variable):
    return variable
  value = getattr(variable, "value", None)
  if isinstance(value, tf.Variable):
    return value
  raise TypeError(
    f"Expected a tf.Variable or a Keras variable backed by one, received "
    f"{type(variable).__name__} {getattr(variable, 'path', variable)!r}."
  )


class GeneratorModule(tf.__internal__.tracking.AutoTrackable):
  """Serving signatures + the TF-Hub reusable-SavedModel interface of one generator.

  `segmenter`: a `zoo.segmenter.Segmenter` to embed (tracked, so saved with its variables)
  for the segment_and_animate signature of a generator that reads a segmentation.
  """

  def __init__(self, generator, segmenter=None):
    super().__init__()
    spec = base.contract(generator)  # raises the "Expected ..." error of a bad condition
    extras = spec.extra_conditions
    if extras and (
      set(extras) != {SEGMENTATION} or spec.condition is not Condition.IMAGE or spec.takes_noise
    ):
      raise ValueError(
        f"Expected extra conditions only {{{SEGMENTATION!r}}} beside an image, "
        f"without noise, received {sorted(extras)} beside "
        f"{spec.key!r}, latent_dim {spec.latent_dim} from {spec.name}."
      )
    if segmenter is not None and SEGMENTATION not in extras:
      raise ValueError(
        f"Expected a generator that reads a segmentation "
        f"(relive_segmentation_conditional) to embed a segmenter, received "
        f"{spec.name} conditioned on {spec.key!r}."
      )
    self.segmenter = segmenter
    self._spec = spec
    if spec.condition is Condition.FRAMES and not callable(getattr(generator, "rollout", None)):
      raise ValueError(
        f"Expected a predictor with rollout(frames, horizon) for the predict "
        f"signature, received {type(generator).__name__} without one."
      )
    # A closure is not tracked (a list or attribute would be): no Keras objects are saved.
    self._get_generator = lambda: generator
    self.variables = [tf_variable(v) for v in generator.variables]
    self.trainable_variables = [tf_variable(v) for v in generator.trainable_variables]
    self.regularization_losses = []
    self.__call__ = tf.function(self._call, input_signature=[spec.input_specs()])
    for name, fn, spec in self._serving_functions():
      setattr(self, name, tf.function(fn, input_signature=spec))

  @property
  def generator(self):
    return self._get_generator()

  def _call(self, inputs):
    return self.generator(inputs, training=False)

  def _serve(self, condition, seed, batch_size, num_frames=None):
    """Runs the generator on an already-preprocessed condition; returns the output dict."""
    z = None
    if self._spec.takes_noise:
      seed = tf.stack([tf.cast(seed, tf.int64), tf.constant(0, tf.int64)])
      z = self._spec.noise(batch_size, seed)
    result = outputs(self.generator, self._spec.inputs(z, condition), num_frames)
    result["video_uint8"] = preprocess.to_uint8(result["video"])
    return result

  def _class_ids(self, ids):
    """`ids` [B, H, W], checked in graph to lie in [0, the generator's classes)."""
    classes = base.contract(self.generator).classes
    message = f"Expected segmentation class ids in [0, {classes})"
    checks = [
      tf.debugging.assert_non_negative(ids, message=message),
      tf.debugging.assert_less(ids, classes, message=message),
    ]
    with tf.control_dependencies(checks):
      return tf.identity(ids)

  def _segmentation_functions(self, image_spec):
    """animate(image, segmentation), and segment_and_animate(image) with a segmenter."""
    g = self.generator
    _, h, w, _ = g.video_shape

    def animate(image, segmentation):
      same_size = tf.debugging.assert_equal(
        tf.shape(segmentation),
        tf.shape(image)[:3],
        message="Expected a segmentation [B, h, w] of the same batch and size as the image",
      )
      with tf.control_dependencies([same_size]):
        ids = preprocess.resize_and_crop_mask(segmentation, h, w)
      condition = {
        "image": preprocess.resize_and_crop(image, h, w),
        SEGMENTATION: self._class_ids(ids),
      }
      return self._serve(condition, 0, tf.shape(image)[0])

    functions = [
      (SIGNATURE_BY_CONDITION[Condition.IMAGE], animate, [image_spec, SEGMENTATION_SPEC])
    ]
    if self.segmenter is not None:

      def segment_and_animate(image):
        photo = preprocess.resize_and_crop(image, h, w)
        condition = {"image": photo, SEGMENTATION: self._class_ids(self.segmenter(photo))}
        return self._serve(condition, 0, tf.shape(image)[0])

      functions.insert(0, (SEGMENTING_SIGNATURE, segment_and_animate, [image_spec]))
    return functions

  def _prepare(self, condition):
    _, h, w, _ = self._spec.video_shape
    return SERVING_PREPROCESS[self._spec.condition](condition, h, w)

  def _serving_functions(self):
    """(name, python function, input signature) for each serving signature; with a
    trailing `num_frames` input when the generator takes one."""
    functions = self._fixed_length_functions()
    if not self._spec.takes_num_frames:
      return functions
    # Each function's last parameter is `num_frames=None`: a spec more fills it.
    return [(name, fn, spec + [NUM_FRAMES_SPEC]) for name, fn, spec in functions]

  def _fixed_length_functions(self):
    g, spec = self.generator, self._spec
    main, *seeded = signature_names(g)
    if spec.condition is Condition.NONE:

      def sample(z, num_frames=None):
        result = outputs(g, z, num_frames)
        result["video_uint8"] = preprocess.to_uint8(result["video"])
        return result

      def sample_seeded(seed, batch_size, num_frames=None):
        return self._serve(None, seed, batch_size, num_frames)

      return [
        (main, sample, [spec.input_specs()]),
        (
          seeded[0],
          sample_seeded,
          [
            tf.TensorSpec([], tf.int64, name="seed"),
            tf.TensorSpec([], tf.int32, name="batch_size"),
          ],
        ),
      ]
    condition_spec = serving_spec(spec)

    def plain(condition, num_frames=None):
      return self._serve(self._prepare(condition), 0, tf.shape(condition)[0], num_frames)

    def with_seed(condition, seed, num_frames=None):
      return self._serve(self._prepare(condition), seed, tf.shape(condition)[0], num_frames)

    if spec.condition is Condition.FRAMES:

      def predict(frames, horizon):
        video = g.rollout(self._prepare(frames), horizon, training=False)
        return {"video": video, "video_uint8": preprocess.to_uint8(video)}

      return [(main, predict, [condition_spec, tf.TensorSpec([], tf.int32, name="horizon")])]
    if spec.extra_conditions:
      return self._segmentation_functions(condition_spec)
    functions = [(main, plain, [condition_spec])]
    if seeded:
      functions.append(
        (seeded[0], with_seed, [condition_spec, tf.TensorSpec([], tf.int64, name="seed")])
      )
    return functions

  def signatures(self):
    """{name: tf.function} for `tf.saved_model.save(..., signatures=...)`."""
    names = signature_names(self.generator, self.segmenter is not None)
    result = {name: getattr(self, name) for name in names}
    result["serving_default"] = result[names[0]]
    return result


def save_serving(module, path):
  """Writes the TF Serving SavedModel (signatures + the hub interface) to `path`."""
  tf.saved_model.save(module, path, signatures=module.signatures())


def save_hub(module, path):
  """Writes the TF-Hub reusable SavedModel: `__call__` and the variable lists only."""
  tf.saved_model.save(module, path, signatures={})
