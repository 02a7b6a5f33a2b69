"""VGAN's autoencoder + GMM baseline (Vondrick et al. 2016, sec. 3.2 "Baseline").

Two stages: train `vgan_autoencoder_gmm` (an encoder shaped like the discriminator to a
100-d code, the two-stream generator as decoder) to reconstruct clips ("We train an
autoencoder over our data"), then fit a 256-component Gaussian mixture to the codes of
training clips and generate by decoding codes drawn from it.

  python -m trainers.train --config=vgan_autoencoder_gmm --workdir=/tmp/vgan_ae
  python -m trainers.fit_gmm --workdir=/tmp/vgan_ae
  python -m export.sample --workdir=/tmp/vgan_ae ...     # generator(z) samples the GMM

  python -m trainers.train --config=vgan_autoencoder_gmm:smoke --workdir=/tmp/s
  python -m trainers.fit_gmm --workdir=/tmp/s

The paper gives no hyperparameters for the autoencoder: the optimizer, batch and clip size
below are VGAN's own (32x64x64, batch 64, Adam 2e-4, beta1 0.5). The reconstruction loss is
L2 (unstated in the paper; "l1" is the alternative).
"""

import ml_collections

from configs import common


def get_config(arg=None):
  arg = common.parse_arg(arg, smoke=False)
  c = common.base()
  # One value for the model's mixture size and the fit (overriding either changes both).
  components = ml_collections.FieldReference(256)
  c.model.generator = common.network(
    "vgan_autoencoder_gmm", code_dim=100, num_components=components
  )
  c.objective.task = "reconstruction"
  c.objective.recon_loss = "l2"
  c.optimizer.g_lr = 2e-4
  c.optimizer.beta1 = 0.5
  c.train.batch_size = 64
  c.train.steps = 100_000  # VGAN's budget: the paper does not say how long the AE trains

  # trainers.fit_gmm: scikit-learn GaussianMixture (full covariance) over the codes of
  # `num_clips` training clips (training-mode crops and flips, the encoder in inference mode).
  c.gmm = ml_collections.ConfigDict()
  c.gmm.num_components = components
  c.gmm.num_clips = 8192  # unstated in the paper; 32 codes per component
  c.gmm.seed = 0  # the clips' stream and scikit-learn's random_state
  if arg.smoke:
    common.smoke(c)
    common.shrink_vgan(c, frames=8, size=16, widths=(32, 16), d_widths=())
    c.model.generator.args.encoder_widths = (8, 16)
    c.model.generator.args.code_dim = 16
    c.gmm.num_components = 4
    c.gmm.num_clips = 32
  return c
