"""Training objectives ("tasks"): what is trained and with which losses, apart from the loop.

A task owns its networks (a generator and any number of weighted discriminators) and gives
the loop two loss functions, `d_loss` and `g_loss`, each computed on one (micro-)batch and
returning (scalar loss, {term name: scalar}). The loop does the rest: micro-batching,
distribution, optimizers, EMA, checkpoints. Models differ by config and task, never by a
copied loop (STYLE.md).
"""

import keras
import tensorflow as tf

from trainers import losses
from trainers import workdir as workdir_lib
from zoo import inputs as zoo_inputs

# The batch key that feeds a generator whose `condition` is "image", by objective.
CONDITION_KEYS = ("", "first_frame", "middle_frame", "segmentation", "frames")


def _f32(x):
  return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32) if t.dtype.is_floating else t, x)


class GANTask:
  """A GAN objective over one generator and weighted discriminators.

  config.objective:
    gan_loss: a name from trainers.losses.gan_loss (non_saturating, minimax, wgan, hinge,
      least_squares); applied to every discriminator, each weighted by its `weight`.
    d_steps: discriminator updates per generator update, each on a fresh real batch.
    gp_weight: WGAN-GP (Gulrajani et al. 2017) weight; r1_weight: R1 on real data
      (Mescheder et al. 2018) weight; clip_weights: WGAN weight clipping bound.
    mask_sparsity: weight of mean |m| for generators with a "mask" stream (VGAN: 0.1).
    condition: the batch key fed to a conditional generator and to the discriminators.
    recon_loss / recon_weight / recon_frame / recon_start_step: an L1 or L2 term between
      generated frame `recon_frame` and the conditioning image, on from `recon_start_step`.
  """

  def __init__(self, config):
    self.config = config
    obj = config.objective
    self.d_loss_fn, self.g_loss_fn = losses.gan_loss(obj.gan_loss)
    self.generator = workdir_lib.build_network(config.model.generator)
    self.discriminators = {}
    self.d_weights = {}
    for name, entry in sorted(config.model.discriminators.items()):
      args = {k: v for k, v in entry.items() if k not in ("name", "args", "weight")}
      if args:
        raise ValueError(f"Unexpected keys {sorted(args)} in model.discriminators.{name}; "
                         "expected name, args, weight.")
      self.discriminators[name] = workdir_lib.build_network(entry)
      self.d_weights[name] = float(entry.get("weight", 1.0))
    self.condition_key = obj.get("condition", "")
    if self.condition_key not in CONDITION_KEYS:
      raise ValueError(f"Expected objective.condition in {CONDITION_KEYS}, "
                       f"received {self.condition_key!r}.")
    if self.generator.condition is not None and not self.condition_key:
      raise ValueError(
          f"Generator {config.model.generator.name!r} is conditioned on "
          f"{self.generator.condition!r}; set objective.condition to the batch key that "
          f"feeds it (one of {CONDITION_KEYS[1:]}).")
    if obj.gp_weight and self._has_batch_norm_critic():
      raise ValueError(
          "objective.gp_weight > 0 with batch normalization in a critic: the gradient penalty "
          "is per sample, and batch norm mixes the samples of a batch, so the penalty would "
          "be wrong (Gulrajani et al. 2017, sec. 4). Use layer norm or none in the critic.")
    self.use_mask = obj.mask_sparsity > 0 and "mask" in self.generator.streams

  def _has_batch_norm_critic(self):
    for d in self.discriminators.values():
      if any(isinstance(l, keras.layers.BatchNormalization) for l in d._flatten_layers()):
        return True
    return False

  @property
  def data_outputs(self):
    """Optional dataset outputs this objective reads."""
    return (self.condition_key,) if self.condition_key else ()

  def condition(self, batch):
    return batch[self.condition_key] if self.condition_key else None

  def generator_inputs(self, batch, seed, generator=None):
    """z (the batch's "z" when the loop drew it, else drawn from `seed`) and the condition."""
    generator = generator or self.generator
    size = tf.shape(batch["video"])[0]
    inputs = zoo_inputs.generator_inputs(generator, size, seed, self.condition(batch))
    if "z" in batch and generator.latent_dim:
      if isinstance(inputs, dict):
        inputs = dict(inputs, z=batch["z"])
      else:
        inputs = batch["z"]
    return inputs

  def build(self, batch):
    """Creates every variable with one forward pass on `batch` (call inside strategy.scope)."""
    seed = tf.constant([0, 0], tf.int32)
    fake = self.generator(self.generator_inputs(batch, seed), training=False)
    for d in self.discriminators.values():
      d(fake, condition=self.condition(batch), training=False)

  def generate(self, batch, seed, training):
    out = self.generator(self.generator_inputs(batch, seed), training=training,
                         **({"return_streams": True} if self.use_mask else {}))
    out = _f32(out)
    return (out["video"], out) if isinstance(out, dict) else (out, {"video": out})

  def d_loss(self, batch, seed, step):
    del step
    obj = self.config.objective
    real = tf.cast(batch["video"], tf.float32)
    cond = self.condition(batch)
    fake, _ = self.generate(batch, seed, training=True)
    fake = tf.stop_gradient(fake)
    total, terms = 0.0, {}
    for i, (name, d) in enumerate(self.discriminators.items()):
      critic = lambda x, d=d: tf.cast(d(x, condition=cond, training=True), tf.float32)
      real_logits, fake_logits = critic(real), critic(fake)
      loss = self.d_loss_fn(real_logits, fake_logits)
      terms[f"d_{name}/loss"] = loss
      terms[f"d_{name}/real_logit"] = tf.reduce_mean(real_logits)
      terms[f"d_{name}/fake_logit"] = tf.reduce_mean(fake_logits)
      if obj.gp_weight:
        gp = losses.gradient_penalty(critic, real, fake, seed + [0, 1000 + i])
        terms[f"d_{name}/gradient_penalty"] = gp
        loss += obj.gp_weight * gp
      if obj.r1_weight:
        r1 = losses.r1_penalty(critic, real)
        terms[f"d_{name}/r1"] = r1
        loss += obj.r1_weight * r1
      total += self.d_weights[name] * loss
    terms["d/total"] = total
    return total, terms

  def g_loss(self, batch, seed, step):
    obj = self.config.objective
    cond = self.condition(batch)
    fake, streams = self.generate(batch, seed, training=True)
    total, terms = 0.0, {}
    for name, d in self.discriminators.items():
      logits = tf.cast(d(fake, condition=cond, training=True), tf.float32)
      loss = self.g_loss_fn(logits)
      terms[f"g_{name}/loss"] = loss
      total += self.d_weights[name] * loss
    if self.use_mask:
      sparsity = losses.mask_sparsity(streams["mask"])
      terms["g/mask_sparsity"] = sparsity
      total += obj.mask_sparsity * sparsity
    if obj.recon_loss and obj.recon_weight:
      target = tf.cast(cond, tf.float32)
      frame = fake[:, obj.get("recon_frame", 0)]
      recon_fn = {"l1": losses.l1_reconstruction, "l2": losses.l2_reconstruction}.get(
          obj.recon_loss)
      if recon_fn is None:
        raise ValueError(f"Expected objective.recon_loss in ('', 'l1', 'l2'), "
                         f"received {obj.recon_loss!r}.")
      recon = recon_fn(frame, target)
      terms["g/reconstruction"] = recon
      on = tf.cast(step >= obj.recon_start_step, tf.float32)
      total += on * obj.recon_weight * recon
    terms["g/total"] = total
    return total, terms

  def clip_discriminator_weights(self):
    bound = self.config.objective.clip_weights
    if bound:
      for d in self.discriminators.values():
        losses.wgan_weight_clip(d.trainable_variables, bound)


TASKS = {"gan": GANTask}


def make_task(config):
  name = config.objective.task
  if name not in TASKS:
    raise ValueError(f"Expected objective.task in {sorted(TASKS)}, received {name!r}.")
  return TASKS[name](config)
