"""oneDNN on where TensorFlow leaves it off and it is faster: measured once per machine.

TensorFlow computes with oneDNN by default only on x86 CPUs with AVX-512 VNNI, BF16, FP16
or AMX; elsewhere (an AMD Zen 2 or Zen 3, an Intel CPU without AVX-512) its own kernels
run. Measured on a 2-core AMD EPYC (family 25 model 1, Zen 3, AVX2), the VGAN two-stream
step took 5.11 s with TensorFlow's kernels and 3.23 s with oneDNN, and its fp32 matmul ran
at 90 and 175 GFLOP/s (docs/benchmarks.md). TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` once,
when it is imported, so the choice is made before that, as the programs' packages load
(`trainers`, `export`, `bench`):

- `TF_ENABLE_ONEDNN_OPTS` set by the user is theirs (0 or 1), and nothing is measured;
- on a CPU where TensorFlow turns oneDNN on by itself, or off x86 Linux, nothing happens;
- otherwise the verdict remembered for this machine (CPU model, usable cores, TensorFlow
  version) in `$VIDEOGAN_ZOO_CACHE` (else ~/.cache/videogan_zoo)/onednn.json is applied, or
  made: two child processes time a VGAN 3D convolution with its gradients, one with oneDNN
  and one without (about 20 s, once), under a lock so that concurrent first runs measure
  once; oneDNN is turned on when it runs more than 5% faster, and one line says so.

A process that imported TensorFlow before the zoo's packages keeps TensorFlow's choice
(TensorFlow has read the variable by then); where this machine's verdict is oneDNN, one line
says what that costs and how to change it (`TF_ENABLE_ONEDNN_OPTS=1`, or the zoo's packages
imported first).
"""

import contextlib
import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

try:
  import fcntl
except ImportError:  # not on Windows: concurrent first runs may then both measure
  fcntl = None

VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
CACHE_ENV = "VIDEOGAN_ZOO_CACHE"  # the forms cache's directory (zoo.layers.form_choice)
# CPU flags on which TensorFlow turns oneDNN on by itself (its cpu_feature_guard's list).
DEFAULT_ON_FLAGS = ("avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_tile")
MARGIN = 0.05  # oneDNN is turned on only when this much faster: timing noise keeps the default
CHILD_TIMEOUT_SECS = 300
# One of VGAN's "k4 s2" layers (32 -> 64 channels) at batch 4, forward and both gradients:
# the step's kind of work, tens of milliseconds per call on two cores.
PROBE = """
import json, os, statistics, sys, time
import tensorflow as tf
from tensorflow.python.util import _pywrap_util_port
x = tf.Variable(tf.random.stateless_normal([4, 8, 32, 32, 32], seed=[0, 0]))
k = tf.Variable(tf.random.stateless_normal([4, 4, 4, 32, 64], seed=[0, 1]) * 0.05)
@tf.function
def step():
  with tf.GradientTape() as tape:
    y = tf.nn.conv3d(x, k, [1, 2, 2, 2, 1], "SAME")
    loss = tf.reduce_sum(tf.nn.leaky_relu(y) ** 2)
  return tape.gradient(loss, [x, k])
[g.numpy() for g in step()]
times = []
while len(times) < 7 and (len(times) < 2 or sum(times) < 2.0):
  start = time.perf_counter()
  [g.numpy() for g in step()]
  times.append(time.perf_counter() - start)
print(json.dumps({"onednn": bool(_pywrap_util_port.IsMklEnabled()),
                  "ms": 1e3 * statistics.median(times)}))
"""


def cpu_fields(text):
  """The first processor's fields of a /proc/cpuinfo text ({} where there is none)."""
  info = {}
  for line in text.splitlines():
    field, _, value = line.partition(":")
    if not field.strip() and info:
      break
    if field.strip():
      info.setdefault(field.strip(), value.strip())
  return info


def cpu_info(path="/proc/cpuinfo"):
  """`cpu_fields` of this machine ({} where there is no /proc/cpuinfo)."""
  try:
    with open(path, encoding="utf-8", errors="replace") as f:
      return cpu_fields(f.read())
  except OSError:
    return {}


def tensorflow_version():
  """The installed TensorFlow's version, read without importing it ("" when unknown)."""
  from importlib import metadata

  for name in ("tensorflow", "tensorflow-cpu", "tf-nightly"):
    with contextlib.suppress(metadata.PackageNotFoundError):
      return metadata.version(name)
  return ""


def machine_key(info):
  """What the verdict depends on: CPU model, usable cores, TensorFlow version."""
  try:
    cores = len(os.sched_getaffinity(0))
  except AttributeError:
    cores = os.cpu_count() or 1
  return (
    f"{info.get('model name', '?')} family {info.get('cpu family', '?')} model "
    f"{info.get('model', '?')}, {cores} cores, TensorFlow {tensorflow_version()}"
  )


def default_on(info):
  """Whether TensorFlow turns oneDNN on by itself for the CPU of `cpu_fields` `info`."""
  return bool(set(info.get("flags", "").split()) & set(DEFAULT_ON_FLAGS))


def undecided(environ, info, system, machine):
  """Why nothing is to be decided here (a phrase), or None when the choice is ours."""
  if VARIABLE in environ:
    return f"{VARIABLE}={environ[VARIABLE]} is set"
  if system != "Linux" or machine not in ("x86_64", "AMD64"):
    return f"not x86 Linux ({system} {machine})"
  if default_on(info):
    return "TensorFlow turns oneDNN on for this CPU"
  return None


def enabled(environ=None):
  """Whether TensorFlow computes (or, not imported yet, will compute) with oneDNN in this
  process: TensorFlow's own answer once it is imported; before, `TF_ENABLE_ONEDNN_OPTS`,
  else its default for this CPU (on x86 Linux, read from the CPU's flags without loading
  TensorFlow; elsewhere TensorFlow is asked)."""
  environ = os.environ if environ is None else environ
  if "tensorflow" not in sys.modules and platform.system() == "Linux":
    if platform.machine() in ("x86_64", "AMD64"):
      if VARIABLE in environ:
        return environ[VARIABLE].strip().lower() not in ("0", "false")
      return default_on(cpu_info())
  from zoo.layers import form_choice

  return form_choice.onednn_enabled()


def cache_directory():
  """The folder of the zoo's measurements: `VIDEOGAN_ZOO_CACHE`, else ~/.cache/videogan_zoo;
  where that default cannot be made or written (a read-only or missing home in a container),
  `videogan_zoo-UID` in the temp folder, so that later runs on this machine still find what
  one measured (without it, every run timed oneDNN and the forms again: 30 s to minutes).
  `zoo.layers.form_choice.cache_directory` follows the same rule (zoo does not import
  trainers; this module must not import TensorFlow)."""
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
  return os.path.join(cache_directory(), "onednn.json")


def _read(path):
  try:
    with open(path, encoding="utf-8") as f:
      data = json.load(f)
  except (OSError, ValueError):
    return {}
  if not isinstance(data, dict):
    return {}
  # An entry of another shape (edited by hand, damaged) is measured over, as a missing one.
  return {
    k: v for k, v in data.items() if isinstance(v, dict) and isinstance(v.get("ms", {}), dict)
  }


def _write(path, key, entry):
  """Merges `entry` under `key` into the file at `path` (a temporary file renamed)."""
  data = _read(path)
  data[key] = entry
  fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=".onednn-", suffix=".tmp")
  try:
    with os.fdopen(fd, "w", encoding="utf-8") as f:
      json.dump(data, f, indent=1, sort_keys=True)
    os.replace(tmp, path)
  except OSError:
    with contextlib.suppress(OSError):
      os.remove(tmp)
    raise


def measure(onednn, timeout=CHILD_TIMEOUT_SECS):
  """{"onednn": as TensorFlow had it, "ms": the probe's median} in a child process with
  oneDNN asked on or off; raises RuntimeError when the child fails."""
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", **{VARIABLE: "1" if onednn else "0"})
  env["CUDA_VISIBLE_DEVICES"] = "-1"  # the CPU's kernels are timed, not a GPU's
  try:
    done = subprocess.run(
      [sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=timeout
    )
  except (OSError, subprocess.SubprocessError) as e:
    raise RuntimeError(f"the timing process failed: {e}") from None
  lines = done.stdout.strip().splitlines()
  if done.returncode != 0 or not lines:
    tail = done.stderr.strip().splitlines()[-1:] or [f"status {done.returncode}"]
    raise RuntimeError(f"the timing process failed: {tail[0]}")
  return json.loads(lines[-1])


def verdict(measure_fn=measure):
  """{"onednn": bool, "ms": {"onednn": .., "tensorflow": ..}} from two timed children."""
  on, off = measure_fn(True), measure_fn(False)
  faster = on["onednn"] and not off["onednn"] and on["ms"] < (1 - MARGIN) * off["ms"]
  return {
    "onednn": bool(faster),
    "ms": {"onednn": round(on["ms"], 2), "tensorflow": round(off["ms"], 2)},
    "measured": time.strftime("%Y-%m-%d %H:%M:%S"),
  }


def _say(line):
  print(f"videogan_zoo: {line}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _locked(path):
  """Holds an exclusive lock on PATH.lock (where the OS has one and the file can be opened: a
  read-only folder measures unlocked, and the verdict's write fails and says so)."""
  try:
    f = open(path + ".lock", "a") if fcntl is not None else None
  except OSError:
    f = None
  if f is None:
    yield
    return
  with f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


@functools.cache
def choose():
  """Sets `TF_ENABLE_ONEDNN_OPTS=1` where the module docstring says so; returns what was
  decided, in words. Once TensorFlow is imported, says in one line where oneDNN would have
  been faster. Decides once per process (`trainers`, `export` and `bench` all call it)."""
  return decide(
    os.environ,
    cpu_info(),
    platform.system(),
    platform.machine(),
    cache_path(),
    tensorflow_imported="tensorflow" in sys.modules,
  )


def decide(environ, info, system, machine, path, measure_fn=measure, tensorflow_imported=False):
  """`choose` for the given environment, CPU fields (`cpu_info`), platform and cache file;
  `tensorflow_imported`: TensorFlow has read the environment already, so the verdict is only
  said, not applied."""
  why = undecided(environ, info, system, machine)
  if why:
    return why
  key = machine_key(info)
  entry = _read(path).get(key)
  if entry is None:
    try:
      os.makedirs(os.path.dirname(path), exist_ok=True)
      lock = _locked(path)
    except OSError:  # a read-only home: measured for this run alone (said below)
      lock = contextlib.nullcontext()
    try:
      with lock:
        entry = _read(path).get(key)  # another process may have measured meanwhile
        if entry is None:
          entry = _measure_and_remember(info, path, key, measure_fn, not tensorflow_imported)
    except (RuntimeError, ValueError, KeyError) as e:
      _say(f"oneDNN left as TensorFlow has it: could not decide ({e}).")
      return f"undecided: {e}"
  if not entry.get("onednn"):
    return "oneDNN left off (measured no faster here)"
  if tensorflow_imported:
    ms = entry.get("ms", {})
    measured = (
      f" (a 3D convolution with its gradients: {ms['onednn']:.1f} ms with oneDNN, "
      f"{ms['tensorflow']:.1f} ms without)"
      if {"onednn", "tensorflow"} <= set(ms)
      else ""
    )
    _say(
      f"TensorFlow was imported before trainers and runs without oneDNN, which "
      f"measured faster on this CPU{measured}: set {VARIABLE}=1 before Python starts, or "
      "import trainers before tensorflow."
    )
    return "oneDNN off: TensorFlow was imported first (said)"
  environ[VARIABLE] = "1"
  return "oneDNN on (measured faster here)"


def _measure_and_remember(info, path, key, measure_fn, applies_now=True):
  started = time.perf_counter()
  entry = verdict(measure_fn)
  try:
    _write(path, key, entry)
    kept = f"remembered in {path}"
  except OSError as e:
    kept = (
      f"not remembered: {e}; every run will time it again unless {CACHE_ENV} names a "
      f"writable folder or {VARIABLE} is set"
    )
  _say(
    f"TensorFlow leaves oneDNN off on this CPU ({info.get('model name', '?')}, no AVX-512 "
    f"VNNI, BF16 or AMX); timed once here in {time.perf_counter() - started:.0f} s, a 3D "
    f"convolution with its gradients took {entry['ms']['onednn']:.1f} ms with oneDNN and "
    f"{entry['ms']['tensorflow']:.1f} ms without: {'on' if entry['onednn'] else 'left off'} "
    f"for {'this run and later ones' if applies_now else 'later runs'} ({kept}; {VARIABLE}=0 "
    "or 1 decides instead)."
  )
  return entry
