r"""Segmentation accuracy of a mask-to-video generator (Egan 2019, Section 4.3.3).

    python -m trainers.evaluate_segmentation --workdir=/tmp/spade3d \
        --segmenter=/models/segmenter_savedmodel [--num_clips=256] [--batch_size=8] \
        [--min_frequency=0.01] [--out=results.json]

Every frame the generator makes from a held-out clip's mask (the workdir's data, eval split,
`segmentation` output) is segmented by the user's segmentation SavedModel and compared with
that mask: pixel accuracy, and mean IoU over the classes that cover at least
`--min_frequency` (1%) of the masks' pixels, as the thesis reports them (rarer classes make
the IoU noisy). The SavedModel follows the convention of `zoo.segmenter` (float32 frames
[N, H, W, 3] in [-1, 1] -> class scores [N, H, W, C] or class ids [N, H, W]). Results go to
stdout as JSON and to --out.
"""

import json

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import workdir as workdir_lib
from trainers.data import pipeline
from zoo import base
from zoo import inputs as zoo_inputs
from zoo import segmenter as segmenter_lib

MIN_FREQUENCY = 0.01


def confusion(pred, true, num_classes):
  """[num_classes, num_classes] counts, rows = true class, columns = predicted class."""
  pred, true = np.asarray(pred).reshape(-1), np.asarray(true).reshape(-1)
  if pred.shape != true.shape:
    raise ValueError(
      f"Expected as many predicted as true pixels, received {pred.size} and {true.size}."
    )
  pred = np.clip(pred, 0, num_classes - 1)  # an out-of-range prediction is just wrong
  return np.bincount(true * num_classes + pred, minlength=num_classes**2).reshape(
    num_classes, num_classes
  )


def metrics(counts, min_frequency=MIN_FREQUENCY):
  """Pixel accuracy and mean IoU over classes with frequency >= min_frequency."""
  counts = np.asarray(counts, np.float64)
  total = counts.sum()
  if total == 0:
    raise ValueError("Expected at least one pixel, received an empty confusion matrix.")
  true_pixels, pred_pixels, hits = counts.sum(1), counts.sum(0), np.diag(counts)
  frequent = np.flatnonzero(true_pixels / total >= min_frequency)
  iou = hits[frequent] / (true_pixels[frequent] + pred_pixels[frequent] - hits[frequent])
  return {
    "pixel_accuracy": float(hits.sum() / total),
    "mean_iou": float(iou.mean()) if frequent.size else float("nan"),
    "classes": [int(c) for c in frequent],
    "iou": {int(c): float(v) for c, v in zip(frequent, iou)},
  }


def evaluate(generator, segment, masks_batches, num_classes, seed=0, min_frequency=MIN_FREQUENCY):
  """Generates from each mask batch int32 [B, H, W], segments every frame, scores them."""
  counts = np.zeros([num_classes, num_classes], np.int64)
  for i, masks in enumerate(masks_batches):
    masks = tf.cast(masks, tf.int32)
    inputs = zoo_inputs.generator_inputs(
      generator, masks.shape[0], tf.constant([seed, i], tf.int64), masks
    )
    video = generator(inputs, training=False)
    t = video.shape[1]
    frames = tf.reshape(video, [-1] + video.shape[2:].as_list())
    pred = segment(frames).numpy()
    true = np.repeat(masks.numpy(), t, axis=0)  # the mask of every frame of the clip
    counts += confusion(pred, true, num_classes)
  return metrics(counts, min_frequency)


def mask_batches(config, num_clips, batch_size, seed=0):
  """The workdir config's eval masks: int32 [batch_size, H, W] batches, num_clips in all."""
  data = config.data.copy_and_resolve_references()
  with data.unlocked():
    data.outputs = ("segmentation",)
    data.frame_mode = False
  ds = pipeline.make_dataset(data, batch_size, training=False, seed=seed)
  return [b["segmentation"] for b in ds.take(-(-num_clips // batch_size))]


def define_flags(flag_values=flags.FLAGS):
  """The CLI's flags (defined only when run as a program, as trainers.evaluate does, so that
  importing the library next to other binaries adds none)."""
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None, "The mask-to-video run (config.json + checkpoints/).", **kw)
  flags.DEFINE_string("segmenter", None, "Directory of the segmentation SavedModel.", **kw)
  flags.DEFINE_integer("num_clips", 256, "Held-out clips (masks) to generate from.", **kw)
  flags.DEFINE_integer("batch_size", 8, "Clips per generator call.", **kw)
  flags.DEFINE_float(
    "min_frequency",
    MIN_FREQUENCY,
    "Classes rarer than this in the masks are left out of the mean IoU.",
    **kw,
  )
  flags.DEFINE_integer("seed", 0, "Seed of the noise.", **kw)
  flags.DEFINE_string("out", None, "Optional JSON file for the results.", **kw)


def run(f):
  """Runs the evaluation the flag values `f` describe; returns the results dict."""
  for name in ("workdir", "segmenter"):
    if not f[name].value:
      raise app.UsageError(f"Expected --{name}=..., received none.")
  segment = segmenter_lib.Segmenter(f.segmenter)  # before the generator: a bad path fails fast
  generator, config, path = workdir_lib.restore_generator(f.workdir)
  classes = base.contract(generator).classes
  if base.contract(generator).condition is not base.Condition.MASK or not classes:
    raise ValueError(
      f"Expected a mask-conditioned generator (egan_spade_*), received "
      f"{config.model.generator.name!r} in {f.workdir!r}."
    )
  batches = mask_batches(config, f.num_clips, f.batch_size, f.seed)
  results = evaluate(generator, segment, batches, classes, f.seed, f.min_frequency)
  results.update(checkpoint=path, num_clips=len(batches) * f.batch_size)
  if f.out:  # under a temporary name, then renamed: never half-written
    workdir_lib.write_json(f.out, results)
  return results


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  text = json.dumps(run(flags.FLAGS), indent=2, sort_keys=True)
  logging.info("Segmentation metrics: %s", text)
  print(text)


if __name__ == "__main__":
  define_flags()
  cli.run(main)
