"""Which form of an operation runs fastest on this machine: measured once, then remembered.

Some operations have several forms with the same arithmetic (`zoo.layers.strided_conv`: TF's
op, sub-pixel, patch; `zoo.layers.spade.mask_conv`: TF's op, lookup;
`zoo.layers.spade.map_conv`'s filter gradient: TF's op, taps;
`zoo.layers.resblocks.time_padded_conv`: TF's op on the padded clip, edges;
`zoo.layers.lstm.matmul_transposed`: TF's matmul, transposed), and which is
fastest depends on the machine: oneDNN's kernels differ between CPUs (AMX, Zen 4, Zen 5) and
GPUs run TF's own op well. `choose` times the candidate forms the first time a key
(operation, shapes, dtype) is met, keeps the fastest, and remembers it in memory and in one
JSON file per machine (device name, for a CPU with the threads it runs on, and TF version)
under `$VIDEOGAN_ZOO_CACHE`, else ~/.cache/videogan_zoo, so later runs pay nothing.

The policy comes from `set_policy` (the trainer's `runtime.conv_forms`), else the environment
variable `VIDEOGAN_CONV_FORMS`, else "auto":
  auto       measure where shapes are static and outside XLA; elsewhere the remembered choice
             or TF's op;
  native     TF's own ops everywhere;
  rules      fixed thresholds measured on one CPU, no timing;
  subpixel, patch, space_to_depth, lookup, edges, transposed, taps   that form wherever
             it applies, TF's op elsewhere (lookup: `zoo.layers.spade.mask_conv`; edges:
             `zoo.layers.resblocks.time_padded_conv`; transposed:
             `zoo.layers.lstm.matmul_transposed`; taps: `zoo.layers.spade.map_conv`).
"""

import contextlib
import functools
import json
import os
import platform
import re
import statistics
import subprocess
import tempfile
import threading
import time

from absl import logging
import tensorflow as tf
from tensorflow.python.ops import control_flow_util

try:
  import fcntl
except ImportError:  # not on Windows: writers then only merge, without a lock
  fcntl = None

NATIVE = "native"
POLICIES = (
  "auto",
  NATIVE,
  "rules",
  "subpixel",
  "patch",
  "space_to_depth",
  "lookup",
  "edges",
  "transposed",
  "taps",
)
POLICY_ENV = "VIDEOGAN_CONV_FORMS"
CACHE_ENV = "VIDEOGAN_ZOO_CACHE"
# Another form replaces TF's op only when this much faster: timing noise keeps the native op.
NATIVE_MARGIN = 0.05
# Per candidate: a warm-up call (traces, builds kernels), then up to TIMED_CALLS calls while
# they take less than BUDGET_SECS in all; the median counts. A candidate whose first timed
# call took over twice the best median so far is not timed further.
TIMED_CALLS = 3
BUDGET_SECS = 0.2
# Forms are timed on at most this many clips of a batch, and the choice holds for every
# larger batch: a convolution's time grows with the batch alike in every form, while timing
# whole batches of 16 or 32 at paper size cost 10-36 s of a first call (docs/benchmarks.md).
MEASURE_MAX_BATCH = 8

_STATE = {"policy": None, "unmeasured": 0}
_CHOOSERS = {}
_LOCK = threading.Lock()


def set_policy(policy):
  """Sets the policy for this process (None: `VIDEOGAN_CONV_FORMS` again, else "auto")."""
  if policy is not None:
    _check(policy, "the forms policy")
  _STATE["policy"] = policy


def policy():
  """The policy in force: one of POLICIES."""
  if _STATE["policy"] is not None:
    return _STATE["policy"]
  return env_policy()


def env_policy():
  """The policy `VIDEOGAN_CONV_FORMS` names ("auto" when unset or empty); a ValueError naming
  the variable when it names none."""
  return _check(os.environ.get(POLICY_ENV) or "auto", POLICY_ENV)


def _check(value, name):
  if value not in POLICIES:
    raise ValueError(f"Expected {name} in {POLICIES}, received {value!r}.")
  return value


def forced_form(forms, rule):
  """The form the policy forces among `forms` (names), or None under "auto" (measure them):
  "native" TF's op; "rules" `rule`; a form's own name that form where it is one of `forms`,
  TF's op where it is not."""
  forced = policy()
  if forced == "auto":
    return None
  forced = rule if forced == "rules" else forced
  return forced if forced in forms else NATIVE


def choose_form(
  operation, dtype, shape, details, forms, rule, runner, others=(), versions=None, whole_batch=False
):
  """The form among `forms` (names) that runs `operation` on an input of `shape`: the one the
  policy forces ("rules": `rule`), else the one measured fastest (`choose`), keyed by
  operation, dtype, the measured shape (`measured_shape`), `details` (the settings and shapes
  of operands that are not batches), the measured `others` (further batch operands, as a
  gradient dL/dY) and the forms. `runner(name, measured shape, *measured others)` gives a
  zero-argument callable that runs that form once (`once_built`); nothing is measured where a
  shape is not static or inside XLA. `versions` ({form: number}) names the forms whose code
  changed after machines had timed them ("edges@2" in the key): their old timings are not
  read as the new code's, and are measured again once. `whole_batch` times the batch whole,
  for an operation whose best form changes with the batch (a matmul's rows)."""
  if len(forms) == 1:
    return next(iter(forms))
  forced = forced_form(forms, rule)
  if forced is not None:
    return forced
  measure = tf.TensorShape if whole_batch else measured_shape
  shapes = [measure(s) for s in (shape, *others)]
  listed = [str(s.as_list() if s.rank is not None else None) for s in shapes]
  versions = versions or {}
  named = sorted(f"{name}@{versions[name]}" if name in versions else name for name in forms)
  key = " ".join(
    [operation, tf.as_dtype(dtype).name, listed[0], details, *listed[1:], ",".join(named)]
  )
  measurable = all(s.is_fully_defined() for s in shapes) and not in_xla()
  runs = {name: runner(name, *shapes) for name in forms}
  return choose(key, runs if measurable else dict.fromkeys(runs), measurable)


def once_built(build):
  """A zero-argument callable for `choose`'s candidates: builds what it runs (`build()`, which
  returns a zero-argument callable: operands made, function traced) on its first call, the
  warm-up, so nothing is built for a form whose choice is remembered."""
  built = []

  def run():
    if not built:
      built.append(build())
    return built[0]()

  return run


def random_runner(form, specs):
  """A zero-argument callable (`once_built`) that runs `form(*operands)` once on random
  operands of `specs`, (shape, dtype) pairs."""

  def build():
    args = [tf.random.normal(shape, dtype=dtype) for shape, dtype in specs]
    fn = tf.function(lambda *a: tf.reshape(form(*a), [-1])[:1])
    return lambda: fn(*args)

  return once_built(build)


def in_xla():
  """Whether this traces into an XLA-compiled function (`jit_compile`, TPUStrategy's replicas):
  nothing is measured there."""
  return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def measured_shape(shape):
  """`shape` of a batch with at most `MEASURE_MAX_BATCH` examples: what forms are timed on."""
  shape = tf.TensorShape(shape)
  if shape.rank is None or shape[0] is None:
    return shape
  return tf.TensorShape([min(shape[0], MEASURE_MAX_BATCH)] + shape.as_list()[1:])


def choose(key, candidates, measurable=True):
  """The name of the form to run for `key`, with the machine's cache (see `Chooser.choose`);
  nothing is measured inside `unmeasured()`."""
  return _chooser().choose(key, candidates, measurable and not _STATE["unmeasured"])


@contextlib.contextmanager
def unmeasured():
  """Within: no form is timed; the remembered choice or TF's op runs. For passes that only
  create variables, on a batch of another size than training's (a trainer's build on one
  clip): their shapes would be timed once per machine and never run again."""
  _STATE["unmeasured"] += 1
  try:
    yield
  finally:
    _STATE["unmeasured"] -= 1


def measured(key):
  """{candidate: milliseconds} as timed when `key` was chosen, in this process or an earlier
  run on this machine; {} when it was never timed."""
  return _chooser().measured(key)


def _chooser():
  """The process's `Chooser` of this machine's cache file."""
  path = cache_path()
  with _LOCK:
    if path not in _CHOOSERS:
      _CHOOSERS[path] = Chooser(path)
    return _CHOOSERS[path]


def cached_choices():
  """This machine's remembered choices, {key: entry}; {} without a readable cache file."""
  return Chooser(cache_path())._read()


def cache_directory():
  """`VIDEOGAN_ZOO_CACHE`, else ~/.cache/videogan_zoo, else (that default cannot be made or
  written: a read-only home) `videogan_zoo-UID` in the temp folder; the rule of
  `trainers.onednn.cache_directory`, which must not import TensorFlow (and zoo does not
  import trainers)."""
  if os.environ.get(CACHE_ENV):
    return os.environ[CACHE_ENV]
  directory = os.path.join(os.path.expanduser("~"), ".cache", "videogan_zoo")
  try:
    os.makedirs(directory, exist_ok=True)
    if os.access(directory, os.W_OK):
      return directory
  except OSError:
    pass
  user = os.getuid() if hasattr(os, "getuid") else os.getpid()
  return os.path.join(tempfile.gettempdir(), f"videogan_zoo-{user}")


def cache_path():
  """This machine's JSON file: one per device name and TF version."""
  directory = cache_directory()
  name = re.sub(r"[^A-Za-z0-9.]+", "-", f"{device_name()} tf{tf.__version__}").strip("-")
  return os.path.join(directory, f"forms-{name[:120]}.json")


@functools.cache
def device_name():
  """The device the step runs on: "TPU", else the first GPU's name, else the CPU's model.

  A TPU host has a CPU of its own, on which CPU runs measure: without its own name, the TPU
  would read their choices. (TPU steps are XLA-compiled, where nothing is measured: TF's op
  runs there unless a choice was remembered for the TPU.) Called while a step traces, after
  the strategy has connected to the TPU.
  """
  if tf.config.list_logical_devices("TPU"):
    return "TPU"
  gpus = tf.config.list_physical_devices("GPU")
  if gpus:
    details = tf.config.experimental.get_device_details(gpus[0])
    return "GPU " + details.get("device_name", "unknown")
  info = {}
  with contextlib.suppress(OSError):
    with open("/proc/cpuinfo") as f:
      for line in f:
        field, _, value = line.partition(":")
        info.setdefault(field.strip(), value.strip())
  if "model name" in info:  # a generic name ("Intel(R) Xeon(R) Processor") needs the model
    cpu = f"{info['model name']} family {info.get('cpu family')} model {info.get('model')}"
  elif "CPU part" in info:  # Arm: no model name; the implementer and part name the core
    cpu = (
      f"{platform.machine()} implementer {info.get('CPU implementer')} "
      f"part {info['CPU part']} variant {info.get('CPU variant')}"
    )
  else:
    cpu = _macos_cpu() or platform.processor() or platform.machine()
  # TensorFlow's own kernels and oneDNN's are timed apart: the fastest form differs.
  return f"CPU {cpu} {cpu_threads()} threads" + ("" if onednn_enabled() else " without oneDNN")


def onednn_enabled():
  """Whether TensorFlow's CPU ops run oneDNN's kernels in this process (TensorFlow's own
  answer: `TF_ENABLE_ONEDNN_OPTS`, else on only for x86 CPUs with AVX-512 VNNI, BF16 or AMX)."""
  try:
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())
  except (ImportError, AttributeError):  # another TensorFlow: the variable alone
    return os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() not in ("0", "false")


def _macos_cpu():
  """The CPU's brand string on macOS ("Apple M2 Pro"), where there is no /proc/cpuinfo and
  `platform.processor()` says only "arm" or "i386"; None elsewhere or when sysctl fails."""
  if platform.system() != "Darwin":
    return None
  try:
    done = subprocess.run(
      ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
    )
  except (OSError, subprocess.SubprocessError):
    return None
  return done.stdout.strip() or None


def cpu_threads():
  """The threads TensorFlow's CPU ops run on: its intra-op setting, else its
  TF_NUM_INTRAOP_THREADS variable (which the programs set to a container's CPU limit), else
  the cores this process may use (as TensorFlow counts them). Which form is fastest depends on
  it: the same CPU model in a 2-core job and a 32-core one, sharing a home directory's cache
  on a cluster, must not share choices."""
  threads = tf.config.threading.get_intra_op_parallelism_threads()
  if not threads:
    try:
      threads = int(os.environ.get("TF_NUM_INTRAOP_THREADS", "0"))
    except ValueError:
      threads = 0
  if threads > 0:
    return threads
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # macOS, Windows
    return os.cpu_count() or 1


class Chooser:
  """Measured choices for one machine, in memory and in the JSON file at `path`.

  Writes go to a temporary file that replaces `path` after re-reading and merging what other
  processes wrote meanwhile, under a lock file where the OS has one, so concurrent writers
  lose nothing. A file that cannot be read is measured over; one that cannot be written is
  logged once and the choices stay in memory, so training goes on.
  """

  def __init__(self, path):
    self.path = path
    self._choices = None
    self._lock = threading.RLock()
    self._warned = False

  def choose(self, key, candidates, measurable=True):
    """The name of the fastest of `candidates` for `key` (a string naming operation, shapes,
    dtype and the candidates).

    Args:
      key: what is chosen; the same key gets the same choice in later runs.
      candidates: form name -> zero-argument callable that runs the form once on inputs of
        the key's shapes (its result, if a tensor, is read to wait for the device).
      measurable: False where nothing can be timed (shapes not static, inside XLA): then the
        remembered choice, else "native" if a candidate, else the first.
    """
    if not candidates:
      raise ValueError(f"Expected candidate forms for {key}, received none.")
    with self._lock:
      if self._choices is None:
        self._choices = self._read()
      remembered = self._choices.get(key, {}).get("form")
      if remembered in candidates:
        return remembered
      if not measurable or len(candidates) == 1:
        return NATIVE if NATIVE in candidates else next(iter(candidates))
      millis = {}
      with _quiet_retracing():
        for name, run in candidates.items():
          slow = 2e-3 * min(millis.values()) if millis else None
          millis[name] = 1e3 * _median_secs(run, slow)
      best = min(millis, key=millis.get)
      if NATIVE in millis and millis[best] > (1 - NATIVE_MARGIN) * millis[NATIVE]:
        best = NATIVE
      logging.info(
        "Form %r for %s (ms: %s).",
        best,
        key,
        ", ".join(f"{name} {ms:.2f}" for name, ms in millis.items()),
      )
      entry = {"form": best, "ms": {name: round(ms, 3) for name, ms in millis.items()}}
      self._choices[key] = entry
      self._write(key, entry)
      return best

  def measured(self, key):
    """{candidate: ms} of `key`'s entry; {} without one."""
    with self._lock:
      if self._choices is None:
        self._choices = self._read()
      return dict(self._choices.get(key, {}).get("ms", {}))

  def _read(self):
    """The file's choices; {} if there is none or it is not a JSON object of entries."""
    try:
      with open(self.path) as f:
        data = json.load(f)
    except (FileNotFoundError, NotADirectoryError):
      return {}
    except (OSError, ValueError) as e:
      self._warn(f"Ignoring the unreadable forms cache {self.path}: {e}")
      return {}
    if not isinstance(data, dict):
      self._warn(f"Ignoring the forms cache {self.path}: expected a JSON object.")
      return {}
    # An entry of another shape (edited by hand, damaged) is measured over, as a missing one.
    return {
      k: v
      for k, v in data.items()
      if isinstance(v, dict)
      and isinstance(v.get("form"), str)
      and isinstance(v.get("ms", {}), dict)
    }

  def _write(self, key, entry):
    try:
      os.makedirs(os.path.dirname(self.path), exist_ok=True)
      with self._file_lock():
        merged = self._read()
        merged[key] = entry
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(self.path), suffix=".tmp")
        try:
          with os.fdopen(fd, "w") as f:
            json.dump(merged, f, indent=1, sort_keys=True)
          os.replace(tmp, self.path)
        except BaseException:
          with contextlib.suppress(OSError):
            os.remove(tmp)
          raise
      self._choices.update(merged)
    except OSError as e:
      self._warn(f"Keeping measured forms in memory only; cannot write {self.path}: {e}")

  @contextlib.contextmanager
  def _file_lock(self):
    if fcntl is None:
      yield
      return
    with open(self.path + ".lock", "a") as f:
      fcntl.flock(f, fcntl.LOCK_EX)
      try:
        yield
      finally:
        fcntl.flock(f, fcntl.LOCK_UN)

  def _warn(self, message):
    if not self._warned:
      self._warned = True
      logging.warning(message)


@contextlib.contextmanager
def _quiet_retracing():
  """Mutes TF's warning about functions traced again and again: each timed form is a new
  `tf.function` of the same code, which is what that warning looks for."""
  logger = tf.get_logger()
  quiet = lambda record: "triggered tf.function retracing" not in record.getMessage()
  logger.addFilter(quiet)
  try:
    yield
  finally:
    logger.removeFilter(quiet)


def _median_secs(run, slow=None):
  """Median seconds of `run()` after a warm-up call, eagerly even while a function traces; the
  first timed call alone if it took over `slow` seconds (clearly not the fastest). The warm-up
  is never a figure: it traces and allocates, several times a call at paper size."""
  with tf.init_scope():
    _wait(run())
    times = []
    start = time.perf_counter()
    while len(times) < TIMED_CALLS and (not times or time.perf_counter() - start < BUDGET_SECS):
      t = time.perf_counter()
      _wait(run())
      times.append(time.perf_counter() - t)
      if slow is not None and times[0] > slow:
        break
  return statistics.median(times)


def _wait(result):
  if hasattr(result, "numpy"):
    result.numpy()
