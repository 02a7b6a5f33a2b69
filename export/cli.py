"""Flags shared by the export CLIs (export, sample, animate, from_mask), defined once, and
their console entry points (setup.cfg).

absl flags live in one global registry; defining `--workdir` in each CLI module would clash
as soon as two of them are imported together (as the tests do), so the common ones live
here and each CLI module adds only its own. Starting and failing is trainers.cli's.
"""

from absl import flags

from trainers import cli as trainers_cli

require = trainers_cli.require
no_positional = trainers_cli.no_positional

WORKDIR = flags.DEFINE_string("workdir", None, "Training workdir (config.json + checkpoints/).")
OUT = flags.DEFINE_string(
  "out",
  None,
  "Output: a directory (export) or a clip path ending in .mp4, .gif or .webp (sample, animate).",
)
STEP = flags.DEFINE_integer("step", None, "Checkpoint step to restore; default: the latest.")
NO_EMA = flags.DEFINE_boolean(
  "no_ema",
  False,
  "Use the raw generator weights instead of the EMA copy (the default when the run kept one).",
)
SEED = flags.DEFINE_integer("seed", 0, "Seed of the stateless noise: same seed, same clips.")
FPS = flags.DEFINE_float(
  "fps",
  None,
  "Frames per second of the written clips; default: the "
  "training clips' (trainers.data.format.clip_fps: the source videos' "
  "rate over the frame stride, 8 for synthetic data).",
)
SEGMENTER = flags.DEFINE_string(
  "segmenter",
  None,
  "Segmentation SavedModel (zoo.segmenter's "
  "convention) for a generator that reads the photo's "
  "segmentation: embedded by export, run by animate.",
)


def export() -> None:
  trainers_cli.launch("export.export")


def animate() -> None:
  trainers_cli.launch("export.animate")
