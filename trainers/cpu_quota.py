"""TensorFlow's CPU threads fitted to a container's CPU limit.

A Docker `--cpus=N`, a Kubernetes CPU limit or a systemd `CPUQuota=` is a cgroup bandwidth
quota: the process sees every core of the host (`os.sched_getaffinity`, which TensorFlow
counts), runs as many threads, and the kernel stops all of them for the rest of each period
once the quota is spent. Measured on a 2-core AMD EPYC (family 25 model 17, Zen 4) in a
cgroup of 1 CPU, the VGAN two-stream step at batch 4 took 2.40 s with TensorFlow's default 2
threads and 2.52 s with 16 (a 16-core host), against 2.05 s with 1.

`fit_threads()` reads the quota (cgroup v2 `cpu.max`, v1 `cpu.cfs_quota_us` /
`cpu.cfs_period_us`, the tightest of the process's cgroup and its ancestors) and, where it
allows fewer CPUs than the process sees, sets `TF_NUM_INTRAOP_THREADS` and
`TF_NUM_INTEROP_THREADS` to the quota rounded up, which TensorFlow reads when its runtime
starts (its first op). Either variable set by the user, or the threads set through
`tf.config.threading`, win. Every program calls it as it starts (`trainers.cli.run`); a script
of one's own calls it before its first TensorFlow op.
"""

import math
import os

THREAD_VARIABLES = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def _unescape(path):
  # mountinfo writes a space, tab, newline and backslash in a path as octal escapes.
  for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
    path = path.replace(code, char)
  return path


def _mounts(mountinfo):
  """[(mount point, root of the mount in its hierarchy, v1 controllers or None for v2)] of
  the cgroup filesystems in `mountinfo`."""
  mounts = []
  with open(mountinfo, encoding="utf-8", errors="replace") as f:
    for line in f:
      fields = line.split()
      if "-" not in fields:
        continue
      dash = fields.index("-")
      if len(fields) < dash + 4 or dash < 6:
        continue
      kind, options = fields[dash + 1], fields[dash + 3]
      root, point = _unescape(fields[3]), _unescape(fields[4])
      if kind == "cgroup2":
        mounts.append((point, root, None))
      elif kind == "cgroup":
        mounts.append((point, root, set(options.split(","))))
  return mounts


def _limit(directory, v2):
  """CPUs per period that the cgroup at `directory` allows, or None (no limit or no file)."""
  try:
    if v2:
      with open(os.path.join(directory, "cpu.max"), encoding="utf-8") as f:
        quota, period = (f.read().split() + ["100000"])[:2]
      if quota == "max":
        return None
    else:
      with open(os.path.join(directory, "cpu.cfs_quota_us"), encoding="utf-8") as f:
        quota = f.read().strip()
      with open(os.path.join(directory, "cpu.cfs_period_us"), encoding="utf-8") as f:
        period = f.read().strip()
    quota, period = int(quota), int(period)
  except (OSError, ValueError):
    return None
  return quota / period if quota > 0 and period > 0 else None


def cgroup_values(controller, read, mountinfo="/proc/self/mountinfo", cgroup="/proc/self/cgroup"):
  """`read(directory, v2)` of this process's cgroup and each of its ancestors, for every
  hierarchy of `controller` ("cpu", "memory") it is in, v1 or v2: the values that are not
  None. Empty without cgroups (not Linux)."""
  try:
    mounts = _mounts(mountinfo)
    with open(cgroup, encoding="utf-8", errors="replace") as f:
      memberships = [line.rstrip("\n").split(":", 2) for line in f if line.count(":") >= 2]
  except OSError:
    return []
  values = []
  for _, controllers, path in memberships:
    v2 = controllers == ""
    for point, root, mounted in mounts:
      if v2 != (mounted is None) or (not v2 and controller not in controllers.split(",")):
        continue
      if not v2 and controller not in mounted:
        continue
      relative = path[len(root) :] if path.startswith(root) else ""
      directory = os.path.normpath(os.path.join(point, relative.lstrip("/")))
      while True:  # the cgroup, then each ancestor up to the mount point
        value = read(directory, v2)
        if value is not None:
          values.append(value)
        if directory == os.path.normpath(point) or len(directory) <= len(point):
          break
        directory = os.path.dirname(directory)
  return values


def cgroup_cpu_limit(mountinfo="/proc/self/mountinfo", cgroup="/proc/self/cgroup"):
  """The CPUs' worth of time per period that this process's cgroups allow (the tightest of
  its cgroup and their ancestors, v1 or v2), or None: no limit, or no cgroups (not Linux)."""
  limits = cgroup_values("cpu", _limit, mountinfo, cgroup)
  return min(limits) if limits else None


def visible_cpus():
  """The CPUs this process may run on, as TensorFlow counts them."""
  try:
    return len(os.sched_getaffinity(0))
  except AttributeError:  # macOS, Windows
    return os.cpu_count() or 1


def _fitted(visible, limit):
  return visible if limit is None else max(1, min(visible, math.ceil(limit)))


def usable_cpus():
  """The threads a compute pool should run: the visible CPUs, or the cgroup's CPU limit
  rounded up where that is fewer."""
  return _fitted(visible_cpus(), cgroup_cpu_limit())


def fit_threads():
  """Sets TensorFlow's thread counts to the cgroup CPU limit (module docstring) where it is
  below the visible CPUs and the user set neither variable; returns a line saying so, or
  None when nothing changed."""
  if any(os.environ.get(name) for name in THREAD_VARIABLES):
    return None
  visible, limit = visible_cpus(), cgroup_cpu_limit()  # the cgroup files read once
  threads = _fitted(visible, limit)
  if threads >= visible:
    return None
  for name in THREAD_VARIABLES:
    os.environ[name] = str(threads)
  return (
    f"This process's cgroup allows {limit:g} CPUs' time of the {visible} CPUs "
    f"it sees: TensorFlow's thread pools are sized to {threads} (TF_NUM_INTRAOP_THREADS and "
    "TF_NUM_INTEROP_THREADS choose otherwise)."
  )
