"""SIGKILL at seeded points of a run, restart after each: the weights of a run never killed.

tests/trainers/test_trainer_process.py::test_sigkill_then_resume_is_bitwise_identical is
the one case CI runs (a kill after a checkpoint); this loop adds kills before the first
checkpoint and in the middle of a save.
"""

import collections
import json
import os
import signal
import sys
import time

import helpers
import numpy as np
import pytest

from trainers import workdir

END, EVERY = 40, 2  # steps of the run, steps between checkpoints
BASE = {
  "train.steps": END,
  "train.checkpoint_every": EVERY,
  "train.log_every": 1,
  "runtime.deterministic": True,
}
# A tiny save stays visible as ckpt-N.partial* for 3-36 ms (ext4, fsync; 100 saves of 100
# seen by polling): a kill on sight lands inside the save.
PLAN = ("before_first",) + ("in_save", "after_save") * 3


def _start(wd, log, out=None):
  args = [sys.executable, helpers.RUN_TINY, str(wd), json.dumps(BASE)]
  return helpers.start_logged(args + ([str(out)] if out else []), log)


def _poll(proc, ready, timeout=240, every=0.0005):
  deadline = time.time() + timeout
  while not ready():
    assert proc.poll() is None, f"the run ended ({proc.returncode}) before its kill point"
    assert time.time() < deadline, "the kill point did not come"
    time.sleep(every)


def _names(directory):
  try:
    return os.listdir(directory)
  except FileNotFoundError:
    return []


def _newest(directory):
  return max(map(workdir.step_of, workdir.checkpoint_paths(str(directory))), default=0)


@pytest.mark.slow  # 70-120 s on 2 shared cores: nine trainers in fresh processes
def test_sigkill_at_seeded_points_then_resume_is_bitwise_identical(tmp_path):
  rng = np.random.default_rng(0)
  wd = tmp_path / "wd"
  ck = wd / "checkpoints"
  hit = collections.Counter()
  partial = None  # the prefix of the save the last kill cut, which the next start removes
  for i, kind in enumerate(PLAN):
    resume_at = _newest(ck)
    log = tmp_path / f"run{i}.log"
    proc = _start(wd, log)
    try:
      _poll(proc, lambda log=log: "Training test_tiny_generator" in log.read_text(), every=0.01)
      target = resume_at + EVERY * int(rng.integers(1, 3))  # one or two saves ahead
      if kind == "before_first":  # the first call traces for a second or more
        time.sleep(rng.uniform(0.0, 0.3))
      elif kind == "in_save":
        prefix = f"ckpt-{target}.partial"
        _poll(proc, lambda p=prefix: any(n.startswith(p) for n in _names(ck)))
      else:
        _poll(proc, (ck / f"ckpt-{target}.index").exists)
        time.sleep(rng.uniform(0.0, 0.03))
      proc.send_signal(signal.SIGKILL)
    finally:
      proc.kill()
      proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    text = log.read_text()
    if resume_at:
      assert f"Resumed from {ck / f'ckpt-{resume_at}'} at step {resume_at}." in text, text[-3000:]
    if partial:
      assert f"Removing {partial}" in text, text[-3000:]
    names = _names(ck)
    if kind == "before_first":
      hit[kind] += not [n for n in names if n.startswith("ckpt-")]
    elif kind == "in_save":
      cut = f"ckpt-{target}.index" not in names and any(".partial" in n for n in names)
      hit[kind] += cut
      partial = ck / f"ckpt-{target}.partial" if cut else None
    else:
      partial = None
      hit[kind] += f"ckpt-{target}.index" in names
  assert hit == {"before_first": 1, "in_save": 3, "after_save": 3}, hit
  resume_at = _newest(ck)
  final = _start(wd, tmp_path / "final.log", tmp_path / "b.npz")
  straight = _start(tmp_path / "a", tmp_path / "straight.log", tmp_path / "a.npz")
  assert final.wait(timeout=300) == 0 and straight.wait(timeout=300) == 0
  text = (tmp_path / "final.log").read_text()
  assert f"ckpt-{resume_at} at step {resume_at}." in text, text[-3000:]
  with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
    assert int(a["step"]) == int(b["step"]) == END
    assert a.files == b.files and len(a.files) > 5
    for k in a.files:
      np.testing.assert_array_equal(a[k], b[k], err_msg=k)
