"""GAN losses, penalties and auxiliary losses: pure functions of tensors.

Every function returns a float32 scalar, the mean over the batch it is given. Inputs are cast
to float32 first, so logits of a mixed-precision network (float16 / bfloat16) are reduced in
full precision.

Distribution: each function runs as-is inside `strategy.run` and returns the mean over the
replica's own batch. A caller that sums gradients across replicas (the default all-reduce)
divides by the number of replicas, or scales by `local_batch / global_batch`; nothing here
knows the global batch size.

The GAN losses come in pairs `d_loss(real_logits, fake_logits)` and `g_loss(fake_logits)`,
looked up by name with `gan_loss(name)`; the names are the values of `objective.gan_loss`.
Weights (lambda of the gradient penalty, 0.1 of VGAN's mask sparsity, ...) live in configs and
are applied by the caller: every penalty here is returned unweighted.
"""

from collections.abc import Callable, Sequence

import tensorflow as tf

# A pair of GAN losses: d_loss(real_logits, fake_logits) and g_loss(fake_logits).
DLoss = Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
GLoss = Callable[[tf.Tensor], tf.Tensor]
# A critic as the penalties call it: a batch in, one logit per sample out.
CriticFn = Callable[[tf.Tensor], tf.Tensor]


def _f32(x):
  return tf.cast(x, tf.float32)


def _mean(x):
  return tf.reduce_mean(_f32(x))


def _per_sample_sum(x):
  """Sum over every axis but the first: [B, ...] -> [B]."""
  x = _f32(x)
  return tf.reduce_sum(tf.reshape(x, [tf.shape(x)[0], -1]), axis=1)


# --- GAN losses ---------------------------------------------------------------------------


def minimax_d_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
  """Goodfellow et al. 2014 discriminator: -log D(x) - log(1 - D(G(z)))."""
  return _mean(tf.nn.softplus(-_f32(real_logits))) + _mean(tf.nn.softplus(_f32(fake_logits)))


def minimax_g_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """The saturating generator loss: minimise log(1 - D(G(z))) = -softplus(f)."""
  return -_mean(tf.nn.softplus(_f32(fake_logits)))


def non_saturating_d_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
  """Same discriminator loss as minimax (VGAN's 2-way softmax is this with one logit)."""
  return minimax_d_loss(real_logits, fake_logits)


def non_saturating_g_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """The non-saturating generator loss: -log D(G(z)) = softplus(-f)."""
  return _mean(tf.nn.softplus(-_f32(fake_logits)))


def wgan_d_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
  """WGAN critic (Arjovsky et al. 2017): mean(f) - mean(r)."""
  return _mean(fake_logits) - _mean(real_logits)


def wgan_g_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """WGAN generator: -mean(f)."""
  return -_mean(fake_logits)


def hinge_d_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
  """Hinge discriminator (Lim & Ye 2017; SAGAN, BigGAN): relu(1 - r) + relu(1 + f)."""
  return _mean(tf.nn.relu(1.0 - _f32(real_logits))) + _mean(tf.nn.relu(1.0 + _f32(fake_logits)))


def hinge_g_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """Hinge generator: -mean(f), as in SAGAN / BigGAN."""
  return -_mean(fake_logits)


def least_squares_d_loss(real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
  """LSGAN (Mao et al. 2017), a-b-c = 0-1-1: 0.5 (r - 1)^2 + 0.5 f^2."""
  return 0.5 * _mean(tf.square(_f32(real_logits) - 1.0)) + 0.5 * _mean(tf.square(_f32(fake_logits)))


def least_squares_g_loss(fake_logits: tf.Tensor) -> tf.Tensor:
  """LSGAN generator: 0.5 (f - 1)^2."""
  return 0.5 * _mean(tf.square(_f32(fake_logits) - 1.0))


_GAN_LOSSES: dict[str, tuple[DLoss, GLoss]] = {
  "minimax": (minimax_d_loss, minimax_g_loss),
  "non_saturating": (non_saturating_d_loss, non_saturating_g_loss),
  "wgan": (wgan_d_loss, wgan_g_loss),
  "hinge": (hinge_d_loss, hinge_g_loss),
  "least_squares": (least_squares_d_loss, least_squares_g_loss),
}


def gan_loss_names() -> list[str]:
  """The names `gan_loss` accepts, sorted."""
  return sorted(_GAN_LOSSES)


def gan_loss(name: str) -> tuple[DLoss, GLoss]:
  """name -> (d_loss_fn(real_logits, fake_logits), g_loss_fn(fake_logits))."""
  if name not in _GAN_LOSSES:
    raise ValueError(f"Expected a GAN loss name in {gan_loss_names()}, received {name!r}.")
  return _GAN_LOSSES[name]


# --- Critic regularisers ------------------------------------------------------------------


def wgan_weight_clip(variables: Sequence[tf.Variable], bound: float) -> list:
  """Clips every variable to [-bound, bound] in place (the original WGAN's Lipschitz hack).

  Called after each critic update. Returns the list of assign results (ops in graph mode).
  """
  if bound <= 0:
    raise ValueError(f"Expected a positive clipping bound, received {bound}.")
  return [v.assign(tf.clip_by_value(v, -bound, bound)) for v in variables]


def _input_gradients(critic_fn, x):
  """d sum(critic_fn(x)) / dx: per-sample gradients when samples do not interact (no BN)."""
  with tf.GradientTape() as tape:
    tape.watch(x)
    out = _f32(critic_fn(x))
    total = tf.reduce_sum(out)
  return _f32(tape.gradient(total, x))


def gradient_penalty(
  critic_fn: CriticFn, real: tf.Tensor, fake: tf.Tensor, seed: tf.Tensor
) -> tf.Tensor:
  """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): mean((||grad D(x_hat)||_2 - 1)^2).

  x_hat = eps * real + (1 - eps) * fake with eps ~ Uniform[0, 1], ONE per sample (shape
  [B, 1, ..., 1] broadcast over the clip); drawing it from a normal is a known copy-paste bug.
  The norm runs over every non-batch axis. `critic_fn(x)` returns one logit per sample; pass a
  closure (`lambda x: critic(x, condition)`) for conditioned critics. The critic must not mix
  samples (no batch norm), or the gradients are not per sample.

  eps comes from `tf.random.stateless_uniform` with `seed`, an int shape-[2] tensor, so a step
  is reproducible and resumes identically; derive it from the step (and the replica id under a
  distribution strategy). Call inside the discriminator's outer GradientTape: the penalty is
  differentiable w.r.t. the critic's weights (double backprop). A 1e-12 inside the square root
  keeps its gradient finite where the input gradient is exactly zero. Returns it unweighted.
  """
  real, fake = _f32(real), _f32(fake)
  rank = real.shape.rank
  if rank is None or rank < 2:
    raise ValueError(f"Expected real and fake of rank >= 2 [B, ...], received shape {real.shape}.")
  eps_shape = tf.concat([tf.shape(real)[:1], tf.ones([rank - 1], tf.int32)], axis=0)
  eps = tf.random.stateless_uniform(eps_shape, seed=seed, minval=0.0, maxval=1.0)
  x_hat = eps * real + (1.0 - eps) * fake
  grads = _input_gradients(critic_fn, x_hat)
  norms = tf.sqrt(_per_sample_sum(tf.square(grads)) + 1e-12)
  return tf.reduce_mean(tf.square(norms - 1.0))


def r1_penalty(critic_fn: CriticFn, real: tf.Tensor) -> tf.Tensor:
  """R1 (Mescheder et al. 2018): mean over the batch of sum(grad D(real)^2).

  Unweighted: the config weight multiplies it (the GAN-Stability code's form is
  `reg_param * mean(sum sq grads)` with reg_param 10; Egan's thesis sec. 4.2.1 uses weight 10).
  """
  grads = _input_gradients(critic_fn, _f32(real))
  return tf.reduce_mean(_per_sample_sum(tf.square(grads)))


# --- Auxiliary losses ---------------------------------------------------------------------


def l1_reconstruction(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """Mean absolute difference over every element."""
  return _mean(tf.abs(_f32(a) - _f32(b)))


def l2_reconstruction(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
  """Mean squared difference over every element (the (Re)live Photos MSE)."""
  return _mean(tf.square(_f32(a) - _f32(b)))


def mask_sparsity(mask: tf.Tensor) -> tf.Tensor:
  """mean |m|: VGAN's L1Penalty on the two-stream mask with size averaging (caller: x 0.1)."""
  return _mean(tf.abs(_f32(mask)))


def kl_divergence(mean: tf.Tensor, logvar: tf.Tensor) -> tf.Tensor:
  """KL(N(mean, exp(logvar)) || N(0, I)) summed over non-batch axes, mean over the batch."""
  mean, logvar = _f32(mean), _f32(logvar)
  per_sample = -0.5 * _per_sample_sum(1.0 + logvar - tf.square(mean) - tf.exp(logvar))
  return tf.reduce_mean(per_sample)
