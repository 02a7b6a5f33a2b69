r"""Top-1 accuracy of a trained action classifier (VGAN's transfer to UCF101).

    python -m trainers.classify --workdir=/tmp/ucf101_ft [--data=/data/ucf101/test-*.tfrecord]

Vondrick et al. 2016, sec. 3.3 and Fig. 4a, UCF101 accuracy of the classifier built on the
VGAN discriminator: 52.1% fine-tuned ("finetune"), 49.3% training the last layer only
("last_layer"), 36.7% from random initialisation ("random_init"), against chance 0.9%.

Restores the classifier of a workdir trained with `configs/vgan_ucf101_transfer.py` (the
EMA copy when the run kept one, else the raw weights), makes ONE pass over the evaluation
split in inference mode (`training=False`: no dropout, BN moving statistics) and reports the
fraction of clips whose highest logit is the label. Prints it and writes
WORKDIR/classify.json.

Data: the run's `data` section in eval mode (`data.eval_files`, first frames, centre crop);
`--data` replaces the source: a TFRecord glob (comma-separated patterns) or `tfds:NAME`.
Every clip counts (no batch remainder is dropped). An endless source (the synthetic one
without `data.synthetic.num_clips`) is cut at `--num_clips`, default `eval.num_videos`.
Decision: one clip per video, from frame 0; the paper does not say how test videos were
sampled (no multi-clip averaging).
"""

import json
import os

from absl import app
from absl import flags
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import workdir as workdir_lib
from trainers.data import pipeline as data_lib
from zoo import registry

RESULT_FILE = "classify.json"
PAPER_FIG4A = {"finetune": 0.521, "last_layer": 0.493, "random_init": 0.367}


def restore_classifier(workdir, step=None, ema=True):
  """(classifier, config, checkpoint path) of a classification workdir.

  `workdir.restore_generator` needs a generator's contract (latent_dim, condition); a
  classifier is built from its input shape instead, then restored from the same key.
  """
  config = workdir_lib.load_config(workdir)
  if config.objective.get("task", "gan") != "classification":
    raise ValueError(
      f"Expected objective.task 'classification' in "
      f"{os.path.join(workdir, workdir_lib.CONFIG_FILE)}, received "
      f"{config.objective.get('task', 'gan')!r}."
    )
  path = workdir_lib.latest_checkpoint(workdir, step)
  model = workdir_lib.build_network(config.model.generator)
  model.build((None,) + tuple(model.video_shape))
  key = "ema_generator" if ema and config.train.get("ema_decay", 0.0) > 0 else "generator"
  ckpt = tf.train.Checkpoint(**{key: registry.weights_in_order(model)})
  ckpt.restore(path).expect_partial().assert_existing_objects_matched()
  return model, config, path


def eval_dataset(config, data="", num_clips=0, batch_size=16):
  """(dataset of {"video", "label"} batches, a description): one pass, batches not dropped."""
  data_config = config.data.copy_and_resolve_references()
  with data_config.unlocked():
    data_config.outputs = ("label",)
    if data.startswith("tfds:"):
      data_config.source = data
    elif data:
      data_config.source = "tfrecord"
      data_config.eval_files = data
  source = data_config.source
  endless = source == "synthetic" and not data_config.synthetic.get("num_clips", 0)
  limit = num_clips or (int(config.eval.get("num_videos", 256)) if endless else 0)
  ds = data_lib.make_dataset(data_config, 1, training=False, seed=config.seed).unbatch()
  if limit:
    ds = ds.take(limit)
  where = data_config.eval_files if source == "tfrecord" else source
  return ds.batch(batch_size, drop_remainder=False), where


def evaluate(workdir, data="", num_clips=0, batch_size=16, step=None):
  """Top-1 accuracy on the evaluation split; writes WORKDIR/classify.json; returns the dict."""
  if batch_size < 1:
    raise ValueError(f"Expected --batch_size >= 1, received {batch_size}.")
  model, config, path = restore_classifier(workdir, step)
  ds, where = eval_dataset(config, data, num_clips, batch_size)
  predict = tf.function(
    lambda video: tf.argmax(model(video, training=False), axis=-1, output_type=tf.int32)
  )
  hits = total = 0
  for batch in ds:
    labels = batch["label"].numpy()
    if labels.size and (labels.min() < 0 or labels.max() >= model.num_classes):
      raise ValueError(
        f"Expected labels in [0, {model.num_classes}) (model num_classes) from "
        f"{where}, received {int(labels.min())}..{int(labels.max())}."
      )
    hits += int(np.sum(predict(batch["video"]).numpy() == labels))
    total += labels.size
  if not total:
    raise ValueError(f"Expected evaluation clips from {where!r}, received none.")
  mode = getattr(model, "mode", "")
  result = {
    "top1": hits / total,
    "num_clips": total,
    "correct": hits,
    "checkpoint": path,
    "step": int(path.rsplit("-", 1)[-1]),
    "data": where,
    "mode": mode,
    "num_classes": int(model.num_classes),
    "paper_fig4a_top1": PAPER_FIG4A,
  }
  with tf.io.gfile.GFile(os.path.join(workdir, RESULT_FILE), "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  return result


def define_flags(flag_values=flags.FLAGS):
  """The CLI's flags (defined only when run as a program, so importing the library next to
  other binaries adds none)."""
  kw = {"flag_values": flag_values}
  flags.DEFINE_string(
    "workdir", None, "A workdir trained with objective.task 'classification'.", **kw
  )
  flags.DEFINE_string(
    "data",
    "",
    "Evaluation TFRecord pattern(s) or tfds:NAME (default: the run's data.eval_files).",
    **kw,
  )
  flags.DEFINE_integer(
    "num_clips",
    0,
    "At most this many clips (0: the whole split; "
    "eval.num_videos for an endless synthetic stream).",
    **kw,
  )
  flags.DEFINE_integer("batch_size", 16, "Clips per forward pass.", **kw)
  flags.DEFINE_integer("step", None, "Checkpoint step (default: the latest).", **kw)
  flags.mark_flags_as_required(["workdir"], flag_values=flag_values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  r = evaluate(f.workdir, f.data, f.num_clips, f.batch_size, f.step)
  paper = PAPER_FIG4A.get(r["mode"])
  print(
    f"top-1 {100 * r['top1']:.1f}% on {r['num_clips']} clips of {r['data']} "
    f"(mode {r['mode']}, step {r['step']})"
    + (f"; paper Fig. 4a: {100 * paper:.1f}%" if paper is not None else "")
  )
  print(f"Wrote {os.path.join(f.workdir, RESULT_FILE)}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
