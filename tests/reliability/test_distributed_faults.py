"""A multi-worker run that loses a worker or whose worker stops stepping: the others stop
within a bound, with one line; the restarted pair resumes from a step both workers hold."""

import json
import os
import signal
import sys
import time

import helpers
import numpy as np
import pytest

import trainer_helpers

# Two local workers of the tiny networks, a checkpoint every 2 steps.
PAIR = {
  "runtime.strategy": "multi_worker",
  "runtime.deterministic": True,
  "train.batch_size": 4,
  "train.checkpoint_every": 2,
  "train.log_every": 1,
}
STARVED = os.path.join(helpers.HERE, "run_starved.py")
# How long the survivor may take to end after its peer is killed: TensorFlow's heartbeats
# catch a dead peer within ~10 s (a killed one on a live host often at once: its connections
# reset); then the exit.
BOUND_SECS = 45
DIRS = ("checkpoints", os.path.join("workers", "1", "checkpoints"))  # worker 0's, worker 1's


def _start_pair(tmp_path, name, workdir, overrides):
  config = helpers.config_file(tmp_path, dict(PAIR, **overrides), name=f"{name}.py")
  return [
    helpers.start_train_cli(config, workdir, tmp_path / f"{name}{i}.log", env)
    for i, env in enumerate(trainer_helpers.cluster_envs(2, base={}))
  ]


def _finish(procs, timeout=300):
  for p in procs:
    p.wait(timeout=timeout)
  return [p.returncode for p in procs]


def _wait_for(path, procs, timeout=240):
  deadline = time.time() + timeout
  while not os.path.exists(path):
    assert all(p.poll() is None for p in procs), f"a worker ended before {path} existed"
    assert time.time() < deadline, f"{path} did not appear in {timeout} s"
    time.sleep(0.05)


def _kill_a_worker(tmp_path, workdir, victim):
  """Starts an endless pair and SIGKILLs worker `victim` once the chief holds ckpt-4; checks
  that the other one ends within BOUND_SECS with one line naming it, and returns that line."""
  procs = _start_pair(tmp_path, "killed", workdir, {"train.steps": 10**6})
  survivor = 1 - victim
  try:
    _wait_for(workdir / "checkpoints" / "ckpt-4.index", procs)
    procs[victim].send_signal(signal.SIGKILL)
    procs[survivor].wait(timeout=BOUND_SECS)
  finally:
    for p in procs:
      p.kill()
      p.wait(timeout=60)
  assert procs[victim].returncode == -signal.SIGKILL
  log = (tmp_path / f"killed{survivor}.log").read_text()
  assert procs[survivor].returncode == 1, log[-3000:]  # errors.RunError
  assert "Traceback" not in log, log[-3000:]
  line = helpers.last_line(log)
  assert line.startswith("train.py: error: Expected every worker to take part in step "), line
  assert f", lost /job:worker/task:{victim}: " in line, line
  assert "Restart every worker: they resume from the newest checkpoint" in line, line
  return line


def test_a_killed_worker_stops_its_peer_with_one_line(tmp_path):
  # ~25 s on 2 cores: one pair of trainers, started and killed.
  _kill_a_worker(tmp_path, tmp_path / "wd", victim=1)


def test_a_sigterm_to_one_worker_stops_both_after_the_same_step(tmp_path):
  # ~25 s on 2 cores. A scheduler's SIGTERM reaches the workers of a job one by one, or only
  # one of them: stopping alone, the signalled worker left the chief waiting in the next
  # step's all-reduce, which ended it with status 1 and a checkpoint short.
  wd = tmp_path / "wd"
  procs = _start_pair(tmp_path, "term", wd, {"train.steps": 10**6})
  try:
    _wait_for(wd / "checkpoints" / "ckpt-4.index", procs)
    procs[1].send_signal(signal.SIGTERM)
    codes = _finish(procs, timeout=BOUND_SECS)
  finally:
    for p in procs:
      p.kill()
      p.wait(timeout=60)
  logs = [(tmp_path / f"term{i}.log").read_text() for i in range(2)]
  assert codes == [128 + signal.SIGTERM] * 2, logs[0][-3000:]
  assert "Another worker received SIGTERM: stopping with it after step " in logs[0], logs[0][-3000:]
  newest = [max(int(p.stem.split("-")[1]) for p in (wd / d).glob("ckpt-*.index")) for d in DIRS]
  assert newest[0] == newest[1] > 4, newest
  for log in logs:
    assert f"Stopped at step {newest[0]} on request" in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]


@pytest.mark.slow  # ~70 s on 2 cores: three pairs of trainers (killed, resumed, straight)
def test_the_restarted_pair_resumes_from_a_step_both_hold_and_ends_bitwise_equal(tmp_path):
  wd = tmp_path / "wd"
  _kill_a_worker(tmp_path, wd, victim=0)
  # The chief as if killed while it saved the newest step either worker holds: its copy is
  # missing and a partial write lies there. The pair must resume from the step before, which
  # both hold (a worker finishes a step only once the other has saved the one before).
  newest = max(int(p.stem.split("-")[1]) for d in DIRS for p in (wd / d).glob("ckpt-*.index"))
  for path in (wd / DIRS[0]).glob(f"ckpt-{newest}.*"):
    path.unlink()
  (wd / DIRS[0] / f"ckpt-{newest}.partial.index").write_bytes(b"cut")
  resume_at, end = newest - 2, newest + 2
  assert _finish(_start_pair(tmp_path, "resumed", wd, {"train.steps": end})) == [0, 0]
  logs = [(tmp_path / f"resumed{i}.log").read_text() for i in range(2)]
  for log, sub in zip(logs, DIRS, strict=True):
    assert f"Resumed from {wd / sub / f'ckpt-{resume_at}'} at step {resume_at}." in log, log[-3000:]
  assert "not every worker has a checkpoint of that step" in logs[1]
  assert not list((wd / DIRS[0]).glob("*.partial*"))
  assert (wd / DIRS[0] / f"ckpt-{newest}.index").exists()  # written again on the way
  straight = tmp_path / "straight"
  assert _finish(_start_pair(tmp_path, "straight", straight, {"train.steps": end})) == [0, 0]
  for sub in DIRS:
    a = helpers.checkpoint_arrays(straight / sub / f"ckpt-{end}")
    b = helpers.checkpoint_arrays(wd / sub / f"ckpt-{end}")
    assert a.keys() == b.keys() and len(a) > 10
    for k in a:
      np.testing.assert_array_equal(a[k], b[k], err_msg=f"{sub}: {k}")


@pytest.mark.slow  # 15-20 s on 2 cores: one pair of trainers, ended 5 s into the first step
def test_a_worker_that_stops_stepping_ends_both_after_the_step_timeout(tmp_path):
  # Worker 1 lives (its heartbeats go on) but its input never delivers: without
  # runtime.step_timeout_secs, worker 0 waits in the first step's all-reduce for ever.
  overrides = dict(PAIR, **{"train.steps": 10, "runtime.step_timeout_secs": 5.0})
  envs = trainer_helpers.cluster_envs(2, base={})
  procs = [
    helpers.start_train_cli(
      helpers.config_file(tmp_path, overrides), tmp_path / "wd", tmp_path / "w0.log", envs[0]
    ),
    helpers.start_logged(
      [sys.executable, STARVED, str(tmp_path / "wd"), json.dumps(overrides)],
      tmp_path / "w1.log",
      envs[1],
    ),
  ]
  try:
    for p in procs:
      p.wait(timeout=120)  # starting, building and tracing included
  finally:
    for p in procs:
      p.kill()
      p.wait(timeout=60)
  for i, p in enumerate(procs):
    log = (tmp_path / f"w{i}.log").read_text()
    assert p.returncode == 1, log[-3000:]
    assert (
      "Exiting with status 1 on no step finished within runtime.step_timeout_secs=5 s of step 0"
      in log
    ), log[-3000:]
