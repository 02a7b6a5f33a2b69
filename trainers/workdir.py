"""The layout of a training workdir, shared by the trainer, the CLIs and export.

    WORKDIR/config.json            the resolved config of the run
    WORKDIR/checkpoints/ckpt-N     tf.train.Checkpoint: generator, ema_generator,
                                   discriminators, optimizers, step, data iterator
    WORKDIR/samples/               MP4 / GIF sample grids from the fixed noise
    WORKDIR/train/                 TensorBoard summaries
    WORKDIR/lock                   host, pid, start and heartbeat of the run training here
    WORKDIR/skipped_records.json   records the input pipeline skipped: {file: {kind: count}}
    WORKDIR/metrics.json           the latest evaluation of the generator (`write_metrics`),
                                   which the exported model card reports

A checkpoint appears under its final name only once complete (`AtomicCheckpoint`), and every
reader skips, with a warning, a checkpoint that does not load (`latest_checkpoint`,
`restore_generator`), so a workdir can be read while it trains.
"""

import contextlib
import copy
import datetime
import errno
import json
import os
import socket
import threading
import time

try:
  import fcntl
except ImportError:  # Windows, where the programs refuse to run (trainers.cli.run)
  fcntl = None

from absl import logging
import ml_collections
import tensorflow as tf

from configs import common
from trainers import errors
from zoo import inputs as zoo_inputs
from zoo import registry

CONFIG_FILE = "config.json"
LOCK_FILE = "lock"
METRICS_FILE = "metrics.json"
SKIPPED_FILE = "skipped_records.json"
PARTIAL = ".partial"  # ckpt-N.partial.index, ...: a checkpoint being written.
HEARTBEAT_SECONDS = 10.0
LEASE_SECONDS = 60.0  # A lock whose heartbeat is older than this is stale (shared filesystems).


def checkpoint_dir(workdir):
  return os.path.join(workdir, "checkpoints")


def samples_dir(workdir):
  return os.path.join(workdir, "samples")


# config.json's record of the models registered from outside the zoo (`registry.outside_sources`):
# where a reader of the workdir finds them again (`load_config`).
REGISTERED_KEY = "registered"


def save_config(config, workdir):
  """Writes `config` as WORKDIR/config.json (by rename), with the models of its entries
  (`{name, args}`) that were registered from outside the zoo under REGISTERED_KEY."""
  tf.io.gfile.makedirs(workdir)
  path = os.path.join(workdir, CONFIG_FILE)
  data = json.loads(config.to_json_best_effort())
  named = {v for k, v in _flatten(data).items() if k.split(".")[-1] == "name"}
  sources = {n: s for n, s in registry.outside_sources().items() if n in named}
  if sources:
    data[REGISTERED_KEY] = sources
  else:
    data.pop(REGISTERED_KEY, None)
  _write_by_rename(path, json.dumps(data, indent=2, sort_keys=True))


# Fields whose change makes a checkpoint another model's: a resumed run must keep them.
MODEL_FIELDS = (
  "model",
  "data.num_frames",
  "data.height",
  "data.width",
  "data.frame_mode",
  "objective.task",
  "objective.condition",
  "train.ema_decay",
)


def _flatten(tree, prefix=""):
  if isinstance(tree, dict):
    out = {}
    for k, v in tree.items():
      out.update(_flatten(v, f"{prefix}{k}."))
    return out
  return {prefix[:-1]: tree}


# Fields the training input's checkpointed position depends on (its batches, files, order):
# a resumed run that changes one starts its input afresh, where the stored position would
# not fit the new pipeline ("Incompatible shapes: expected [8,...] but got [4,...]").
INPUT_FIELDS = ("data", "train.batch_size", "seed")
EVAL_ONLY_FIELDS = ("data.eval_files", "data.tfds_eval_split")  # not the training input


def _changes(stored, config, fields):
  """[(field, stored value, new value)] where the two configs differ on `fields`. A field the
  stored config lacks, one a later version of the zoo added to every config (configs.common's
  base), is taken at its default: a run written before it existed ran as its default does,
  so resuming it after an upgrade changes nothing there."""
  a, b = (_flatten(json.loads(c.to_json_best_effort())) for c in (stored, config))
  defaults = _flatten(json.loads(common.base().to_json_best_effort()))
  a.update({k: defaults[k] for k in b.keys() - a.keys() if k in defaults})
  chosen = lambda k: any(k == f or k.startswith(f + ".") for f in fields)
  keys = sorted(k for k in set(a) | set(b) if chosen(k))
  return [(k, a.get(k), b.get(k)) for k in keys if a.get(k) != b.get(k)]


def model_changes(stored, config):
  """[(field, stored value, new value)] for the MODEL_FIELDS on which two configs differ."""
  return _changes(stored, config, MODEL_FIELDS)


def config_changes(stored, config):
  """[(field, stored value, new value)] for every field on which two configs differ."""
  sections = set(stored.keys()) | set(config.keys())
  return _changes(stored, config, tuple(sorted(sections)))


def input_changes(stored, config):
  """[(field, stored value, new value)] for the INPUT_FIELDS on which two configs differ
  (the evaluation's own data fields aside)."""
  return [c for c in _changes(stored, config, INPUT_FIELDS) if c[0] not in EVAL_ONLY_FIELDS]


# What every run's config.json holds, whatever its model (what the readers of a workdir need).
RUN_SECTIONS = ("model", "data", "objective", "train")


def load_config(workdir):
  path = os.path.join(workdir, CONFIG_FILE)
  if not tf.io.gfile.exists(path):
    raise FileNotFoundError(
      f"{path} does not exist: {workdir!r} is not a training workdir "
      "(expected config.json and checkpoints/ written by trainers.train)."
    )
  try:
    with tf.io.gfile.GFile(path, "rb") as f:
      data = json.loads(f.read())
  except (json.JSONDecodeError, UnicodeDecodeError) as e:
    data = e
  why = None
  if isinstance(data, Exception):
    why = f"unreadable content ({data})"
  elif not isinstance(data, dict):
    why = "another JSON value"
  else:
    missing = [k for k in RUN_SECTIONS if not isinstance(data.get(k), dict)]
    if "model" not in missing and not isinstance(data["model"].get("generator"), dict):
      missing.append("model.generator")
    if missing:
      why = f"a JSON object without {', '.join(missing)}"
  if why:
    raise errors.ConfigError(
      f"Expected {path} to hold the run's config as a JSON object (written by trainers.train), "
      f"received {why}."
    )
  registered = data.pop(REGISTERED_KEY, None)
  if isinstance(registered, dict):  # models of the user's own code: registered here too
    registry.import_sources(registered)
  return ml_collections.ConfigDict(data)


def build_network(entry):
  """Builds a network from a config entry {name, args}."""
  return registry.build(entry.name, **entry.args.to_dict())


def build_generator(config, batch_size=1):
  """Builds the config's generator and creates its variables with a dummy call."""
  generator = build_network(config.model.generator)
  generator(zoo_inputs.generator_inputs(generator, batch_size, tf.constant([0, 0])), training=False)
  return generator


def step_of(prefix):
  """N of a checkpoint prefix `DIR/ckpt-N`, or None."""
  try:
    return int(prefix.rsplit("-", 1)[1])
  except (IndexError, ValueError):
    return None


def checkpoint_paths(directory):
  """Prefixes `DIR/ckpt-N` whose index file exists, newest step first."""
  prefixes = [
    p[: -len(".index")] for p in tf.io.gfile.glob(os.path.join(directory, "ckpt-*.index"))
  ]
  steps = {p: step_of(p) for p in prefixes}
  return sorted((p for p in prefixes if steps[p] is not None), key=steps.get, reverse=True)


# The tensor of a tf.train.Checkpoint that every restore reads first: its object graph,
# written after the variables, at the end of the data file.
OBJECT_GRAPH_KEY = "_CHECKPOINTABLE_OBJECT_GRAPH"


def checkpoint_problem(path):
  """Why the checkpoint `path` cannot be read (one line), or None when its index loads, its
  data files are there and its object graph reads (a data file cut short does not: TF's
  reader raises IndexError, "Read less bytes than requested")."""
  try:
    reader = tf.train.load_checkpoint(path)
    reader.get_variable_to_shape_map()
  except (tf.errors.OpError, ValueError) as e:
    return first_line(e)
  if not tf.io.gfile.glob(path + ".data-*"):
    return "its .data files are missing"
  try:
    if reader.has_tensor(OBJECT_GRAPH_KEY):
      reader.get_tensor(OBJECT_GRAPH_KEY)
  except IndexError as e:
    return f"a data file is cut short: {first_line(e)}"
  except tf.errors.OpError as e:
    return first_line(e)
  return None


def first_line(error):
  """An exception's message as one line: its first (without TensorFlow's function and op
  names), or its type's name when it has none."""
  text = errors.plain(str(error))
  return text.splitlines()[0] if text else type(error).__name__


def readable_checkpoints(directory):
  """Checkpoint prefixes under `directory` that load, newest first; each one that does not is
  skipped with a warning."""
  out = []
  for path in checkpoint_paths(directory):
    problem = checkpoint_problem(path)
    if problem:
      logging.warning(
        "Skipping checkpoint %s, which does not load (%s); falling back to the previous one.",
        path,
        problem,
      )
    else:
      out.append(path)
  return out


def latest_checkpoint(workdir, step=None):
  """The newest checkpoint of the workdir that loads, or the one of `step`; raises otherwise."""
  directory = checkpoint_dir(workdir)
  if step is None:
    paths = readable_checkpoints(directory)
    if not paths:
      raise FileNotFoundError(f"No readable checkpoint under {directory}.")
    return paths[0]
  path = os.path.join(directory, f"ckpt-{step}")
  if not tf.io.gfile.exists(path + ".index"):
    raise FileNotFoundError(f"No checkpoint for step {step} under {directory}.")
  problem = checkpoint_problem(path)
  if problem:
    others = [step_of(p) for p in readable_checkpoints(directory)]
    raise errors.RunError(
      f"Expected a readable checkpoint for step {step}, received {path} "
      f"that does not load ({problem}); readable steps: {others or 'none'}."
    )
  return path


def restore_generator(workdir, step=None, ema=True):
  """Restores the generator of a workdir: (generator, config, checkpoint path).

  With `ema=True` the EMA copy is returned when the run kept one (the trainer saves it as
  `ema_generator`); otherwise the raw generator.
  """
  config = load_config(workdir)
  generator = build_generator(config)
  key = "ema_generator" if ema and config.train.get("ema_decay", 0.0) > 0 else "generator"
  failed = set()
  while True:
    # A running trainer may delete the chosen checkpoint (max_to_keep) while it is read:
    # the candidates are listed again after each failure.
    path = (
      latest_checkpoint(workdir, step)
      if step is not None
      else next((p for p in readable_checkpoints(checkpoint_dir(workdir)) if p not in failed), None)
    )
    if path is None:
      raise FileNotFoundError(f"No readable checkpoint under {checkpoint_dir(workdir)}.")
    try:  # A fresh Checkpoint per attempt: a failed restore leaves state in the object.
      ckpt = tf.train.Checkpoint(**{key: registry.weights_in_order(generator)})
      ckpt.restore(path).expect_partial().assert_existing_objects_matched()
      return generator, config, path
    except tf.errors.OpError as e:
      if step is not None:
        raise
      failed.add(path)
      logging.warning(
        "Skipping checkpoint %s, which does not load (%s); falling back to the previous one.",
        path,
        str(e).splitlines()[0],
      )


# ----------------------------------------------------------------------------- writing safely


def fsync(path):
  """Flushes the file or folder `path` to the disk (a folder: the names in it)."""
  if "://" in path:  # Object stores have no fsync; their writes are whole-object.
    return
  fd = os.open(path, os.O_RDONLY)
  try:
    os.fsync(fd)
  finally:
    os.close(fd)


def fsync_tree(directory):
  """fsyncs every file under `directory`, then every folder, innermost first: a rename after
  it publishes files whose contents are on the disk (a power loss does not leave a short file
  under the final name)."""
  for dirpath, _, filenames in os.walk(directory, topdown=False):
    for name in filenames:
      fsync(os.path.join(dirpath, name))
    fsync(dirpath)


def _remove(path):
  if tf.io.gfile.isdir(path):
    tf.io.gfile.rmtree(path)
  elif tf.io.gfile.exists(path):
    tf.io.gfile.remove(path)


def _remove_partial(partial):
  for path in tf.io.gfile.glob(partial + "*"):
    _remove(path)


class AtomicCheckpoint(tf.train.Checkpoint):
  """A tf.train.Checkpoint whose files appear under their final names only once complete.

  TensorFlow writes `PREFIX_temp/` and then merges it into `PREFIX.index` in place, so a kill
  or a full disk during the merge leaves a truncated index under the final name. Here the
  write goes to `PREFIX.partial`, every file is fsynced, then renamed: data files first, the
  index last, so `PREFIX.index` exists only next to complete data. A failed write removes its
  partial files; one a kill left behind is removed by `sweep_partial` at the next start.
  The override is of `_write`, the one method `save`, `write` and tf.train.CheckpointManager
  call (TensorFlow 2.21); the manager's bookkeeping callbacks run after the rename.
  """

  def _write(self, file_prefix, options=None):
    file_prefix = os.fspath(file_prefix)
    callbacks = list((options.experimental_write_callbacks if options else None) or [])
    inner = copy.copy(options) if options else tf.train.CheckpointOptions()
    inner.experimental_write_callbacks = None
    partial = file_prefix + PARTIAL
    try:
      super()._write(partial, options=inner)
      written = sorted(tf.io.gfile.glob(partial + ".data-*")) + [partial + ".index"]
      for path in written:
        fsync(path)
      for path in written:
        tf.io.gfile.rename(path, file_prefix + path[len(partial) :], overwrite=True)
      fsync(os.path.dirname(file_prefix) or ".")
    except BaseException:
      _remove_partial(partial)
      raise
    for callback in callbacks:
      callback(file_prefix)
    return file_prefix


def sweep_partial(directory):
  """Removes what interrupted checkpoint writes left in `directory` (and its keep/ folder):
  `*.partial*` files and TensorFlow's `*_temp` folders, with a log line each."""
  found = []
  for folder in (directory, os.path.join(directory, "keep")):
    found += tf.io.gfile.glob(os.path.join(folder, "*" + PARTIAL + "*"))
    found += tf.io.gfile.glob(os.path.join(folder, "*_temp"))
  for path in sorted(set(found)):
    logging.warning("Removing %s, left by a checkpoint write that did not finish.", path)
    _remove(path)
  return sorted(set(found))


def repair_checkpoint_state(directory):
  """Rewrites TensorFlow's `checkpoint` state file in `directory` from the checkpoints on
  disk when it is missing or does not parse, with a warning when it was there.

  The readers list checkpoints themselves, but tf.train.CheckpointManager reads this file:
  an empty one (a power loss soon after it was replaced) stopped the trainer with
  "ValueError: Invalid checkpoint state", and an unreadable or missing one left the older
  checkpoints out of `train.keep_checkpoints` for good.
  """
  state_file = os.path.join(directory, "checkpoint")
  try:
    if tf.train.get_checkpoint_state(directory) is not None:
      return
    problem = "it does not parse"
  except ValueError:  # parses, but names no checkpoint (an empty file)
    problem = "it names no checkpoint"
  paths = checkpoint_paths(directory)
  if not paths:
    return
  if tf.io.gfile.exists(state_file):
    logging.warning(
      "Rewriting %s from the checkpoints in its folder (newest: %s): %s.",
      state_file,
      os.path.basename(paths[0]),
      problem,
    )
  paths = paths[::-1]  # oldest first, as the manager deletes them
  # The manager deletes only checkpoints newer than the last preserved time: their own.
  times = [tf.io.gfile.stat(p + ".index").mtime_nsec / 1e9 for p in paths]
  tf.compat.v1.train.update_checkpoint_state(
    directory,
    os.path.basename(paths[-1]),  # relative, as the manager writes them: the workdir may move
    all_model_checkpoint_paths=[os.path.basename(p) for p in paths],
    all_model_checkpoint_timestamps=times,
    last_preserved_timestamp=min(times) - 1.0,
  )


def _write_by_rename(path, text):
  """Writes `text` to `path`.tmp, then renames it to `path`; a write that fails (a full disk)
  removes the temporary file and leaves `path` as it was."""
  tmp = path + ".tmp"
  try:
    with tf.io.gfile.GFile(tmp, "w") as f:
      f.write(text)
    tf.io.gfile.rename(tmp, path, overwrite=True)
  except BaseException:
    with contextlib.suppress(OSError, tf.errors.OpError):
      _remove(tmp)
    raise


def write_json(path, value):
  """Writes `value` as JSON to a temporary name, then renames it to `path`."""
  _write_by_rename(path, json.dumps(value, indent=2, sort_keys=True))


# ----------------------------------------------------------------------------- one run per workdir


def pid_alive(pid):
  """True when a process `pid` (> 0) runs on this host."""
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def _describe_holder(holder):
  if not holder:
    return "a run whose lock file is unreadable"
  age = time.time() - holder.get("heartbeat", 0)
  started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(holder.get("started", 0)))
  return (
    f"pid {holder.get('pid')} on host {holder.get('host')} (started {started}, last "
    f"heartbeat {age:.0f} s ago)"
  )


# flock's answers where a filesystem has no file locks (not a lock another process holds).
NO_FILE_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL)


def try_flock(fd):
  """(taken, refusal) of an exclusive `fcntl.flock` on `fd` (or a file object), without
  waiting: (True, None) when taken, (False, None) when another process holds it, and
  (None, the OS's words) where the filesystem has no file locks (NO_FILE_LOCKS) or the
  platform has no flock. The kernel releases it when the file is closed or the process dies,
  even by SIGKILL."""
  if fcntl is None:
    return None, "no flock on this platform"
  try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
  except OSError as e:
    if e.errno in NO_FILE_LOCKS:
      return None, os.strerror(e.errno)
    if e.errno in (errno.EWOULDBLOCK, errno.EACCES):
      return False, None
    raise
  return True, None


class WorkdirLock:
  """The advisory lock of the one run that trains in a workdir: `WORKDIR/lock`.

  `fcntl.flock` on the file, which the kernel releases when the process dies (even by
  SIGKILL); the file holds the holder's host, pid, start time and a heartbeat a thread
  renews every HEARTBEAT_SECONDS. Where flock does not reach across hosts (some shared
  filesystems), a newcomer that obtains the flock still refuses while the recorded holder's
  heartbeat is younger than LEASE_SECONDS, unless that holder is a dead process of this host;
  where the filesystem has no file locks at all (NO_FILE_LOCKS), that lease is the lock, as
  it is in a workdir on an object store (`gs://...`: a URL), whose lock object is read and
  written whole through `tf.io.gfile`.
  A lock left by a run that ended without releasing it is taken over with a warning. Readers
  (export, sample, evaluate) take no lock.
  """

  def __init__(self, workdir):
    self.workdir = workdir
    self.path = os.path.join(workdir, LOCK_FILE)
    self._url = "://" in workdir
    self._fd = None
    self._stop = threading.Event()
    self._thread = None
    self._flocked = False  # this holder has the lock file's flock
    self.record = None

  def _read(self):
    try:
      if self._url:
        if not tf.io.gfile.exists(self.path):
          return {}
        with tf.io.gfile.GFile(self.path, "rb") as f:
          data = f.read()
      else:
        data = os.pread(self._fd, 65536, 0)
      return json.loads(data) if data.strip() else {}
    except (OSError, ValueError, tf.errors.OpError):
      return None

  def _write(self, free=False):
    """Writes this holder's record as the lock's content, or nothing (`free`)."""
    data = b"" if free else json.dumps(self.record).encode()
    if self._url:
      with tf.io.gfile.GFile(self.path, "wb") as f:
        f.write(data)
      return
    with errors.writing(self.path):
      os.pwrite(self._fd, data, 0)
      os.ftruncate(self._fd, len(data))

  def _acquire_url(self):
    """An object store has no file locks: its lease alone keeps a second run out."""
    try:
      tf.io.gfile.makedirs(self.workdir)
    except tf.errors.OpError as e:
      raise errors.RunError(
        f"Expected a writable workdir, received {self.workdir}: {e.message}."
      ) from None
    logging.info(
      "%s is on an object store, which has no file locks: the lock's heartbeat alone keeps "
      "a second run out.",
      self.workdir,
    )

  def _lock_file(self):
    """Opens the lock file and takes its flock (a filesystem without locks: logged)."""
    try:
      os.makedirs(self.workdir, exist_ok=True)
      self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileExistsError as e:
      raise errors.RunError(
        f"Expected --workdir to be a directory, received {e.filename}, which is a file."
      ) from None
    except OSError as e:
      raise errors.RunError(
        f"Expected a writable workdir, received {self.workdir}: {e.strerror}."
      ) from None
    try:
      taken, refusal = try_flock(self._fd)
    except OSError:
      self.close()
      raise
    if taken is False:
      holder = self._read()
      self.close()
      raise errors.WorkdirLockedError(
        f"Expected no other run training in {self.workdir}, received one holding "
        f"{self.path}: {_describe_holder(holder)}."
      )
    self._flocked = taken is True
    if taken is None:
      # NFS without its lock service, some FUSE mounts (gcsfuse, s3fs): the heartbeat's
      # lease below is the lock; two runs started within the same second could both pass.
      logging.warning(
        "%s: the filesystem refuses file locks (%s); the lock file's heartbeat alone keeps "
        "a second run out.",
        self.path,
        refusal,
      )

  def acquire(self):
    if self._url:
      self._acquire_url()
    else:
      self._lock_file()
    previous = self._read()
    host = socket.gethostname()
    if previous:
      pid = previous.get("pid")
      fresh = time.time() - previous.get("heartbeat", 0) < LEASE_SECONDS
      # A record naming this very process, under a file lock it just obtained, is a former
      # life's: a container restarted at once runs the trainer as pid 1 again, on one host.
      dead_here = previous.get("host") == host and (
        not (isinstance(pid, int) and pid > 0 and pid_alive(pid))
        or (pid == os.getpid() and self._flocked)
      )
      if fresh and not dead_here:
        self.close()
        why = (
          "its heartbeat is recent: it may be on another host"
          if self._url
          else "the file lock was free: the holder may be on another host of a shared filesystem"
        )
        raise errors.WorkdirLockedError(
          f"Expected no other run training in {self.workdir}, received one holding "
          f"{self.path}: {_describe_holder(previous)} ({why})."
        )
    if previous or previous is None:
      logging.warning(
        "Taking over the lock %s of %s, a run that ended without releasing it.",
        self.path,
        _describe_holder(previous),
      )
    now = time.time()
    self.record = {"host": host, "pid": os.getpid(), "started": now, "heartbeat": now}
    try:
      self._write()
    except BaseException:
      self.close()
      raise
    self._thread = threading.Thread(target=self._beat, name="workdir-lock-heartbeat", daemon=True)
    self._thread.start()
    return self

  def _beat(self):
    while not self._stop.wait(HEARTBEAT_SECONDS):
      self.record["heartbeat"] = time.time()
      with contextlib.suppress(OSError, tf.errors.OpError):
        self._write()

  def close(self):
    if self._fd is not None:
      os.close(self._fd)
      self._fd = None

  def release(self):
    """Empties the lock file (free) and releases the lock."""
    self._stop.set()
    if self._thread is not None:
      self._thread.join()
      self._thread = None
    if self._url:
      with contextlib.suppress(OSError, tf.errors.OpError):
        self._write(free=True)
    if self._fd is not None:
      with contextlib.suppress(OSError):
        os.ftruncate(self._fd, 0)
      self.close()

  def __enter__(self):
    return self.acquire()

  def __exit__(self, *exc):
    self.release()


def write_metrics(
  workdir, metrics, *, step, names, num_real_clips, num_fake_clips, networks, real, written_by
):
  """Records an evaluation of the workdir's generator as WORKDIR/metrics.json.

  `metrics` {name: value}, `names` {name: display name}, `step` the checkpoint evaluated,
  `networks` which feature network and weights each metric used, `real` what the real clips
  were. The latest evaluation replaces the previous one; the file is written under a
  temporary name and renamed, so a reader never sees half of it.
  """
  record = {
    "step": None if step is None else int(step),
    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "metrics": {k: float(v) for k, v in metrics.items()},
    "names": dict(names),
    "num_real_clips": int(num_real_clips),
    "num_fake_clips": int(num_fake_clips),
    "networks": networks,
    "real": real,
    "written_by": written_by,
  }
  write_json(os.path.join(workdir, METRICS_FILE), record)
  return record


def load_metrics(workdir):
  """The record `write_metrics` wrote, or None when the workdir was never evaluated."""
  path = os.path.join(workdir, METRICS_FILE)
  if not tf.io.gfile.exists(path):
    return None
  with tf.io.gfile.GFile(path) as f:
    try:
      return json.load(f)
    except json.JSONDecodeError as e:
      raise ValueError(
        f"Expected {path} to be JSON written by trainers.evaluate, "
        f"received unreadable content: {e}."
      ) from e
