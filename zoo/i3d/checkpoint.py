"""Loads DeepMind's kinetics-i3d TF1 checkpoints into `InceptionI3D`.

The release (github.com/deepmind/kinetics-i3d, `data/checkpoints/rgb_imagenet/model.ckpt`,
`rgb_scratch`, `rgb600`, `flow_*`) stores name-based TF1 variables under a stream scope:

    RGB/inception_i3d/<unit scope>/conv_3d/w            [kt, kh, kw, in, out]
    RGB/inception_i3d/<unit scope>/batch_norm/beta       [1, 1, 1, 1, out] or [out]
    RGB/inception_i3d/<unit scope>/batch_norm/moving_mean
    RGB/inception_i3d/<unit scope>/batch_norm/moving_variance
    RGB/inception_i3d/Logits/Conv3d_0c_1x1/conv_3d/w and .../conv_3d/b

where <unit scope> is e.g. `Conv3d_1a_7x7` or `Mixed_3b/Branch_1/Conv3d_0b_3x3`
(`InceptionI3D.units()` lists them). Sonnet 1 keeps BatchNorm statistics with the input's
rank (size-1 leading axes); values are reshaped when the element counts agree.

Decisions: names outside the scope (the other stream of a joint checkpoint, `global_step`)
are ignored; names inside it that the model does not have are an error, as are missing
ones, unless `strict=False`. TF1 moving-average bookkeeping (`.../biased`, `.../local_step`)
is ignored. Nothing is assigned unless every name and shape checks out.
"""

import numpy as np
import tensorflow as tf

DEFAULT_SCOPE = "RGB/inception_i3d"
_IGNORED_SUFFIXES = ("/biased", "/local_step")
_LIST_LIMIT = 20


class CheckpointMismatchError(ValueError):
  """The checkpoint's variables do not match the model's (names or shapes)."""


def variable_map(model, scope=DEFAULT_SCOPE):
  """{TF1 checkpoint name: Keras variable} for a built `InceptionI3D`."""
  if not model.built:
    raise ValueError(
      "Expected a built InceptionI3D (call `model.build(shape)` or the "
      "loader, which builds it), received an unbuilt model."
    )
  mapping = {}
  for unit_scope, unit in model.units().items():
    prefix = f"{scope}/{unit_scope}"
    mapping[f"{prefix}/conv_3d/w"] = unit.conv.kernel
    if unit.use_bias:
      mapping[f"{prefix}/conv_3d/b"] = unit.conv.bias
    if unit.batch_norm is not None:
      mapping[f"{prefix}/batch_norm/beta"] = unit.batch_norm.beta
      mapping[f"{prefix}/batch_norm/moving_mean"] = unit.batch_norm.moving_mean
      mapping[f"{prefix}/batch_norm/moving_variance"] = unit.batch_norm.moving_variance
  return mapping


def _listing(names):
  names = sorted(names)
  shown = ", ".join(names[:_LIST_LIMIT])
  more = f" ... and {len(names) - _LIST_LIMIT} more" if len(names) > _LIST_LIMIT else ""
  return f"{len(names)}: [{shown}{more}]"


def load_kinetics_i3d_checkpoint(model, ckpt_path, scope=DEFAULT_SCOPE, strict=True):
  """Assigns a kinetics-i3d TF1 checkpoint to `model`; returns the names it assigned.

  Args:
    model: an `InceptionI3D`; built here if it is not (the input channels are read from
      the checkpoint's first convolution, 16x224x224 clips assumed for the build).
    ckpt_path: checkpoint prefix (".../model.ckpt") or a directory with a `checkpoint` file.
    scope: the stream scope, "RGB/inception_i3d" or "Flow/inception_i3d".
    strict: when False, missing and unexpected names are skipped instead of raising.

  Raises:
    FileNotFoundError: nothing readable at `ckpt_path`.
    CheckpointMismatchError: names missing / unexpected (strict) or shapes that differ.
  """
  try:
    reader = tf.train.load_checkpoint(ckpt_path)
  except (ValueError, tf.errors.NotFoundError, tf.errors.DataLossError) as e:
    raise FileNotFoundError(
      f"Expected a TF1 kinetics-i3d checkpoint (prefix or directory) at {ckpt_path!r}, "
      f"received an unreadable path: {e}"
    ) from e
  shapes = reader.get_variable_to_shape_map()
  in_scope = {
    name for name in shapes if name.startswith(scope + "/") and not name.endswith(_IGNORED_SUFFIXES)
  }
  if not in_scope:
    raise CheckpointMismatchError(
      f"Expected variables under {scope!r} in {ckpt_path!r}, received none; scopes "
      f"present: {sorted({'/'.join(n.split('/')[:2]) for n in shapes})}."
    )

  if not model.built:
    first = f"{scope}/Conv3d_1a_7x7/conv_3d/w"
    channels = shapes[first][3] if first in shapes else 3
    model.build((None, 16, 224, 224, channels))

  mapping = variable_map(model, scope)
  missing = set(mapping) - in_scope
  unexpected = in_scope - set(mapping)
  if strict and (missing or unexpected):
    raise CheckpointMismatchError(
      f"Checkpoint {ckpt_path!r} does not match the model under {scope!r}. "
      f"Missing from the checkpoint {_listing(missing)}. "
      f"Unexpected in the checkpoint {_listing(unexpected)}."
    )

  values = {}
  mismatched = []
  for name in sorted(set(mapping) & in_scope):
    variable = mapping[name]
    value = reader.get_tensor(name)
    target = tuple(variable.shape)
    if value.size != int(np.prod(target)) or (value.ndim == len(target) and value.shape != target):
      mismatched.append(f"{name}: checkpoint {tuple(value.shape)} vs model {target}")
      continue
    values[name] = value.reshape(target)
  if mismatched:
    raise CheckpointMismatchError(
      f"Expected checkpoint shapes to match the model, received {len(mismatched)} "
      f"mismatches: {'; '.join(mismatched[:_LIST_LIMIT])}."
    )
  for name, value in values.items():
    mapping[name].assign(value.astype(mapping[name].dtype))
  return sorted(values)
