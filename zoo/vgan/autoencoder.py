"""VGAN's baseline: a video autoencoder whose codes are modelled by a Gaussian mixture.

Registered name: `vgan_autoencoder_gmm` (Vondrick et al. 2016, Section 3.2, "Baseline").
"""

import keras
import numpy as np
import tensorflow as tf

from zoo import base
from zoo import registry
from zoo.vgan import blocks
from zoo.vgan import generators


def _identity_batch(num, dim):
  def initializer(shape, dtype=None):
    del shape
    return tf.eye(dim, batch_shape=[num], dtype=dtype)

  return initializer


@registry.register("vgan_autoencoder_gmm")
class AutoencoderGMM(keras.Model):
  """VGAN's autoencoder + GMM baseline (Vondrick et al. 2016, Section 3.2).

  Encoder: shaped like the discriminator (Conv3D "k4 s2" 64 (no BN) -> 128 -> 256 -> 512,
  BN, LeakyReLU 0.2), its last conv, kernel (2,4,4) valid, emitting `code_dim` (100)
  channels, flattened to [B, 100]; no activation on the code. As in the discriminator the
  last kernel is what remains of (T, H, W), so a smaller decoder (`widths`, which sets
  `video_shape` as in `OneStreamGenerator`) gives a matching encoder. Decoder: the two-stream
  generator (`TwoStreamGenerator`). It is trained on reconstruction; then a Gaussian mixture
  (256 components, full covariance) is fitted to the codes of the training set
  (`zoo.vgan.gmm.fit_gmm`, scikit-learn) and stored in this model with `set_gmm`; `sample`
  draws codes from it and decodes them.

  Calling convention (decision): `call` dispatches on rank. A rank-5 tensor is a video
  [B, T, H, W, 3] and is reconstructed, decode(encode(video)): what the trainer's
  "reconstruction" task fits. A rank-2 tensor is noise z ~ N(0, I) of `latent_dim` =
  `code_dim + 2` entries, mapped through the stored mixture to a code and decoded: z[:, :2]
  picks the component (u = exp(-(z0^2 + z1^2) / 2) is exactly uniform, the inverse of
  Box-Muller's radius, and uses only TFLite builtin ops where Phi(z0) needs Erfc; component k
  where the cumulative weights first reach u) and z[:, 2:] is the component's standard noise
  eps, code = mean_k + L_k eps. So
  `generator(z)` with standard-normal z, which is how the trainer, `export.sample` and the
  export signatures generate, draws from the baseline's generative model (codes from the
  GMM), and `sample(batch_size, seed)` is `call` on `stateless_normal(seed)`. Before `set_gmm`
  the mixture is uniform over copies of N(0, I), so z decodes as the code z[:, 2:].
  `return_streams=True` returns the decoder's streams in both cases; `decode(code)` decodes a
  code directly. The GMM is stored as non-trainable variables (the first three entries of
  `weights`, so checkpointed with the network): `gmm_weights` [K], `gmm_means` [K, D],
  `gmm_cholesky` [K, D, D] (lower-triangular L, covariance = L L^T).

  Args:
    code_dim: size of the code (paper: 100).
    num_components: number of mixture components (paper: 256).
    encoder_widths: channels of the encoder's strided layers.
    widths, background_widths: hidden channels of the decoder's streams.
    init_std: std of the conv kernel initializer.
    gamma_std: std of the BN gamma initializer (around 1).
  """

  condition = None
  streams = generators.STREAMS

  def __init__(
    self,
    code_dim=100,
    num_components=256,
    encoder_widths=(64, 128, 256, 512),
    widths=generators.VIDEO_WIDTHS,
    background_widths=generators.BACKGROUND_WIDTHS,
    init_std=0.01,
    gamma_std=0.02,
    **kwargs,
  ):
    super().__init__(**kwargs)
    self.code_dim = int(code_dim)
    self.latent_dim = self.code_dim + 2  # component choice (2 coordinates) + the code's noise
    self.num_components = int(num_components)
    self.encoder_widths = tuple(int(w) for w in encoder_widths)
    self.init_std = float(init_std)
    self.gamma_std = float(gamma_std)
    self.decoder = generators.TwoStreamGenerator(
      self.code_dim, widths, background_widths, init_std, gamma_std, name="decoder"
    )
    self.video_shape = self.decoder.video_shape
    self.encoder_trunk = blocks.DownStack(
      3,
      self.encoder_widths,
      activation="leaky_relu",
      init_std=init_std,
      gamma_std=gamma_std,
      name="encoder",
    )
    kernel = blocks.final_kernel(self.video_shape, len(self.encoder_widths))
    self.encoder_head = blocks.conv(3, self.code_dim, kernel, 1, "valid", init_std, name="code")
    k, d = self.num_components, self.code_dim
    self.gmm_weights = self.add_weight(
      shape=(k,),
      initializer=keras.initializers.Constant(1.0 / k),
      trainable=False,
      name="gmm_weights",
    )
    self.gmm_means = self.add_weight(
      shape=(k, d), initializer="zeros", trainable=False, name="gmm_means"
    )
    self.gmm_cholesky = self.add_weight(
      shape=(k, d, d), initializer=_identity_batch(k, d), trainable=False, name="gmm_cholesky"
    )

  def build(self, input_shape):
    """Creates every variable (encoder and decoder) whatever the rank of `input_shape`."""
    del input_shape
    self.compute_output_spec(keras.KerasTensor((None,) + self.video_shape))

  def encode(self, video, training=False):
    """Video [B, T, H, W, 3] -> code [B, code_dim]."""
    code = self.encoder_head(self.encoder_trunk(video, training=training))
    return tf.reshape(code, [-1, self.code_dim])

  def decode(self, code, training=False, return_streams=False):
    """Code [B, code_dim] -> video [B, T, H, W, 3] (or the dict of streams)."""
    return self.decoder(code, training=training, return_streams=return_streams)

  def call(self, inputs, training=False, return_streams=False):
    if len(inputs.shape) == 5:
      code = self.encode(base.float_frames(inputs, self.name), training=training)
    elif len(inputs.shape) == 2 and inputs.shape[-1] == self.latent_dim:
      code = self.codes_from_noise(inputs)
    else:
      raise ValueError(
        f"Expected noise z [B, {self.latent_dim}] or a video [B, T, H, W, C], "
        f"received a tensor of shape {inputs.shape}."
      )
    return self.decode(code, training=training, return_streams=return_streams)

  def codes_from_noise(self, z):
    """Standard-normal z [B, code_dim + 2] -> codes [B, code_dim] distributed as the GMM.

    u = exp(-(z0^2 + z1^2) / 2) is uniform on (0, 1) (z0^2 + z1^2 is chi-square with 2
    degrees of freedom, i.e. exponential with mean 2) and selects component k with
    probability weight_k (inverse CDF of the categorical); z[:, 2:] ~ N(0, I), independent of
    u, gives mean_k + L_k z[:, 2:] ~ N(mean_k, L_k L_k^T). Only exp, comparisons and sums: it
    converts to TFLite builtin ops.
    """
    z = tf.cast(z, tf.float32)
    u = tf.exp(-0.5 * (tf.square(z[:, 0]) + tf.square(z[:, 1])))
    weights = tf.maximum(self.gmm_weights, 0.0)
    cdf = tf.cumsum(weights) / tf.reduce_sum(weights)
    below = tf.cast(cdf[tf.newaxis, :] < u[:, tf.newaxis], tf.int32)
    component = tf.minimum(tf.reduce_sum(below, axis=1), self.num_components - 1)
    cholesky = tf.gather(self.gmm_cholesky, component)
    eps = z[:, 2:]
    return tf.gather(self.gmm_means, component) + tf.squeeze(
      tf.matmul(cholesky, eps[:, :, tf.newaxis]), -1
    )

  def set_gmm(self, weights, means, cholesky):
    """Stores a fitted mixture (numpy arrays, e.g. from `zoo.vgan.gmm.fit_gmm`).

    Args:
      weights: [K] mixture weights (scikit-learn's `weights_`).
      means: [K, D] component means (`means_`).
      cholesky: [K, D, D] lower-triangular Cholesky factors of the covariances,
        `np.linalg.cholesky(covariances_)` with `covariance_type="full"`. Not scikit-learn's
        `precisions_cholesky_`, which factors the inverse.
    """
    k, d = self.num_components, self.code_dim
    for name, value, shape in (
      ("weights", weights, (k,)),
      ("means", means, (k, d)),
      ("cholesky", cholesky, (k, d, d)),
    ):
      if tuple(np.shape(value)) != shape:
        raise ValueError(
          f"Expected GMM {name} of shape {shape}, received {tuple(np.shape(value))}."
        )
    self.gmm_weights.assign(np.asarray(weights, np.float32))
    self.gmm_means.assign(np.asarray(means, np.float32))
    self.gmm_cholesky.assign(np.asarray(cholesky, np.float32))

  def sample_codes(self, batch_size, seed):
    """Codes [batch_size, D] from the mixture; `seed` is a shape-[2] int tensor (stateless)."""
    z = tf.random.stateless_normal([batch_size, self.latent_dim], seed=seed)
    return self.codes_from_noise(z)

  def sample(self, batch_size, seed, return_streams=False):
    """Generated videos: codes drawn from the mixture, decoded (inference mode)."""
    return self.decode(
      self.sample_codes(batch_size, seed), training=False, return_streams=return_streams
    )

  def get_config(self):
    return {
      "name": self.name,
      "code_dim": self.code_dim,
      "num_components": self.num_components,
      "encoder_widths": list(self.encoder_widths),
      "widths": list(self.decoder.widths),
      "background_widths": list(self.decoder.background_widths),
      "init_std": self.init_std,
      "gamma_std": self.gamma_std,
    }
