"""Model inflation: a trained 2D (image) network -> its 3D (video) twin (Egan 2019, Sec. 3.1).

`inflate(source_2d, target_3d)` works for any registered 2D/3D pair whose two members are the
same class at rank 2 and 3 (every `zoo.egan` pair), so that `model.weights` lists the same
weights in the same order. Weights are paired by position and name, and each 3D weight is
derived from its 2D partner by its shape alone:

* a conv kernel with one more (leading, temporal) axis, [T, ...] vs [...]: the 2D kernel
  tiled over the T taps and divided by T (w3D[t] = w2D / T, Section 3.1.2), so that a
  temporally constant input gives the 2D output on every frame;
* a Dense kernel whose output is F times wider (a Dense that emits F frames, e.g. the ResNet
  generator's first layer): the columns tiled F times (each frame gets the 2D projection),
  its bias likewise; one whose input is F times longer (a Dense over F flattened frames, the
  ResNet discriminator's last layer): the rows tiled F times and divided by F;
* every other weight of equal shape is copied: biases, BN gamma / beta and moving statistics,
  SPADE's 2D mask branch, and spectral norm's state.

Spectral norm (Keras `SpectralNormalization`) keeps one vector `vector_u` [1, out] and
recomputes v = normalize(u W^T) from it at every training call; it stores the kernel already
divided by sigma. The thesis's result (u3 = u2, v3 = v2 tiled T times / sqrt(T)) is therefore
carried by copying u: the v that Keras derives from it over the inflated kernel is exactly v2
tiled / sqrt(T), and its sigma is sigma2 / sqrt(T).

Where a 3D twin cannot reproduce the 2D output (documented; tests check each):

* Spectral norm in training mode: the inflated kernel's largest singular value is
  sigma2 / sqrt(T), so the first training call divides it by that: the 3D layer then acts
  like its 2D parent scaled by sqrt(T) (kernel / (sigma2 / sqrt(T)) summed over T taps of
  w / T). In inference mode the stored kernel is used as is, and the output is exact.
* Temporally strided transposed convs (the DCGAN generator): an output frame receives
  k_t / s_t of the T = k_t taps in the interior (so the conv part is scaled by 1 / s_t) and
  fewer at the clip's ends; the generator's clip is not the 2D image repeated.
* Temporally strided convs with replicate padding are exact on each output frame; the clip
  just has T / s_t frames.
"""

import numpy as np


def _check_built(model, which):
  if not model.built or not model.weights:
    raise ValueError(
      f"Expected a built {which} network (call it once or `build` it), "
      f"received {model.name!r} with no weights."
    )


def inflated_value(source, target_shape, name="weight"):
  """The 3D value of one weight, from its 2D value `source` and the 3D shape."""
  source = np.asarray(source)
  target_shape = tuple(int(s) for s in target_shape)
  if source.shape == target_shape:
    return source.copy()
  if len(target_shape) == source.ndim + 1 and target_shape[1:] == source.shape:
    taps = target_shape[0]
    return np.tile(source[np.newaxis], (taps,) + (1,) * source.ndim) / taps
  if source.ndim in (1, 2) and len(target_shape) == source.ndim:
    ratios = [t // s if s and t % s == 0 else 0 for t, s in zip(target_shape, source.shape)]
    if source.ndim == 1 and ratios[0]:  # the bias of a Dense that emits frames
      return np.tile(source, ratios[0])
    if ratios[0] == 1 and ratios[1] > 1:  # a Dense that emits F frames
      return np.tile(source, (1, ratios[1]))
    if ratios[0] > 1 and ratios[1] == 1:  # a Dense over F flattened frames
      return np.tile(source, (ratios[0], 1)) / ratios[0]
  raise ValueError(
    f"Expected {name} of the 3D network to have the 2D shape {source.shape}, "
    f"one more leading (temporal) axis, or a Dense kernel/bias a whole number "
    f"of frames wider or longer; received shape {target_shape}."
  )


def inflate(source, target):
  """Copies the weights of a built 2D network into its built 3D twin (see the module doc).

  Args:
    source: the trained 2D network (e.g. `egan_resnet_generator_2d`).
    target: the 3D network of the same family (e.g. `egan_resnet_generator_3d`), built.

  Returns:
    The number of weights assigned.
  """
  _check_built(source, "2D")
  _check_built(target, "3D")
  if len(source.weights) != len(target.weights):
    raise ValueError(
      f"Expected a 3D network with as many weights as the 2D one "
      f"({len(source.weights)}), received {len(target.weights)}: "
      f"{target.name!r} is not the 3D twin of {source.name!r}."
    )
  for s, t in zip(source.weights, target.weights):
    if s.name != t.name:
      raise ValueError(
        f"Expected weight {s.path} to pair with a 3D weight of the same name, received {t.path}."
      )
  values = [
    inflated_value(s.numpy(), t.shape, s.path) for s, t in zip(source.weights, target.weights)
  ]
  for t, v in zip(target.weights, values):
    t.assign(v.astype(t.dtype))
  return len(values)
