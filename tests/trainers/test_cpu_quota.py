"""TensorFlow's threads fitted to a container's CPU limit (trainers/cpu_quota.py)."""

import os

import cgroup_helpers
import pytest

from trainers import cli
from trainers import cpu_quota
from zoo.layers import form_choice

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_v2_limit_is_the_tightest_of_the_cgroup_and_its_ancestors(tmp_path):
  fs = tmp_path / "cg2"
  cgroup_helpers.write(f"{fs}/cpu.max", "max 100000\n")  # the root: no limit
  cgroup_helpers.write(f"{fs}/kubepods/cpu.max", "600000 100000\n")  # 6 CPUs
  cgroup_helpers.write(f"{fs}/kubepods/pod1/cpu.max", "250000 100000\n")  # 2.5 CPUs
  cgroup_helpers.write(f"{fs}/kubepods/pod1/box/cpu.max", "max 100000\n")
  mountinfo = cgroup_helpers.mountinfo(tmp_path, [f"/ {fs} rw,nosuid - cgroup2 cgroup2 rw"])
  cgroup = tmp_path / "cgroup"
  cgroup.write_text("0::/kubepods/pod1/box\n")
  assert cpu_quota.cgroup_cpu_limit(mountinfo, str(cgroup)) == 2.5
  cgroup.write_text("0::/kubepods\n")
  assert cpu_quota.cgroup_cpu_limit(mountinfo, str(cgroup)) == 6.0
  cgroup.write_text("0::/\n")
  assert cpu_quota.cgroup_cpu_limit(mountinfo, str(cgroup)) is None


def test_a_v1_limit_inside_a_container_without_a_cgroup_namespace(tmp_path):
  mountinfo, cgroup, fs, _ = cgroup_helpers.docker_v1(tmp_path)
  cgroup_helpers.write(f"{fs}/cpu.cfs_quota_us", "150000\n")
  cgroup_helpers.write(f"{fs}/cpu.cfs_period_us", "100000\n")
  assert cpu_quota.cgroup_cpu_limit(mountinfo, cgroup) == 1.5
  cgroup_helpers.write(f"{fs}/cpu.cfs_quota_us", "-1\n")  # unlimited
  assert cpu_quota.cgroup_cpu_limit(mountinfo, cgroup) is None


def test_no_cgroups_no_limit(tmp_path):
  assert cpu_quota.cgroup_cpu_limit(str(tmp_path / "none"), str(tmp_path / "none")) is None
  mountinfo = cgroup_helpers.mountinfo(tmp_path, [f"/ {tmp_path} rw - ext4 /dev/sda1 rw"])
  cgroup = tmp_path / "cgroup"
  cgroup.write_text("0::/\n")
  assert cpu_quota.cgroup_cpu_limit(mountinfo, str(cgroup)) is None


@pytest.mark.parametrize(
  "limit, visible, set_by_user, expected",
  [
    (2.5, 64, None, "3"),  # a 2.5-CPU limit on a 64-core host: 3 threads
    (0.5, 8, None, "1"),
    (None, 8, None, None),  # no limit
    (8.0, 8, None, None),  # a limit the host meets anyway
    (2.0, 64, "6", None),  # the user's own setting wins
  ],
)
def test_fit_threads(monkeypatch, limit, visible, set_by_user, expected):
  monkeypatch.setattr(cpu_quota, "cgroup_cpu_limit", lambda: limit)
  monkeypatch.setattr(cpu_quota, "visible_cpus", lambda: visible)
  for name in cpu_quota.THREAD_VARIABLES:
    monkeypatch.setenv(name, "")  # unset for fit_threads, and restored after the test
  if set_by_user:
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", set_by_user)
  line = cpu_quota.fit_threads()
  assert (line is not None) == (expected is not None)
  if expected:
    assert [os.environ[n] for n in cpu_quota.THREAD_VARIABLES] == [expected, expected]
    assert f"sized to {expected} " in line
  else:
    assert not os.environ.get("TF_NUM_INTEROP_THREADS")


def test_every_program_fits_its_threads_before_main_and_the_forms_cache_follows(monkeypatch):
  monkeypatch.setattr(cpu_quota, "cgroup_cpu_limit", lambda: 3.0)
  monkeypatch.setattr(cpu_quota, "visible_cpus", lambda: 32)
  for name in cpu_quota.THREAD_VARIABLES:
    monkeypatch.setenv(name, "")  # unset for fit_threads, and restored after the test
  seen = {}
  with pytest.raises(SystemExit) as stopped:
    cli.run(lambda argv: seen.update(os.environ), argv=["train.py"])
  assert stopped.value.code in (None, 0)
  assert seen["TF_NUM_INTRAOP_THREADS"] == seen["TF_NUM_INTEROP_THREADS"] == "3"
  # The forms measured under it are cached under the threads TensorFlow runs.
  assert form_choice.cpu_threads() == 3


@pytest.mark.parametrize("limit,visible,expected", [(3.0, 32, 3), (None, 32, 0), (8.0, 4, 0)])
def test_the_input_pipeline_runs_as_many_threads_as_the_cpu_limit(
  monkeypatch, limit, visible, expected
):
  """tf.data sizes its threads by the cores it sees: under a limit, by the limit (0: its
  own default, where nothing limits the process below the cores it sees)."""
  from configs import common
  from trainers.data import pipeline

  monkeypatch.setattr(cpu_quota, "cgroup_cpu_limit", lambda: limit)
  monkeypatch.setattr(cpu_quota, "visible_cpus", lambda: visible)
  data = common.base().data
  data.num_frames, data.height, data.width = 2, 8, 8
  ds = pipeline.make_dataset(data, 2, training=True)
  assert (ds.options().threading.private_threadpool_size or 0) == expected
  assert next(iter(ds))["video"].shape == (2, 2, 8, 8, 3)


def _cgroup_of_one_cpu():
  """A new cgroup (v1 `cpu`, or v2 with the cpu controller) limited to half a CPU, or None
  where this machine does not let the test make one."""
  return cgroup_helpers.make_cgroup(
    [
      ("/sys/fs/cgroup/cpu", {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000"}),
      ("/sys/fs/cgroup", {"cpu.max": "50000 100000"}),
    ]
  )


def test_a_real_cgroup_limit_is_read_and_fitted():
  path = _cgroup_of_one_cpu()
  if path is None:
    pytest.skip("no cgroup can be made here (needs root and a writable cpu controller)")
  code = (
    "from trainers import cpu_quota; print(cpu_quota.cgroup_cpu_limit(), cpu_quota.fit_threads())"
  )
  env = {k: v for k, v in os.environ.items() if k not in cpu_quota.THREAD_VARIABLES}
  env["PYTHONPATH"] = ROOT
  done = cgroup_helpers.run_in_cgroup(path, code, env, timeout=120)
  assert done.returncode == 0, done.stderr
  limit, _, line = done.stdout.partition(" ")
  assert float(limit) == 0.5
  if cpu_quota.visible_cpus() > 1:
    assert "sized to 1 " in line
