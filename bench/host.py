"""What machine a figure was measured on, timing and memory: helpers that import no framework.

bench/torch_step.py runs in a process without TensorFlow, so what it shares with the
TensorFlow benches (the CPU's name, family, model and flags, the load, the timer, RSS) lives
here; bench/common.py adds the TensorFlow side.

A generic model name ("Intel(R) Xeon(R) Processor", "AMD EPYC Processor" under many
hypervisors) says little: the CPU family and model numbers tell the generations apart, and
the flags say which matrix units oneDNN and PyTorch may use (AMX tiles, AVX-512 BF16).
"""

import contextlib
import datetime
import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from trainers import cpu_quota
from trainers import onednn

# CPU flags worth knowing when reading CPU figures (oneDNN picks kernels on them).
SIMD_FLAGS = (
  "avx",
  "avx2",
  "fma",
  "avx_vnni",
  "avx512f",
  "avx512_bf16",
  "avx512_fp16",
  "avx512_vnni",
  "amx_tile",
  "amx_bf16",
  "amx_fp16",
  "amx_int8",
)


def parse_cpuinfo(text):
  """The first processor of a /proc/cpuinfo text, as a dict.

  Returns:
    "vendor", "model_name", "family", "model", "stepping" (strings, "" when absent) and
    "flags" (the `SIMD_FLAGS` it has, in that order). ARM's cpuinfo names "CPU implementer"
    and "CPU part" instead: they fill "vendor" and "model".
  """
  fields = onednn.cpu_fields(text)
  flags = set((fields.get("flags") or fields.get("Features") or "").split())
  return {
    "vendor": fields.get("vendor_id") or fields.get("CPU implementer", ""),
    "model_name": fields.get("model name", ""),
    "family": fields.get("cpu family", ""),
    "model": fields.get("model") or fields.get("CPU part", ""),
    "stepping": fields.get("stepping", ""),
    "flags": [f for f in SIMD_FLAGS if f in flags],
  }


def cpu_info():
  """`parse_cpuinfo` of this machine (/proc/cpuinfo; the platform's name elsewhere)."""
  try:
    with open("/proc/cpuinfo") as f:
      info = parse_cpuinfo(f.read())
  except OSError:
    info = parse_cpuinfo("")
  if not info["model_name"]:
    info["model_name"] = platform.processor() or platform.machine()
  return info


def cpu_name(cpu):
  """The CPU's name with its vendor, family, model and stepping, e.g. "Intel(R) Xeon(R)
  Processor (GenuineIntel family 6 model 143 stepping 8)"."""
  numbers = " ".join(
    f"{k} {cpu[k]}" for k in ("family", "model", "stepping") if cpu.get(k) not in (None, "")
  )
  detail = " ".join(x for x in (cpu.get("vendor", ""), numbers) if x)
  return f"{cpu['model_name']} ({detail})" if detail else cpu["model_name"]


# Environment variables that change what a memory (or time) figure measures: which allocator
# holds TensorFlow's tensors, when the C library returns freed memory to the system, huge
# pages, another malloc preloaded. Each row records the ones set (docs/benchmarks.md, "Where
# the step's memory goes").
MEMORY_VARIABLES = (
  "TF_ONEDNN_USE_SYSTEM_ALLOCATOR",
  "TF_MKL_ALLOC_MAX_BYTES",
  "TF_CPU_ALLOCATOR_USE_BFC",
  "TF_ENABLE_ONEDNN_OPTS",
  "MALLOC_ARENA_MAX",
  "MALLOC_MMAP_THRESHOLD_",
  "MALLOC_TRIM_THRESHOLD_",
  "MALLOC_TOP_PAD_",
  "GLIBC_TUNABLES",
  "LD_PRELOAD",
)


def memory_settings():
  """{variable: value} of the `MEMORY_VARIABLES` set in this process's environment."""
  return {k: os.environ[k] for k in MEMORY_VARIABLES if k in os.environ}


def load_average():
  return [round(x, 2) for x in os.getloadavg()]


def describe_host():
  """A dict: CPU (`cpu_info`), logical and usable CPUs, the cgroup's CPU limit (None: none;
  the benches fit TensorFlow's threads to it, bench/__init__.py), load average, Python,
  date, and the memory settings in effect (`memory_settings`)."""
  return {
    "cpu": cpu_info(),
    "logical_cpus": os.cpu_count(),
    "usable_cpus": cpu_quota.visible_cpus(),
    "cpu_limit": cpu_quota.cgroup_cpu_limit(),
    "load_average": load_average(),
    "python": platform.python_version(),
    "date": datetime.datetime.now().isoformat(timespec="seconds"),
    "memory_settings": memory_settings(),
    "onednn": onednn.enabled(),
  }


def host_line(host):
  """`describe_host()`'s CPU, cores, flags, load and memory settings as one printable line."""
  settings = host.get("memory_settings") or {}
  return (
    f"{cpu_name(host['cpu'])}, {host['usable_cpus']}/{host['logical_cpus']} CPUs"
    + (f" (cgroup limit {host['cpu_limit']:g})" if host.get("cpu_limit") else "")
    + ", flags "
    f"{' '.join(host['cpu']['flags']) or 'none of ' + '/'.join(SIMD_FLAGS[:3])}"
    + ("" if host.get("onednn") is None else f"; TF oneDNN {'on' if host['onednn'] else 'off'}")
    + f"; load {host['load_average']}; Python {host['python']}"
    + ("; " + " ".join(f"{k}={v}" for k, v in settings.items()) if settings else "")
  )


def time_callable(fn, warmup=2, repeats=5):
  """Times `fn()` (which must block until its work is done, e.g. by fetching to numpy).

  The `warmup` calls (tracing, compilation, allocator growth) are timed apart and excluded.

  Returns:
    A dict of seconds: "median", "best", "mean" and "times" of the `repeats` timed calls,
    and "warmup" (the warm-up calls' times; the first one includes tracing / compiling).
  """
  if repeats < 1:
    raise ValueError(f"Expected repeats >= 1, received {repeats}.")
  warm = []
  for _ in range(warmup):
    start = time.perf_counter()
    fn()
    warm.append(time.perf_counter() - start)
  times = []
  for _ in range(repeats):
    start = time.perf_counter()
    fn()
    times.append(time.perf_counter() - start)
  return {
    "median": statistics.median(times),
    "best": min(times),
    "mean": statistics.fmean(times),
    "times": times,
    "warmup": warm,
  }


def _proc_mib(path, field):
  """The "field: N kB" line of a /proc file, in MiB; None where the file or field is missing."""
  try:
    with open(path) as f:
      for line in f:
        if line.startswith(field + ":"):
          return int(line.split()[1]) / 1024
  except OSError:
    pass
  return None


def rss_mib():
  """Current resident set size of this process, MiB (Linux; 0 elsewhere)."""
  return _proc_mib("/proc/self/status", "VmRSS") or 0.0


# An anonymous mapping this large is one of TensorFlow's allocator regions, a block malloc
# mapped on its own, or a malloc arena of a thread; smaller ones are stacks and the like.
LARGE_MAPPING_MIB = 2


def mapping_rss_mib(path="/proc/self/smaps"):
  """This process's resident MiB by kind of mapping (Linux), or None where `path` is missing:
  "large_anonymous" (anonymous mappings of `LARGE_MAPPING_MIB` or more: TensorFlow's
  allocator regions, malloc's large blocks and arenas), "heap" (`[heap]`: malloc's small
  blocks), "files" (mapped files: the libraries) and "other" (stacks, small anonymous
  mappings). The four sum to the RSS."""
  kinds = dict.fromkeys(("large_anonymous", "heap", "files", "other"), 0.0)
  kind = None
  try:
    with open(path) as f:
      for line in f:
        fields = line.split()
        if not fields:
          continue
        if fields[0].endswith(":"):  # a field of the current mapping
          if fields[0] == "Rss:" and kind is not None:
            kinds[kind] += int(fields[1]) / 1024
          continue
        low, _, high = fields[0].partition("-")
        name = fields[5] if len(fields) > 5 else ""
        size_mib = (int(high, 16) - int(low, 16)) / 2**20
        if name == "[heap]":
          kind = "heap"
        elif name.startswith("/"):
          kind = "files"
        elif not name and size_mib >= LARGE_MAPPING_MIB:
          kind = "large_anonymous"
        else:
          kind = "other"
  except OSError:
    return None
  return kinds


MAPPING_NAMES = {
  "large_anonymous": "large anonymous (TF's allocator regions, malloc's large blocks)",
  "heap": "[heap] (malloc's small blocks)",
  "files": "files (libraries)",
  "other": "other",
}


def mapping_lines(mappings):
  """Where the RSS sits by kind of mapping (`host.mapping_rss_mib`) after the imports, the
  build and the calls, and what the build and the calls added: lines, none without smaps."""
  phases = [(k, v) for k, v in mappings.items() if v]
  if len(phases) < 2:
    return []
  lines = ["   RSS by mapping, MiB (" + " / ".join(k.replace("_", " ") for k, _ in phases) + "):"]
  for kind, name in MAPPING_NAMES.items():
    values = [v[kind] for _, v in phases]
    lines.append(
      f"     {name}: "
      + " / ".join(f"{x:.0f}" for x in values)
      + f" (+{values[-1] - values[0]:.0f})"
    )
  return lines


def available_mib():
  """Memory the kernel could give a new process without swapping (MemAvailable), MiB; None
  where /proc/meminfo does not say."""
  return _proc_mib("/proc/meminfo", "MemAvailable")


def predicted_peak_mib(row, batch_size):
  """The peak RSS, MiB, of `row`'s step at `batch_size`: its own memory (`step_mib`) scaled
  linearly from its batch, plus what the process held before the step. Over-estimates a
  little (weights and optimizer slots do not grow with the batch)."""
  fixed = row["peak_rss_mib"] - row["step_mib"]
  return fixed + row["step_mib"] * batch_size / row["batch_size"]


def memory_shortfall(row, batch_size, available):
  """Why a training row at `batch_size` should not start ("" to start it): the peak that the
  same model's smaller-batch `row` predicts exceeds 90% of `available` MiB (a machine without
  swap would kill the row, one with swap would time the swapping), or the smaller batch
  failed (killed, most often, for want of memory). "" without a row or a figure for the
  memory available."""
  if row is not None and "error" in row and not row.get("skipped"):
    return f"not run: batch {row['batch_size']} failed"
  if row is None or available is None or "step_mib" not in row:
    return ""
  need = predicted_peak_mib(row, batch_size)
  if need <= 0.9 * available:
    return ""
  return (
    f"not run: batch {row['batch_size']} peaked at {row['peak_rss_mib']:.0f} MiB, so batch "
    f"{batch_size} would need about {need:.0f} MiB; {available:.0f} MiB available"
  )


def peak_rss_mib():
  """Peak resident set size of this process so far, MiB (ru_maxrss: KiB on Linux)."""
  peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
  return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def kernel_use():
  """This process's page faults and kernel CPU seconds so far (getrusage). A page's first
  touch costs a fault and kernel time to clear it, so a first call that reaches gigabytes of
  fresh memory pays seconds here that later steps, reusing that memory, do not."""
  r = resource.getrusage(resource.RUSAGE_SELF)
  return {"minor_faults": r.ru_minflt, "major_faults": r.ru_majflt, "system_s": r.ru_stime}


def kernel_use_since(before, calls=1):
  """`kernel_use()` now less `before`, per call over `calls` calls."""
  now = kernel_use()
  return {k: (now[k] - before[k]) / calls for k in now}


def mark(path, phase):
  """Appends `phase` and the wall time to the progress file `path` (no-op for "")."""
  if path:
    with open(path, "a") as f:
      f.write(json.dumps({"phase": phase, "time": time.time()}) + "\n")


def read_marks(path):
  """{phase: wall time} of a progress file written by `mark` ({} if there is none)."""
  try:
    with open(path) as f:
      lines = f.read().splitlines()
  except FileNotFoundError:
    return {}
  marks = {}
  for line in lines:
    try:
      entry = json.loads(line)
    except ValueError:  # a line being written
      continue
    marks[entry["phase"]] = entry["time"]
  return marks


def run_child(argv, out, timeout=0, progress="", first_call_budget=0):
  """Runs `argv`, a bench script that writes its figures as JSON to `out`; returns them.

  A child that fails, runs over `timeout` seconds (0: no limit), or whose first call (from
  its "first_call" `mark` in `progress` to its "first_call_done" mark) runs over
  `first_call_budget` seconds (0: no limit) is stopped and comes back as a dict with
  "error" (one line first), plus "over_budget" True in the last case.
  """
  with tempfile.TemporaryFile("w+") as stderr:
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=stderr, text=True)
    start, error = time.monotonic(), None
    while proc.poll() is None:
      time.sleep(0.2)
      marks = read_marks(progress) if progress else {}
      if first_call_budget and "first_call" in marks and "first_call_done" not in marks:
        if time.time() - marks["first_call"] > first_call_budget:
          error = f"first call over {first_call_budget:g} s: stopped"
      if timeout and time.monotonic() - start > timeout:
        error = f"timed out after {timeout:g} s"
      if error:
        proc.kill()
        proc.wait()
        result = {"error": error}
        if "first call" in error:
          result["over_budget"] = True
          result["first_call_s"] = f">{first_call_budget:g}"
        return result
    if proc.returncode == 0 and os.path.exists(out):
      with open(out) as f:
        return json.load(f)
    stderr.seek(0)
    tail = [l for l in stderr.read().strip().splitlines() if l.strip()][-15:]
    last = tail[-1] if tail else ""
    code = f"exit code {proc.returncode}"
    if proc.returncode == -signal.SIGKILL:  # the kernel's out-of-memory killer, most often
      code += " (SIGKILL: out of memory?)"
    return {"error": f"{code}: {last}\n" + "\n".join(tail)}


def commit():
  """The repository's HEAD commit (None outside a git checkout): what the figures measure."""
  root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
  try:
    out = subprocess.run(
      ["git", "-C", root, "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    )
  except OSError:
    return None
  return out.stdout.strip() or None


class KeptResults:
  """bench/run_all.py's runner of bench scripts, which keeps the figures of each part of a
  run as it finishes in `OUT.partial.json`: a run stopped or killed after hours, run again
  with the same --out on the same machine (CPU, cores, Python, TensorFlow, Keras) and
  commit, takes the parts already measured from there (the report says which, and when
  they ran) and measures the rest. Failed parts are measured again. The file is removed
  once the report is written."""

  def __init__(self, out_path, machine, resume):
    self.path = out_path + ".partial.json"
    cpu = machine["cpu"]
    self.identity = {
      "cpu": [cpu[k] for k in ("model_name", "vendor", "family", "model", "stepping")],
      "cpus": [machine["logical_cpus"], machine["usable_cpus"], machine["cpu_limit"]],
      "versions": [machine["python"], machine["tensorflow"], machine["keras"]],
      "commit": commit(),
    }
    self.results, self.reused = {}, []
    if not (resume and os.path.exists(self.path)):
      return
    with open(self.path) as f:
      data = json.load(f)
    if data.get("identity") != self.identity:
      print(
        f"[run_all] {self.path} was measured on another machine, versions or commit: "
        "measuring everything again.",
        flush=True,
      )
      return
    self.results = data["results"]
    print(f"[run_all] {len(self.results)} parts kept from {self.path}.", flush=True)

  def run(self, script, args, label):
    """`python -m bench.<script>` with args and --out=JSON (`run_child`): its JSON, or
    {"error": ...}; the kept figures of the same command when there are."""
    key = " ".join([script, *args])
    kept = self.results.get(key)
    if kept is not None:
      print(f"[run_all] {label}: kept, measured at {kept['measured_at']}", flush=True)
      self.reused.append((label, kept["measured_at"]))
      return kept["result"]
    with tempfile.TemporaryDirectory(prefix="bench_run_all_") as tmp:
      out = os.path.join(tmp, "out.json")
      cmd = [sys.executable, "-m", f"bench.{script}", *args, f"--out={out}"]
      print(f"[run_all] {label}: {' '.join(cmd[1:])}", flush=True)
      result = run_child(cmd, out)
    if "error" in result:
      print(f"[run_all] {label} FAILED: {result['error']}", flush=True)
      return result
    measured_at = datetime.datetime.now().isoformat(timespec="seconds")
    self.results[key] = {"result": result, "measured_at": measured_at}
    write_atomically(
      self.path, json.dumps({"identity": self.identity, "results": self.results}, indent=1)
    )
    return result

  def note(self):
    """The report's line on parts kept from an interrupted run ([] when none)."""
    if not self.reused:
      return []
    times = sorted(t for _, t in self.reused)
    return [
      f"- {len(self.reused)} parts kept from an interrupted run of this machine and commit, "
      f"measured {times[0]} to {times[-1]}: {'; '.join(label for label, _ in self.reused)}"
    ]

  def remove(self):
    with contextlib.suppress(FileNotFoundError):
      os.remove(self.path)


def finish(report, out):
  """A bench's last words: the load average after it ran, and its figures as JSON to `out`
  (none when empty)."""
  print(f"load after: {[round(x, 2) for x in os.getloadavg()]}")
  if out:
    write_atomically(out, json.dumps(report, indent=1))


def write_atomically(path, text):
  """Writes `text` to `path` through a temporary file renamed over it: never half a file."""
  with open(path + ".tmp", "w") as f:
    f.write(text)
  os.replace(path + ".tmp", path)


def child_argv(module, argv, drop, row_args):
  """The command line of a child: `python -m module`, `row_args`, then `argv` (the parent's
  arguments) without the flags named in `drop` ("--name=v", "--name v", and for booleans
  "--name" / "--noname"). `--config.a.b=v` overrides in `argv` stay after `row_args`' own
  `--config`, which they must follow."""
  kept, skip = [], False
  for arg in argv:
    if skip:  # the value of a "--flag value" pair dropped below
      skip = False
      continue
    name, eq, _ = arg.lstrip("-").partition("=")
    if arg.startswith("-") and name in drop:
      skip = not eq
      continue
    if arg.startswith("-") and name.startswith("no") and name[2:] in drop:
      continue
    kept.append(arg)
  return [sys.executable, "-m", module, *row_args, *kept]
