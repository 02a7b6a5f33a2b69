"""The loop in fresh processes: replicas, workers, SIGKILL + resume, SIGTERM."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

import trainer_helpers

HERE = os.path.dirname(os.path.abspath(__file__))
RUN = os.path.join(HERE, "run_tiny.py")


def run_tiny(workdir, overrides, out=None, env=None, **kwargs):
  args = [sys.executable, RUN, str(workdir), json.dumps(overrides)] + ([str(out)] if out else [])
  full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
  return subprocess.run(args, env=full_env, capture_output=True, text=True, timeout=300, **kwargs)


def load(path):
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def assert_same(a, b, exact):
  assert a.keys() == b.keys()
  for k in a:
    if exact:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    else:
      np.testing.assert_allclose(a[k], b[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_mirrored_two_replicas_equal_one_replica(tmp_path):
  base = {
    "train.steps": 2,
    "train.batch_size": 4,
    "train.checkpoint_every": 0,
    "data.random_flip": False,
  }
  one = run_tiny(tmp_path / "one", base, tmp_path / "one.npz")
  assert one.returncode == 0, one.stderr[-3000:]
  two = run_tiny(
    tmp_path / "two",
    dict(
      base,
      **{
        "logical_cpus": 2,
        "runtime.strategy": "mirrored",
        "runtime.devices": ["/cpu:0", "/cpu:1"],
      },
    ),
    tmp_path / "two.npz",
  )
  assert two.returncode == 0, two.stderr[-3000:]
  assert "on 2 replica(s)" in two.stderr
  assert_same(load(tmp_path / "one.npz"), load(tmp_path / "two.npz"), exact=False)


def test_multi_worker_two_processes_end_identical(tmp_path):
  procs = []
  for i, env in enumerate(trainer_helpers.cluster_envs(2)):
    args = [
      sys.executable,
      RUN,
      str(tmp_path / "wd"),
      json.dumps(
        {
          "train.steps": 2,
          "train.batch_size": 4,
          "train.checkpoint_every": 2,
          "runtime.strategy": "multi_worker",
        }
      ),
      str(tmp_path / f"w{i}.npz"),
    ]
    procs.append(
      subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    )
  outs = [p.communicate(timeout=300) for p in procs]
  for p, (_, err) in zip(procs, outs, strict=True):
    assert p.returncode == 0, err[-3000:]
  w0, w1 = load(tmp_path / "w0.npz"), load(tmp_path / "w1.npz")
  assert int(w0["step"]) == 2
  assert_same(w0, w1, exact=True)
  # Only the chief keeps checkpoints under WORKDIR/checkpoints.
  assert os.path.exists(tmp_path / "wd" / "checkpoints" / "ckpt-2.index")


def _wait_for(path, proc, timeout):
  """Polls until `path` exists; fails when `proc` ends first or time runs out."""
  deadline = time.time() + timeout
  while not os.path.exists(path):
    assert proc.poll() is None, f"ended with {proc.returncode} before {path} existed"
    assert time.time() < deadline, f"{path} did not appear in {timeout} s"
    time.sleep(0.05)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path):
  """SIGKILL once the checkpoint of step 2 exists, resume: the weights of an uninterrupted run.

  The killed run may have gone past step 2 (its checkpoints are every 2 steps); both runs
  then end 2 steps after the latest checkpoint the kill left.
  """
  base = {"train.checkpoint_every": 2, "runtime.deterministic": True}
  wd = tmp_path / "b"
  args = [sys.executable, RUN, str(wd), json.dumps(dict(base, **{"train.steps": 10**6}))]
  proc = subprocess.Popen(
    args, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stderr=subprocess.DEVNULL
  )
  try:
    _wait_for(wd / "checkpoints" / "ckpt-2.index", proc, timeout=240)
    proc.send_signal(signal.SIGKILL)
  finally:
    proc.kill()
    proc.wait(timeout=60)
  assert proc.returncode == -signal.SIGKILL
  from trainers import workdir as workdir_lib

  # The newest checkpoint the loop will resume from: the kill may land after a checkpoint's
  # files are written but before TF's `checkpoint` state file names it.
  killed_at = workdir_lib.step_of(workdir_lib.readable_checkpoints(str(wd / "checkpoints"))[0])
  assert killed_at >= 2
  steps = {"train.steps": killed_at + 2}
  resumed = run_tiny(wd, dict(base, **steps), tmp_path / "b.npz")
  assert resumed.returncode == 0, resumed.stderr[-3000:]
  assert f"ckpt-{killed_at} at step {killed_at}." in resumed.stderr  # "Resumed from ..."
  straight = run_tiny(tmp_path / "a", dict(base, **steps), tmp_path / "a.npz")
  assert straight.returncode == 0, straight.stderr[-3000:]
  a, b = load(tmp_path / "a.npz"), load(tmp_path / "b.npz")
  assert int(a["step"]) == int(b["step"]) == killed_at + 2
  assert_same(a, b, exact=True)


def test_sigterm_saves_a_checkpoint_and_exits_143(tmp_path):
  wd = tmp_path / "wd"
  args = [
    sys.executable,
    RUN,
    str(wd),
    json.dumps({"train.steps": 10**6, "train.checkpoint_every": 0, "train.log_every": 1}),
  ]
  proc = subprocess.Popen(
    args, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"), stderr=subprocess.PIPE, text=True
  )
  seen = []
  deadline = time.time() + 240
  for line in proc.stderr:
    seen.append(line)
    if "step 3/" in line or time.time() > deadline:
      break
  proc.send_signal(signal.SIGTERM)
  rest, _ = proc.communicate(timeout=120)[1], None
  log = "".join(seen) + (rest or "")
  assert proc.returncode == 128 + signal.SIGTERM, log[-3000:]  # stopped, not finished
  assert "Stopped at step" in log
  import tensorflow as tf

  latest = tf.train.latest_checkpoint(str(wd / "checkpoints"))
  assert latest is not None and int(latest.rsplit("-", 1)[1]) >= 3


def test_tpu_strategy_without_a_tpu_is_a_clear_error(tmp_path):
  res = run_tiny(tmp_path, {"runtime.strategy": "tpu", "runtime.tpu": "local"})
  assert res.returncode != 0
  assert "no TPU could be reached at runtime.tpu='local'" in res.stderr
