"""A user's segmentation SavedModel as one function: frames -> class ids.

The one convention every consumer follows (`trainers.evaluate_segmentation --segmenter`,
`trainers.data.make_tfrecords --segmenter`, `export.export` / `export.animate --segmenter`):
the SavedModel is called as `model(frames)`, or through its one-input `serving_default`
signature when its root is not callable, on float32 frames [N, H, W, 3] in [-1, 1]; it
returns class scores [N, H, W, C] (the argmax is taken) or class ids [N, H, W], alone or as
the only value of a dict.

`Segmenter` is a tf.Module that tracks the loaded SavedModel, so that a module holding it
(the export's `GeneratorModule`) saves the segmenter's variables and functions with its own:
the exported graph embeds it.
"""

import tensorflow as tf

CONVENTION = (
  "float32 frames [N, H, W, 3] in [-1, 1] to class scores [N, H, W, C] or class ids [N, H, W]"
)


class SegmenterError(ValueError):
  """A segmentation SavedModel that does not load or does not follow the convention."""


def _signature_call(signature, path):
  """The `serving_default` concrete function as a one-argument callable."""
  names = list(signature.structured_input_signature[1])
  if len(names) != 1:
    raise SegmenterError(
      f"Expected a serving_default signature with one input (the frames) "
      f"in {path!r}, received inputs {names}."
    )
  return lambda frames: signature(**{names[0]: frames})


class Segmenter(tf.Module):
  """The segmentation SavedModel at `path`: `segmenter(frames)` -> int32 class ids [N, H, W].

  Raises SegmenterError naming the path when the directory is not a SavedModel, has neither
  a callable root nor a `serving_default` signature, or (on a call) returns anything but
  scores or ids of the frames' size.
  """

  def __init__(self, path):
    super().__init__(name="segmenter")
    self.path = str(path)
    try:
      model = tf.saved_model.load(self.path)
    except (OSError, ValueError, tf.errors.OpError) as e:
      raise SegmenterError(
        f"Expected a segmentation SavedModel directory, received {self.path!r}: {e}"
      ) from e
    if callable(model):
      fn = lambda frames: model(frames)
    elif "serving_default" in model.signatures:
      fn = _signature_call(model.signatures["serving_default"], self.path)
    else:
      raise SegmenterError(
        f"Expected a callable SavedModel or a serving_default signature in "
        f"{self.path!r}, received neither."
      )
    self.model = model  # tracked: saved with any module that holds this one
    self._call = fn  # a plain function: not tracked a second time

  def _checked(self, frames):
    """The model's scores [N, H, W, C] or ids [N, H, W] of `frames` (float32 tensor)."""
    try:
      out = self._call(frames)
    except (TypeError, ValueError, tf.errors.InvalidArgumentError) as e:
      raise SegmenterError(
        f"Expected {self.path!r} to map {CONVENTION}; it failed on frames "
        f"{frames.shape.as_list()}: {e}"
      ) from e
    if isinstance(out, dict):
      if len(out) != 1:
        raise SegmenterError(
          f"Expected {self.path!r} to return one tensor, received the outputs {sorted(out)}."
        )
      out = next(iter(out.values()))
    rank = out.shape.rank
    spatial = out.shape[:3]
    if rank not in (3, 4) or not spatial.is_compatible_with(frames.shape[:3]):
      raise SegmenterError(
        f"Expected {self.path!r} to map {CONVENTION}; given frames "
        f"{frames.shape.as_list()} it returned shape {out.shape.as_list()}."
      )
    return out

  def __call__(self, frames):
    out = self._checked(tf.convert_to_tensor(frames, tf.float32))
    if out.shape.rank == 4:
      out = tf.argmax(out, axis=-1)
    return tf.cast(out, tf.int32)

  def check(self, height, width, num_classes=None):
    """Runs the segmenter on one blank frame [1, height, width, 3]; raises SegmenterError
    when it breaks the convention or scores more than `num_classes` classes."""
    out = self._checked(tf.zeros([1, height, width, 3]))
    if num_classes and out.shape.rank == 4 and out.shape[-1] > num_classes:
      raise SegmenterError(
        f"Expected {self.path!r} to score at most {num_classes} classes "
        f"(the generator's one-hot size), received {out.shape[-1]}."
      )
