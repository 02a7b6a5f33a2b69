"""TFLite conversion of a generator: float32, float16 and dynamic-range int8 variants.

The .tflite model takes the generator's own inputs at batch size 1 (z float32 [1, latent],
the condition as the generator sees it: image float32 [1, H, W, 3] in [-1, 1], mask int32
[1, H, W], frames float32 [1, K, H, W, 3]) and returns `video` plus any streams, named,
through its one signature `serving_default`. Resizing user images is left to the app: on
device it is a platform call, and a fixed input shape keeps every kernel a builtin.

A generator whose `call` takes `num_frames` (Radner's models, as `export.signatures`) also
takes `num_frames` (int32 []) and returns `video` [1, num_frames, H, W, 3]: its ConvGRU
loops (`tf.scan`) become builtin WHILE ops with a run-time trip count, and the time
dimension of the outputs is dynamic. The converter lowers the scan's TensorList to a
tensor that every step rewrites whole (SLICE + CONCATENATION), so one call costs
O(num_frames^2) in copies, as a fixed-length conversion of the same length does (measured
in docs/benchmarks.md).

Variables are frozen before conversion: the converter, given a function that still reads
Keras 3 variables, can leave some as uninitialised resource variables and the model then
returns NaN (seen here on the background stream of a two-stream generator). Converting a
function whose variables were folded into constants (`convert_variables_to_constants_v2`)
avoids it, and the verification (`export.verify`) would catch it anyway.

Builtin ops are tried first; only if the converter refuses are Select TF ops (Flex) allowed,
and `convert` reports which ones the model needed.

Given a segmenter (`zoo.segmenter.Segmenter`, export's --segmenter), a generator that reads
the photo's segmentation (relive_segmentation_conditional) converts instead to the
`segment_and_animate` model, the on-device twin of the SavedModel signature of that name:
it takes only `image` (float32 [1, H, W, 3] in [-1, 1], as the two-input model's image) and
runs the segmenter, the argmax, the generator's own one-hot and the generator, returning
`video` and the `segmentation` (int32 [1, H, W]) the embedded segmenter chose, so that an
app can show or check the classes and the verification can tell the segmenter's part from
the generator's (`export.verify`). Ids outside the generator's classes, which the SavedModel
refuses with an assert, have no builtin assert here: they would become all-zero one-hot
rows; the `segmentation` output shows them. The segmenter must convert with builtin ops:
one that needs Select TF ops, or ops TFLite has not at all, stops the export with
SegmenterConversionError naming its path and those ops, rather than an error deep in the
converter or a model that silently needs the Flex delegate linked into the app for a
third-party model's sake (run such a segmenter as a model of its own and feed the two-input
model its ids). Select TF ops stay allowed, as above, for what the generator itself needs.
"""

import re

import tensorflow as tf
from tensorflow.python.framework import convert_to_constants

from export import signatures
from zoo import base
from zoo import segmenter as segmenter_lib
from zoo.layers import strided_conv

VARIANTS = ("float32", "float16", "int8")
SEGMENTING = signatures.SEGMENTING_SIGNATURE  # the segmenter-embedding model's name part


class SegmenterConversionError(segmenter_lib.SegmenterError):
  """A segmenter that the TFLite converter cannot map to builtin ops (path and ops named)."""


def artefact_key(variant, segmenting=False):
  """The .tflite's key in verification.json and its file name's suffix: "float32", or
  "segment_and_animate_float32" for the model with the segmenter embedded."""
  return f"{SEGMENTING}_{variant}" if segmenting else variant


def input_specs(generator, frames=1, segmenter=None):
  """[native inputs at batch 1] + [num_frames int32 []] when the generator takes it; with a
  segmenter, [image float32 [1, H, W, 3]] alone."""
  spec = base.contract(generator)
  if segmenter is not None:
    return [spec.condition_spec(batch_size=1)]
  specs = [spec.input_specs(batch_size=1, frames=spec.context_frames or frames)]
  if spec.takes_num_frames:
    specs.append(signatures.NUM_FRAMES_SPEC)
  return specs


def _model_function(generator, segmenter=None):
  """The python function converted: the specs' tensors -> {name: tensor}."""
  if segmenter is None:
    # outputs(generator, inputs[, num_frames]): the spec list is its positional arguments.
    return lambda *args: signatures.outputs(generator, *args)
  if signatures.SEGMENTATION not in base.contract(generator).extra_conditions:
    raise ValueError(
      f"Expected a generator that reads a segmentation to embed a segmenter "
      f"in, received {type(generator).__name__}."
    )

  def segment_and_animate(image):
    ids = segmenter(image)
    result = signatures.outputs(generator, {"image": image, signatures.SEGMENTATION: ids})
    return {**result, signatures.SEGMENTATION: ids}

  return segment_and_animate


def frozen_function(generator, frames=1, segmenter=None):
  """A variable-free concrete function: `input_specs` -> named outputs (the segmenter's
  variables are frozen with the generator's)."""
  return _frozen(_model_function(generator, segmenter), input_specs(generator, frames, segmenter))


def _frozen(python_function, specs):
  with strided_conv.forward_only():  # a custom gradient leaves the TFLite model no signature
    concrete = tf.function(python_function).get_concrete_function(*specs)
  frozen = convert_to_constants.convert_variables_to_constants_v2(concrete)
  keys = sorted(concrete.structured_outputs)  # the frozen function returns them flat, sorted

  # Re-wrap so that the TFLite signature keeps the input and output names.
  @tf.function(input_signature=specs)
  def named(*args):
    return dict(zip(keys, frozen(*tf.nest.flatten(args))))

  return named.get_concrete_function()


def _converter(function, variant, select_tf_ops):
  converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf.Module())
  ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
  if select_tf_ops:
    ops.append(tf.lite.OpsSet.SELECT_TF_OPS)
  converter.target_spec.supported_ops = ops
  if variant == "float16":
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.target_spec.supported_types = [tf.float16]
  elif variant == "int8":
    # No representative dataset: dynamic-range quantization (int8 weights, float
    # activations). Tensors under 1024 elements stay float, as the converter decides.
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
  elif variant != "float32":
    raise ValueError(f"Expected a TFLite variant in {VARIANTS}, received {variant!r}.")
  return converter


def flex_ops(model_bytes):
  """Names of the Select TF ops (custom ops "Flex<Op>") a .tflite flatbuffer uses."""
  return sorted({m.decode()[4:] for m in re.findall(rb"Flex[A-Z][A-Za-z0-9]*", model_bytes)})


# How the converter's error lists the ops it has no builtin for, and what each list means.
_OP_LISTS = (("TF Select ops: ", "Select TF ops"), ("Custom ops: ", "ops TFLite has no kernel for"))


def unconvertible_ops(error):
  """{what they are: [op]} of the ops a builtin-only conversion error names."""
  found = {}
  for line in str(error).splitlines():
    for prefix, kind in _OP_LISTS:
      if line.startswith(prefix):
        found.setdefault(kind, set()).update(op.strip() for op in line[len(prefix) :].split(","))
  if not found:  # older messages: "'tf.Op' op is neither a custom op nor a flex op"
    ops = re.findall(r"'tf\.([A-Za-z0-9_]+)' op is neither", str(error))
    found = {"ops without a builtin": set(ops)} if ops else {}
  return {kind: sorted(ops) for kind, ops in found.items()}


def check_segmenter_converts(segmenter, generator, variant):
  """Raises SegmenterConversionError, naming the segmenter's path and the ops, when the
  segmenter alone (image [1, H, W, 3] -> ids) does not convert with builtin ops."""
  specs = input_specs(generator, segmenter=segmenter)
  function = _frozen(lambda image: {signatures.SEGMENTATION: segmenter(image)}, specs)
  try:
    _converter(function, variant, select_tf_ops=False).convert()
  except Exception as e:
    ops = unconvertible_ops(e)
    found = (
      "; ".join(f"{kind} {', '.join(names)}" for kind, names in ops.items())
      if ops
      else "the error " + " ".join(str(e).strip().splitlines()[-3:])
    )
    raise SegmenterConversionError(
      f"Expected the segmenter {segmenter.path!r} to convert to TFLite builtin ops, to be "
      f"embedded in the {SEGMENTING} {variant} model; received {found}. Export the "
      f".tflite files without --segmenter (the models taking image and segmentation; run "
      f"the segmenter on the device as a model of its own) or give a segmenter made of "
      f"builtin ops."
    ) from e


def convert(generator, variant, segmenter=None):
  """Returns (tflite bytes, list of the Select TF ops that were needed).

  With `segmenter`, the segment_and_animate model (module docstring); a segmenter that does
  not convert with builtin ops raises SegmenterConversionError (Select TF ops are allowed
  only for what the generator itself needs).
  """
  function = frozen_function(generator, segmenter=segmenter)
  try:
    return _converter(function, variant, select_tf_ops=False).convert(), []
  except Exception as builtin_error:  # noqa: BLE001  (Select TF ops are tried next)
    if segmenter is not None:
      check_segmenter_converts(segmenter, generator, variant)  # the segmenter's fault?
    try:
      model = _converter(function, variant, select_tf_ops=True).convert()
    except Exception as e:
      raise RuntimeError(
        f"TFLite {variant} conversion failed with builtin ops "
        f"({builtin_error}) and with Select TF ops ({e})."
      ) from e
  return model, flex_ops(model)
