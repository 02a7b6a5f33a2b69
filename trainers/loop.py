"""The one training loop of the zoo: any task, any tf.distribute strategy.

`run(config, workdir)` trains `config.train.steps` generator steps, resuming from the latest
checkpoint in `workdir`. One generator step = `objective.d_steps` discriminator updates, each
on a fresh real batch, then one generator update; each update averages its gradient over
`train.grad_accum` micro-batches. Noise comes from stateless RNG seeded by (seed, step,
replica, purpose), so a resumed run draws exactly what an uninterrupted one would.

Faults (docs/reliability.md): everything is validated before anything is written; `run` holds
the workdir's lock (one run per workdir); checkpoints appear only complete; SIGTERM, Ctrl-C and
SIGHUP (a closed terminal, a dropped ssh session) save a checkpoint after the current step and
exit with 128 + the signal, and end the process even when no step comes (a blocked input
pipeline) after `runtime.stop_timeout_secs`; a step that runs past `runtime.step_timeout_secs`
ends the process; a stop request to any worker of a multi-worker run stops all of them after
the same step; a multi-worker run that loses a worker stops with one line, and its workers
resume from a step all of them hold.
"""

import contextlib
import math
import os
import select
import signal
import sys
import threading
import time

from absl import logging
import keras
import ml_collections
import tensorflow as tf

from trainers import cli
from trainers import errors
from trainers import evaluate
from trainers import gan_step
from trainers import optim
from trainers import precision as precision_lib
from trainers import strategy as strategy_lib
from trainers import summaries
from trainers import tasks as tasks_lib
from trainers import workdir as workdir_lib
from trainers.data import epochs as data_epochs
from trainers.data import pipeline as data_lib
from zoo import registry
from zoo.layers import form_choice

PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DEFAULT_STOP_TIMEOUT_SECS = 20.0
# The key of a multi-worker train call's output that sums the workers' stop requests.
STOP_VOTES = "_stop_votes"
# The order of a vote's entries.
STOP_SIGNALS = tuple(s for s in (signal.SIGTERM, signal.SIGINT, cli.SIGHUP) if s is not None)


class NonFiniteLossError(errors.RunError, RuntimeError):
  """A loss term became NaN or Inf; training stopped without saving (one line, status 1)."""


class TrainingStopped(SystemExit):
  """Raised by `run` once a SIGTERM / Ctrl-C / SIGHUP stopped training and the checkpoint is
  saved.

  A SystemExit with status 128 + the signal (143 for SIGTERM, 130 for Ctrl-C, 129 for SIGHUP),
  the shell's convention, so that a scheduler tells a stopped run from a finished one (status
  0).
  """

  def __init__(self, signum, step):
    super().__init__(128 + signum)
    self.signum, self.step = signum, step


def _exit_now(status, why):
  """Ends the process from any thread, with one log line; nothing is saved."""
  logging.error(
    "Exiting with status %d on %s, without saving: the last checkpoint is kept.", status, why
  )
  logging.flush()
  try:
    sys.stderr.flush()
  except (OSError, AttributeError):  # a reader that is gone takes nothing more; None: closed
    pass
  cli.remove_generated_sources()
  os._exit(status)  # pylint: disable=protected-access


class _StepWatchdog:
  """Ends the process with status 1 when one call of the step function runs longer than
  `timeout` seconds (`runtime.step_timeout_secs`; 0: never).

  A step waits without end when a worker of a multi-worker run stops stepping but lives on:
  TensorFlow aborts the collectives only for a peer that died or froze (its heartbeats stop),
  not for one stuck in its input or in a long pause. So does a single worker whose input
  never delivers. The main thread then waits inside TensorFlow, where Python cannot reach it,
  so a thread ends the process. TensorFlow's own collective timeout
  (`CommunicationOptions.timeout_seconds`, "for debugging") crashed the process with a
  corrupt mutex on about one timeout in seven (TF 2.21, CPU), and it also times the start.
  """

  def __init__(self, timeout):
    self.timeout = timeout
    self._cond = threading.Condition()
    self._deadline = None  # by when (time.monotonic) the current call must end
    self._step = 0
    self._closed = False

  def __enter__(self):
    if self.timeout:
      threading.Thread(target=self._watch, name="step-watchdog", daemon=True).start()
    return self

  def __exit__(self, *exc):
    with self._cond:
      self._closed = True
      self._cond.notify()

  @contextlib.contextmanager
  def call(self, step):
    """Times the call that trains from `step`."""
    with self._cond:
      self._deadline, self._step = time.monotonic() + self.timeout, step
      self._cond.notify()
    try:
      yield
    finally:
      with self._cond:
        self._deadline = None

  def _watch(self):
    with self._cond:
      while not self._closed:
        left = None if self._deadline is None else self._deadline - time.monotonic()
        if left is not None and left <= 0:
          break
        self._cond.wait(left)
      else:
        return
      step = self._step
    _exit_now(
      1,
      f"no step finished within runtime.step_timeout_secs={self.timeout:g} s of step {step} "
      "(a worker that stopped stepping, or an input that never delivers)",
    )


class _StopRequest:
  """SIGTERM / Ctrl-C / SIGHUP set a flag; the loop saves a checkpoint and returns after the
  call. On SIGHUP, standard output and error that were the terminal now hung up are pointed at
  the null device first (`cli.leave_hung_up_terminal`): the run's last log lines cannot fail.

  Python runs signal handlers only when the main thread is between bytecodes, never while it
  waits inside a TensorFlow call: a step waiting on an input pipeline that never delivers
  would hold the request for ever. So a watcher thread learns of each signal through
  `signal.set_wakeup_fd` and, when the loop has not reached its checkpoint `timeout` seconds
  after the first one, logs and ends the process with status 128 + the signal (the last
  checkpoint stays); a second Ctrl-C ends it at once.
  """

  def __init__(self, timeout=DEFAULT_STOP_TIMEOUT_SECS):
    self.requested = False
    self.signum = None
    self.timeout = timeout
    self.honoured = threading.Event()  # set by the loop when it saves for the request
    self._previous = {}
    self._wakeup = None

  def __enter__(self):
    # A signal the process was started with ignored stays ignored, as Python's own Ctrl-C
    # handler does: `nohup` and a non-interactive shell's `cmd &` ignore SIGINT (and `nohup`
    # SIGHUP) so that a Ctrl-C meant for the terminal's foreground job, or the terminal's
    # closing, does not stop a background run.
    try:
      for sig in STOP_SIGNALS:
        if signal.getsignal(sig) != signal.SIG_IGN:
          self._previous[sig] = signal.signal(sig, self._handle)
    except ValueError:  # not the main thread: leave the handlers alone
      self._previous = {}
      return self
    if not self._previous:
      return self
    read, write = os.pipe()
    os.set_blocking(write, False)
    self._wakeup = (read, write, signal.set_wakeup_fd(write, warn_on_full_buffer=False))
    threading.Thread(
      target=self._watch, args=(read,), name="stop-request-watcher", daemon=True
    ).start()
    return self

  def _watch(self, read):
    # The pipe is read while the checkpoint is awaited: a second Ctrl-C may come at any time.
    first, interrupts, deadline, armed = None, 0, None, False
    while True:
      wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
      if not select.select([read], [], [], wait)[0]:  # the deadline passed
        if not self.honoured.is_set():
          _exit_now(
            128 + first,
            f"no step finished within runtime.stop_timeout_secs={self.timeout:g} "
            f"s of {signal.Signals(first).name} (is the input pipeline blocked?)",
          )
        deadline = None  # honoured: only the pipe's end or a second Ctrl-C remain
        continue
      try:
        data = os.read(read, 64)
      except OSError:
        data = b""
      if not data:  # __exit__ closed the pipe
        os.close(read)
        return
      for signum in data:
        if signum not in STOP_SIGNALS:
          continue
        if signum == cli.SIGHUP:  # before the main thread's next log line, as soon as can be
          cli.leave_hung_up_terminal()
        first = first or signum
        interrupts += signum == signal.SIGINT
        if interrupts >= 2:
          _exit_now(128 + signal.SIGINT, "a second Ctrl-C")
      if first and not armed:
        deadline, armed = time.monotonic() + self.timeout, True

  def _handle(self, signum, frame):
    del frame
    if self.requested and signum == signal.SIGINT:
      raise KeyboardInterrupt  # a second Ctrl-C: stop now
    if signum == cli.SIGHUP:
      cli.leave_hung_up_terminal()
    logging.warning(
      "Received %s: finishing the current step, then saving a checkpoint.",
      signal.Signals(signum).name,
    )
    self.requested = True
    self.signum = self.signum or signum

  def __exit__(self, *exc):
    self.honoured.set()
    for sig, handler in self._previous.items():
      signal.signal(sig, handler)
    if self._wakeup:
      _, write, previous = self._wakeup
      signal.set_wakeup_fd(previous)
      os.close(write)
      self._wakeup = None


def validate(config: ml_collections.ConfigDict) -> None:
  """Checks the config values the loop relies on, before anything is built or written;
  errors (`errors.ConfigError`) name the bad field."""
  t = config.train

  def expect(cond, field, what, value):
    if not cond:
      raise errors.ConfigError(f"Expected {field} {what}, received {value!r}.")

  expect(t.steps > 0, "train.steps", "> 0", t.steps)
  expect(t.batch_size > 0, "train.batch_size", "> 0", t.batch_size)
  expect(t.grad_accum >= 1, "train.grad_accum", ">= 1", t.grad_accum)
  expect(t.steps_per_call >= 1, "train.steps_per_call", ">= 1", t.steps_per_call)
  expect(config.objective.d_steps >= 1, "objective.d_steps", ">= 1", config.objective.d_steps)
  expect(0.0 <= t.ema_decay < 1.0, "train.ema_decay", "in [0, 1)", t.ema_decay)
  expect(
    config.runtime.precision in PRECISIONS,
    "runtime.precision",
    f"in {PRECISIONS}",
    config.runtime.precision,
  )
  forms, known = config.runtime.get("conv_forms", ""), ("",) + form_choice.POLICIES
  expect(forms in known, "runtime.conv_forms", f"in {known}", forms)
  if not forms:  # the variable then decides: a typo failed deep inside the first layer built
    try:
      form_choice.env_policy()
    except ValueError as e:
      raise errors.ConfigError(str(e)) from None
  for field in ("log_every", "checkpoint_every", "sample_every", "summary_every", "keep_every"):
    expect(t[field] >= 0, f"train.{field}", ">= 0", t[field])
  expect(t.keep_checkpoints >= 1, "train.keep_checkpoints", ">= 1", t.keep_checkpoints)
  # A negative rate or a beta past 1 trained without a word (a negative rate climbs the loss).
  o = config.optimizer
  for field in ("g_lr", "d_lr"):
    expect(math.isfinite(o[field]) and o[field] >= 0, f"optimizer.{field}", ">= 0", o[field])
  for field in ("beta1", "beta2", "rho"):
    if field in o:
      expect(0.0 <= o[field] < 1.0, f"optimizer.{field}", "in [0, 1)", o[field])
  for field in ("epsilon", "weight_decay", "clip_value", "clip_norm"):
    if field in o:
      expect(o[field] >= 0, f"optimizer.{field}", ">= 0", o[field])
  timeout = config.runtime.get("stop_timeout_secs", DEFAULT_STOP_TIMEOUT_SECS)
  expect(timeout > 0, "runtime.stop_timeout_secs", "> 0", timeout)
  timeout = config.runtime.get("step_timeout_secs", 0.0)
  expect(timeout >= 0, "runtime.step_timeout_secs", ">= 0", timeout)
  rate = config.data.get("max_skip_rate", data_lib.DEFAULT_MAX_SKIP_RATE)
  expect(0.0 <= rate < 1.0, "data.max_skip_rate", "in [0, 1)", rate)
  _validate_inputs(config)


def _validate_models(config):
  """Every network the config names is registered (checked before any is built)."""
  known = registry.names()
  networks = {"model.generator": config.model.generator}
  networks.update({f"model.discriminators.{k}": v for k, v in config.model.discriminators.items()})
  for field, entry in networks.items():
    if entry.name not in known:
      raise errors.ConfigError(
        f"Expected {field}.name among {sorted(known)}, received {entry.name!r}."
      )


def _validate_inputs(config):
  """Every TFRecord input the run will read matches files: the training files, and the
  evaluation files of eval.every and of a conditional model's sample grid (which uses the
  training files when data.eval_files is empty, see `Trainer._sample_inputs`)."""
  data = config.data
  # Fields named for another source were ignored without a word: a run "on your shards" (or
  # on a TFDS split) trained on synthetic clips.
  tfds = data.source.startswith("tfds:")
  for field, source, wanted in (
    ("train_files", "tfrecord", data.source == "tfrecord"),
    ("eval_files", "tfrecord", data.source == "tfrecord"),
    ("tfds_data_dir", "tfds:NAME", tfds),
    ("tfds_video_key", "tfds:NAME", tfds),
    ("tfds_train_split", "tfds:NAME", tfds),
    ("tfds_eval_split", "tfds:NAME", tfds),
  ):
    if not wanted and str(data.get(field, "")).strip():
      raise errors.ConfigError(
        f"Expected data.source={source!r} to read data.{field}={data[field]!r}, received "
        f"data.source={data.source!r}, which would ignore it: set data.source, or leave "
        f"data.{field} empty."
      )
  if data.source != "tfrecord":
    return
  needs = {"data.train_files": "the training input"}
  grid = bool(tasks_lib.data_outputs(config)) and config.train.sample_every > 0
  if config.eval.every:
    needs["data.eval_files"] = "the real clips of eval.every" + (
      " and the sample grid's conditions" if grid else ""
    )
  elif grid and data.eval_files.strip():
    needs["data.eval_files"] = "the conditions of the sample grid"
  for field, use in needs.items():
    patterns = data[field.split(".")[1]]
    if not patterns.strip():
      raise errors.ConfigError(f"Expected {field} (TFRecord glob patterns) for {use}, received ''.")
    try:
      data_lib.list_files(patterns)
    except FileNotFoundError as e:
      raise errors.ConfigError(f"Expected {field} to match files for {use}: {e}") from None


def _crossed(before, after, every):
  return every > 0 and after // every > before // every


class Trainer:
  """State of one run: strategy, task, optimizers, EMA, data, checkpoints, step functions."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str, lock: bool = False):
    """Validates, builds and restores; only then writes the workdir (and with `lock`, first
    takes its lock: `run` does)."""
    validate(config)
    self.config = config
    self.workdir = workdir
    self.lock = None
    self.stop_signal = None
    if config.runtime.deterministic:
      tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(config.seed)
    keras.config.set_dtype_policy(config.runtime.precision)
    form_choice.set_policy(config.runtime.get("conv_forms", "") or None)
    self.strategy = strategy_lib.make_strategy(config.runtime)
    precision_lib.warn_if_slower(config.runtime.precision)
    self.chief = strategy_lib.is_chief(self.strategy)
    self.num_replicas = self.strategy.num_replicas_in_sync
    t = config.train
    if t.batch_size % (self.num_replicas * t.grad_accum):
      raise errors.ConfigError(
        f"Expected train.batch_size divisible by replicas x grad_accum = "
        f"{self.num_replicas} x {t.grad_accum}, received {t.batch_size}."
      )
    self.per_replica_batch = t.batch_size // self.num_replicas
    # A schedule in epochs needs the data's size: counted now, before any model is built.
    self.steps_per_epoch = 0
    if optim.uses_epochs(config.optimizer):
      self.steps_per_epoch = data_epochs.steps_per_epoch(config)
      logging.info(
        "An epoch is %d generator steps; the schedule starts at step %d, first period %d steps.",
        self.steps_per_epoch,
        *optim.schedule_steps(config.optimizer, self.steps_per_epoch),
      )
    self.jit = strategy_lib.use_jit(config.runtime, self.strategy)
    if config.eval.every:  # fail now, not hours in, when FVD is asked and no I3D is there
      evaluate.eval_networks(config.eval)
    _validate_models(config)

    self._init_input()
    with self.strategy.scope():
      self.task = tasks_lib.make_task(config)
      example = self._example_batch()
      with form_choice.unmeasured():  # one clip: not the batch the steps run
        self.task.build(example)
        self.ema = gan_step.make_ema(config, self.task, example)
      self.generator = self.task.generator
      self.g_opt, self.d_opt = gan_step.make_optimizers(config, self.task, self.steps_per_epoch)
      self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    self.gan_step = gan_step.GANStep(
      self.task, self.g_opt, self.d_opt, config, self.num_replicas, self.ema
    )
    self.g_vars, self.d_vars = self.gan_step.g_vars, self.gan_step.d_vars
    # The sample grid's conditions are read now: missing or too few clips fail before any write.
    self._grid_inputs = None
    if self.chief and self._samples_every():
      self._grid_inputs = gan_step.sample_inputs(config, self.task, self.ema or self.generator)
    # Everything is validated and built: from here on the workdir is written.
    try:
      if self.chief:
        if lock:
          self.lock = workdir_lib.WorkdirLock(workdir).acquire()
        self._check_resume()
        workdir_lib.sweep_partial(workdir_lib.checkpoint_dir(workdir))
      self._make_checkpoint()
      # Several workers vote on a stop request in every call (`_agreed_stop`): this worker's
      # requests, a local variable outside the model and its checkpoint.
      self._stop_request, self._stop_request_sent = None, False
      if self.num_workers > 1:
        self._stop_request = tf.Variable(
          tf.zeros([len(STOP_SIGNALS)]), trainable=False, name="stop_request"
        )
      # The tf.function `train()` calls: `train.steps_per_call` generator steps per call;
      # returns (the last step's loss terms, the first step whose terms were not all finite
      # or -1, and which of sorted(terms) were finite at that step). Benchmarks time it.
      self.train_call = self._make_train_call()
      if self.chief:
        workdir_lib.save_config(config, workdir)
    except BaseException:
      self.close()
      raise

  def close(self) -> None:
    """Releases the workdir's lock (when this trainer holds it)."""
    if self.lock is not None:
      self.lock.release()
      self.lock = None

  def _check_resume(self):
    """Refuses to resume a workdir whose checkpoints belong to another model (MODEL_FIELDS)
    unless runtime.allow_model_change; other changed fields are fine (steps, rates, ...), and
    logged: a config file edited between two runs is not taken without a word."""
    directory = workdir_lib.checkpoint_dir(self.workdir)
    path = os.path.join(self.workdir, workdir_lib.CONFIG_FILE)
    if not (tf.io.gfile.exists(path) and workdir_lib.checkpoint_paths(directory)):
      return
    stored = workdir_lib.load_config(self.workdir)
    changes = workdir_lib.model_changes(stored, self.config)
    others = [c for c in workdir_lib.config_changes(stored, self.config) if c not in changes]
    if others:
      logging.info(
        "Resuming %s with fields changed since its config.json: %s",
        self.workdir,
        "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in others),
      )
    if not changes:
      return
    listed = "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changes)
    if not self.config.runtime.get("allow_model_change", False):
      raise errors.ConfigError(
        f"Expected the model of the checkpoints in {self.workdir} ({path}), received a "
        f"config that changes {listed}. Use another --workdir, or pass "
        "--config.runtime.allow_model_change=True to resume anyway."
      )
    logging.warning(
      "Resuming %s with a changed model (runtime.allow_model_change): %s", self.workdir, listed
    )

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
      self.worker_id = resolver.task_id + (1 if has_chief and resolver.task_type == "worker" else 0)
    context = tf.distribute.InputContext(self.num_workers, self.worker_id, self.num_replicas)
    options = tf.data.Options()
    # Skip counting in the reader uses a py_function; its state is a log counter only.
    options.experimental_external_state_policy = tf.data.experimental.ExternalStatePolicy.IGNORE
    self.dataset = self._dataset_fn(context).with_options(options)
    self.iterator = iter(self.dataset)

  def _next_distributed(self):
    """The next worker batch, split into this worker's per-replica batches."""
    batch = next(self.iterator)
    b, first = self.per_replica_batch, self.worker_id * self.local_replicas

    def take(ctx):
      i = ctx.replica_id_in_sync_group - first
      return tf.nest.map_structure(lambda x: x[i * b : (i + 1) * b], batch)

    return self.strategy.experimental_distribute_values_from_function(take)

  def _dataset_fn(self, input_context):
    outputs = tuple(sorted(set(self.config.data.outputs) | set(self._task_outputs())))
    data_config = self.config.data.copy_and_resolve_references()
    with data_config.unlocked():
      data_config.outputs = outputs
    batch = self.per_replica_batch * self.local_replicas  # this worker's share
    return data_lib.make_dataset(
      data_config, batch, training=True, input_context=input_context, seed=self.config.seed
    )

  def _task_outputs(self):
    return tasks_lib.data_outputs(self.config)

  def _example_batch(self):
    """A zero batch of one clip with the input's shapes, to create variables: no variable's
    shape depends on the batch, and a forward pass on the whole micro-batch at paper size cost
    seconds to tens of seconds (Egan's 3D ResNet at batch 8: 25 s)."""
    local = self.dataset.element_spec
    return tf.nest.map_structure(lambda s: tf.zeros([1] + s.shape[1:], s.dtype), local)

  def current_step(self) -> int:
    return int(self.step.read_value().numpy())

  # --- checkpoints ----------------------------------------------------------------------
  def _make_checkpoint(self):
    weights = registry.weights_in_order
    items = dict(
      generator=weights(self.generator),
      g_optimizer=self.g_opt,
      step=self.step,
      iterator=self.iterator,
    )
    if self.ema is not None:
      items["ema_generator"] = weights(self.ema)
    if self.d_vars:
      items["d_optimizer"] = self.d_opt
    for name, d in self.task.discriminators.items():
      items[f"discriminator_{name}"] = weights(d)
    self.checkpoint = workdir_lib.AtomicCheckpoint(**items)
    directory = workdir_lib.checkpoint_dir(self.workdir)
    if not self.chief:
      # Every worker takes part in saving. The chief's checkpoint holds the chief's data
      # iterator, so each other worker keeps its own copy (with its own iterator) to resume.
      directory = os.path.join(self.workdir, "workers", str(self.worker_id), "checkpoints")
      workdir_lib.sweep_partial(directory)
    workdir_lib.repair_checkpoint_state(directory)
    self.manager = tf.train.CheckpointManager(
      self.checkpoint,
      directory,
      max_to_keep=self.config.train.keep_checkpoints,
      step_counter=self.step,
    )
    self.restored = None
    paths = workdir_lib.readable_checkpoints(directory)
    if self.num_workers > 1:
      paths = self._shared_checkpoints(paths)
    restorer = self.checkpoint
    changed = self._input_changes() if paths else []
    if changed:
      # The stored input position does not fit the new pipeline: everything else resumes.
      restorer = workdir_lib.AtomicCheckpoint(**{k: v for k, v in items.items() if k != "iterator"})
      logging.warning(
        "Resuming %s with a changed input (%s): the training input starts afresh instead of "
        "where the checkpoint left it, so this run does not continue the earlier one's data "
        "order.",
        self.workdir,
        "; ".join(f"{k}: {a!r} -> {b!r}" for k, a, b in changed),
      )
    for path in paths:
      try:
        status = restorer.restore(path)
        if changed:
          status.expect_partial()  # the stored iterator is left unread
      except tf.errors.OpError as e:
        logging.warning(
          "Skipping checkpoint %s, which does not restore (%s); falling back to the previous one.",
          path,
          str(e).splitlines()[0],
        )
        continue
      except ValueError as e:  # a variable of another shape: every checkpoint is that model's
        raise errors.ConfigError(
          f"Expected the checkpoints in {directory} to fit the configured model, received "
          f"{os.path.basename(path)}, which does not: {' '.join(str(e).split())} "
          "(runtime.allow_model_change resumes only a model whose variables keep their "
          "shapes). Use another --workdir for this model."
        ) from e
      self.restored = path
      break
    # (step, path) of the checkpoint that holds this run's state; a newer one on disk (which
    # did not restore, or not every worker has) is overwritten when the run gets there.
    self.last_saved = (None, None)
    if self.restored:
      logging.info("Resumed from %s at step %d.", self.restored, self.current_step())
      self.last_saved = (self.current_step(), self.restored)
      if changed:  # saved again with the new input's position before config.json says so
        self.last_saved = (None, None)
        self.restored = self.save()

  def _input_changes(self):
    """The INPUT_FIELDS this run changes against the workdir's config.json ([] without a
    readable one: the stored input position is then restored as it is)."""
    try:
      stored = workdir_lib.load_config(self.workdir)
    except (OSError, ValueError):
      return []
    return workdir_lib.input_changes(stored, self.config)

  def _shared_checkpoints(self, paths):
    """The prefixes among `paths` whose step every worker has a readable checkpoint of.

    The replicas of all workers hold one model, so every worker must resume from the same
    step; a worker killed while it saved lacks the step its peers have written.
    """
    steps = [workdir_lib.step_of(p) for p in paths]

    def gather(values):  # every worker's `values` (all of one length), concatenated
      local = tf.constant(values, tf.int64)
      per_replica = self.strategy.experimental_distribute_values_from_function(lambda _: local)
      return self.strategy.gather(per_replica, axis=0).numpy()

    width = int(gather([len(steps)]).max())
    if not width:
      return []
    rows = gather(steps + [-1] * (width - len(steps))).reshape(-1, width)
    shared = set.intersection(*(set(row.tolist()) for row in rows))
    skipped = [p for p, s in zip(paths, steps, strict=True) if s not in shared]
    if skipped:
      logging.warning(
        "Not resuming from %s: not every worker has a checkpoint of that step.",
        ", ".join(skipped),
      )
    return [p for p, s in zip(paths, steps, strict=True) if s in shared]

  def save(self) -> str:
    step = self.current_step()
    if self.last_saved[0] == step:
      return self.last_saved[1]
    try:
      path = self.manager.save(checkpoint_number=step)
      keep = self.config.train.keep_every
      if keep and step % keep == 0:
        self.checkpoint.write(os.path.join(self.workdir, "checkpoints", "keep", f"ckpt-{step}"))
    except (OSError, tf.errors.OpError) as e:
      refused = errors.disk_full(e)  # the checkpoint's temporary file: its folder says where
      message = refused[0] if refused else workdir_lib.first_line(e).rstrip(".")
      kept = self.manager.latest_checkpoint
      raise errors.RunError(
        f"Expected to save checkpoint ckpt-{step} in {self.manager.directory}, failed: "
        f"{message}. "
        + (
          f"The last complete checkpoint, {kept}, is kept."
          if kept
          else "No earlier checkpoint was saved: a run started again begins at step 0."
        )
      ) from e
    self.last_saved = (step, path)
    if self.chief:
      logging.info("Saved checkpoint %s", path)
    return path

  def _make_train_call(self):
    strategy, d_steps = self.strategy, self.config.objective.d_steps
    n = self.config.train.steps_per_call
    # Autograph stays for the loop of `train_call` below; the step itself is plain graph code
    # (Python loops over lists, tf.where for tensor conditions), and converting every function
    # it reaches (some 240 for radner_style) cost seconds of each first call's tracing.
    replica_step = tf.autograph.experimental.do_not_convert(self.gan_step.replica_step)
    if self.jit and not isinstance(strategy, tf.distribute.TPUStrategy):
      replica_step = tf.function(replica_step, jit_compile=True)

    # What a replica's step returns, packed into one vector, so that a worker joins one
    # all-reduce for all of them: the loss terms (their names and shapes, recorded while the
    # step traces) and, with several workers, this worker's stop request. An all-reduce per
    # term held the tiny two-worker step to 36-40 steps/s, against 62-67 packed.
    layout = {}
    request = self._stop_request

    def packed_step(batches, step):
      terms = replica_step(batches, step)
      layout.update((k, terms[k].shape) for k in sorted(terms))
      parts = [tf.reshape(tf.cast(terms[k], tf.float32), [-1]) for k in sorted(terms)]
      if request is not None:
        parts.append(request.read_value())
      return tf.concat(parts, 0)

    def one_step():
      batches = [self._next_distributed() for _ in range(d_steps)]
      per_replica = strategy.run(packed_step, args=(batches, self.step.read_value()))
      packed = strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)
      sizes = [shape.num_elements() for shape in layout.values()]
      parts = tf.split(packed, sizes + [packed.shape[0] - sum(sizes)])
      terms = {k: tf.reshape(v, layout[k]) for k, v in zip(layout, parts[:-1], strict=True)}
      if self.ema is not None:
        self.gan_step.update_ema()
      finite = tf.stack([tf.reduce_all(tf.math.is_finite(terms[k])) for k in sorted(terms)])
      if request is not None:  # the sum over every replica of every worker
        terms[STOP_VOTES] = parts[-1] * self.num_replicas
      self.step.assign_add(1)
      return terms, finite

    # The step is traced once: a call of one step holds no loop, and a call of several runs
    # the same inner function before and inside the loop. Tracing the step twice (once per
    # call site) doubled the first call's tracing and graph optimisation: radner_style's
    # train call held 64k graph nodes.
    step_fn = one_step if n == 1 else tf.function(one_step)

    @tf.function
    def train_call(count=n):  # fewer only for a run's last steps (traced apart, once)
      terms, finite = step_fn()
      bad_step = tf.where(tf.reduce_all(finite), tf.constant(-1, tf.int64), self.step - 1)
      bad_finite = finite
      if count > 1:
        for _ in tf.range(count - 1):
          terms, finite = step_fn()
          first_bad = tf.logical_and(bad_step < 0, tf.logical_not(tf.reduce_all(finite)))
          bad_step = tf.where(first_bad, self.step - 1, bad_step)
          bad_finite = tf.where(first_bad, finite, bad_finite)
      return terms, bad_step, bad_finite

    return train_call

  def _agreed_stop(self, stop, votes):
    """Whether the run stops after this call on a SIGTERM / Ctrl-C / SIGHUP: on request, and
    with several workers when any of them has received one.

    Stopping alone, a worker would leave its peers waiting in the next step's all-reduce,
    which ends them with status 1 and a checkpoint short. So every call of a multi-worker run
    sums every worker's requests (`votes`: SIGTERM, Ctrl-C and SIGHUP received, read from
    `_stop_request` as the call began), and all of them stop after the same step.
    """
    if self._stop_request is None:
      return stop.requested
    if stop.requested and not self._stop_request_sent:
      self._stop_request.assign([float(stop.signum == sig) for sig in STOP_SIGNALS])
      self._stop_request_sent = True  # voted from the next call on
    votes = votes.numpy()
    if not votes.any():
      return False
    signum = next(sig for sig, vote in zip(STOP_SIGNALS, votes, strict=True) if vote)
    if not stop.requested:
      logging.warning(
        "Another worker received %s: stopping with it after step %d, then saving a checkpoint.",
        signal.Signals(signum).name,
        self.current_step(),
      )
      stop.requested, stop.signum = True, signum
    return True

  # --- samples --------------------------------------------------------------------------
  def _samples_every(self):
    return self.config.train.sample_every if getattr(self.task, "writes_samples", True) else 0

  def write_samples(self, step: int) -> None:
    generator = self.ema or self.generator
    if not hasattr(self, "_sample_fn"):
      if self._grid_inputs is None:
        self._grid_inputs = gan_step.sample_inputs(self.config, self.task, generator)
      self._sample_fn = tf.function(lambda x: gan_step.sample_outputs(generator, x))
    out = {k: v.numpy() for k, v in self._sample_fn(self._grid_inputs).items()}
    grid = summaries.write_samples(workdir_lib.samples_dir(self.workdir), step, out)
    summaries.video_summary("samples", grid, step)

  # --- the loop -------------------------------------------------------------------------
  def train(self, until: int | None = None) -> bool:
    """Trains to step `until` (by default, and at most, `train.steps`, which learning-rate
    schedules span either way) and saves a checkpoint there; returns False if a SIGTERM /
    Ctrl-C / SIGHUP stopped it first (after saving a checkpoint), True otherwise."""
    config, t = self.config, self.config.train
    end = t.steps if until is None else min(int(until), t.steps)
    writer = (
      tf.summary.create_file_writer(os.path.join(self.workdir, "train"))
      if self.chief
      else tf.summary.create_noop_writer()
    )
    step = self.current_step()
    if step >= end:
      logging.info("Already at step %d of %d: nothing to train.", step, end)
      return True
    progress = summaries.Progress(end, t.batch_size, step)
    logging.info(
      "Training %s to step %d from step %d on %d replica(s), batch %d, jit %s.",
      config.model.generator.name,
      end,
      step,
      self.num_replicas,
      t.batch_size,
      self.jit,
    )
    if self._stop_request is not None:  # a run trained again after a stop votes afresh
      self._stop_request.assign(tf.zeros([len(STOP_SIGNALS)]))
      self._stop_request_sent = False
    timeout = config.runtime.get("stop_timeout_secs", DEFAULT_STOP_TIMEOUT_SECS)
    watchdog = _StepWatchdog(config.runtime.get("step_timeout_secs", 0.0))
    with _StopRequest(timeout) as stop, watchdog, writer.as_default():
      generates = getattr(self.task, "writes_samples", True)
      samples = self._samples_every()
      if step == 0 and self.chief and samples:
        self.write_samples(0)
      while step < end:
        before = step
        try:
          with watchdog.call(step):
            # A call of train.steps_per_call steps would go past `end`: 5 by 2 trained 6.
            left = end - step
            out = self.train_call() if left >= t.steps_per_call else self.train_call(left)
            terms, bad_step, bad_finite = out
            stopping = self._agreed_stop(stop, terms.pop(STOP_VOTES, None))
        except tf.errors.OpError as e:
          self._raise_lost_peer(e, step + 1)
          data_lib.raise_data_error(e)  # the skip bound: one line naming files and counts
        step = self.current_step()
        if int(bad_step) >= 0:
          names = [k for k, ok in zip(sorted(terms), bad_finite.numpy(), strict=True) if not ok]
          raise NonFiniteLossError(
            f"Expected finite losses, received a non-finite loss at step {int(bad_step)}: "
            f"{', '.join(names)}. Training stopped; the last good checkpoint "
            f"{self.manager.latest_checkpoint} is kept unchanged. Lower learning rates "
            "(--config.optimizer.g_lr, --config.optimizer.d_lr) or gradient clipping "
            "(--config.optimizer.clip_norm) may keep the losses finite."
          )
        if self.chief and (_crossed(before, step, t.log_every) or step >= end):
          values = {k: float(v) for k, v in terms.items()}
          rate = progress.rate(step)
          lrs = {"g_lr": float(self.g_opt.learning_rate)}
          if self.d_vars:
            lrs["d_lr"] = float(self.d_opt.learning_rate)
          logging.info("%s", progress.line(step, rate, values, lrs))
          with tf.name_scope("train"):
            for k, v in {
              **values,
              **lrs,
              "steps_per_s": rate,
              "clips_per_s": rate * t.batch_size,
            }.items():
              tf.summary.scalar(k, v, step=step)
          self._report_skips(step)
        elif _crossed(before, step, t.summary_every):
          for k, v in terms.items():
            tf.summary.scalar(f"train/{k}", v, step=step)
        if self.chief and _crossed(before, step, samples):
          self.write_samples(step)
        if stopping:
          stop.honoured.set()
        if _crossed(before, step, t.checkpoint_every) or step >= end or stopping:
          self.save()
        if self.chief and generates and _crossed(before, step, config.eval.every):
          results = evaluate.periodic_eval(self, config, step, writer)
          logging.info(
            "Evaluation at step %d: %s",
            step,
            ", ".join(f"{k}={v:.4g}" for k, v in sorted(results.items())),
          )
        if stopping:
          logging.info("Stopped at step %d on request; resume with the same --workdir.", step)
          break
      if self.chief:
        self._report_skips(step, final=True)
      writer.flush()
    self.stop_signal = stop.signum if stopping else None
    return not stopping

  def _raise_lost_peer(self, error, step):
    """Raises a collective that failed for want of a peer as one line (errors.RunError)."""
    lost = strategy_lib.peer_failure(self.strategy, error)
    if lost:
      latest = self.last_saved[1]
      raise errors.RunError(
        f"Expected every worker to take part in step {step}, {lost}. Restart every worker: they "
        "resume from the newest checkpoint all of them hold (this worker's newest: "
        f"{os.path.basename(latest) if latest else 'none'})."
      ) from error

  def _report_skips(self, step, final=False):
    """Records the input pipeline skipped (data.skip_corrupt): TensorBoard scalars
    data/skipped_records and data/skipped_<kind>, and WORKDIR/skipped_records.json, whose
    "step" is the step its counts stand at: written when they change, and at the run's end."""
    report = data_lib.skip_report()
    if not report or (report == getattr(self, "_skips_written", None) and not final):
      return
    kinds = {}
    for counts in report.values():
      for kind, n in counts.items():
        kinds[kind] = kinds.get(kind, 0) + n
    with tf.name_scope("data"):
      tf.summary.scalar("skipped_records", sum(kinds.values()), step=step)
      for kind, n in kinds.items():
        tf.summary.scalar(f"skipped_{kind}", n, step=step)
    workdir_lib.write_json(
      os.path.join(self.workdir, workdir_lib.SKIPPED_FILE), {"step": step, "files": report}
    )
    self._skips_written = report


def run(config: ml_collections.ConfigDict, workdir: str) -> Trainer:
  """Trains `config` in `workdir` (resuming if it holds checkpoints), holding the workdir's
  lock; returns the Trainer. Raises TrainingStopped (exit status 128 + signal) when SIGTERM,
  Ctrl-C or SIGHUP stopped the run, after its checkpoint was saved."""
  trainer = Trainer(config, workdir, lock=True)
  try:
    finished = trainer.train()
  finally:
    trainer.close()
  if not finished:
    raise TrainingStopped(trainer.stop_signal, trainer.current_step())
  return trainer
