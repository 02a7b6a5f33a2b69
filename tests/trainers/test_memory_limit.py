"""TensorFlow's CPU tensors capped under a container's memory limit (trainers/memory_limit.py)."""

import os
import textwrap

import cgroup_helpers
import pytest

from trainers import cli
from trainers import memory_limit
from zoo.layers import form_choice

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GIB = 1 << 30


def test_a_v2_limit_is_the_tightest_of_the_cgroup_and_its_ancestors(tmp_path):
  fs = tmp_path / "cg2"
  cgroup_helpers.write(f"{fs}/memory.max", "max\n")
  cgroup_helpers.write(f"{fs}/kubepods/memory.max", f"{16 * GIB}\n")
  cgroup_helpers.write(f"{fs}/kubepods/pod1/memory.max", f"{6 * GIB}\n")
  cgroup_helpers.write(f"{fs}/kubepods/pod1/box/memory.max", "max\n")
  mountinfo = cgroup_helpers.mountinfo(tmp_path, [f"/ {fs} rw,nosuid - cgroup2 cgroup2 rw"])
  cgroup = tmp_path / "cgroup"
  cgroup.write_text("0::/kubepods/pod1/box\n")
  assert memory_limit.cgroup_memory_limit(mountinfo, str(cgroup)) == 6 * GIB
  cgroup.write_text("0::/kubepods\n")
  assert memory_limit.cgroup_memory_limit(mountinfo, str(cgroup)) == 16 * GIB
  cgroup.write_text("0::/\n")
  assert memory_limit.cgroup_memory_limit(mountinfo, str(cgroup)) is None


def test_a_v1_limit_and_v1s_way_of_saying_none(tmp_path):
  # Docker on cgroup v1: the container's cgroup is the root of the mount it sees.
  mountinfo, cgroup, _, fs = cgroup_helpers.docker_v1(tmp_path)
  cgroup_helpers.write(f"{fs}/memory.limit_in_bytes", f"{2 * GIB}\n")
  assert memory_limit.cgroup_memory_limit(mountinfo, cgroup) == 2 * GIB
  cgroup_helpers.write(f"{fs}/memory.limit_in_bytes", "9223372036854771712\n")  # v1's "no limit"
  assert memory_limit.cgroup_memory_limit(mountinfo, cgroup) is None
  assert memory_limit.cgroup_memory_limit(str(tmp_path / "no"), str(tmp_path / "no")) is None


def test_the_cap_leaves_what_the_process_holds_and_a_margin():
  # 8 GiB, 1 GiB held: the margin is a tenth of the limit (over 512 MiB).
  assert memory_limit.tensor_cap(8 * GIB, GIB) == 8 * GIB - GIB - 8 * GIB // 10
  # 2 GiB, 0.75 held: the margin is 512 MiB.
  assert memory_limit.tensor_cap(2 * GIB, 3 * GIB // 4) == 2 * GIB - 3 * GIB // 4 - GIB // 2
  assert memory_limit.tensor_cap(GIB, 3 * GIB // 4) is None  # nothing left to cap at


VARIABLES = (
  "TF_MKL_ALLOC_MAX_BYTES",
  "TF_ONEDNN_USE_SYSTEM_ALLOCATOR",
  "TF_CPU_ALLOCATOR_USE_BFC",
  "TF_CPU_BFC_MEM_LIMIT_IN_MB",
)


@pytest.mark.parametrize(
  "limit, onednn, environment, capped",
  [
    (4 * GIB, True, {}, True),
    (None, True, {}, False),  # no limit
    (64 * GIB, True, {}, False),  # a limit the machine's memory meets anyway
    (4 * GIB, True, {"TF_MKL_ALLOC_MAX_BYTES": "123"}, False),  # the user's own cap wins
    (4 * GIB, True, {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "true"}, False),  # takes no cap
    # oneDNN off (TF_ENABLE_ONEDNN_OPTS=0, or a CPU without AVX-512 VNNI, BF16 or AMX):
    # TensorFlow's BFC allocator with the cap as its limit.
    (4 * GIB, False, {}, True),
    (4 * GIB, False, {"TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "true"}, True),  # oneDNN's, unused
    (4 * GIB, False, {"TF_CPU_BFC_MEM_LIMIT_IN_MB": "100"}, False),
    (4 * GIB, False, {"TF_CPU_ALLOCATOR_USE_BFC": "false"}, False),
    (None, False, {}, False),
  ],
)
def test_fit_allocator(monkeypatch, limit, onednn, environment, capped):
  monkeypatch.setattr(memory_limit, "cgroup_memory_limit", lambda: limit)
  monkeypatch.setattr(memory_limit, "physical_memory", lambda: 32 * GIB)
  monkeypatch.setattr(memory_limit, "resident_bytes", lambda: GIB)
  monkeypatch.setattr(memory_limit.onednn_lib, "enabled", lambda: onednn)
  for name in VARIABLES:
    monkeypatch.delenv(name, raising=False)
  for name, value in environment.items():
    monkeypatch.setenv(name, value)
  line = memory_limit.fit_allocator()
  cap = 4 * GIB - GIB - GIB // 2
  written = {name: os.environ.get(name) for name in VARIABLES}
  expected = dict.fromkeys(VARIABLES) | environment
  if capped and onednn:
    expected["TF_MKL_ALLOC_MAX_BYTES"] = str(cap)
  elif capped:
    expected |= {"TF_CPU_ALLOCATOR_USE_BFC": "true", "TF_CPU_BFC_MEM_LIMIT_IN_MB": "2560"}
  assert written == expected
  if capped:
    assert "allows 4.00 GiB" in line and f"capped at {cap / GIB:.2f} GiB" in line
    assert line.endswith(
      f"({'TF_MKL_ALLOC_MAX_BYTES' if onednn else 'TF_CPU_BFC_MEM_LIMIT_IN_MB'} chooses otherwise)."
    )
  else:
    assert line is None


def test_onednn_is_tensorflows_own_answer(monkeypatch):
  from tensorflow.python.util import _pywrap_util_port

  assert form_choice.onednn_enabled() == _pywrap_util_port.IsMklEnabled()


def test_a_limit_too_small_to_cap_under_says_so(monkeypatch):
  monkeypatch.setattr(memory_limit, "cgroup_memory_limit", lambda: GIB)
  monkeypatch.setattr(memory_limit, "resident_bytes", lambda: 3 * GIB // 4)
  for name in VARIABLES:
    monkeypatch.delenv(name, raising=False)
  assert "too little to cap" in memory_limit.fit_allocator()
  assert not any(name in os.environ for name in VARIABLES)


@pytest.mark.parametrize(
  "name, value, parses",
  [
    ("TF_MKL_ALLOC_MAX_BYTES", "8589934592", True),
    ("TF_MKL_ALLOC_MAX_BYTES", " 1000000000", True),  # TensorFlow skips the blanks
    ("TF_MKL_ALLOC_MAX_BYTES", "8G", False),
    ("TF_MKL_ALLOC_MAX_BYTES", "1e9", False),
    ("TF_MKL_ALLOC_MAX_BYTES", "", False),
    ("TF_MKL_ALLOC_MAX_BYTES", str(2**64), False),
    ("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "TRUE", True),
    ("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "0", True),
    ("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "yes", False),
    ("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", " true", False),  # not here: TensorFlow aborts
    ("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "", False),
  ],
)
def test_a_value_tensorflow_would_abort_on_is_one_line(monkeypatch, capsys, name, value, parses):
  # Before: TensorFlow's first op aborted the process (status 134) with a C++ stack dump.
  monkeypatch.setattr(memory_limit, "cgroup_memory_limit", lambda: None)
  for variable in ("TF_MKL_ALLOC_MAX_BYTES", "TF_ONEDNN_USE_SYSTEM_ALLOCATOR"):
    monkeypatch.delenv(variable, raising=False)
  monkeypatch.setenv(name, value)
  with pytest.raises(SystemExit) as stopped:
    cli.run(lambda argv: None, argv=["train.py"])
  err = capsys.readouterr().err.strip()
  if parses:
    assert stopped.value.code in (None, 0) and not err
  else:
    assert stopped.value.code == 2
    assert err == (
      f"train.py: error: Expected {name} to be "
      + (
        "a number of bytes in digits (8589934592 for 8 GiB)"
        if "MAX" in name
        else "true, false, 1 or 0"
      )
      + f", received {value!r}: TensorFlow aborts at its first op on anything else."
    )


def _cgroup_of(limit):
  """A new cgroup (v1 `memory`, or v2 with the memory controller) of `limit` bytes, or None
  where this machine does not let the test make one."""
  return cgroup_helpers.make_cgroup(
    [
      ("/sys/fs/cgroup/memory", {"memory.limit_in_bytes": str(limit)}),
      ("/sys/fs/cgroup", {"memory.max": str(limit)}),
    ]
  )


# A step that needs 8 GiB of tensors (two of 4 GiB) in a program started as every program is.
PROGRAM = textwrap.dedent(
  """
  import tensorflow as tf
  from trainers import cli

  def main(argv):
    @tf.function
    def step(n):
      return tf.reduce_sum(tf.random.uniform(tf.stack([n, 1024, 1024])) * 2.0)

    print("small step", step(tf.constant(4)).numpy() > 0, flush=True)
    step(tf.constant(1024))

  cli.run(main, argv=["train.py"])
  """
)


@pytest.mark.parametrize("onednn", ["1", "0"])
def test_a_step_too_large_for_the_container_is_one_line_not_a_kill(onednn):
  # Before: the kernel killed the process (status 137) with no message; with oneDNN off (as
  # TensorFlow has it by default on a CPU without AVX-512 VNNI, BF16 or AMX) until the cap
  # went to TensorFlow's BFC allocator too.
  path = _cgroup_of(2 * GIB)
  if path is None:
    pytest.skip("no cgroup can be made here (needs root and a writable memory controller)")
  env = {
    k: v
    for k, v in os.environ.items()
    if k
    not in ("TF_MKL_ALLOC_MAX_BYTES", "TF_ENABLE_ONEDNN_OPTS", "TF_ONEDNN_USE_SYSTEM_ALLOCATOR")
    + VARIABLES
  }
  env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", TF_ENABLE_ONEDNN_OPTS=onednn)
  done = cgroup_helpers.run_in_cgroup(path, PROGRAM, env, timeout=300)
  assert done.returncode == 1, (done.returncode, done.stderr[-2000:])
  assert done.stdout == "small step True\n"
  assert "allows 2.00 GiB of memory: TensorFlow's CPU tensors are capped at" in done.stderr
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith(
    "train.py: error: Expected the computation to fit in memory, failed: OOM when allocating "
    "tensor with shape[1024,1024,1024]"
  ), last
