r"""The (Re)live Photos Table 1 protocol: MSE (and PSNR, SSIM) of predicted clips on held-out data.

    python -m trainers.evaluate_prediction --workdir=/tmp/relive_lstm \
        --data=/data/test-*.tfrecord [--num_clips=256] [--batch_size=8] [--out=table1.json]

`--data` is a TFRecord pattern (trainers.data.format, comma-separated globs) or
"synthetic[:SEED]"; clips are read in eval mode (frame 0, centre crop, no flip) at the
workdir's clip size, with the outputs the model needs (middle_frame, segmentation).
Metrics are those of `trainers.eval.prediction` (MSE on [-1, 1] values, PSNR and SSIM on
[0, 1]), means over every predicted frame, plus the per-step curves.

* Next-frame predictors (condition "frames"): "one_step" = teacher forcing, frame k + 1
  predicted from the true frames 0..k, for k < T - 1 (the report's "LSTM" rows);
  "recursive" = the rollout from the first `context_frames` frames to T, each prediction fed
  back (the "Recursive" rows); and on the same clips the copy-the-last-frame baselines
  ("copy_last_one_step": frame k as the guess for k + 1; "copy_last_recursive": the last
  context frame repeated).
* Conditional GANs (condition "image"): "generated" = the clip generated from the condition
  (the middle frame, with its segmentation for the segmentation model) against the real
  clip, all T frames (the "Conditional" rows).
Writes the JSON to stdout and to `--out` (default WORKDIR/evaluate_prediction.json).
"""

import json
import os
import sys

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import evaluate
from trainers import tasks as tasks_lib
from trainers import workdir as workdir_lib
from trainers.data import pipeline as data_lib
from trainers.eval import prediction as prediction_lib
from zoo import base
from zoo import inputs as zoo_inputs

RESULT_FILE = "evaluate_prediction.json"
# Report Table 1 (MSE on held-out videos), for reference next to our figures.
REPORT_TABLE1 = {
  "conditional_one_stream": 0.33,
  "conditional_two_stream": 0.24,
  "segmentation": 0.19,
  "inception": 0.22,
  "lstm_one_step": 0.037,
  "lstm_recursive": 0.24,
  "convlstm_one_step": 0.025,
  "convlstm_recursive": 0.15,
}


def data_config(config, data=None):
  """(the workdir's `data` section reading `data`, seed): "synthetic[:SEED]", a TFRecord
  pattern or None (the config's own source); the outputs the objective needs beside the video."""
  c = config.data.copy_and_resolve_references()
  seed = config.seed
  with c.unlocked():
    kind, _, arg = (data or "").partition(":")
    if not data:
      pass
    elif kind == "synthetic":
      c.source = "synthetic"
      seed = int(arg) if arg else seed
    else:
      c.source, c.eval_files = "tfrecord", data
    c.outputs = tasks_lib.data_outputs(config)
  return c, seed


def clip_batches(config, data, num_clips, batch_size):
  """Batches (dicts, trainers.data.pipeline) of the first `num_clips` held-out clips of `data`
  (see `data_config`)."""
  c, seed = data_config(config, data)
  taken = 0
  for batch in data_lib.make_dataset(c, batch_size, training=False, seed=seed):
    n = min(batch_size, num_clips - taken)
    yield {k: v[:n] for k, v in batch.items()}
    taken += n
    if taken >= num_clips:
      return


def copy_last_frame(frames, horizon):
  """The baseline's guess: the last of `frames` [B, K, ...] repeated `horizon` times."""
  return tf.repeat(frames[:, -1:], horizon, axis=1)


def evaluate_predictor(generator, batches, names=("mse", "psnr", "ssim")):
  """{"one_step", "recursive", "copy_last_one_step", "copy_last_recursive"} metric dicts."""
  k = generator.context_frames
  metrics = {
    key: prediction_lib.PredictionMetrics(names)
    for key in ("one_step", "recursive", "copy_last_one_step", "copy_last_recursive")
  }
  one_step = tf.function(lambda v: generator.teacher_forced(v, training=False))
  rollout = tf.function(lambda v, h: generator.rollout(v, h, training=False), reduce_retracing=True)
  for batch in batches:
    video = tf.cast(batch["video"], tf.float32)
    t = int(video.shape[1])
    truth = video[:, 1:].numpy()
    metrics["one_step"].update(one_step(video[:, :-1]).numpy(), truth)
    metrics["copy_last_one_step"].update(video[:, :-1].numpy(), truth)
    future = video[:, k:].numpy()
    metrics["recursive"].update(rollout(video[:, :k], t - k).numpy(), future)
    metrics["copy_last_recursive"].update(copy_last_frame(video[:, :k], t - k).numpy(), future)
  return {key: m.result() for key, m in metrics.items()}


def evaluate_conditional(generator, condition_keys, batches, names=("mse", "psnr", "ssim")):
  """{"generated": metrics} of the clips generated from each batch's condition (and, for a
  generator that takes noise, z from seed [0, batch index])."""
  metrics = prediction_lib.PredictionMetrics(names)
  generate = tf.function(lambda x: generator(x, training=False), reduce_retracing=True)
  key = base.contract(generator).key
  for i, batch in enumerate(batches):
    video = tf.cast(batch["video"], tf.float32).numpy()
    condition = tasks_lib.batch_condition(batch, condition_keys, key)
    fake = generate(
      zoo_inputs.generator_inputs(
        generator, video.shape[0], tf.constant([0, i], tf.int64), condition
      )
    )
    metrics.update(np.asarray(tf.cast(fake, tf.float32))[:, : video.shape[1]], video)
  return {"generated": metrics.result()}


def evaluate_workdir(
  workdir, data, num_clips=256, batch_size=8, step=None, ema=True, names=("mse", "psnr", "ssim")
):
  """Restores the workdir's generator and measures it on `num_clips` held-out clips."""
  generator, config, path = workdir_lib.restore_generator(workdir, step=step, ema=ema)
  batches = clip_batches(config, data, num_clips, batch_size)
  counter = {"clips": 0}

  def counted(batches):
    for batch in batches:
      counter["clips"] += int(batch["video"].shape[0])
      yield batch

  kind = base.contract(generator).condition
  if kind is base.Condition.FRAMES:
    results = evaluate_predictor(generator, counted(batches), names)
    protocol = (
      f"one_step: teacher forcing on the true frames; recursive: rollout from "
      f"{generator.context_frames} frame(s); copy_last_*: the last seen frame "
      "repeated, on the same clips"
    )
  elif kind is base.Condition.IMAGE:
    keys = tasks_lib.condition_keys(config.objective.get("condition", ""))
    results = evaluate_conditional(generator, keys, counted(batches), names)
    protocol = (
      f"generated from objective.condition {config.objective.condition!r} vs the "
      "real clip, every frame"
    )
  else:
    raise ValueError(
      f"Expected a next-frame predictor (condition 'frames') or an "
      f"image-conditioned generator, received condition "
      f"{kind.value!r} ({config.model.generator.name})."
    )
  if counter["clips"] < num_clips:
    logging.warning(
      "%s held %d clips, fewer than --num_clips=%d.", data, counter["clips"], num_clips
    )
  for metrics in results.values():
    for key in [k for k in metrics if k.endswith("_per_step")]:
      metrics[key] = [float(v) for v in metrics[key]]
  return {
    "workdir": workdir,
    "checkpoint": path,
    "generator": config.model.generator.name,
    "data": data,
    "num_clips": counter["clips"],
    "clip_shape": list(generator.video_shape),
    "protocol": protocol,
    "results": results,
    "metric_definitions": "trainers.eval.prediction: MSE on [-1, 1]; PSNR, SSIM on [0, 1]",
    "report_table1_mse": REPORT_TABLE1,
  }


def define_flags(flag_values=flags.FLAGS):
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None, "A trained (Re)live Photos workdir.", **kw)
  flags.DEFINE_string("data", None, "Held-out clips: a TFRecord pattern or synthetic[:SEED].", **kw)
  flags.DEFINE_integer("num_clips", 256, "Clips to evaluate.", **kw)
  flags.DEFINE_integer("batch_size", 8, "Clips per batch.", **kw)
  flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).", **kw)
  flags.DEFINE_bool("ema", True, "Use the EMA generator when the run kept one.", **kw)
  flags.DEFINE_string("out", None, f"Result JSON (default WORKDIR/{RESULT_FILE}).", **kw)
  flags.mark_flags_as_required(["workdir", "data"], flag_values=flag_values)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  f = flags.FLAGS
  result = evaluate.json_safe(
    evaluate_workdir(f.workdir, f.data, f.num_clips, f.batch_size, f.step, f.ema)
  )
  workdir_lib.write_json(f.out or os.path.join(f.workdir, RESULT_FILE), result)
  json.dump(result, sys.stdout, indent=2, sort_keys=True)
  print()


if __name__ == "__main__":
  define_flags()
  cli.run(main)
