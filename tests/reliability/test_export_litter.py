"""An export killed at any point leaves nothing that the next export does not sweep."""

import os
import signal
import subprocess
import sys
import time
import types

import helpers
import pytest

from export import export
from export import verify

DEAD_PID = 2**22 + 7  # above Linux's largest pid_max: never a running process


def test_staging_and_scratch_of_dead_exports_are_swept(tmp_path, caplog):
  dead = [f".1.tmp-{DEAD_PID}-abc", f"{verify.SCRATCH_PREFIX}{DEAD_PID}-def", ".1.tmp-old123"]
  live = f".1.tmp-{os.getpid()}-ghi"
  for name in dead + [live]:
    os.makedirs(tmp_path / name / "variables")
  with caplog.at_level("WARNING"):
    with export.staged_dir(str(tmp_path / "1")) as staging:
      assert os.path.basename(staging).startswith(f".1.tmp-{os.getpid()}-")
      open(os.path.join(staging, "saved_model.pb"), "w").close()
  assert sorted(os.listdir(tmp_path)) == sorted(["1", live])
  for name in dead:
    assert f"Removing {tmp_path / name}, left by an export" in caplog.text


def test_verification_scratch_lives_beside_the_artefact_not_in_the_temp_dir(tmp_path, monkeypatch):
  artefact = tmp_path / "out" / ".1.tmp-1-x"
  os.makedirs(artefact)
  seen = {}

  def failing_child(args, **kwargs):
    seen.update(kwargs)
    return subprocess.CompletedProcess(args, 1, "", "boom")

  monkeypatch.setattr(verify.subprocess, "run", failing_child)
  job = types.SimpleNamespace(fmt="saved_model", path=str(artefact), cases=[])
  with pytest.raises(verify.VerificationError, match="boom"):
    verify._run_child([job])  # pylint: disable=protected-access
  assert os.path.dirname(seen["cwd"]) == str(tmp_path / "out")
  assert os.path.basename(seen["cwd"]).startswith(f"{verify.SCRATCH_PREFIX}{os.getpid()}-")
  assert "preexec_fn" in seen and not os.path.exists(seen["cwd"])


def _running(pid):
  try:
    with open(f"/proc/{pid}/status") as f:
      return "\nState:\tZ" not in f.read()  # a zombie has ended
  except FileNotFoundError:
    return False


def test_the_verification_child_dies_with_a_killed_parent(tmp_path):
  # Before: a SIGKILLed export left its verification child running (parent id 1).
  parent = subprocess.Popen(
    [
      sys.executable,
      "-c",
      (
        "import subprocess, sys, time\n"
        "from export import verify\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'],"
        " **verify.child_process_options())\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(120)\n"
      ),
    ],
    env=helpers.ENV,
    cwd=helpers.ROOT,
    stdout=subprocess.PIPE,
    text=True,
  )
  try:
    child = int(parent.stdout.readline())
    assert _running(child)
  finally:
    parent.send_signal(signal.SIGKILL)
    parent.wait(timeout=30)
  deadline = time.time() + 20
  while _running(child) and time.time() < deadline:
    time.sleep(0.2)
  assert not _running(child)
