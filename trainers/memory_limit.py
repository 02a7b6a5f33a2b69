"""TensorFlow's CPU tensors capped under a container's memory limit.

A Docker `--memory`, a Kubernetes memory limit or a systemd `MemoryMax=` is a cgroup limit:
a process that grows past it is killed by the kernel (SIGKILL, exit status 137), with no
message and no chance to say which batch was too large. TensorFlow's CPU allocator (oneDNN's,
TensorFlow's default on x86) caps its tensors at the machine's physical memory, which a
container's limit is below. Where oneDNN is off (TensorFlow turns it on by default only on
x86 CPUs with AVX-512 VNNI, BF16 or AMX: not on an AMD Zen 3 or an Intel Core without
AVX-512, nor where `TF_ENABLE_ONEDNN_OPTS=0`), tensors come from TensorFlow's own CPU
allocator, which takes no cap at all.

`fit_allocator()` reads the limit (cgroup v2 `memory.max`, v1 `memory.limit_in_bytes`, the
tightest of the process's cgroup and its ancestors) and, where it is below the machine's
memory, caps the tensors at the limit less what the process holds already and a margin for
what is not a tensor (the runtime's graphs, kernels and libraries, which grow during the
first steps): max(512 MiB, a tenth of the limit). With oneDNN on, the cap is
`TF_MKL_ALLOC_MAX_BYTES` (oneDNN's allocator); with oneDNN off, TensorFlow's BFC allocator
is asked for (`TF_CPU_ALLOCATOR_USE_BFC=true`) with the cap as its limit
(`TF_CPU_BFC_MEM_LIMIT_IN_MB`). TensorFlow reads them when its CPU allocator is made (its
first op). A step that needs more tensors than that then fails with TensorFlow's
out-of-memory error, which every program reports in one line saying what to lower
(`trainers.cli`), instead of being killed. Variables set by the user win, and nothing is
capped where oneDNN hands its tensors to malloc (`TF_ONEDNN_USE_SYSTEM_ALLOCATOR`), an
allocator that takes no cap.
Every program calls it as it starts (`trainers.cli.run`); a script of one's own calls it
before its first TensorFlow op. A value of either variable that TensorFlow cannot parse,
which would abort the process at its first op with a C++ stack dump, is one line instead.
"""

import os
import re

from trainers import cpu_quota
from trainers import onednn as onednn_lib

CAP_VARIABLE = "TF_MKL_ALLOC_MAX_BYTES"
BFC_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"
BFC_LIMIT_VARIABLE = "TF_CPU_BFC_MEM_LIMIT_IN_MB"
SYSTEM_ALLOCATOR_VARIABLE = "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"
BOOLEANS = ("1", "0", "true", "false")  # what TensorFlow parses as a boolean, in any case
MIB = 1 << 20
MIN_MARGIN = 512 * MIB
MIN_CAP = 256 * MIB  # below this the limit leaves no room to train: no cap, the kernel's call
# A cgroup v1 hierarchy without a limit reports the largest page-aligned int64.
NO_V1_LIMIT = 1 << 60


def _limit(directory, v2):
  """Bytes of memory the cgroup at `directory` allows, or None (no limit or no file)."""
  name = "memory.max" if v2 else "memory.limit_in_bytes"
  try:
    with open(os.path.join(directory, name), encoding="utf-8") as f:
      value = f.read().strip()
    limit = None if value == "max" else int(value)
  except (OSError, ValueError):
    return None
  return limit if limit is not None and 0 < limit < NO_V1_LIMIT else None


def cgroup_memory_limit(mountinfo="/proc/self/mountinfo", cgroup="/proc/self/cgroup"):
  """The bytes of memory this process's cgroups allow (the tightest of its cgroup and their
  ancestors, v1 or v2), or None: no limit, or no cgroups (not Linux)."""
  limits = cpu_quota.cgroup_values("memory", _limit, mountinfo, cgroup)
  return min(limits) if limits else None


def physical_memory():
  """The machine's memory in bytes, or None where the system does not say."""
  try:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
  except (AttributeError, ValueError, OSError):
    return None


def resident_bytes():
  """This process's resident memory in bytes (Linux; 0 elsewhere)."""
  try:
    with open("/proc/self/statm", encoding="ascii") as f:
      return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
  except (OSError, ValueError, IndexError):
    return 0


def _off(name):
  return os.environ.get(name, "").strip().lower() in ("0", "false")


def system_allocator():
  """Whether TF_ONEDNN_USE_SYSTEM_ALLOCATOR asks oneDNN's CPU allocator to hand every tensor
  to malloc (read as TensorFlow reads it, once, at its first op): no cap then, and no count
  of the tensors' bytes (`tf.config.experimental.get_memory_info` reports 0)."""
  return os.environ.get(SYSTEM_ALLOCATOR_VARIABLE, "").lower() in ("1", "true")


def check_environment():
  """Raises ValueError naming the variable when TF_ONEDNN_USE_SYSTEM_ALLOCATOR or
  TF_MKL_ALLOC_MAX_BYTES holds what TensorFlow cannot parse: it would abort the process at
  its first op (status 134, a C++ stack dump). An empty value counts: TensorFlow reads it."""
  value = os.environ.get(SYSTEM_ALLOCATOR_VARIABLE)
  if value is not None and value.lower() not in BOOLEANS:
    raise ValueError(
      f"Expected {SYSTEM_ALLOCATOR_VARIABLE} to be true, false, 1 or 0, received {value!r}: "
      "TensorFlow aborts at its first op on anything else."
    )
  value = os.environ.get(CAP_VARIABLE)
  if value is not None and not (re.fullmatch(r"\s*[0-9]+\s*", value) and int(value) < 2**64):
    raise ValueError(
      f"Expected {CAP_VARIABLE} to be a number of bytes in digits (8589934592 for 8 GiB), "
      f"received {value!r}: TensorFlow aborts at its first op on anything else."
    )


def tensor_cap(limit, held):
  """Bytes TensorFlow's tensors may take under a `limit` when the process holds `held`: the
  limit less `held` and the margin (module docstring); None when that leaves under
  `MIN_CAP`."""
  cap = limit - held - max(MIN_MARGIN, limit // 10)
  return cap if cap >= MIN_CAP else None


def fit_allocator():
  """Caps TensorFlow's CPU tensors under the cgroup's memory limit (module docstring) where
  the limit is below the machine's memory and the user did not set the cap; returns a line
  saying so, or None when nothing changed. Raises ValueError first where either variable
  holds what TensorFlow cannot parse (`check_environment`)."""
  check_environment()
  onednn = onednn_lib.enabled()
  variables = (CAP_VARIABLE,) if onednn else (BFC_VARIABLE, BFC_LIMIT_VARIABLE)
  if any(name in os.environ for name in variables) or (onednn and system_allocator()):
    return None
  limit = cgroup_memory_limit()
  machine = physical_memory()
  if limit is None or (machine is not None and limit >= machine):
    return None
  held = resident_bytes()
  cap = tensor_cap(limit, held)
  if cap is None:
    return (
      f"This process's cgroup allows {limit / 2**30:.2f} GiB of memory and it holds "
      f"{held / 2**30:.2f} already: too little to cap TensorFlow's tensors under it; a step "
      "that does not fit will be killed by the kernel (exit status 137)."
    )
  if onednn:
    os.environ[CAP_VARIABLE] = str(cap)
  else:
    cap = cap // MIB * MIB
    os.environ[BFC_VARIABLE] = "true"
    os.environ[BFC_LIMIT_VARIABLE] = str(cap // MIB)
  return (
    f"This process's cgroup allows {limit / 2**30:.2f} GiB of memory: TensorFlow's CPU "
    f"tensors are capped at {cap / 2**30:.2f} GiB of it, so that a step too large for it "
    f"fails with a message instead of being killed ({variables[-1]} chooses otherwise)."
  )
