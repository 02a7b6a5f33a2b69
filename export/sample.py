r"""Writes a grid of generated clips from a workdir (unconditional generators).

    python -m export.sample --workdir=/tmp/vgan --out=/tmp/grid.mp4 \
        [--num=16] [--seed=0] [--no_ema] [--step=N] [--streams] [--fps=F]

Writes OUT as MP4 and the same grid as GIF beside it (grid.mp4 + grid.gif, whichever of the
two OUT names). The noise is `zoo.inputs.noise(generator, num, [seed, 0])`: the same seed
gives the same clips, and the same ones TF Serving's `sample_seeded(seed, num)` returns.
With --streams a two-stream generator also gets grid_streams.mp4 / .gif: one clip with four
panels side by side, the foreground, background, mask and composite grids.
Conditional generators are animated by `python -m export.animate` (image) or through the
exported SavedModel's `from_mask` / `predict` signatures.
"""

import os

from absl import flags
import numpy as np
import tensorflow as tf

from export import cli
from export import signatures
from trainers import cli as trainers_cli
from trainers import workdir as workdir_lib
from trainers.data import format as record_format
from trainers.data import video_io
from zoo import inputs as zoo_inputs

flags.adopt_module_key_flags(cli)  # --helpshort lists --workdir, --out, ...
NUM = flags.DEFINE_integer("num", 16, "Number of clips in the grid.")
STREAMS = flags.DEFINE_boolean("streams", False, "Also write the two-stream panels.")

BATCH_SIZE = 8  # clips per generator call; the noise is drawn for all at once


def check_unconditional(generator, workdir, name):
  signatures.check_condition(
    generator,
    signatures.Condition.NONE,
    "an unconditional generator (export.sample draws from noise alone)",
    workdir,
    name,
  )


def generate(generator, num, seed, streams=False):
  """{"video": [num, T, H, W, 3], <streams>...} as numpy, from seeded stateless noise."""
  z = zoo_inputs.noise(generator, num, tf.constant([seed, 0], tf.int64))
  parts = []
  for start in range(0, num, BATCH_SIZE):
    batch = z[start : start + BATCH_SIZE]
    if streams:
      out = generator(batch, training=False, return_streams=True)
      parts.append({k: np.asarray(out[k]) for k in ("video",) + tuple(generator.streams)})
    else:
      parts.append({"video": np.asarray(generator(batch, training=False))})
  return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def output_paths(out, suffix=""):
  """[MP4, animation] paths of `out` (+ `suffix`): the animation is the GIF, or the animated
  WebP `out` names; the one `out` names keeps its extension as written (`--out=grid.GIF`
  writes `grid.GIF`, the file asked for, and `grid.mp4`)."""
  stem, ext = os.path.splitext(out)
  animation = ".webp" if video_io.check_output_extension(out, "--out") == ".webp" else ".gif"
  return [stem + suffix + (ext if ext.lower() == e else e) for e in (".mp4", animation)]


def write_samples(workdir, out, num=16, seed=0, ema=True, step=None, streams=False, fps=None):
  """Writes the grid (and the streams panel) at `fps` (None: the training clips' rate,
  trainers.data.format.clip_fps); returns {"paths": [...], "videos": uint8}."""
  if num < 1:
    raise ValueError(f"Expected --num >= 1, received {num}.")
  paths = output_paths(out)
  generator, config, _ = workdir_lib.restore_generator(workdir, step=step, ema=ema)
  name = config.model.generator.name
  check_unconditional(generator, workdir, name)
  model_streams = tuple(getattr(generator, "streams", ()) or ())
  if streams and not model_streams:
    raise ValueError(
      f"Expected a two-stream generator for --streams, received {name!r} "
      f"from {workdir!r}, which has no streams (streams=())."
    )
  names = [os.path.basename(p) for p in paths + (output_paths(out, "_streams") if streams else [])]
  video_io.check_output_directory(out, "--out", names)
  outputs = generate(generator, num, seed, streams=streams)
  videos = video_io.to_uint8(outputs["video"])
  clip = video_io.grid(videos)
  fps = fps or record_format.clip_fps(config.data)
  for path in paths:
    video_io.write_video(path, clip, fps)
  result = {"paths": paths, "videos": videos, "grid": clip}
  if streams:
    panel = video_io.streams_panel(outputs, model_streams)
    result["stream_paths"] = output_paths(out, "_streams")
    for path in result["stream_paths"]:
      video_io.write_video(path, panel, fps)
    result["panel"] = panel
  return result


def main(argv):
  cli.no_positional(argv)
  result = write_samples(
    cli.require(cli.WORKDIR),
    cli.require(cli.OUT),
    num=NUM.value,
    seed=cli.SEED.value,
    ema=not cli.NO_EMA.value,
    step=cli.STEP.value,
    streams=STREAMS.value,
    fps=cli.FPS.value,
  )
  for path in result["paths"] + result.get("stream_paths", []):
    print(path)


if __name__ == "__main__":
  trainers_cli.run(main)
