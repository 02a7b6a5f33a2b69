"""Fake and real cgroups for the tests of a container's CPU and memory limits."""

import os
import subprocess
import sys
import uuid


def write(path, text):
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, "w") as f:
    f.write(text)


def mountinfo(tmp_path, lines):
  """A /proc/self/mountinfo of `lines` (each from the mount's root on), under `tmp_path`."""
  path = tmp_path / "mountinfo"
  path.write_text("".join(f"{n} 1 0:{n} {line}\n" for n, line in enumerate(lines, 30)))
  return str(path)


def make_cgroup(candidates):
  """A new cgroup in the first of `candidates` ((hierarchy directory, {file: value})) where
  this machine lets the test make one and set its files (root and a writable controller),
  or None. The caller removes it (`os.rmdir`) once its processes have ended."""
  name = f"videogan-test-{uuid.uuid4().hex[:8]}"
  for base, files in candidates:
    path = os.path.join(base, name)
    try:
      os.mkdir(path)
    except OSError:
      continue
    try:
      for file, value in files.items():
        write(os.path.join(path, file), value)
      return path
    except OSError:
      os.rmdir(path)
  return None


def docker_v1(tmp_path):
  """Docker on cgroup v1, where the container's cgroup is the root of each mount it sees:
  (mountinfo path, /proc/self/cgroup path, cpu hierarchy dir, memory hierarchy dir)."""
  cpu, memory = tmp_path / "cpu,cpuacct", tmp_path / "memory"
  info = mountinfo(
    tmp_path,
    [
      f"/docker/abc {cpu} rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct",
      f"/docker/abc {memory} rw,nosuid shared:10 - cgroup cgroup rw,memory",
    ],
  )
  cgroup = tmp_path / "cgroup"
  cgroup.write_text("5:memory:/docker/abc\n4:cpu,cpuacct:/docker/abc\n")
  return info, str(cgroup), str(cpu), str(memory)


def run_in_cgroup(path, code, env, timeout):
  """`python -c code` started inside the cgroup at `path` (`make_cgroup`), which is removed
  once it has ended: the CompletedProcess, text output captured."""
  try:
    return subprocess.run(
      ["sh", "-c", f'echo $$ > "{path}/cgroup.procs" && exec "$0" -c "$1"', sys.executable, code],
      env=env,
      capture_output=True,
      text=True,
      timeout=timeout,
    )
  finally:
    os.rmdir(path)
