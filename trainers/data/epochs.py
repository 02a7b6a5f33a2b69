"""How long an epoch of the training data is, in generator steps, for epoch-based schedules.

An epoch is the training clips divided by the effective batch, `train.batch_size` (the
global batch of one update, which already counts the `train.grad_accum` micro-batches it is
split into: Radner's batch 8 is 2 micro-batches of 4), rounded down, at least 1. Each
generator step reads `objective.d_steps` real batches, so one such epoch draws every clip
d_steps times on average: the convention of the fixed BAIR figure this replaces (43,264
clips / 8 = 5,408 steps).

The clips are counted from the data itself:

    "tfrecord"     the manifests trainers.data.make_tfrecords writes beside the shards
                   (`PREFIX.manifest.json`, clips per shard), for the shards
                   `data.train_files` matches
    "tfds:NAME"    TFDS's split info of the prepared dataset (`num_examples`)
    "synthetic"    `data.synthetic.num_clips` (0, the endless stream, has no epoch)

`train.steps_per_epoch` > 0 overrides the count; without it, data that cannot be counted
raises a ValueError that names what is missing and the override.
"""

import json
import os

import tensorflow as tf

from trainers.data import format as record_format
from trainers.data import pipeline

_OVERRIDE_HINT = "or set train.steps_per_epoch to the epoch length in generator steps"


def steps_per_epoch(config):
  """Generator steps per epoch: `train.steps_per_epoch`, or training clips // batch_size."""
  override = config.train.get("steps_per_epoch", 0)
  if override < 0:
    raise ValueError(f"Expected train.steps_per_epoch >= 0, received {override}.")
  if override:
    return int(override)
  return max(num_training_clips(config.data) // config.train.batch_size, 1)


def num_training_clips(data):
  """The clips of the training data `data` (a config.data) describes; see the module doc."""
  source = data.source
  if source == "tfrecord":
    return _tfrecord_clips(data.train_files)
  if source.startswith("tfds:"):
    return _tfds_clips(data, source[len("tfds:") :])
  if source == "synthetic":
    if data.synthetic.num_clips > 0:
      return int(data.synthetic.num_clips)
    raise ValueError(
      f"Expected data.synthetic.num_clips > 0 to count an epoch, received 0 "
      f"(an endless stream); {_OVERRIDE_HINT}."
    )
  raise ValueError(
    f"Expected data.source 'synthetic', 'tfrecord' or 'tfds:NAME' to count "
    f"an epoch, received {source!r}."
  )


def _tfrecord_clips(patterns):
  """Sum over the matched shards of their clip counts in their manifests."""
  manifests, total = {}, 0
  for path in pipeline.list_files(patterns):
    prefix = record_format.shard_prefix(path)
    if prefix is None:
      raise ValueError(
        f"Expected shards named PREFIX-NNNNN-of-NNNNN"
        f"{record_format.SHARD_SUFFIX} (trainers.data.make_tfrecords) to find "
        f"their manifest, received {path!r}; {_OVERRIDE_HINT}."
      )
    if prefix not in manifests:
      manifests[prefix] = _shard_counts(record_format.manifest_path(prefix))
    name = os.path.basename(path)
    if name not in manifests[prefix]:
      raise ValueError(
        f"Expected shard {name} in the manifest "
        f"{record_format.manifest_path(prefix)}, received one listing "
        f"{sorted(manifests[prefix])}; {_OVERRIDE_HINT}."
      )
    total += manifests[prefix][name]
  return total


def _shard_counts(manifest_path):
  """{shard file name: clips} of one manifest."""
  if not tf.io.gfile.exists(manifest_path):
    raise ValueError(
      f"Expected the manifest {manifest_path} that trainers.data.make_tfrecords "
      f"writes beside its shards, to count the clips of an epoch, received no "
      f"such file; {_OVERRIDE_HINT}."
    )
  with tf.io.gfile.GFile(manifest_path) as f:
    manifest = json.load(f)
  return {shard["path"]: int(shard["num_clips"]) for shard in manifest.get("shards", [])}


def _tfds_clips(data, name):
  builder, split = pipeline.tfds_builder_and_split(data, name, training=True)
  splits = builder.info.splits
  info = splits.get(split) if splits else None
  if info is None or not info.num_examples:
    raise ValueError(
      f"Expected TFDS's split info of tfds:{name}/{split} (a prepared dataset in "
      f"data.tfds_data_dir) to count the clips of an epoch, received none; "
      f"{_OVERRIDE_HINT}."
    )
  return int(info.num_examples)
