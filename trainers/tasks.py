"""Training objectives ("tasks"): what is trained and with which losses, apart from the loop.

A task owns its networks (a generator and any number of weighted discriminators) and gives
the loop two loss functions, `d_loss` and `g_loss`, each computed on one (micro-)batch and
returning (scalar loss, {term name: scalar}). The loop does the rest: micro-batching,
distribution, optimizers, EMA, checkpoints. Models differ by config and task, never by a
copied loop.
"""

import inspect
from typing import Any

from absl import logging
import keras
import ml_collections
import tensorflow as tf

from trainers import errors
from trainers import losses
from trainers import workdir as workdir_lib
from trainers.data import format as record_format
from zoo import base
from zoo import inputs as zoo_inputs
from zoo import registry

# A batch of the input pipeline: {"video": [B, T, H, W, 3] float32 in [-1, 1], and the
# outputs the task asked for (first_frame, segmentation, ...)}.
Batch = dict[str, tf.Tensor]
# What `generator(...)` takes: z, the condition, or a dict of both (zoo.base.GeneratorSpec).
GeneratorInputs = Any
# (scalar loss, {term name: scalar}) of one (micro-)batch.
LossAndTerms = tuple[tf.Tensor, dict[str, tf.Tensor]]

# The batch key that feeds a generator whose `condition` is "image", by objective.
CONDITION_KEYS = ("", "first_frame", "middle_frame", "segmentation", "frames")


def condition_keys(condition):
  """objective.condition ("", "KEY" or "KEY+EXTRA...") -> the batch keys it reads."""
  keys = tuple(k for k in condition.split("+") if k) if condition else ()
  bad = [k for k in keys if k not in CONDITION_KEYS]
  if bad or (condition and not keys):
    raise ValueError(
      f"Expected objective.condition made of {CONDITION_KEYS[1:]} joined by "
      f"'+', received {condition!r}."
    )
  return keys


def batch_condition(batch, keys, name):
  """The batch's condition for `keys` (condition_keys): None, one tensor, or for several keys a
  dict {name (the generator's condition): batch[first key], other key: batch[key], ...}, e.g.
  {"image": middle frame, "segmentation": ...}."""
  if not keys:
    return None
  first, *extra = keys
  if not extra:
    return batch[first]
  return {name: batch[first], **{k: batch[k] for k in extra}}


def _f32(x):
  return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32) if t.dtype.is_floating else t, x)


# Purposes folded into the step seed for networks that draw their own randomness.
_GENERATOR_SEED, _DISCRIMINATOR_SEED = 1, 2


def seed_kwargs(network, seed, purpose):
  """{"seed": a seed derived from `seed`} when `network.call` takes one (zoo.registry), else {}."""
  if "seed" not in inspect.signature(network.call).parameters:
    return {}
  return {"seed": tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int64), purpose)}


def check_clip_shape(config, network, real, fake=None):
  """Refuses a batch's clips `real` [B, T, H, W, C] whose frames are not the size `network`
  (model.generator) is built for (its video_shape's H, W, C), or, given its output `fake`,
  whose length is not the generated clips'. Such clips reach the networks as they are:
  fully convolutional ones run on them, and a discriminator would tell real clips from
  generated ones by their size (a 64-pixel config given `--config.data.height=128` trained
  so, without a word); others fail deep inside a layer."""
  declared = getattr(network, "video_shape", None)
  shape = real.shape[1:]
  if declared is None or not shape.is_fully_defined():
    return
  expected = (fake.shape[1] if fake is not None else shape[0], *declared[1:])
  if tuple(shape) == tuple(expected):
    return
  data = config.data
  raise errors.ConfigError(
    f"Expected data clips of the shape model.generator ({config.model.generator.name!r}) "
    f"{'makes' if fake is not None else 'is built for'}, {'x'.join(map(str, expected))} "
    f"(frames x height x width x channels), received {'x'.join(map(str, shape))} "
    f"(data.num_frames={data.num_frames}, data.height={data.height}, data.width="
    f"{data.width}): the networks would run on clips of another size than they were made "
    "for. Change the data's size and the model's together (a config's size argument where "
    "it has one, as radner_style:resolution=128; else the networks' args)."
  )


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

  def __init__(self, config: ml_collections.ConfigDict):
    self.config = config
    obj = config.objective
    self.d_loss_fn, self.g_loss_fn = losses.gan_loss(obj.gan_loss)
    self.generator = workdir_lib.build_network(config.model.generator)
    try:
      self.contract = base.contract(self.generator)
    except TypeError as e:  # a discriminator, say, under model.generator
      raise ValueError(
        f"Expected model.generator.name to name a generator, received "
        f"{config.model.generator.name!r}: {e}"
      ) from None
    self.discriminators = {}
    self.d_weights = {}
    for name, entry in sorted(config.model.discriminators.items()):
      args = {k: v for k, v in entry.items() if k not in ("name", "args", "weight")}
      if args:
        raise ValueError(
          f"Unexpected keys {sorted(args)} in model.discriminators.{name}; "
          "expected name, args, weight."
        )
      self.discriminators[name] = workdir_lib.build_network(entry)
      self.d_weights[name] = float(entry.get("weight", 1.0))
    self.condition_key = obj.get("condition", "")
    self.condition_keys = condition_keys(self.condition_key)
    if self.contract.condition is not base.Condition.NONE and not self.condition_key:
      raise ValueError(
        f"Generator {config.model.generator.name!r} is conditioned on "
        f"{self.contract.key!r}; set objective.condition to the batch key that "
        f"feeds it (one of {CONDITION_KEYS[1:]})."
      )
    if obj.gp_weight and self._has_batch_norm_critic():
      raise ValueError(
        "objective.gp_weight > 0 with batch normalization in a critic: the gradient penalty "
        "is per sample, and batch norm mixes the samples of a batch, so the penalty would "
        "be wrong (Gulrajani et al. 2017, sec. 4). Use layer norm or none in the critic."
      )
    self.use_mask = obj.mask_sparsity > 0 and "mask" in self.generator.streams
    self._check_segmentation_classes(config)

  def _check_segmentation_classes(self, config):
    """Refuses, before training, shards whose segmentations hold class ids the generator has
    no class for (their manifests count the pixels of each id): a segmenter of 150 classes
    feeding a model of 23, say. Inside the step such ids would one-hot to no class at all,
    silently."""
    classes = self.contract.classes
    if classes is None or "segmentation" not in self.condition_keys:
      return
    for path, ids in record_format.segmentation_classes(config.data).items():
      outside = [i for i in ids if i >= classes]
      if outside:
        shown = ", ".join(str(i) for i in outside[:8]) + (", ..." if len(outside) > 8 else "")
        raise errors.ConfigError(
          f"Expected segmentation class ids below {classes} (model.generator.args."
          f"num_classes), received ids {shown} in the shards of {path} (its "
          "segmentation.class_pixels): set num_classes to cover them, or map them to "
          "classes when converting."
        )

  def _has_batch_norm_critic(self):
    # A frozen BN (trainable False, e.g. in a pretrained feature extractor) always runs on its
    # moving statistics in Keras 3, so it does not mix samples.
    for d in self.discriminators.values():
      if any(
        isinstance(l, keras.layers.BatchNormalization) and l.trainable for l in d._flatten_layers()
      ):
        return True
    return False

  @property
  def data_outputs(self):
    """Optional dataset outputs this objective reads."""
    return self.condition_keys

  def condition(self, batch: Batch) -> tf.Tensor | None:
    return batch_condition(batch, self.condition_keys, self.contract.key)

  def generator_inputs(
    self, batch: Batch, seed: tf.Tensor, generator: keras.Model | None = None
  ) -> GeneratorInputs:
    """z (the batch's "z" when the loop drew it, else drawn from `seed`) and the condition.

    `generator`: the task's generator (default) or its EMA twin, of the same contract."""
    if "z" in batch and self.contract.takes_noise:
      return self.contract.inputs(batch["z"], self.condition(batch))
    return zoo_inputs.generator_inputs(
      generator or self.generator, tf.shape(batch["video"])[0], seed, self.condition(batch)
    )

  def build(self, batch: Batch) -> None:
    """Creates every variable with one forward pass on `batch` (call inside strategy.scope),
    and refuses data clips of another shape than the generator's (`check_clip_shape`)."""
    check_clip_shape(self.config, self.generator, batch["video"])
    seed = tf.constant([0, 0], tf.int32)
    fake = self.generator(self.generator_inputs(batch, seed), training=False)
    check_clip_shape(self.config, self.generator, batch["video"], fake)
    for d in self.discriminators.values():
      d(fake, condition=self.condition(batch), training=False)

  def generate(self, batch, seed, training):
    out = self.generator(
      self.generator_inputs(batch, seed),
      training=training,
      **({"return_streams": True} if self.use_mask else {}),
      **seed_kwargs(self.generator, seed, _GENERATOR_SEED),
    )
    out = _f32(out)
    return (out["video"], out) if isinstance(out, dict) else (out, {"video": out})

  def d_loss(self, batch: Batch, seed: tf.Tensor, step: tf.Tensor) -> LossAndTerms:
    del step
    obj = self.config.objective
    real = tf.cast(batch["video"], tf.float32)
    cond = self.condition(batch)
    fake, _ = self.generate(batch, seed, training=True)
    fake = tf.stop_gradient(fake)
    total, terms = 0.0, {}
    for i, (name, d) in enumerate(self.discriminators.items()):
      kw = seed_kwargs(d, seed, _DISCRIMINATOR_SEED)  # real, fake, interpolates alike
      critic = lambda x, d=d, kw=kw: tf.cast(d(x, condition=cond, training=True, **kw), tf.float32)
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

  def g_loss(self, batch: Batch, seed: tf.Tensor, step: tf.Tensor) -> LossAndTerms:
    obj = self.config.objective
    cond = self.condition(batch)
    fake, streams = self.generate(batch, seed, training=True)
    total, terms = 0.0, {}
    judged, seen = self.judge_fake(batch, fake, cond, seed)
    for name, logits in judged.items():
      loss = self.g_loss_fn(logits)
      terms[f"g_{name}/loss"] = loss
      total += self.d_weights[name] * loss
    if self.use_mask:
      sparsity = losses.mask_sparsity(streams["mask"])
      terms["g/mask_sparsity"] = sparsity
      total += obj.mask_sparsity * sparsity
    if obj.recon_loss and obj.recon_weight:
      target = tf.cast(self.contract.split(cond)[0], tf.float32)
      frame = fake[:, obj.get("recon_frame", 0)]
      recon_fn = {"l1": losses.l1_reconstruction, "l2": losses.l2_reconstruction}.get(
        obj.recon_loss
      )
      if recon_fn is None:
        raise ValueError(
          f"Expected objective.recon_loss in ('', 'l1', 'l2'), received {obj.recon_loss!r}."
        )
      recon = recon_fn(frame, target)
      terms["g/reconstruction"] = recon
      on = tf.cast(step >= obj.recon_start_step, tf.float32)
      total += on * obj.recon_weight * recon
    for name, (weight, value) in self.generator_terms(batch, fake, streams, cond, seen).items():
      terms[name] = value
      total += weight * value
    terms["g/total"] = total
    return total, terms

  def judge_fake(self, batch, fake, cond, seed):
    """Each discriminator's logits of `fake` for the generator's step ({name: float32
    logits}), and what else those same calls saw that `generator_terms` needs ({} here)."""
    del batch
    logits = {}
    for name, d in self.discriminators.items():
      out = d(fake, condition=cond, training=True, **seed_kwargs(d, seed, _DISCRIMINATOR_SEED))
      logits[name] = tf.cast(out, tf.float32)
    return logits, {}

  def generator_terms(self, batch, fake, streams, cond, seen):
    """Extra generator terms of a subclass: {name: (weight, unweighted scalar)}; `seen` is
    `judge_fake`'s second result."""
    del batch, fake, streams, cond, seen
    return {}

  def clip_discriminator_weights(self) -> None:
    bound = self.config.objective.clip_weights
    if bound:
      for d in self.discriminators.values():
        losses.wgan_weight_clip(d.trainable_variables, bound)


VGG_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")
VGG_LAYER_WEIGHTS = (1.0 / 32, 1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0)  # SPADE's VGGLoss


def vgg19_features(path):
  """A frozen VGG19 (weights from the local file `path`) -> the five SPADE VGGLoss features."""
  vgg = keras.applications.VGG19(include_top=False, weights=path)
  vgg.trainable = False
  return keras.Model(vgg.input, [vgg.get_layer(n).output for n in VGG_LAYERS])


def perceptual_loss(features, fake, real):
  """SPADE's VGG loss: sum_i w_i * mean |phi_i(fake) - phi_i(real)| over every frame."""
  prep = lambda v: keras.applications.vgg19.preprocess_input(
    (tf.reshape(v, [-1] + v.shape[2:].as_list()) + 1.0) * 127.5
  )
  fake_f, real_f = features(prep(fake)), features(prep(real))
  return tf.add_n(
    [
      w * losses.l1_reconstruction(f, tf.stop_gradient(r))
      for w, f, r in zip(VGG_LAYER_WEIGHTS, fake_f, real_f)
    ]
  )


def vae_encoder(generator):
  """Whether `generator` is trained as a VAE: `encode(video)` -> (mu, logvar) of real clips
  (SPADE with use_vae). An `encoder` alone is not one: image-conditioned generators encode
  their input photo with theirs."""
  encoder = getattr(generator, "encoder", None)
  return callable(getattr(generator, "encode", None)) and encoder is not None


class SPADETask(GANTask):
  """SPADE's objective (Park et al. 2019; Egan 2019, Section 4.2.1) on top of GANTask.

  The GAN loss (hinge) runs over each discriminator's patch logits, the discriminators being
  the scales of a multi-scale PatchGAN weighted 1 / num_scales. Generator terms:

  * objective.feature_matching (10): sum over each discriminator's intermediate features of
    mean |D_i(fake) - D_i(real)|, real features held fixed, weighted like the discriminator;
  * objective.vgg_weight (10): VGG19 perceptual loss with weights from the local file
    objective.vgg_weights only; without that file the term is off and a warning says so;
  * objective.kl_weight (0.05): for a generator with an encoder (use_vae), z is sampled from
    the encoder's N(mu, exp(logvar)) of the real clip (in both steps) and KL(q || N(0, I)) is
    added.
  """

  def __init__(self, config):
    super().__init__(config)
    obj = config.objective
    self.fm_weight = float(obj.get("feature_matching", 0.0))
    self.vgg_weight = float(obj.get("vgg_weight", 0.0))
    self.vgg = None
    path = obj.get("vgg_weights", "")
    if self.vgg_weight and path and tf.io.gfile.exists(path):
      self.vgg = vgg19_features(path)
    elif self.vgg_weight:
      logging.warning(
        "objective.vgg_weight is %s but objective.vgg_weights=%r is not a local "
        "VGG19 weights file: the VGG perceptual loss is OFF.",
        self.vgg_weight,
        path,
      )
    self.vae = vae_encoder(self.generator)

  def build(self, batch):
    """Creates every variable, the VAE encoder's too (the base pass draws z from the prior)."""
    super().build(batch)
    if self.vae:
      self.generator.encode(batch["video"], training=False)

  def generate(self, batch, seed, training):
    if not self.vae:
      return super().generate(batch, seed, training)
    mu, logvar = self.generator.encode(batch["video"], training=training)
    mu, logvar = tf.cast(mu, tf.float32), tf.cast(logvar, tf.float32)
    eps = tf.random.stateless_normal(tf.shape(mu), seed=seed + [0, 77])
    z = mu + tf.exp(0.5 * logvar) * eps
    video = _f32(self.generator(self.contract.inputs(z, self.condition(batch)), training=training))
    return video, {"video": video, "mu": mu, "logvar": logvar}

  def judge_fake(self, batch, fake, cond, seed):
    """With feature matching, one call of each discriminator on the real and the fake clips
    together gives both the fake's logits and the features of both, as SPADE's reference
    step does: the fake goes through each discriminator once, and both feature sets come from
    the same weights (Keras's spectral norm renormalises the kernels at every training
    call). `seen`: {name: [(real, fake) features per layer]}."""
    if not self.fm_weight:
      return super().judge_fake(batch, fake, cond, seed)
    real = tf.cast(batch["video"], tf.float32)
    both, conds = tf.concat([real, fake], 0), tf.concat([cond, cond], 0)
    logits, seen = {}, {}
    for name, d in self.discriminators.items():
      out, features = d(both, condition=conds, training=True, return_features=True)
      logits[name] = tf.cast(tf.split(out, 2)[1], tf.float32)
      seen[name] = [tf.split(x, 2) for x in features]
    return logits, seen

  def generator_terms(self, batch, fake, streams, cond, seen):
    obj, out = self.config.objective, {}
    real = tf.cast(batch["video"], tf.float32)
    if self.fm_weight:
      fm = 0.0
      for name, pairs in seen.items():
        fm += self.d_weights[name] * tf.add_n(
          [losses.l1_reconstruction(f, tf.stop_gradient(r)) for r, f in pairs]
        )
      out["g/feature_matching"] = (self.fm_weight, fm)
    if self.vgg is not None:
      out["g/vgg"] = (self.vgg_weight, perceptual_loss(self.vgg, fake, real))
    if "mu" in streams:
      out["g/kl"] = (obj.kl_weight, losses.kl_divergence(streams["mu"], streams["logvar"]))
    return out


def softmax_cross_entropy(logits, labels):
  """Mean softmax cross-entropy of [B, C] logits against int labels [B] (float32)."""
  return tf.reduce_mean(
    tf.nn.sparse_softmax_cross_entropy_with_logits(
      labels=tf.cast(labels, tf.int32), logits=tf.cast(logits, tf.float32)
    )
  )


def top1_accuracy(logits, labels):
  """Fraction of the batch whose highest logit is the label."""
  hits = tf.equal(tf.argmax(logits, axis=-1, output_type=tf.int32), tf.cast(labels, tf.int32))
  return tf.reduce_mean(tf.cast(hits, tf.float32))


class _SupervisedTask:
  """A task that trains one network (the loop's "generator" slot) on real clips alone.

  No discriminators (the loop then runs no D step), no noise (the "z" the loop adds for a
  network with a `latent_dim` is ignored: the network's input is the batch's video) and no
  sample grid (`writes_samples` False).
  """

  condition_key = ""
  writes_samples = False
  data_outputs = ()
  task_name = ""

  def __init__(self, config):
    self.config = config
    extra = sorted(config.model.discriminators.keys())
    if extra:
      raise ValueError(
        f"Expected no model.discriminators for objective.task {self.task_name!r}, received {extra}."
      )
    self.generator = workdir_lib.build_network(config.model.generator)
    self.discriminators = {}
    self.d_weights = {}

  def condition(self, batch):
    del batch
    return None

  def generator_inputs(self, batch, seed, generator=None):
    """The network's input: the real clips [B, T, H, W, 3]."""
    del seed, generator
    return batch["video"]

  def build(self, batch):
    """Creates every variable with one forward pass on `batch` (call inside strategy.scope),
    and refuses frames of another size than the network's (`check_clip_shape`)."""
    check_clip_shape(self.config, self.generator, batch["video"])
    self.generator(self.generator_inputs(batch, None), training=False)

  def d_loss(self, batch, seed, step):
    raise NotImplementedError(f"objective.task {self.task_name!r} has no discriminator.")

  def clip_discriminator_weights(self):
    pass


class ReconstructionTask(_SupervisedTask):
  """Autoencoder training: VGAN's baseline (Vondrick et al. 2016, Section 3.2, "We train an
  autoencoder over our data"), `vgan_autoencoder_gmm`.

  g_loss = objective.recon_loss ("l2", the default, or "l1"; mean over every element)
  between `generator(video, training=True)` (decode(encode(video))) and the video. The paper
  does not name the reconstruction loss; L2 is the usual autoencoder choice. The Gaussian
  mixture over the codes is fitted after training (`python -m trainers.fit_gmm`), not here.
  Samples are not written during training: before the GMM is fitted, decoding noise shows
  nothing the baseline generates.
  """

  task_name = "reconstruction"

  def __init__(self, config):
    super().__init__(config)
    name = config.objective.get("recon_loss", "") or "l2"
    self.recon_fn = {"l1": losses.l1_reconstruction, "l2": losses.l2_reconstruction}.get(name)
    if self.recon_fn is None:
      raise ValueError(
        f"Expected objective.recon_loss in ('l1', 'l2') for objective.task "
        f"'reconstruction', received {name!r}."
      )
    if not callable(getattr(self.generator, "encode", None)):
      raise ValueError(
        f"Expected model.generator to be an autoencoder (a network with "
        f"encode(), e.g. vgan_autoencoder_gmm), received "
        f"{config.model.generator.name!r}."
      )

  def g_loss(self, batch, seed, step):
    del seed, step
    video = tf.cast(batch["video"], tf.float32)
    recon = _f32(self.generator(self.generator_inputs(batch, None), training=True))
    loss = self.recon_fn(recon, video)
    return loss, {"g/reconstruction": loss, "g/total": loss}


class ClassificationTask(_SupervisedTask):
  """Action recognition from a VGAN discriminator (Vondrick et al. 2016, Section 3.3, Fig. 4a).

  Trains `model.generator` = `vgan_action_classifier` with softmax cross-entropy on the
  batch's "label" (so `data.outputs` must name "label"). In modes "finetune" and
  "last_layer" the trunk starts from a trained VGAN: `objective.transfer_from` is that
  run's workdir, whose discriminator `objective.transfer_discriminator` (default "d") is
  rebuilt from its config.json, restored from its latest checkpoint (key
  `discriminator_<name>`) and copied into the classifier with `load_trunk_from`, in `build`,
  so that a resumed run's own checkpoint, restored afterwards, wins. "random_init" loads
  nothing (and ignores transfer_from). Logged terms: cross-entropy and the batch's top-1
  accuracy.
  """

  task_name = "classification"
  data_outputs = ("label",)
  TRANSFER_MODES = ("finetune", "last_layer")

  def __init__(self, config):
    super().__init__(config)
    obj = config.objective
    if not hasattr(self.generator, "num_classes"):
      raise ValueError(
        f"Expected model.generator to be a classifier (e.g. "
        f"vgan_action_classifier), received {config.model.generator.name!r}."
      )
    outputs = tuple(config.data.get("outputs", ()))
    if "label" not in outputs:
      raise ValueError(
        f"Expected data.outputs to include 'label' for objective.task "
        f"'classification', received {outputs!r}."
      )
    self.mode = getattr(self.generator, "mode", "finetune")
    self.transfer_from = obj.get("transfer_from", "") or ""
    self.transfer_key = obj.get("transfer_discriminator", "") or "d"
    self.source_config = None
    if self.mode in self.TRANSFER_MODES:
      if not self.transfer_from:
        raise ValueError(
          f"Expected objective.transfer_from (the workdir of a trained VGAN whose "
          f"discriminator the classifier starts from) for classifier mode {self.mode!r}, "
          f"received {self.transfer_from!r}. Use mode 'random_init' to train from scratch."
        )
      try:
        self.source_config = workdir_lib.load_config(self.transfer_from)
        self.source_checkpoint = workdir_lib.latest_checkpoint(self.transfer_from)
      except FileNotFoundError as e:
        raise FileNotFoundError(
          f"Expected objective.transfer_from to be a training workdir "
          f"with checkpoints, received {self.transfer_from!r}: {e}"
        ) from e
      names = sorted(self.source_config.model.discriminators.keys())
      if self.transfer_key not in names:
        raise ValueError(
          f"Expected objective.transfer_discriminator among {names} (the "
          f"discriminators of {self.transfer_from}), received "
          f"{self.transfer_key!r}."
        )

  def build(self, batch):
    super().build(batch)
    if self.source_config is not None:
      self.generator.load_trunk_from(self.load_source_discriminator())

  def load_source_discriminator(self):
    """The trained discriminator of `objective.transfer_from`, restored from its checkpoint."""
    entry = self.source_config.model.discriminators[self.transfer_key]
    d = workdir_lib.build_network(entry)
    d.build((None,) + tuple(d.video_shape))
    key = f"discriminator_{self.transfer_key}"
    ckpt = tf.train.Checkpoint(**{key: registry.weights_in_order(d)})
    try:
      ckpt.restore(self.source_checkpoint).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
      raise ValueError(
        f"Expected {self.source_checkpoint} (objective.transfer_from) to hold "
        f"{key} of a {entry.name} as its config.json describes, received a "
        f"checkpoint that does not match: {e}"
      ) from e
    return d

  def g_loss(self, batch, seed, step):
    del seed, step
    logits = _f32(self.generator(self.generator_inputs(batch, None), training=True))
    loss = softmax_cross_entropy(logits, batch["label"])
    return loss, {
      "g/cross_entropy": loss,
      "g/accuracy": top1_accuracy(logits, batch["label"]),
      "g/total": loss,
    }


class PredictionTask(_SupervisedTask):
  """Next-frame prediction, (Re)live Photos sec. 4.6: `relive_lstm`, `relive_convlstm`,
  `relive_cnn_next_frame`.

  Teacher forcing: the predictor reads the true frames 0..T-2 and each output k is compared
  with frame k + 1, g_loss = mean squared error over every predicted frame ("the L2 loss
  between the generated video and the actual video"). Rollout (predictions fed back) is
  evaluation only (`trainers.evaluate_prediction`). The network's input is its
  `context_frames` first frames (what `call` and the sample / export paths take).
  """

  task_name = "prediction"

  def __init__(self, config):
    super().__init__(config)
    if not callable(getattr(self.generator, "teacher_forced", None)) or (
      base.contract(self.generator).condition is not base.Condition.FRAMES
    ):
      raise ValueError(
        f"Expected model.generator to be a next-frame predictor (condition "
        f"'frames' with teacher_forced(), e.g. relive_lstm), received "
        f"{config.model.generator.name!r}."
      )

  def generator_inputs(self, batch, seed, generator=None):
    """The predictor's condition: the clips' first `context_frames` frames."""
    del seed
    generator = generator or self.generator
    return batch["video"][:, : generator.context_frames]

  def g_loss(self, batch, seed, step):
    del seed, step
    video = tf.cast(batch["video"], tf.float32)
    predicted = _f32(self.generator.teacher_forced(video[:, :-1], training=True))
    loss = losses.l2_reconstruction(predicted, video[:, 1:])
    return loss, {"g/mse": loss, "g/total": loss}


TASKS = {
  "gan": GANTask,
  "spade": SPADETask,
  "reconstruction": ReconstructionTask,
  "classification": ClassificationTask,
  "prediction": PredictionTask,
}


def make_task(config: ml_collections.ConfigDict) -> GANTask | _SupervisedTask:
  name = config.objective.task
  if name not in TASKS:
    raise ValueError(f"Expected objective.task in {sorted(TASKS)}, received {name!r}.")
  return TASKS[name](config)


def data_outputs(config: ml_collections.ConfigDict) -> tuple[str, ...]:
  """The dataset outputs the config's task reads, without building any network.

  The loop makes its input pipeline before the task; this answers for it: a task class's
  own `data_outputs` when it declares them, else GANTask's condition key.
  """
  name = config.objective.task
  if name not in TASKS:
    raise ValueError(f"Expected objective.task in {sorted(TASKS)}, received {name!r}.")
  declared = getattr(TASKS[name], "data_outputs", None)
  if isinstance(declared, tuple):
    return declared
  return condition_keys(config.objective.get("condition", ""))
