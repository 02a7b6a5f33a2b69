"""One training step of any task, on one replica: D steps, then the G step, then the EMA;
and what a run builds around it (EMA copy, optimizers, the fixed sample grid).

`trainers.loop.Trainer` (the full-featured CLI path) and `trainers.keras_gan.GAN` (the
`compile` / `fit` door) both run their steps through `GANStep`, so the two paths share the
task's losses and penalties, the gradient accumulation and clipping, the seeds and the EMA:
the math exists once.
"""

from absl import logging
import keras
import tensorflow as tf

from trainers import errors
from trainers import optim
from trainers import workdir as workdir_lib
from trainers.data import pipeline as data_lib


def step_seed(base, step, replica, purpose):
  """A stateless seed pair unique to (run seed, step, replica, purpose)."""
  return tf.stack(
    [
      tf.cast(base, tf.int64) * 1_000_003 + tf.cast(step, tf.int64),
      tf.cast(replica, tf.int64) * 1_000 + purpose,
    ]
  )


def sample_inputs(config, task, generator):
  """The fixed sample grid's generator inputs: noise drawn once from the run's seed and, for
  a conditional model, the conditions of the first evaluation clips (of the training files,
  in eval mode, when data.eval_files is empty); too few clips is an error naming the field."""
  n = config.train.num_samples
  batch = {"video": tf.zeros([n, 1])}
  if task.condition_key:
    data_config = config.data.copy_and_resolve_references()
    field = "data.eval_files"
    with data_config.unlocked():
      data_config.outputs = tuple(task.data_outputs)
      if data_config.source == "tfrecord" and not data_config.eval_files.strip():
        logging.warning(
          "data.eval_files is empty: the sample grid's conditions are the "
          "first clips of data.train_files (from frame 0, centre crop)."
        )
        data_config.eval_files, field = data_config.train_files, "data.train_files"
    clips = list(data_lib.make_dataset(data_config, 1, training=False, seed=config.seed).take(n))
    if len(clips) < n:
      raise errors.ConfigError(
        f"Expected at least train.num_samples={n} clips in {field} for the sample grid's "
        f"conditions, received {len(clips)}: lower train.num_samples or add clips."
      )
    batch = tf.nest.map_structure(lambda *x: tf.concat(x, 0), *clips)
  return task.generator_inputs(batch, tf.constant([config.seed, 424242]), generator)


def sample_outputs(generator, inputs):
  """{"video": ..., and the generator's streams}, float32 (traceable in a tf.function)."""
  out = generator(inputs, training=False, **({"return_streams": True} if generator.streams else {}))
  out = out if isinstance(out, dict) else {"video": out}
  return {k: tf.cast(v, tf.float32) for k, v in out.items()}


def make_ema(config, task, example):
  """The EMA copy of the task's built generator (equal weights), or None without ema_decay."""
  if not config.train.ema_decay:
    return None
  ema = workdir_lib.build_network(config.model.generator)
  ema(task.generator_inputs(example, tf.constant([0, 0])), training=False)
  for e, v in zip(ema.weights, task.generator.weights, strict=True):
    e.assign(v)
  return ema


def make_optimizers(config, task, steps_per_epoch=0):
  """(G optimizer, D optimizer) of the config, built for the task's variables."""
  o, t = config.optimizer, config.train
  g_opt = optim.make_optimizer(o, o.g_lr, t.steps, 1, config.runtime.precision, steps_per_epoch)
  d_opt = optim.make_optimizer(
    o, o.d_lr, t.steps, config.objective.d_steps, config.runtime.precision, steps_per_epoch
  )
  g_opt.build(task.generator.trainable_variables)
  d_vars = [v for d in task.discriminators.values() for v in d.trainable_variables]
  if d_vars:
    d_opt.build(d_vars)
  return g_opt, d_opt


def sum_over(fn, items, count):
  """The sum over i in 0..count-1 of `fn(item_i, i)`, a structure of tensors (None leaves: no
  term), where item_i is row i of every tensor of the structure `items` and i an int64
  scalar; the calls run one after the other, in order.

  Under the default strategy the calls are one `tf.while_loop` whose body is `fn` traced
  once, so a step of k micro-batches holds one copy of the networks' graph instead of k:
  tracing, graph optimisation and the first call grow with the copies (docs/benchmarks.md).
  Under any other strategy they are unrolled, because a batch norm's mean-aggregated update
  synchronises the replicas and TensorFlow allows no synchronisation inside a loop body.
  """
  item = lambda i: tf.nest.map_structure(lambda x: x[i], items)
  if count == 1 or tf.distribute.has_strategy():
    total = None
    for i in range(count):
      out = fn(item(i), tf.constant(i, tf.int64))
      total = out if total is None else tf.nest.map_structure(_add, total, out)
    return total
  spec = tf.nest.map_structure(lambda x: tf.TensorSpec(x.shape[1:], x.dtype), items)
  body = tf.function(fn, autograph=False).get_concrete_function(spec, tf.TensorSpec([], tf.int64))
  flat = tf.nest.flatten(body.structured_outputs)
  live = [j for j, t in enumerate(flat) if t is not None]

  def loop_body(i, *totals):
    out = tf.nest.flatten(body(item(i), i))
    return (i + 1, *[a + out[j] for a, j in zip(totals, live, strict=True)])

  zeros = [tf.zeros(flat[j].shape, flat[j].dtype) for j in live]
  _, *totals = tf.while_loop(
    lambda i, *_: i < count, loop_body, (tf.constant(0, tf.int64), *zeros), parallel_iterations=1
  )
  for j, total in zip(live, totals, strict=True):
    flat[j] = total
  return tf.nest.pack_sequence_as(body.structured_outputs, flat)


def _add(a, b):
  return a if b is None else (b if a is None else a + b)


class GANStep:
  """The per-replica step of a task (`trainers.tasks`) and its optimizers.

  `replica_step(batches, step)` runs in replica context (inside `strategy.run`, or a Keras
  `train_step`): one D step per batch of `batches` (`objective.d_steps` of them), then the
  G step on the last batch; returns the loss terms. `update_ema()` moves the EMA copy
  towards the generator and runs in cross-replica context.
  """

  def __init__(self, task, g_opt, d_opt, config, num_replicas, ema=None):
    self.task = task
    self.generator = task.generator
    self.g_opt, self.d_opt = g_opt, d_opt
    self.config = config
    self.num_replicas = num_replicas
    self.per_replica_batch = config.train.batch_size // num_replicas
    self.ema = ema

  # Read when the step is traced (Keras' `fit` traces it at its first call): a network frozen
  # with `trainable = False` after compile is left as it is, as Keras leaves a frozen layer.
  @property
  def g_vars(self):
    return self.generator.trainable_variables

  @property
  def d_vars(self):
    return [v for d in self.task.discriminators.values() for v in d.trainable_variables]

  def accumulate(self, loss_fn, batch, variables, optimizer, seed, step):
    """Gradient of the global-batch mean loss, summed over micro-batches; (grads, terms)."""
    k = self.config.train.grad_accum
    scale = 1.0 / (k * self.num_replicas)

    def micro_step(mb, i):
      with tf.GradientTape() as tape:
        loss, t = loss_fn(mb, seed + tf.constant([0, 10], tf.int64) * i, step)
        scaled = loss * scale
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
          scaled = optimizer.scale_loss(scaled)
      grads = [
        None if g is None else tf.convert_to_tensor(g) for g in tape.gradient(scaled, variables)
      ]
      return grads, {name: v / k for name, v in t.items()}

    # Micro-batch i is rows [i * b / k, (i + 1) * b / k) of the batch, as tf.split gives.
    micro = tf.nest.map_structure(
      lambda x: tf.reshape(x, tf.concat([[k, -1], tf.shape(x)[1:]], 0)), batch
    )
    return sum_over(micro_step, micro, k)

  def apply(self, optimizer, grads, variables, prefix, terms):
    """Clips (config.optimizer) and applies `grads`; records `<prefix>/grad_norm` in terms."""
    pairs = [(g, v) for g, v in zip(grads, variables, strict=True) if g is not None]
    grads, variables = [g for g, _ in pairs], [v for _, v in pairs]
    o = self.config.optimizer
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)
    if o.clip_value or o.clip_norm:
      ctx = tf.distribute.get_replica_context()
      grads = ctx.all_reduce(tf.distribute.ReduceOp.SUM, grads)
      if scaled:
        grads = [g / optimizer.dynamic_scale for g in grads]
      grads, norm = optim.clip_gradients(grads, o.clip_value, o.clip_norm)
      if scaled:
        grads = [g * optimizer.dynamic_scale for g in grads]
      grads = [g / self.num_replicas for g in grads]  # the optimizer all-reduces (sums) again
    else:
      norm = tf.linalg.global_norm(grads) * self.num_replicas
      if scaled:
        norm = norm / optimizer.dynamic_scale
    optimizer.apply(grads, variables)
    terms[f"{prefix}/grad_norm"] = norm

  def with_noise(self, batch, step, purpose):
    """Adds this replica's slice of the global batch's noise, so that the samples a run draws
    do not depend on how the batch is split over replicas and micro-batches."""
    latent = getattr(self.generator, "latent_dim", 0)
    if not latent:
      return batch
    replica = tf.distribute.get_replica_context().replica_id_in_sync_group
    b = self.per_replica_batch
    z = tf.random.stateless_normal(
      [self.config.train.batch_size, latent],
      seed=step_seed(self.config.seed, step, 0, 500 + purpose),
    )
    return dict(batch, z=z[replica * b : (replica + 1) * b])

  def after_update(self, batch, updated):
    """`batch`, which a D or G step is about to read; with `runtime.overlap_steps` off and a
    D step just `updated`, it waits for that update: no op of the next step's forward starts
    before the previous step's backward and update are done, as in PyTorch's eager order.

    On, TensorFlow's executor starts the next forward (e.g. the G step's generator) as soon
    as its inputs are ready, while the previous backward still runs, and the activations of
    both steps are alive together (docs/benchmarks.md, "Steps in order").
    """
    if not updated or self.config.runtime.get("overlap_steps", True):
      return batch
    with tf.control_dependencies([tf.convert_to_tensor(v) for v in self.d_vars]):
      return tf.nest.map_structure(lambda x: tf.identity(x, name="after_update"), batch)

  def replica_step(self, batches, step):
    """D steps (one per batch), then the G step on the last batch; returns the loss terms."""
    ctx = tf.distribute.get_replica_context()
    replica = ctx.replica_id_in_sync_group
    task, terms = self.task, {}
    for k, batch in enumerate(batches):
      if not self.d_vars:
        break
      seed = step_seed(self.config.seed, step, replica, k)
      batch = self.after_update(self.with_noise(batch, step, k), k > 0)
      grads, d_terms = self.accumulate(task.d_loss, batch, self.d_vars, self.d_opt, seed, step)
      self.apply(self.d_opt, grads, self.d_vars, "d", d_terms)
      task.clip_discriminator_weights()
      terms.update(d_terms)  # the last D step's terms
    seed = step_seed(self.config.seed, step, replica, 100)
    batch = self.after_update(self.with_noise(batches[-1], step, 100), bool(self.d_vars))
    grads, g_terms = self.accumulate(task.g_loss, batch, self.g_vars, self.g_opt, seed, step)
    self.apply(self.g_opt, grads, self.g_vars, "g", g_terms)
    terms.update(g_terms)
    return terms

  def update_ema(self):
    """EMA <- decay * EMA + (1 - decay) * generator; non-trainable weights copied. Paired by
    the EMA's own weights, so a generator frozen (`trainable = False`) is averaged too."""
    decay = self.config.train.ema_decay
    for e, v in zip(self.ema.weights, self.generator.weights, strict=True):
      e.assign(decay * e + (1.0 - decay) * tf.cast(v, e.dtype) if e.trainable else v)
