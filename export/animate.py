r"""Animates a still image with an image-conditioned generator.

    python -m export.animate --workdir=/tmp/relive --image=photo.jpg --out=clip.mp4 \
        [--seed=0] [--no_ema] [--step=N] [--fps=F] [--num_frames=T] [--segmenter=PATH]

Reads any photo Pillow opens with the package's one photo loader
(`trainers.data.video_io.read_image`: EXIF orientation applied, alpha composited on white,
16-bit scaled to 8 bits, palette, greyscale and CMYK made RGB), resizes it so its short
side (relative to the model's aspect) matches the model and centre-crops it, with the
very function (antialiased, the training pipeline's resize) the
exported SavedModel's `animate` signature runs in graph (`export.preprocess`); draws z from
`--seed` when the generator takes noise (the same z as `animate_seeded(image, seed)`), and
writes the clip of the model's T frames (or `--num_frames`, for generators that take it,
e.g. Radner's) at its H x W as MP4 or GIF (by OUT's extension). A generator that reads the
photo's segmentation (relive_segmentation_conditional) needs `--segmenter` (a segmentation
SavedModel, `zoo.segmenter`), run on the resized photo as the exported
segment_and_animate(image) signature runs it.
"""

import os

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from export import cli
from export import preprocess
from export import signatures
from trainers import cli as trainers_cli
from trainers import workdir as workdir_lib
from trainers.data import format as record_format
from trainers.data import video_io
from zoo import base

flags.adopt_module_key_flags(cli)  # --helpshort lists --workdir, --out, ...
IMAGE = flags.DEFINE_string("image", None, "The still image to animate (PNG, JPEG, ...).")
NUM_FRAMES = flags.DEFINE_integer(
  "num_frames",
  0,
  "Frames to make (0: the model's own T); only for generators that take num_frames.",
)


def check_image_conditioned(generator, workdir, name):
  signatures.check_condition(
    generator, signatures.Condition.IMAGE, "an image-conditioned generator", workdir, name
  )


def animate(generator, image, seed=0, num_frames=0, segmenter=None):
  """uint8 image [h, w, 3] of any size -> float32 video [T, H, W, 3] in [-1, 1].

  `segmenter` (a zoo.segmenter.Segmenter) segments the resized photo for a generator that
  reads a segmentation; such a generator refuses to animate without one.
  """
  spec = base.contract(generator)
  kwargs = {}
  if num_frames:
    if not spec.takes_num_frames:
      raise ValueError(
        f"Expected a generator that takes num_frames for --num_frames, "
        f"received {type(generator).__name__}, which makes "
        f"{generator.video_shape[0]} frames."
      )
    kwargs["num_frames"] = int(num_frames)
  _, h, w, _ = generator.video_shape
  condition = preprocess.resize_and_crop(np.asarray(image, np.uint8)[None], h, w)
  extras = {}
  if signatures.SEGMENTATION in spec.extra_conditions:
    if segmenter is None:
      raise ValueError(
        f"Expected --segmenter=PATH (a segmentation SavedModel) for "
        f"{spec.name}, which reads the photo's segmentation; received none."
      )
    extras[signatures.SEGMENTATION] = segmenter(condition)
  z = spec.noise(1, tf.constant([seed, 0], tf.int64)) if spec.takes_noise else None
  inputs = spec.inputs(z, condition, extras)
  return np.asarray(generator(inputs, training=False, **kwargs))[0]


def conditioned_clip_file(
  workdir, out, load, check, generate, seed=0, ema=True, step=None, fps=None
):
  """The file side of a conditioned-generation CLI (animate, from_mask).

  Checks `out`'s extension, reads the condition with `load()` (before restoring: a bad file
  fails fast), restores the generator, `check(generator, workdir, name)`s it, writes
  `generate(generator, condition, seed)` to `out` at `fps` (None: the training clips' rate,
  trainers.data.format.clip_fps); returns the uint8 clip [T, H, W, 3].
  """
  video_io.check_output_extension(out, "--out")
  if os.path.isdir(out):
    raise video_io.InputError(f"Expected --out to be a file, received a directory: {out}")
  video_io.check_output_directory(out, "--out")
  condition = load()
  generator, config, _ = workdir_lib.restore_generator(workdir, step=step, ema=ema)
  check(generator, workdir, config.model.generator.name)
  clip = video_io.to_uint8(generate(generator, condition, seed))
  fps = fps or record_format.clip_fps(config.data)
  video_io.write_video(out, clip, fps)
  return clip


def read_photo(path):
  """The photo to animate (`video_io.read_image`); an animated image (a GIF, an animated WebP
  or PNG) gives its first frame, as the log says. A video is refused, naming it."""
  image = video_io.read_image(path)
  if video_io.is_animated_image(path):
    logging.warning("%s is an animation; its first frame is the photo animated.", path)
  return image


def animate_file(
  workdir, image_path, out, seed=0, ema=True, step=None, fps=None, num_frames=0, segmenter=None
):
  """Reads `image_path`, animates it, writes `out`; returns the uint8 clip [T, H, W, 3].

  `segmenter`: path of a segmentation SavedModel, for a generator that reads one.
  """
  loaded = {}

  def check(generator, workdir, name):
    check_image_conditioned(generator, workdir, name)
    loaded["segmenter"] = signatures.load_segmenter(segmenter, generator, name)

  def generate(generator, image, seed):
    return animate(generator, image, seed, num_frames, loaded["segmenter"])

  return conditioned_clip_file(
    workdir, out, lambda: read_photo(image_path), check, generate, seed, ema, step, fps
  )


def main(argv):
  cli.no_positional(argv)
  animate_file(
    cli.require(cli.WORKDIR),
    cli.require(IMAGE),
    cli.require(cli.OUT),
    seed=cli.SEED.value,
    ema=not cli.NO_EMA.value,
    step=cli.STEP.value,
    fps=cli.FPS.value,
    num_frames=NUM_FRAMES.value,
    segmenter=cli.SEGMENTER.value,
  )
  print(cli.OUT.value)


if __name__ == "__main__":
  trainers_cli.run(main)
