r"""Turns a segmentation mask into a clip with a mask-conditioned generator (Egan's SPADE).

    python -m export.from_mask --workdir=/tmp/spade3d --mask=mask.png --out=clip.mp4 \
        [--legend=legend.json] [--seed=0] [--no_ema] [--step=N] [--fps=F]

The mask is a PNG of class ids (one channel: mode L, P or I; a palette PNG's indices are the
ids), or an RGB drawing whose colours a JSON legend maps to class ids:
`{"156": [70, 130, 180], "0": [0, 0, 0]}` (class id -> [r, g, b]); an anti-aliased edge's
colours and a JPEG's artefacts take the nearest legend colour (`colors_to_ids`). It is
resized (nearest)
and centre-cropped to the model's H x W with the function the SavedModel's `from_mask`
signature runs (`export.preprocess`); z is drawn from `--seed` (Egan 2019, Section 4.4.2: a
hand-drawn mask turned into a video).
"""

import json

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from export import animate
from export import cli
from export import preprocess
from export import signatures
from trainers import cli as trainers_cli
from trainers.data import video_io
from zoo import base
from zoo import inputs as zoo_inputs

flags.adopt_module_key_flags(cli)
MASK = flags.DEFINE_string(
  "mask", None, "The mask: a class-id PNG, or a colour drawing with --legend."
)
LEGEND = flags.DEFINE_string("legend", None, "JSON {class id: [r, g, b]} for colour masks.")


def load_legend(path):
  """JSON {class id: [r, g, b]} -> {(r, g, b): id}; errors name the file and the entry."""
  with open(path) as f:
    try:
      raw = json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(
        f"Expected a JSON legend {{class id: [r, g, b]}}, received {path!r}: {e}"
      ) from e
  if not isinstance(raw, dict) or not raw:
    raise ValueError(
      f"Expected a JSON object {{class id: [r, g, b]}}, received {raw!r} in {path!r}."
    )
  colors = {}
  for key, rgb in raw.items():
    if (
      not str(key).isdigit()
      or not isinstance(rgb, list)
      or len(rgb) != 3
      or not all(isinstance(v, int) and 0 <= v <= 255 for v in rgb)
    ):
      raise ValueError(
        f"Expected legend entries 'class id': [r, g, b] with ints in [0, 255], "
        f"received {key!r}: {rgb!r} in {path!r}."
      )
    if tuple(rgb) in colors:
      raise ValueError(
        f"Expected one class per colour, received {rgb} for classes "
        f"{colors[tuple(rgb)]} and {key} in {path!r}."
      )
    colors[tuple(rgb)] = int(key)
  return colors


# How far (RGB distance, of 441) a colour may lie from a blend of two legend colours and be
# read as that blend: the anti-aliased edges an editor paints between two regions, and the
# JPEG artefacts about them, measured within 47 of the blend on drawings saved at quality 50.
BLEND_TOLERANCE = 48.0


def _nearest(colours, legend):
  """For colours [U, 3]: the index of the nearest of the legend colours [L, 3], and the
  distance to it [U]; a running minimum, with no [U, L] array."""
  colours, legend = colours.astype(np.float32), legend.astype(np.float32)
  nearest = np.zeros(len(colours), np.int64)
  d2 = np.full(len(colours), np.inf, np.float32)
  for k, c in enumerate(legend):
    to_c = ((colours - c) ** 2).sum(-1)
    closer = to_c < d2
    nearest[closer], d2[closer] = k, to_c[closer]
  return nearest, np.sqrt(d2)


def _off_every_blend(colours, legend):
  """Whether each colour [u, 3] lies farther than BLEND_TOLERANCE from every blend of two
  legend colours (every point of the segment between them)."""
  colours, legend = colours.astype(np.float32), legend.astype(np.float32)
  i, j = np.triu_indices(len(legend), 1)
  a, ab = legend[i], legend[j] - legend[i]  # [P, 3]
  length2 = np.maximum((ab**2).sum(-1), 1e-6)
  c = colours[:, None]  # [u, 1, 3]
  t = np.clip(((c - a) * ab).sum(-1) / length2, 0.0, 1.0)  # [u, P]
  return ((c - a - t[..., None] * ab) ** 2).sum(-1).min(-1) > BLEND_TOLERANCE**2


def colors_to_ids(rgb, colors, name="the mask"):
  """uint8 [h, w, 3] drawing -> int32 [h, w] class ids.

  A colour not in the legend takes the nearest legend colour's class when it lies within
  BLEND_TOLERANCE of one, or of a blend of two (an anti-aliased edge, a JPEG's artefacts),
  and how many pixels did so is logged; any other colour raises, naming `name` (the
  drawing's file) and the commonest such colours, found first (a photo given by mistake
  is refused at once).
  """
  # One uint32 per pixel: np.unique over rows of three took 38 s for a 12 MP drawing.
  packed = np.asarray(rgb, np.uint32).reshape(-1, 3) @ np.array([1 << 16, 1 << 8, 1], np.uint32)
  colours = np.unique(packed)
  inverse = np.searchsorted(colours, packed)
  counts = np.bincount(inverse, minlength=len(colours))
  unique = np.stack([colours >> 16, (colours >> 8) & 255, colours & 255], -1)
  position = {colour: k for k, colour in enumerate(colors)}
  index = np.array([position.get(tuple(int(v) for v in c), -1) for c in unique])
  other = np.flatnonzero(index < 0)
  if len(other):
    legend = np.array(list(colors), np.uint8)
    nearest, distance = _nearest(unique[other], legend)
    far = other[distance > BLEND_TOLERANCE]
    far = far[np.argsort(-counts[far], kind="stable")]  # the commonest first
    step = max(1, 2**20 // max(len(legend) ** 2, 1))  # a few MB per chunk
    for start in range(0, len(far), step):
      rows = far[start : start + step]
      off = rows[_off_every_blend(unique[rows], legend)]
      if len(off):
        shown = ", ".join(
          f"{tuple(int(v) for v in unique[k])} in {counts[k]} pixel{'s' * int(counts[k] != 1)}"
          for k in off[:3]
        )
        raise ValueError(
          f"Expected every colour of {name} in the legend, or a blend of two of its colours "
          f"(an anti-aliased edge, a JPEG's artefacts), received others, the commonest: "
          f"{shown}."
        )
    index[other] = nearest
    moved = int(counts[other].sum())
    logging.info(
      "%s: %d pixels (%.1f%%) of %d colours not in the legend, blends of its colours "
      "(anti-aliased edges, JPEG artefacts), took the nearest one's class.",
      name,
      moved,
      100.0 * moved / len(inverse),
      len(other),
    )
  ids = np.array(list(colors.values()), np.int32)[index]
  return ids[inverse].reshape(rgb.shape[:2])


def read_mask(path, legend=None):
  """A mask file -> int32 class ids [h, w] (see the module docstring)."""
  if legend is None:
    return video_io.read_mask_image(path)
  # No compositing of a transparent drawing: its background colour must be in the legend.
  # Its stored values are the labels: an embedded colour profile (a Display P3 editor's) is
  # not applied, as it would move every colour off the legend.
  rgb = video_io.read_image(path, background=(0, 0, 0), colour_managed=False)
  return colors_to_ids(rgb, load_legend(legend), path)


def check_mask_conditioned(generator, workdir, name):
  signatures.check_condition(
    generator,
    signatures.Condition.MASK,
    "a mask-conditioned generator (e.g. egan_spade_generator_3d)",
    workdir,
    name,
  )


def generate(generator, mask, seed=0, name="the mask"):
  """int class ids [h, w] of any size -> float32 video [T, H, W, 3] in [-1, 1]; ids the
  generator has no class for raise, naming `name` (the mask's file)."""
  classes = base.contract(generator).classes
  if classes is not None and (mask.min() < 0 or mask.max() >= classes):
    raise ValueError(
      f"Expected class ids in [0, {classes}) in {name}, received ids from {mask.min()} to "
      f"{mask.max()}."
    )
  _, h, w, _ = generator.video_shape
  condition = preprocess.resize_and_crop_mask(np.asarray(mask, np.int32)[None], h, w)
  # z from [seed, 0]: the noise of the SavedModel's from_mask(_seeded) signatures.
  inputs = zoo_inputs.generator_inputs(generator, 1, tf.constant([seed, 0], tf.int64), condition)
  return np.asarray(generator(inputs, training=False))[0]


def from_mask_file(workdir, mask_path, out, legend=None, seed=0, ema=True, step=None, fps=None):
  """Reads the mask, generates its clip, writes `out`; returns the uint8 clip [T, H, W, 3]."""
  return animate.conditioned_clip_file(
    workdir,
    out,
    lambda: read_mask(mask_path, legend),
    check_mask_conditioned,
    lambda generator, mask, seed: generate(generator, mask, seed, mask_path),
    seed,
    ema,
    step,
    fps,
  )


def main(argv):
  cli.no_positional(argv)
  from_mask_file(
    cli.require(cli.WORKDIR),
    cli.require(MASK),
    cli.require(cli.OUT),
    legend=LEGEND.value,
    seed=cli.SEED.value,
    ema=not cli.NO_EMA.value,
    step=cli.STEP.value,
    fps=cli.FPS.value,
  )
  print(cli.OUT.value)


if __name__ == "__main__":
  trainers_cli.run(main)
