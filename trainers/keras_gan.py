"""Any GAN of the zoo as a `keras.Model`: `compile(g_optimizer=..., d_optimizer=...)`, `fit`.

    from configs import vgan_two_stream
    config = vgan_two_stream.get_config("smoke")
    with strategy.scope():  # optional: any tf.distribute strategy
      gan = keras_gan.GAN(config)
      gan.compile(*keras_gan.config_optimizers(config, gan))  # or any two Keras optimizers
    gan.fit(keras_gan.dataset(config), epochs=2, steps_per_epoch=100,
            callbacks=[keras_gan.SampleVideos("/tmp/samples")])

`train_step` runs the task's D steps then its G step and the EMA update through
`trainers.gan_step.GANStep`, the same code as `trainers.train`'s loop: the same losses,
penalties, gradient clipping, seeds and EMA. `trainers.train` remains the full-featured path
(checkpoints with the data iterator, periodic evaluation, multi-worker, locking); `fit` is the
door a Keras user expects, with Keras callbacks.

`fit` also takes clips in memory (an array [N, T, H, W, C] in [-1, 1], or a dict of arrays
with the batch keys the config reads: `array_dataset`). A GAN has no held-out loss:
`evaluate`, `test_on_batch` and `fit(validation_data=...)` refuse with one line;
`train_on_batch` takes one element of `dataset` (one generator step). `save("gan.keras")`
writes the config, every network and both optimizers; `keras.saving.load_model` reads it back
after `import trainers.keras_gan`.
"""

import json
import os

from absl import logging
import keras
import ml_collections
import numpy as np
import tensorflow as tf

from trainers import gan_step
from trainers import optim
from trainers import precision
from trainers import summaries
from trainers import tasks
from trainers.data import epochs as data_epochs
from trainers.data import pipeline
from zoo import base
from zoo.layers import form_choice


def dataset(config, batch_size=None, seed=None):
  """The training clips `fit` takes: the loop's pipeline at the global batch size, one element
  per generator step (a batch, or a tuple of `objective.d_steps` consecutive batches)."""
  data = config.data.copy_and_resolve_references()
  with data.unlocked():
    data.outputs = tuple(sorted(set(data.outputs) | set(tasks.data_outputs(config))))
  ds = pipeline.make_dataset(
    data,
    batch_size or config.train.batch_size,
    training=True,
    seed=config.seed if seed is None else seed,
  )
  return _per_generator_step(config, ds)


def _per_generator_step(config, ds):
  """Batches -> one element per generator step: `objective.d_steps` consecutive batches."""
  d_steps = int(config.objective.d_steps)
  if d_steps > 1:
    ds = ds.batch(d_steps, drop_remainder=True).map(
      lambda x: tuple(tf.nest.map_structure(lambda t, i=i: t[i], x) for i in range(d_steps))
    )
  options = tf.data.Options()
  options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
  return ds.with_options(options)


def _batch_of_clips(spec, d_steps, needed, batch_size, element=None):
  """Refuses a batch spec that is not {"video": floats, ...} (uint8 clips, no "video"),
  lacks a key of `needed` (the task's condition), or holds a known number of clips other
  than `batch_size`, naming the dataset's `element` spec (default: `spec`)."""
  shown = spec if element is None else element
  missing = sorted(set(needed) - set(spec)) if isinstance(spec, dict) else []
  if missing:
    raise ValueError(
      f"Expected batches holding {sorted({'video', *needed})} for GAN.fit (this config's "
      f"task reads them), missing {missing} in elements {shown}."
    )
  video = spec.get("video") if isinstance(spec, dict) else None
  if not isinstance(video, tf.TensorSpec) or not video.dtype.is_floating:
    hint = "; map zoo.inputs.uint8_to_unit over uint8 clips" if video is not None else ""
    raise ValueError(
      "Expected a dataset of clip batches for GAN.fit: [B, T, H, W, C] floats in [-1, 1] (or "
      f"dicts holding them as 'video'), or tuples of objective.d_steps={d_steps} such batches "
      f"(keras_gan.dataset makes them), received elements {shown}{hint}."
    )
  if video.shape[0] is not None and video.shape[0] != batch_size:
    raise ValueError(
      f"Expected batches of train.batch_size={batch_size} clips for GAN.fit (the batch the "
      f"noise is drawn for), received batches of {video.shape[0]}: batch the clips by "
      f"{batch_size}, or set config.train.batch_size before GAN(config)."
    )


def generator_steps(config, ds):
  """A dataset given to `GAN.fit`, as one element per generator step. Batches of clips alone
  become {"video": clips}; single batches are grouped by `objective.d_steps`, as `dataset`
  groups them (without it, a WGAN-GP of 5 critic steps would take one per generator step);
  `dataset`'s own elements pass as they are. uint8 clips are refused, and so are batches of
  a known size other than `train.batch_size` (the batch the noise is drawn for). Batches of
  unknown size (`ds.batch(n)` without `drop_remainder=True`) are cut again into batches of
  `train.batch_size`, leaving out the clips short of a last full batch, and logged so."""
  d_steps, needed = int(config.objective.d_steps), tasks.data_outputs(config)
  b = int(config.train.batch_size)
  if isinstance(ds.element_spec, tf.TensorSpec):
    ds = ds.map(lambda clips: {"video": clips})
  spec = ds.element_spec
  if isinstance(spec, tuple) and len(spec) == d_steps > 1:
    for s in spec:
      _batch_of_clips(s, d_steps, needed, b, spec)
    return ds
  _batch_of_clips(spec, d_steps, needed, b)
  shape = spec["video"].shape
  if shape.rank is not None and shape[0] is None:
    # A short last batch met noise for a full one: D compared 8 generated clips with 3 real
    # ones, silently (a gradient penalty's interpolation failed on the shapes).
    logging.warning(
      "GAN.fit: the dataset's batches have no fixed size (ds.batch without "
      "drop_remainder=True); they are cut again into batches of train.batch_size=%d clips, "
      "the batch the noise is drawn for, leaving out the clips short of a last full batch.",
      b,
    )
    ds = ds.unbatch().batch(b, drop_remainder=True)
  return _per_generator_step(config, ds)


def generator_step(config, x):
  """One element of `generator_steps` given directly (`GAN.train_on_batch`): a batch of
  clips [B, T, H, W, C], a dict holding them as "video", or a tuple of `objective.d_steps`
  such batches (one per D step; the G step takes the last)."""
  d_steps, needed = int(config.objective.d_steps), tasks.data_outputs(config)
  batches = list(x) if isinstance(x, (tuple, list)) else [x]
  batches = [
    tf.nest.map_structure(tf.convert_to_tensor, b if isinstance(b, dict) else {"video": b})
    for b in batches
  ]
  specs = tuple(tf.nest.map_structure(tf.TensorSpec.from_tensor, b) for b in batches)
  shown = specs if len(specs) > 1 else None
  for s in specs:
    _batch_of_clips(s, d_steps, needed, int(config.train.batch_size), shown)
  if len(batches) != d_steps:
    raise ValueError(
      f"Expected objective.d_steps={d_steps} batches of clips for one generator step of "
      f"GAN.train_on_batch (one per D step), received {len(batches)}."
    )
  return tuple(batches) if d_steps > 1 else batches[0]


def _is_arrays(x):
  values = x.values() if isinstance(x, dict) else [x]
  return bool(values) and all(isinstance(v, (np.ndarray, tf.Tensor)) for v in values)


def array_dataset(config, clips, batch_size=None, shuffle=True, seed=None):
  """`dataset`'s elements from clips in memory, for `GAN.fit(clips)`.

  `clips`: the videos, an array [N, T, H, W, C] of floats in [-1, 1] at the config's clip
  size, or a dict of arrays holding "video" and the other batch keys the config reads (its
  condition). Batches of `train.batch_size` (the noise and seeds are drawn per such batch),
  reshuffled every epoch when `shuffle`; the last incomplete group is dropped.
  """
  want = dataset(config, batch_size=1).element_spec
  want = want[-1] if isinstance(want, tuple) else want
  given = dict(clips) if isinstance(clips, dict) else {"video": clips}
  missing = sorted(set(want) - set(given))
  if missing:
    raise ValueError(
      f"Expected clips with the batch keys {sorted(want)} of this config, missing {missing}."
    )
  tensors = {}
  for key, spec in want.items():
    value = tf.convert_to_tensor(given[key])
    if value.shape[1:] != spec.shape[1:] or value.dtype.is_floating != spec.dtype.is_floating:
      raise ValueError(
        f"Expected clips[{key!r}] of shape [N, {', '.join(map(str, spec.shape[1:]))}] and "
        f"dtype {spec.dtype.name} (videos in [-1, 1]), received {value.shape} {value.dtype.name}."
      )
    if spec.dtype.is_floating:  # another scale ([0, 255] as floats) is refused, not learnt
      value = base.unit_frames(value, f"clips[{key!r}] of GAN.fit")
    tensors[key] = tf.cast(value, spec.dtype)
  b = int(config.train.batch_size)
  if batch_size is not None and int(batch_size) != b:
    raise ValueError(
      f"Expected batch_size None or train.batch_size={b} (the batch the noise and seeds are "
      f"drawn for), received {batch_size}; set config.train.batch_size instead."
    )
  n, per_step = int(tensors["video"].shape[0]), b * int(config.objective.d_steps)
  if n < per_step:
    raise ValueError(
      f"Expected at least train.batch_size x objective.d_steps = {per_step} clips (one "
      f"generator step), received {n}."
    )
  ds = tf.data.Dataset.from_tensor_slices(tensors)
  if shuffle:
    ds = ds.shuffle(n, seed=config.seed if seed is None else seed, reshuffle_each_iteration=True)
  return _per_generator_step(config, ds.batch(b, drop_remainder=True))


_NO_HELD_OUT_LOSS = (
  "{what} is not supported: a GAN has no held-out loss; measure its samples with "
  "python -m trainers.evaluate (FVD, FD-R3D) or sample gan.ema or gan.generator."
)


def config_optimizers(config, gan):
  """(g_optimizer, d_optimizer) as the config asks (`trainers.optim`), for `GAN.compile`.

  A schedule given in epochs (`optimizer.schedule_start_epochs`, ...) counts the data's epoch
  in generator steps, as the loop does (`trainers.data.epochs`).
  """
  steps_per_epoch = (
    data_epochs.steps_per_epoch(config) if optim.uses_epochs(config.optimizer) else 0
  )
  return gan_step.make_optimizers(config, gan.task, steps_per_epoch)


@keras.saving.register_keras_serializable(package="trainers")
class GAN(keras.Model):
  """A generator, its discriminators and a task's losses, trained by `fit`.

  Build it (and compile it) under `strategy.scope()` to train on several replicas. The
  generator, the discriminators and the EMA copy (`ema`, when `train.ema_decay` > 0) are
  attributes; `call(inputs)` is the EMA generator's (else the generator's) `call`.
  `config` is a ConfigDict, or the dict of its JSON (`get_config`).
  """

  def __init__(self, config, **kwargs):
    super().__init__(**kwargs)
    if not isinstance(config, ml_collections.ConfigDict):
      config = ml_collections.ConfigDict(config)
    self.config = config
    policy = keras.config.dtype_policy()
    # A config asking for a mixed precision that Keras' policy does not give (float32, the
    # configs' default, is no request: Keras' own policy then rules, as docs/keras.md says).
    wanted = config.get("runtime", {}).get("precision", "float32")
    if wanted not in ("float32", policy.name):
      logging.warning(
        "runtime.precision=%s is trainers.train's setting; GAN follows Keras' dtype policy, "
        "%s: call keras.config.set_dtype_policy(%r) before GAN(config) to train in %s.",
        wanted,
        policy.name,
        wanted,
        wanted,
      )
    precision.warn_if_slower(policy, f"Keras' dtype policy {policy.name}")
    self.task = tasks.make_task(config)
    spec = dataset(config, batch_size=1).element_spec
    example = tf.nest.map_structure(
      lambda s: tf.zeros([1, *s.shape[1:]], s.dtype), spec[-1] if isinstance(spec, tuple) else spec
    )
    with form_choice.unmeasured():  # one clip: not the batch `fit` runs
      self.task.build(example)
      self.ema = gan_step.make_ema(config, self.task, example)
    self.generator = self.task.generator
    self.discriminators = dict(self.task.discriminators)
    self.built = True
    self._gan_step = None

  def compile(self, g_optimizer, d_optimizer, **kwargs):
    """`g_optimizer` trains the generator, `d_optimizer` the discriminators; both are built
    here for their variables (so checkpoints of the model hold their slots). Either may be
    a Keras optimizer, its name ("adam") or its config."""
    g_optimizer, d_optimizer = keras.optimizers.get(g_optimizer), keras.optimizers.get(d_optimizer)
    super().compile(optimizer=g_optimizer, **kwargs)
    # Under a float16 policy Keras wraps the model's optimizer in a LossScaleOptimizer; the
    # GAN's steps apply both optimizers themselves, so both take the wrapped form (unscaled
    # float16 gradients underflow to zero, silently).
    g_optimizer = self.optimizer
    scaled = keras.optimizers.LossScaleOptimizer
    if isinstance(g_optimizer, scaled) and not isinstance(d_optimizer, scaled):
      d_optimizer = scaled(d_optimizer, name="d_loss_scale_optimizer")
    self.d_optimizer = d_optimizer
    if not g_optimizer.built:
      g_optimizer.build(self.generator.trainable_variables)
    d_vars = [v for d in self.discriminators.values() for v in d.trainable_variables]
    if d_vars and not d_optimizer.built:
      d_optimizer.build(d_vars)
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    self._gan_step = gan_step.GANStep(
      self.task, g_optimizer, d_optimizer, self.config, replicas, self.ema
    )

  def get_config(self):
    return {
      "name": self.name,
      "trainable": self.trainable,
      "config": json.loads(self.config.to_json_best_effort()),
    }

  def get_compile_config(self):
    if self._gan_step is None:
      return {}
    return {
      "g_optimizer": keras.saving.serialize_keras_object(self.optimizer),
      "d_optimizer": keras.saving.serialize_keras_object(self.d_optimizer),
    }

  def compile_from_config(self, config):
    # The config's optimizers may be trainers.optim's own classes, registered with Keras.
    self.compile(
      keras.saving.deserialize_keras_object(config["g_optimizer"]),
      keras.saving.deserialize_keras_object(config["d_optimizer"]),
    )

  def fit(
    self,
    x=None,
    y=None,
    batch_size=None,
    epochs=1,
    verbose="auto",
    callbacks=None,
    validation_split=0.0,
    validation_data=None,
    shuffle=True,
    **kwargs,
  ):
    """Keras' `fit` on `dataset(config)`, on any dataset of clip batches (`generator_steps`),
    or on clips in memory (`array_dataset`: an array of videos or a dict of arrays,
    reshuffled every epoch unless `shuffle=False`)."""
    if validation_split or validation_data is not None:
      raise ValueError(_NO_HELD_OUT_LOSS.format(what="Validation in GAN.fit"))
    if _is_arrays(x):
      if y is not None:
        raise ValueError("Expected GAN.fit(clips) without y: a GAN trains on the clips alone.")
      x, batch_size = array_dataset(self.config, x, batch_size, shuffle), None
    elif isinstance(x, tf.data.Dataset):
      x = generator_steps(self.config, x)
    if isinstance(x, tf.data.Dataset) and kwargs.get("steps_per_epoch") is None and _endless(x):
      raise ValueError(_endless_message(self.config))
    _refuse_monitors_without_logs(callbacks)
    follow = DiscriminatorRateFollows()  # after the callbacks that set the generator's rate
    if isinstance(callbacks, keras.callbacks.CallbackList):
      callbacks.append(follow)
    else:
      callbacks = [*(callbacks or []), follow]
    return super().fit(
      x,
      y,
      batch_size=batch_size,
      epochs=epochs,
      verbose=verbose,
      callbacks=callbacks,
      shuffle=shuffle and not isinstance(x, tf.data.Dataset),  # Keras warns it ignores it
      **kwargs,
    )

  def evaluate(self, *args, **kwargs):
    raise ValueError(_NO_HELD_OUT_LOSS.format(what="GAN.evaluate"))

  def test_on_batch(self, *args, **kwargs):
    raise ValueError(_NO_HELD_OUT_LOSS.format(what="GAN.test_on_batch"))

  def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
    """One generator step and its D steps on `x`, one element of `dataset` (`generator_step`:
    a batch of clips, a dict holding them, or a tuple of `objective.d_steps` batches)."""
    if y is not None or sample_weight is not None or class_weight is not None:
      raise ValueError(
        "Expected GAN.train_on_batch(clips) without y, sample_weight or class_weight: a GAN "
        "trains on the clips alone."
      )
    return super().train_on_batch(generator_step(self.config, x), return_dict=return_dict)

  def call(self, inputs, training=False):
    return (self.ema or self.generator)(inputs, training=training)

  def export(self, filepath, format="tf_saved_model", verbose=None, input_signature=None, **kwargs):
    """Keras' `export` of what `call` runs, the EMA generator (else the generator), with its
    inputs from the generator's contract (`zoo.base`): a GAN trained but never called has
    no first call for Keras to read them from, and its discriminators (a conditional one
    reads a `condition` keyword) are not served."""
    generator = self.ema or self.generator
    if input_signature is None:
      input_signature = [base.contract(generator).input_specs()]
    return generator.export(
      filepath, format=format, verbose=verbose, input_signature=input_signature, **kwargs
    )

  def train_step(self, data):
    if self._gan_step is None:
      raise ValueError("Expected GAN.compile(g_optimizer=..., d_optimizer=...) before fit.")
    if not (self._gan_step.g_vars or self._gan_step.d_vars):  # once: fit traces the step
      logging.warning(
        "GAN.fit trains nothing: the generator and every discriminator are frozen "
        "(trainable=False); set trainable = True on the networks to train."
      )
    if isinstance(data, tuple) and len(data) == 3 and data[1] is None and data[2] is None:
      data = data[0]  # train_on_batch's (x, y, sample_weight); a batch is never None
    batches = tuple(data) if isinstance(data, tuple) else (data,)
    step = self.optimizer.iterations  # generator steps so far: the loop's step counter
    terms = self._gan_step.replica_step(batches, tf.identity(step))
    ctx = tf.distribute.get_replica_context()
    terms = {
      k: ctx.all_reduce(tf.distribute.ReduceOp.MEAN, tf.cast(v, tf.float32))
      for k, v in terms.items()
    }
    if self.ema is not None:
      ctx.merge_call(lambda _: self._gan_step.update_ema())
    return terms


def _refuse_monitors_without_logs(callbacks):
  """Refuses a callback monitoring a log `fit` never writes: Keras' default "val_loss" (a GAN
  has no held-out loss) or "loss". Keras only warns each epoch, and the callback never acts:
  `ModelCheckpoint(save_best_only=True)` saves nothing, `EarlyStopping` never stops."""
  if isinstance(callbacks, keras.callbacks.CallbackList):
    callbacks = callbacks.callbacks
  for callback in callbacks or []:
    monitor = getattr(callback, "monitor", None)
    if not isinstance(monitor, str) or not (monitor == "loss" or monitor.startswith("val_")):
      continue
    if isinstance(callback, keras.callbacks.ModelCheckpoint) and not callback.save_best_only:
      continue  # it saves every time; the monitor is not read
    raise ValueError(
      f"Expected {type(callback).__name__} to monitor a loss term GAN.fit logs, received "
      f"monitor={monitor!r}, which a GAN never has (no held-out loss, no single loss): "
      "pass monitor='g/total' (or 'd/total', ...) with mode='min'."
    )


def _endless(ds):
  """Whether `ds` never ends (`dataset`'s repeats the training clips for ever)."""
  n = int(ds.cardinality())
  return n == tf.data.INFINITE_CARDINALITY or n >= 2**40  # a take() of the endless: 2**60


def _endless_message(config):
  """GAN.fit's refusal of an endless dataset without steps_per_epoch, with the length of one
  pass over the config's training clips where they can be counted."""
  try:
    epoch = (
      f"one pass over this config's training clips is steps_per_epoch="
      f"{data_epochs.steps_per_epoch(config)} (trainers.data.epochs.steps_per_epoch(config))"
    )
  except ValueError as e:
    epoch = f"this config's data have no epoch of their own ({e})"
  return (
    "Expected GAN.fit(..., steps_per_epoch=N) on an endless dataset (keras_gan.dataset "
    "repeats the training clips for ever): an epoch would never end, nor would the callbacks "
    f"that run at its end; {epoch}."
  )


def _settable_rate(optimizer):
  """The learning rate a callback can set on `optimizer` (a float), or None when it follows
  a schedule or a function of its own (Keras' callbacks refuse to set those)."""
  optimizer = getattr(optimizer, "inner_optimizer", optimizer)  # a LossScaleOptimizer's
  if not isinstance(getattr(optimizer, "_learning_rate", None), keras.Variable):
    return None
  return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class DiscriminatorRateFollows(keras.callbacks.Callback):
  """Keeps the discriminators' learning rate at its ratio to the generator's when a callback
  changes the generator's alone: `GAN.fit` adds it after the caller's callbacks.

  Keras' learning-rate callbacks (`LearningRateScheduler`, `ReduceLROnPlateau`) set
  `model.optimizer`'s rate, which for a GAN is the generator's; the discriminators' optimizer
  (`d_optimizer`) would keep its rate, and the two time-scale balance the config chose would
  drift with every change. Checked before every batch and around every epoch: a change of
  the generator's rate alone scales the discriminators' by the same factor (logged once); a
  change of both (a callback of the caller's that sets `d_optimizer` too) is left as it is.
  """

  def __init__(self):
    super().__init__()
    self._seen = None
    self._told = False

  def _follow(self, *args, **kwargs):
    del args, kwargs
    g, d = _settable_rate(self.model.optimizer), _settable_rate(self.model.d_optimizer)
    if g is None or d is None:
      return
    if self._seen is not None:
      g0, d0 = self._seen
      if g != g0 and d == d0 and g0 > 0:
        self.model.d_optimizer.learning_rate = d0 * g / g0
        d = _settable_rate(self.model.d_optimizer)  # as the variable holds it (float32)
        if not self._told:
          logging.info(
            "GAN.fit: the generator's learning rate was set from %g to %g; the "
            "discriminators' follows (%g to %g), keeping their ratio.",
            g0,
            g,
            d0,
            d,
          )
          self._told = True
    self._seen = (g, d)

  on_train_begin = on_epoch_begin = on_epoch_end = on_train_batch_begin = _follow


class SampleVideos(keras.callbacks.Callback):
  """Writes the run's fixed sample grid (`train.num_samples` clips, `gan_step.sample_inputs`)
  as MP4 and GIF (`trainers.summaries`) after every epoch, as the loop does."""

  def __init__(self, directory):
    super().__init__()
    self.directory = directory
    self._inputs = None

  def on_epoch_end(self, epoch, logs=None):
    gan = self.model
    generator = gan.ema or gan.generator
    if self._inputs is None:
      self._inputs = gan_step.sample_inputs(gan.config, gan.task, generator)
    out = {k: v.numpy() for k, v in gan_step.sample_outputs(generator, self._inputs).items()}
    os.makedirs(self.directory, exist_ok=True)
    summaries.write_samples(self.directory, epoch + 1, out)
