r"""Makes the README's picture: real synthetic clips beside a quickstart run's sample grid.

    python docs/images/make_readme_picture.py \
        --samples=/tmp/docs_qs/samples/step_00001000.gif --out=docs/images/quickstart_samples.gif \
        --label="generated, step 1000"

`--samples` is a `WORKDIR/samples/step_N.gif` that training wrote (a grid of clips with 2
black pixels between them, `trainers.data.video_io.grid`); its first `--clips` clips stand
on the right, as many clips of the synthetic source on the left, each side labelled, the
whole upscaled `--scale` times (nearest neighbour) and written as one GIF with a single
palette, so that it stays small. docs/experiments.md says which run made the committed file.
"""

import argparse
import os

import numpy as np
from PIL import Image
from PIL import ImageDraw

from trainers.data import synthetic
from trainers.data import video_io

PAD = 2  # video_io.grid's default
LABEL_ROWS = 12


def read_gif(path):
  with Image.open(path) as im:
    frames = []
    for i in range(im.n_frames):
      im.seek(i)
      frames.append(np.asarray(im.convert("RGB")))
  return np.stack(frames)


def cells(grid, size, count):
  """The first `count` clips [count, T, size, size, 3] of a grid written by video_io.grid."""
  t, height, width, _ = grid.shape
  columns = (width - PAD) // (size + PAD)
  rows = (height - PAD) // (size + PAD)
  if columns * (size + PAD) + PAD != width or rows * columns < count:
    raise ValueError(
      f"Expected a grid of {size}x{size} clips with >= {count} cells, received "
      f"frames of {height}x{width}."
    )
  out = []
  for i in range(count):
    r, c = divmod(i, columns)
    y, x = PAD + r * (size + PAD), PAD + c * (size + PAD)
    out.append(grid[:, y : y + size, x : x + size])
  return np.stack(out)


def labelled(clip_grid, text):
  t, h, w, c = clip_grid.shape
  out = np.full((t, h + LABEL_ROWS, w, c), 255, np.uint8)
  out[:, LABEL_ROWS:] = clip_grid
  label = Image.new("RGB", (w, LABEL_ROWS), "white")
  ImageDraw.Draw(label).text((2, 0), text, fill="black")
  out[:, :LABEL_ROWS] = np.asarray(label)
  return out


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--samples", required=True, help="WORKDIR/samples/step_N.gif")
  parser.add_argument("--out", required=True)
  parser.add_argument("--size", type=int, default=32, help="Clip height = width (quickstart).")
  parser.add_argument("--clips", type=int, default=8)
  parser.add_argument("--columns", type=int, default=4)
  parser.add_argument("--scale", type=int, default=2)
  parser.add_argument("--max_shapes", type=int, default=2, help="The quickstart's data.")
  parser.add_argument("--label", default="generated")
  parser.add_argument("--colors", type=int, default=96, help="Palette size (file size).")
  args = parser.parse_args()

  fake = cells(read_gif(args.samples), args.size, args.clips)
  t = fake.shape[1]
  real = synthetic.clips(0, range(args.clips), t, args.size, args.size, max_shapes=args.max_shapes)[
    "video"
  ]
  left = labelled(video_io.grid(real, args.columns), "real (synthetic data)")
  right = labelled(video_io.grid(fake, args.columns), args.label)
  gap = np.full((t, left.shape[1], 8, 3), 255, np.uint8)
  frames = np.concatenate([left, gap, right], axis=2)
  frames = frames.repeat(args.scale, axis=1).repeat(args.scale, axis=2)

  images = [Image.fromarray(f) for f in frames]
  palette = images[0].quantize(colors=args.colors, method=Image.Quantize.MEDIANCUT)
  images = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
  images[0].save(
    args.out,
    format="GIF",
    save_all=True,
    append_images=images[1:],
    duration=125,
    loop=0,
    optimize=True,
  )
  print(
    f"{args.out}: {os.path.getsize(args.out)} bytes, {len(images)} frames "
    f"of {images[0].size[0]}x{images[0].size[1]}"
  )


if __name__ == "__main__":
  main()
