"""The one training loop of the zoo: any task, any tf.distribute strategy.

`run(config, workdir)` trains `config.train.steps` generator steps, resuming from the latest
checkpoint in `workdir`. One generator step = `objective.d_steps` discriminator updates, each
on a fresh real batch, then one generator update; each update averages its gradient over
`train.grad_accum` micro-batches. Noise comes from stateless RNG seeded by (seed, step,
replica, purpose), so a resumed run draws exactly what an uninterrupted one would.
"""

import os
import signal

from absl import logging
import keras
import tensorflow as tf

from trainers import evaluate
from trainers import gan_step
from trainers import optim
from trainers import strategy as strategy_lib
from trainers import summaries
from trainers import tasks as tasks_lib
from trainers import workdir as workdir_lib
from trainers.data import epochs as data_epochs
from trainers.data import pipeline as data_lib

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class NonFiniteLossError(RuntimeError):
  """A loss term became NaN or Inf; training stopped without saving."""


class _StopRequest:
  """SIGTERM / Ctrl-C set a flag; the loop saves a checkpoint and returns after the call."""

  def __init__(self):
    self.requested = False
    self._previous = {}

  def __enter__(self):
    try:
      for sig in (signal.SIGTERM, signal.SIGINT):
        self._previous[sig] = signal.signal(sig, self._handle)
    except ValueError:  # not the main thread: leave the handlers alone
      self._previous = {}
    return self

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now
    logging.warning("Received %s: finishing the current step, then saving a checkpoint.",
                    signal.Signals(signum).name)
    self.requested = True

  def __exit__(self, *exc):
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)


def validate(config):
  """Checks the config values the loop relies on; errors name the bad field."""
  t = config.train
  def expect(cond, field, what, value):
    if not cond:
      raise ValueError(f"Expected {field} {what}, received {value!r}.")
  expect(t.steps > 0, "train.steps", "> 0", t.steps)
  expect(t.batch_size > 0, "train.batch_size", "> 0", t.batch_size)
  expect(t.grad_accum >= 1, "train.grad_accum", ">= 1", t.grad_accum)
  expect(t.steps_per_call >= 1, "train.steps_per_call", ">= 1", t.steps_per_call)
  expect(config.objective.d_steps >= 1, "objective.d_steps", ">= 1", config.objective.d_steps)
  expect(0.0 <= t.ema_decay < 1.0, "train.ema_decay", "in [0, 1)", t.ema_decay)
  expect(config.runtime.precision in PRECISIONS, "runtime.precision", f"in {PRECISIONS}",
         config.runtime.precision)
  for field in ("log_every", "checkpoint_every", "sample_every", "summary_every"):
    expect(t[field] >= 0, f"train.{field}", ">= 0", t[field])


def _crossed(before, after, every):
  return every > 0 and after // every > before // every


class Trainer:
  """State of one run: strategy, task, optimizers, EMA, data, checkpoints, step functions."""

  def __init__(self, config, workdir):
    validate(config)
    self.config = config
    self.workdir = workdir
    if config.runtime.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(config.runtime.precision)
    self.strategy = strategy_lib.make_strategy(config.runtime)
    self.chief = strategy_lib.is_chief(self.strategy)
    self.num_replicas = self.strategy.num_replicas_in_sync
    t = config.train
    if t.batch_size % (self.num_replicas * t.grad_accum):
      raise ValueError(
          f"Expected train.batch_size divisible by replicas x grad_accum = "
          f"{self.num_replicas} x {t.grad_accum}, received {t.batch_size}.")
    self.per_replica_batch = t.batch_size // self.num_replicas
    # A schedule in epochs needs the data's size: counted now, before any model is built.
    self.steps_per_epoch = 0
    if optim.uses_epochs(config.optimizer):
      self.steps_per_epoch = data_epochs.steps_per_epoch(config)
      logging.info("An epoch is %d generator steps; the schedule starts at step %d, first "
                   "period %d steps.", self.steps_per_epoch,
                   *optim.schedule_steps(config.optimizer, self.steps_per_epoch))
    self.jit = strategy_lib.use_jit(config.runtime, self.strategy)
    if config.eval.every:  # fail now, not hours in, when FVD is asked and no I3D is there
      evaluate.eval_networks(config.eval)
    if self.chief:
      workdir_lib.save_config(config, workdir)

    self._init_input()
    with self.strategy.scope():
      self.task = tasks_lib.make_task(config)
      example = self._example_batch()
      self.task.build(example)
      self.generator = self.task.generator
      self.ema = gan_step.make_ema(config, self.task, example)
      self.g_opt, self.d_opt = gan_step.make_optimizers(config, self.task, self.steps_per_epoch)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.gan_step = gan_step.GANStep(self.task, self.g_opt, self.d_opt, config,
                                     self.num_replicas, self.ema)
    self.g_vars, self.d_vars = self.gan_step.g_vars, self.gan_step.d_vars
    self._make_checkpoint()
    # The tf.function `train()` calls: `train.steps_per_call` generator steps per call; returns
    # (the last step's loss terms, the first step whose terms were not all finite or -1, and
    # which of sorted(terms) were finite at that step). Benchmarks time it directly.
    self.train_call = self._make_train_call()

  # --- data -----------------------------------------------------------------------------
  def _init_input(self):
    """One plain tf.data iterator per worker (checkpointable, unlike a DistributedIterator in
    TF 2.21), whose batch is split over the worker's replicas inside the step."""
    s = self.strategy
    try:
      self.local_replicas = len(s.extended.worker_devices)
    except RuntimeError:  # the default strategy: one device
      self.local_replicas = 1
    self.num_workers = self.num_replicas // self.local_replicas
    self.worker_id = 0
    if self.num_workers > 1:
      resolver = s.cluster_resolver
      has_chief = "chief" in resolver.cluster_spec().as_dict()
      self.worker_id = resolver.task_id + (1 if has_chief and resolver.task_type == "worker"
                                           else 0)
    context = tf.distribute.InputContext(self.num_workers, self.worker_id, self.num_replicas)
    options = tf.data.Options()
    # Skip counting in the reader uses a py_function; its state is a log counter only.
    options.experimental_external_state_policy = (
        tf.data.experimental.ExternalStatePolicy.IGNORE)
    self.dataset = self._dataset_fn(context).with_options(options)
    self.iterator = iter(self.dataset)

  def _next_distributed(self):
    """The next worker batch, split into this worker's per-replica batches."""
    batch = next(self.iterator)
    b, first = self.per_replica_batch, self.worker_id * self.local_replicas
    def take(ctx):
      i = ctx.replica_id_in_sync_group - first
      return tf.nest.map_structure(lambda x: x[i * b:(i + 1) * b], batch)
    return self.strategy.experimental_distribute_values_from_function(take)

  def _dataset_fn(self, input_context):
    outputs = tuple(sorted(set(self.config.data.outputs) | set(self._task_outputs())))
    data_config = self.config.data.copy_and_resolve_references()
    with data_config.unlocked():
      data_config.outputs = outputs
    batch = self.per_replica_batch * self.local_replicas  # this worker's share
    return data_lib.make_dataset(data_config, batch, training=True,
                                 input_context=input_context, seed=self.config.seed)

  def _task_outputs(self):
    return tasks_lib.data_outputs(self.config)

  def _example_batch(self):
    """A zero batch of one micro-batch's shapes, to create variables."""
    local = self.dataset.element_spec
    size = self.per_replica_batch // self.config.train.grad_accum
    return tf.nest.map_structure(lambda s: tf.zeros([size] + s.shape[1:], s.dtype), local)

  def current_step(self):
    return int(self.step.read_value().numpy())

  # --- checkpoints ----------------------------------------------------------------------
  def _make_checkpoint(self):
    weights = workdir_lib.trackable_weights
    items = dict(generator=weights(self.generator), g_optimizer=self.g_opt, step=self.step,
                 iterator=self.iterator)
    if self.ema is not None:
      items["ema_generator"] = weights(self.ema)
    if self.d_vars:
      items["d_optimizer"] = self.d_opt
    for name, d in self.task.discriminators.items():
      items[f"discriminator_{name}"] = weights(d)
    self.checkpoint = tf.train.Checkpoint(**items)
    directory = workdir_lib.checkpoint_dir(self.workdir)
    if not self.chief:
      # Every worker takes part in saving. The chief's checkpoint holds the chief's data
      # iterator, so each other worker keeps its own copy (with its own iterator) to resume.
      directory = os.path.join(self.workdir, "workers", str(self.worker_id), "checkpoints")
    self.manager = tf.train.CheckpointManager(
        self.checkpoint, directory, max_to_keep=self.config.train.keep_checkpoints,
        step_counter=self.step)
    self.restored = self.manager.restore_or_initialize()
    if self.restored:
      logging.info("Resumed from %s at step %d.", self.restored, self.current_step())

  def save(self):
    step = self.current_step()
    if self.manager.latest_checkpoint and self.manager.latest_checkpoint.endswith(f"-{step}"):
      return self.manager.latest_checkpoint
    path = self.manager.save(checkpoint_number=step)
    keep = self.config.train.keep_every
    if keep and step % keep == 0:
      self.checkpoint.write(os.path.join(self.workdir, "checkpoints", "keep", f"ckpt-{step}"))
    if self.chief:
      logging.info("Saved checkpoint %s", path)
    return path

  def _make_train_call(self):
    strategy, d_steps = self.strategy, self.config.objective.d_steps
    n = self.config.train.steps_per_call
    replica_step = self.gan_step.replica_step
    if self.jit and not isinstance(strategy, tf.distribute.TPUStrategy):
      replica_step = tf.function(replica_step, jit_compile=True)

    def one_step():
      batches = [self._next_distributed() for _ in range(d_steps)]
      per_replica = strategy.run(replica_step, args=(batches, self.step.read_value()))
      terms = {k: strategy.reduce(tf.distribute.ReduceOp.MEAN, v, axis=None)
               for k, v in per_replica.items()}
      if self.ema is not None:
        self.gan_step.update_ema()
      finite = tf.stack([tf.reduce_all(tf.math.is_finite(terms[k])) for k in sorted(terms)])
      self.step.assign_add(1)
      return terms, finite

    @tf.function
    def train_call():
      terms, finite = one_step()
      bad_step = tf.where(tf.reduce_all(finite), tf.constant(-1, tf.int64), self.step - 1)
      bad_finite = finite
      for _ in tf.range(n - 1):
        terms, finite = one_step()
        first_bad = tf.logical_and(bad_step < 0, tf.logical_not(tf.reduce_all(finite)))
        bad_step = tf.where(first_bad, self.step - 1, bad_step)
        bad_finite = tf.where(first_bad, finite, bad_finite)
      return terms, bad_step, bad_finite

    return train_call

  # --- samples --------------------------------------------------------------------------
  def write_samples(self, step):
    generator = self.ema or self.generator
    if not hasattr(self, "_sample_fn"):
      self._grid_inputs = gan_step.sample_inputs(self.config, self.task, generator)
      self._sample_fn = tf.function(lambda x: gan_step.sample_outputs(generator, x))
    out = {k: v.numpy() for k, v in self._sample_fn(self._grid_inputs).items()}
    grid = summaries.write_samples(workdir_lib.samples_dir(self.workdir), step, out)
    summaries.video_summary("samples", grid, step)

  # --- the loop -------------------------------------------------------------------------
  def train(self):
    """Trains to `train.steps`; returns False if a SIGTERM / Ctrl-C stopped it first (after
    saving a checkpoint), True otherwise."""
    config, t = self.config, self.config.train
    writer = (tf.summary.create_file_writer(os.path.join(self.workdir, "train"))
              if self.chief else tf.summary.create_noop_writer())
    step = self.current_step()
    if step >= t.steps:
      logging.info("Already at step %d of %d: nothing to train.", step, t.steps)
      return True
    progress = summaries.Progress(t.steps, t.batch_size, step)
    logging.info("Training %s for %d steps from step %d on %d replica(s), batch %d, jit %s.",
                 config.model.generator.name, t.steps, step, self.num_replicas, t.batch_size,
                 self.jit)
    with _StopRequest() as stop, writer.as_default():
      generates = getattr(self.task, "writes_samples", True)
      samples = t.sample_every if generates else 0
      if step == 0 and self.chief and samples:
        self.write_samples(0)
      while step < t.steps:
        before = step
        terms, bad_step, bad_finite = self.train_call()
        step = self.current_step()
        if int(bad_step) >= 0:
          names = [k for k, ok in zip(sorted(terms), bad_finite.numpy()) if not ok]
          raise NonFiniteLossError(
              f"Non-finite loss at step {int(bad_step)}: {', '.join(names)}. Training stopped; "
              f"the last good checkpoint {self.manager.latest_checkpoint} is kept unchanged.")
        if self.chief and (_crossed(before, step, t.log_every) or step >= t.steps):
          values = {k: float(v) for k, v in terms.items()}
          rate = progress.rate(step)
          lrs = {"g_lr": float(self.g_opt.learning_rate)}
          if self.d_vars:
            lrs["d_lr"] = float(self.d_opt.learning_rate)
          logging.info("%s", progress.line(step, rate, values, lrs))
          with tf.name_scope("train"):
            for k, v in {**values, **lrs, "steps_per_s": rate,
                         "clips_per_s": rate * t.batch_size}.items():
              tf.summary.scalar(k, v, step=step)
        elif _crossed(before, step, t.summary_every):
          for k, v in terms.items():
            tf.summary.scalar(f"train/{k}", v, step=step)
        if self.chief and _crossed(before, step, samples):
          self.write_samples(step)
        if _crossed(before, step, t.checkpoint_every) or step >= t.steps or stop.requested:
          self.save()
        if self.chief and generates and _crossed(before, step, config.eval.every):
          results = evaluate.periodic_eval(self, config, step, writer)
          logging.info("Evaluation at step %d: %s", step,
                       ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())))
        if stop.requested:
          logging.info("Stopped at step %d on request; resume with the same --workdir.", step)
          break
      writer.flush()
    return not stop.requested


def run(config, workdir):
  """Trains `config` in `workdir` (resuming if it holds checkpoints); returns the Trainer."""
  trainer = Trainer(config, workdir)
  trainer.train()
  return trainer
