r"""Per-frame FID and IS of videos generated from held-out first frames (Radner 2020, Table 4.1).

    python -m trainers.evaluate_frames --workdir=/tmp/radner_bair --out=/tmp/table41.json \
        --inception=/models/tfgan_inception --num_videos=256 --num_frames=25

The protocol of the thesis's Table 4.1 and Figure 4.3: for every held-out clip (the
workdir config's evaluation data: its eval split or `data.eval_files`), the generator makes
`--num_frames` frames from the clip's first frame (any count for generators that take
`num_frames`, else the first frames of its own length); frame t of all generated clips is
compared with frame t of all real clips: FID (pool_3 statistics) and IS (of the generated
frames, `--is_splits` parts), per t and over every frame together. Generators with noise
take z_k = `sources.noise(latent_dim, --seed, k)` for clip k; unconditional ones ignore the
first frames.

The networks and the missing-weights rule are `trainers.evaluate`'s: `--inception` is
TF-GAN's InceptionV3 (a handle, a SavedModel directory or Keras weights); when it cannot be
loaded the CLI exits with status 2 and says where it looked, before reading any clip.

Writes the result JSON to `--out` (and stdout) and, beside it, `<out stem>_fid.png`: the
per-frame FID over time (the thesis's Figure 4.3), and `<out stem>_manifest.json` (which
held-out data was read).
"""

import inspect
import json
import os
import sys
import time

from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import evaluate
from trainers import learning_check
from trainers import workdir as workdir_lib
from trainers.data import pipeline
from trainers.eval import frechet
from trainers.eval import inception as inception_lib
from trainers.eval import sources
from zoo import base

NUM_FRAMES = 25  # Table 4.1: 25 frames from each input
PLOT_SUFFIX = "_fid.png"


def plot_path(out):
  return os.path.splitext(out)[0] + PLOT_SUFFIX


def held_out_clips(config, num_frames, batch_size, seed):
  """Batches {"video" [B, T, H, W, 3], "first_frame"} of the config's evaluation data."""
  data = config.data.copy_and_resolve_references()
  with data.unlocked():
    data.num_frames = num_frames
    data.outputs = ("first_frame",)
  return pipeline.make_dataset(data, batch_size, training=False, seed=seed)


def sampler(generator, num_frames):
  """A tf.function: generator inputs -> [B, num_frames, H, W, 3]."""
  if "num_frames" in inspect.signature(generator.call).parameters:
    return tf.function(lambda x: generator(x, training=False, num_frames=num_frames))
  if generator.video_shape[0] < num_frames:
    raise ValueError(
      f"Expected a generator of at least {num_frames} frames (or one that takes "
      f"num_frames), received video_shape {tuple(generator.video_shape)}."
    )
  return tf.function(lambda x: generator(x, training=False)[:, :num_frames])


class FrameFeatures:
  """pool_3 features and logits of every clip's frame t, kept per t: [N, T, D]."""

  def __init__(self, network):
    self.network = network
    self.pool, self.logits = [], []

  def update(self, videos):
    videos = np.asarray(videos, np.float32)
    b, t = videos.shape[:2]
    out = self.network(videos.reshape((b * t,) + videos.shape[2:]))
    self.pool.append(out[inception_lib.POOL_3].numpy().reshape(b, t, -1))
    self.logits.append(out[inception_lib.LOGITS].numpy().reshape(b, t, -1))

  def arrays(self):
    return np.concatenate(self.pool), np.concatenate(self.logits)


def _fid(real, fake):
  return frechet.frechet_distance_from_stats(
    frechet.GaussianStats().update(real), frechet.GaussianStats().update(fake)
  )


def per_frame_metrics(real, fake, is_splits):
  """{"per_frame": [{frame, fid, is, is_std}], "fid_all", "is_all", "is_all_std"}."""
  real_pool, _ = real.arrays()
  fake_pool, fake_logits = fake.arrays()
  rows = []
  for t in range(fake_pool.shape[1]):
    score, std = inception_lib.inception_score_from_logits(fake_logits[:, t], is_splits)
    rows.append(
      {"frame": t, "fid": _fid(real_pool[:, t], fake_pool[:, t]), "is": score, "is_std": std}
    )
  flat = lambda x: x.reshape((-1, x.shape[-1]))
  score, std = inception_lib.inception_score_from_logits(flat(fake_logits), is_splits)
  return {
    "per_frame": rows,
    "fid_all": _fid(flat(real_pool), flat(fake_pool)),
    "is_all": score,
    "is_all_std": std,
  }


def evaluate_frames(
  workdir,
  out,
  inception=None,
  num_videos=256,
  num_frames=NUM_FRAMES,
  batch_size=16,
  seed=0,
  step=None,
  ema=True,
  is_splits=10,
  allow_download=True,
  allow_fewer=False,
):
  """Runs the protocol; returns the result dict (also written to `out`, plot beside it)."""
  network = inception_lib.load_inception(
    inception or inception_lib.INCEPTION_TFHUB, allow_download=allow_download
  )  # before any clip
  generator, config, path = workdir_lib.restore_generator(workdir, step, ema=ema)
  sample = sampler(generator, num_frames)
  real, fake = FrameFeatures(network), FrameFeatures(network)
  count, start = 0, time.monotonic()
  for batch in held_out_clips(config, num_frames, batch_size, config.seed):
    n = min(int(batch["video"].shape[0]), num_videos - count)
    video, first = batch["video"][:n], batch["first_frame"][:n]
    z = (
      sources.noise(generator.latent_dim, seed, range(count, count + n))
      if generator.latent_dim
      else None
    )
    condition = first if base.contract(generator).condition is base.Condition.IMAGE else None
    real.update(video)
    fake.update(sample(base.contract(generator).inputs(z, condition)))
    count += n
    logging.info("%d / %d clips (%.1f s)", count, num_videos, time.monotonic() - start)
    if count >= num_videos:
      break
  if count < num_videos and not allow_fewer:
    raise ValueError(
      f"Expected {num_videos} held-out clips, received {count}; pass "
      "--allow_fewer_videos to evaluate on those."
    )
  if count < is_splits:
    raise ValueError(f"Expected at least --is_splits={is_splits} clips, received {count}.")
  result = per_frame_metrics(real, fake, is_splits)
  result.update(
    {
      "workdir": workdir,
      "checkpoint": path,
      "generator": config.model.generator.name,
      "num_videos": count,
      "num_frames": num_frames,
      "seed": seed,
      "is_splits": is_splits,
      "inception": {
        "name": network.name,
        "source": network.source,
        "matches_tfgan": network.matches_tfgan,
      },
    }
  )
  if out:
    result["plot"] = os.path.basename(plot_path(out))
    result["manifests"] = {
      "held_out": {
        "source": config.data.source,
        "eval_files": config.data.eval_files,
        "num_clips": count,
      }
    }
    result = evaluate.write_results(result, out)
    frames = [r["frame"] for r in result["per_frame"]]
    learning_check.plot_curves(
      plot_path(out),
      frames,
      {"FID per frame": [r["fid"] for r in result["per_frame"]]},
      title=f"{result['generator']}: FID over time",
      x_label="frame",
    )
  return result


def define_flags(flag_values=flags.FLAGS):
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None, "Training workdir of an image-to-video generator.", **kw)
  flags.DEFINE_string("out", None, "Result JSON path; the FID plot goes beside it.", **kw)
  flags.DEFINE_string(
    "inception",
    None,
    "InceptionV3: handle, SavedModel directory or Keras "
    f"weights (default {inception_lib.INCEPTION_TFHUB}).",
    **kw,
  )
  flags.DEFINE_integer("num_videos", 256, "Held-out clips (BAIR's test split has 256).", **kw)
  flags.DEFINE_integer("num_frames", NUM_FRAMES, "Frames generated from each first frame.", **kw)
  flags.DEFINE_integer("batch_size", 16, "Clips per batch.", **kw)
  flags.DEFINE_integer("seed", 0, "Noise seed for generators with z (clip k: [SEED, k]).", **kw)
  flags.DEFINE_integer("step", None, "Checkpoint step (default: latest).", **kw)
  flags.DEFINE_bool("ema", True, "Use the EMA generator when the run kept one.", **kw)
  flags.DEFINE_integer("is_splits", 10, "Inception Score parts.", **kw)
  flags.DEFINE_bool("allow_download", True, "Let tensorflow_hub download handles.", **kw)
  flags.DEFINE_bool("allow_fewer_videos", False, "Accept fewer held-out clips.", **kw)


# Exit status by error: a missing network is 2 (as trainers.evaluate), bad input 1.
EXIT_STATUS = ((inception_lib.InceptionUnavailableError, 2), ((ValueError, FileNotFoundError), 1))


def run(f):
  """Runs the CLI on parsed flags; prints the result JSON or the error; the exit status."""
  if not f.workdir or not f.out:
    print(
      f"evaluate_frames: Expected --workdir and --out, received {f.workdir!r} and {f.out!r}.",
      file=sys.stderr,
    )
    return 1
  try:
    result = evaluate_frames(
      f.workdir,
      f.out,
      f.inception,
      f.num_videos,
      f.num_frames,
      f.batch_size,
      f.seed,
      f.step,
      f.ema,
      f.is_splits,
      f.allow_download,
      f.allow_fewer_videos,
    )
  except Exception as e:
    status = next((code for kinds, code in EXIT_STATUS if isinstance(e, kinds)), None)
    if status is None:
      raise
    print(f"evaluate_frames: {e}", file=sys.stderr)
    return status
  print(json.dumps(evaluate.json_safe(result), indent=2, sort_keys=True))
  return 0


def main(argv):
  del argv  # absl rejects unknown flags; positional arguments are unused
  logging.set_verbosity(logging.INFO)
  sys.exit(run(flags.FLAGS))


if __name__ == "__main__":
  define_flags()
  cli.run(main)
