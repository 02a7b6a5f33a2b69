r"""Second stage of VGAN's autoencoder baseline: fit the Gaussian mixture over the codes.

    python -m trainers.fit_gmm --workdir=/tmp/vgan_ae [--num_clips=8192] [--batch_size=64]

Vondrick et al. 2016, sec. 3.2: after the autoencoder (`configs/vgan_autoencoder_gmm.py`)
is trained, a 256-component Gaussian mixture is fitted to the codes of the training data and
generations decode codes sampled from it. This binary:

1. rebuilds the workdir's run (`loop.Trainer` on its config.json) and restores its latest
   checkpoint (generator, EMA copy when kept, optimizer, step, data iterator);
2. encodes `--num_clips` clips (default `gmm.num_clips`) of the config's TRAINING split with
   the encoder in inference mode (BN moving statistics, as when generating). Decision: the
   clips come from the training-mode pipeline (random clip starts, crops and flips), the
   distribution the autoencoder was fitted on, which also repeats so any count can be drawn;
   the stream is seeded by `gmm.seed`, not the run's seed;
3. fits `zoo.vgan.gmm.fit_gmm` (scikit-learn, full covariance, `gmm.num_components` =
   the model's `num_components`, random_state `gmm.seed`) and stores it with `set_gmm`. A run
   with an EMA copy gets one mixture per copy, each over its own encoder's codes, so either
   copy samples consistently;
4. rewrites the latest checkpoint `ckpt-N` in place with the mixture (everything else is
   unchanged, so training can still resume), and writes WORKDIR/gmm.json.

Then `workdir.restore_generator` returns a model whose `call(z)`, z ~ N(0, I) of
`latent_dim = code_dim + 2`, decodes codes drawn from the mixture (see
`zoo.vgan.autoencoder`): `export.sample` and the export signatures generate from the
baseline with no special path. Training the workdir further leaves the mixture stale: rerun
this afterwards.
"""

import json
import os

from absl import app
from absl import flags
from absl import logging
import numpy as np
import tensorflow as tf

from trainers import cli
from trainers import loop
from trainers import workdir as workdir_lib
from trainers.data import pipeline as data_lib
from zoo.vgan import gmm as gmm_lib

RESULT_FILE = "gmm.json"
DEFAULT_NUM_CLIPS = 8192


def define_flags(flag_values=flags.FLAGS):
  """The CLI's flags (defined only when run as a program, so importing the library next to
  other binaries adds none)."""
  kw = {"flag_values": flag_values}
  flags.DEFINE_string("workdir", None, "A trained vgan_autoencoder_gmm workdir.", **kw)
  flags.DEFINE_integer("num_clips", 0, "Training clips to encode (0: gmm.num_clips).", **kw)
  flags.DEFINE_integer("batch_size", 0, "Clips per encoder call (0: train.batch_size).", **kw)
  flags.mark_flags_as_required(["workdir"], flag_values=flag_values)


def encode_clips(model, data_config, num_clips, batch_size, seed):
  """Codes [num_clips, code_dim] of training-mode clips, the encoder in inference mode."""
  data_config = data_config.copy_and_resolve_references()
  with data_config.unlocked():
    data_config.outputs = ()
  ds = data_lib.make_dataset(data_config, batch_size, training=True, seed=seed)
  encode = tf.function(lambda video: model.encode(video, training=False))
  codes, count = [], 0
  for batch in ds:
    codes.append(encode(batch["video"]).numpy())
    count += codes[-1].shape[0]
    if count >= num_clips:
      break
  if count < num_clips:
    raise ValueError(
      f"Expected {num_clips} training clips from data.source "
      f"{data_config.source!r}, received {count}."
    )
  return np.concatenate(codes)[:num_clips]


def fit(workdir, num_clips=0, batch_size=0):
  """Fits and stores the mixture(s); returns ({network key: (weights, means, cholesky)}, path).

  Network keys are the checkpoint's: "generator" and, when the run keeps one,
  "ema_generator".
  """
  config = workdir_lib.load_config(workdir)
  name = config.model.generator.name
  if name != "vgan_autoencoder_gmm":
    raise ValueError(
      f"Expected model.generator.name 'vgan_autoencoder_gmm' in "
      f"{os.path.join(workdir, workdir_lib.CONFIG_FILE)}, received {name!r}."
    )
  gmm_config = config.get("gmm", {})
  num_clips = int(num_clips or gmm_config.get("num_clips", DEFAULT_NUM_CLIPS))
  batch_size = int(batch_size or config.train.batch_size)
  seed = int(gmm_config.get("seed", 0))
  if num_clips < 1 or batch_size < 1:
    raise ValueError(
      f"Expected --num_clips >= 1 and --batch_size >= 1, received {num_clips} and {batch_size}."
    )
  workdir_lib.latest_checkpoint(workdir)  # raises when the run has no checkpoint yet
  trainer = loop.Trainer(config, workdir)
  model = trainer.generator
  components = gmm_config.get("num_components", model.num_components)
  if components != model.num_components:
    raise ValueError(
      f"Expected gmm.num_components equal to model.generator.args."
      f"num_components ({model.num_components}), received {components}."
    )
  step = trainer.current_step()
  if step < config.train.steps:
    logging.warning(
      "Fitting the GMM at step %d of %d: the autoencoder is not fully trained.",
      step,
      config.train.steps,
    )
  networks = {"generator": trainer.generator}
  if trainer.ema is not None:
    networks["ema_generator"] = trainer.ema
  fitted, summary = {}, {}
  for key, network in networks.items():
    codes = encode_clips(network, config.data, num_clips, batch_size, seed)
    logging.info(
      "Fitting %d components to %d codes of %s (step %d).", components, len(codes), key, step
    )
    fitted[key] = gmm_lib.fit_gmm(codes, components, seed)
    network.set_gmm(*fitted[key])
    summary[key] = {
      "code_mean": float(codes.mean()),
      "code_std": float(codes.std()),
      "largest_weight": float(fitted[key][0].max()),
    }
  # Same number: the latest checkpoint gains the mixture and stays the one training resumes.
  path = trainer.manager.save(checkpoint_number=step)
  result = {
    "checkpoint": path,
    "step": step,
    "num_clips": num_clips,
    "num_components": int(components),
    "code_dim": int(model.code_dim),
    "seed": seed,
    "data_source": config.data.source,
    "networks": summary,
  }
  with tf.io.gfile.GFile(os.path.join(workdir, RESULT_FILE), "w") as f:
    json.dump(result, f, indent=2, sort_keys=True)
  logging.info("Stored the GMM in %s; wrote %s.", path, os.path.join(workdir, RESULT_FILE))
  return fitted, path


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  logging.set_verbosity(logging.INFO)
  f = flags.FLAGS
  _, path = fit(f.workdir, f.num_clips, f.batch_size)
  print(f"GMM stored in {path}; see {os.path.join(f.workdir, RESULT_FILE)}")


if __name__ == "__main__":
  define_flags()
  cli.run(main)
