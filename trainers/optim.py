"""Optimizers, learning-rate schedules and gradient clipping from `config.optimizer`."""

import math

import keras
import tensorflow as tf

OPTIMIZERS = ("adam", "adamw", "rmsprop")
SCHEDULES = ("constant", "cosine_restarts", "linear_decay")


@keras.saving.register_keras_serializable(package="trainers")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """A learning rate as a function of the generator step.

  An optimizer counts its own updates; the discriminator's optimizer takes `updates_per_step`
  updates (D steps x nothing else) per generator step, so its count is divided first, and
  every network of a run follows the same schedule in generator steps.

  kinds: constant; cosine_restarts (SGDR, Loshchilov & Hutter 2017: constant until
  `start_step`, then cosine periods of `period` steps, each twice as long as the last, as in
  Radner's thesis "cosine annealing with warm restarts after epoch 10"); linear_decay
  (constant until `start_step`, then linearly to 0 at `total_steps`).
  """

  def __init__(
    self,
    base_lr,
    kind="constant",
    start_step=0,
    period=1000,
    total_steps=1,
    updates_per_step=1,
    min_lr=0.0,
  ):
    if kind not in SCHEDULES:
      raise ValueError(f"Expected optimizer.schedule in {SCHEDULES}, received {kind!r}.")
    self.base_lr = float(base_lr)
    self.kind = kind
    self.start_step = int(start_step)
    self.period = max(int(period), 1)
    self.total_steps = max(int(total_steps), 1)
    self.updates_per_step = max(int(updates_per_step), 1)
    self.min_lr = float(min_lr)

  def __call__(self, iterations):
    step = tf.cast(iterations // self.updates_per_step, tf.float32)
    base = tf.constant(self.base_lr, tf.float32)
    if self.kind == "constant":
      return base
    t = tf.maximum(step - self.start_step, 0.0)
    if self.kind == "linear_decay":
      span = max(self.total_steps - self.start_step, 1)
      return base * tf.maximum(1.0 - t / span, 0.0)
    # cosine_restarts with period doubling: period i covers [P(2^i - 1), P(2^(i+1) - 1)).
    p = float(self.period)
    i = tf.floor(tf.math.log(t / p + 1.0) / math.log(2.0))
    begin = p * (tf.pow(2.0, i) - 1.0)
    length = p * tf.pow(2.0, i)
    frac = (t - begin) / length
    return self.min_lr + (base - self.min_lr) * 0.5 * (1.0 + tf.cos(math.pi * frac))

  def get_config(self):
    return dict(
      base_lr=self.base_lr,
      kind=self.kind,
      start_step=self.start_step,
      period=self.period,
      total_steps=self.total_steps,
      updates_per_step=self.updates_per_step,
      min_lr=self.min_lr,
    )


@keras.saving.register_keras_serializable(package="trainers")
class FusedAdam(keras.optimizers.Adam):
  """`keras.optimizers.Adam` whose per-variable update is TF's fused ResourceApplyAdam kernel.

  Keras 3's Adam updates each variable with about ten separate elementwise ops (the two
  moments, the bias-corrected step), each a full pass over the variable; on a VGAN step
  (27M parameters) their op time was ~5% of the step (bench/profile_step.py). The fused
  kernel does one pass and computes the same update:

      m += (g - m)(1 - beta_1);  v += (g^2 - v)(1 - beta_2)
      var -= lr sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)

  with t = iterations + 1, the same variables (so checkpoints are interchangeable with
  `keras.optimizers.Adam`) and the same hyperparameters. AMSGrad, sparse gradients and
  variables that are not TF resource variables take Keras's own update.
  """

  def update_step(self, gradient, variable, learning_rate):
    raw = variable.value if isinstance(variable, keras.Variable) else variable
    if self.amsgrad or isinstance(gradient, tf.IndexedSlices) or not hasattr(raw, "handle"):
      return super().update_step(gradient, variable, learning_rate)
    index = self._get_variable_index(variable)
    m, v = self._momentums[index].value, self._velocities[index].value
    dtype = raw.dtype
    t = tf.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf.cast(self.beta_1, dtype), tf.cast(self.beta_2, dtype)
    return tf.raw_ops.ResourceApplyAdam(
      var=raw.handle,
      m=m.handle,
      v=v.handle,
      beta1_power=tf.pow(beta_1, t),
      beta2_power=tf.pow(beta_2, t),
      lr=tf.cast(learning_rate, dtype),
      beta1=beta_1,
      beta2=beta_2,
      epsilon=tf.cast(self.epsilon, dtype),
      grad=tf.cast(gradient, dtype),
    )


def uses_epochs(opt_config):
  """Whether `opt_config` gives its schedule in epochs (so the loop must know an epoch)."""
  return opt_config.schedule != "constant" and (
    opt_config.get("schedule_start_epochs", 0) > 0 or opt_config.get("restart_period_epochs", 0) > 0
  )


def schedule_steps(opt_config, steps_per_epoch=0):
  """(start step, first restart period) in generator steps: each epoch field that is > 0
  (schedule_start_epochs, restart_period_epochs) times `steps_per_epoch`, else its step
  field (schedule_start_step, restart_period)."""
  start_epochs = opt_config.get("schedule_start_epochs", 0)
  period_epochs = opt_config.get("restart_period_epochs", 0)
  if uses_epochs(opt_config) and steps_per_epoch < 1:
    raise ValueError(
      f"Expected steps_per_epoch >= 1 for a schedule in epochs, received {steps_per_epoch}."
    )
  start = start_epochs * steps_per_epoch if start_epochs > 0 else opt_config.schedule_start_step
  period = period_epochs * steps_per_epoch if period_epochs > 0 else opt_config.restart_period
  return int(start), int(period)


def make_optimizer(
  opt_config, lr, total_steps, updates_per_step=1, precision="float32", steps_per_epoch=0
):
  """Builds the optimizer for one network group (G or D) with its schedule.

  `steps_per_epoch` converts a schedule given in epochs (`schedule_steps`).
  Gradient clipping is NOT given to Keras (it would clip per replica, before the all-reduce);
  `clip_gradients` is applied by the loop to the aggregated gradient.
  """
  start, period = schedule_steps(opt_config, steps_per_epoch)
  schedule = StepSchedule(lr, opt_config.schedule, start, period, total_steps, updates_per_step)
  name = opt_config.name.lower()
  if name == "adam":
    opt = FusedAdam(
      schedule, beta_1=opt_config.beta1, beta_2=opt_config.beta2, epsilon=opt_config.epsilon
    )
  elif name == "adamw":
    opt = keras.optimizers.AdamW(
      schedule,
      weight_decay=opt_config.weight_decay,
      beta_1=opt_config.beta1,
      beta_2=opt_config.beta2,
      epsilon=opt_config.epsilon,
    )
  elif name == "rmsprop":
    opt = keras.optimizers.RMSprop(
      schedule, rho=opt_config.get("rho", 0.9), epsilon=opt_config.epsilon
    )
  else:
    raise ValueError(f"Expected optimizer.name in {OPTIMIZERS}, received {opt_config.name!r}.")
  if precision == "mixed_float16":
    opt = keras.optimizers.LossScaleOptimizer(opt)
  return opt


def clip_gradients(grads, clip_value=0.0, clip_norm=0.0):
  """Clips by value, then by global norm; returns (grads, global norm before clipping)."""
  norm = tf.linalg.global_norm(grads)
  if clip_value:
    grads = [tf.clip_by_value(g, -clip_value, clip_value) for g in grads]
  if clip_norm:
    grads, _ = tf.clip_by_global_norm(grads, clip_norm, use_norm=norm if not clip_value else None)
  return grads, norm
