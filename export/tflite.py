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
in the README's Radner section).

Variables are frozen before conversion: the converter, given a function that still reads
Keras 3 variables, can leave some as uninitialised resource variables and the model then
returns NaN (seen here on the background stream of a two-stream generator). Converting a
function whose variables were folded into constants (`convert_variables_to_constants_v2`)
avoids it, and the verification (`export.verify`) would catch it anyway.

Builtin ops are tried first; only if the converter refuses are Select TF ops (Flex) allowed,
and `convert` reports which ones the model needed.
"""

import re

import tensorflow as tf
# pylint: disable-next=g-direct-tensorflow-import
from tensorflow.python.framework import convert_to_constants

from export import signatures

VARIANTS = ("float32", "float16", "int8")


def input_specs(generator, frames=1):
  """[native inputs at batch 1] + [num_frames int32 []] when the generator takes it."""
  specs = [signatures.native_spec(generator, batch_size=1,
                                  frames=getattr(generator, "context_frames", frames))]
  if signatures.takes_num_frames(generator):
    specs.append(signatures.NUM_FRAMES_SPEC)
  return specs


def frozen_function(generator, frames=1):
  """A variable-free concrete function: `input_specs` -> named outputs."""
  specs = input_specs(generator, frames)
  # outputs(generator, inputs[, num_frames]): the spec list is its positional arguments.
  fn = tf.function(lambda *args: signatures.outputs(generator, *args))
  concrete = fn.get_concrete_function(*specs)
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


def convert(generator, variant):
  """Returns (tflite bytes, list of the Select TF ops that were needed)."""
  function = frozen_function(generator)
  try:
    return _converter(function, variant, select_tf_ops=False).convert(), []
  except Exception as builtin_error:  # pylint: disable=broad-except
    try:
      model = _converter(function, variant, select_tf_ops=True).convert()
    except Exception as e:
      raise RuntimeError(f"TFLite {variant} conversion failed with builtin ops "
                         f"({builtin_error}) and with Select TF ops ({e}).") from e
  return model, flex_ops(model)
