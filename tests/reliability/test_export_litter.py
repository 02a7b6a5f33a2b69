"""An export killed at any point leaves nothing that the next export does not sweep."""

import os
import pathlib
import signal
import subprocess
import sys
import time
import types

import helpers
import pytest

from export import export
from export import verify
from trainers import errors

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


def _artefact(folder, content):
  os.makedirs(folder / "variables")
  (folder / "saved_model.pb").write_text(content)
  (folder / "variables" / "variables.index").write_text(content)


def test_an_export_stopped_while_replacing_an_artefact_keeps_the_old_one(tmp_path, monkeypatch):
  # Before: --overwrite removed the old artefact, then renamed the new one into place; a stop
  # between the two left no artefact (the new one was removed as staging), and one during
  # the removal left half of the old one under the final name.
  _artefact(tmp_path / "1", "old")
  rename = os.rename

  def stopped_at_the_new_ones_rename(src, dst):
    if os.path.basename(src).startswith(".1.tmp-"):
      raise KeyboardInterrupt
    rename(src, dst)

  monkeypatch.setattr(os, "rename", stopped_at_the_new_ones_rename)
  with pytest.raises(KeyboardInterrupt):
    with export.staged_dir(str(tmp_path / "1"), overwrite=True) as staging:
      _artefact(pathlib.Path(staging), "new")
  assert os.listdir(tmp_path) == ["1"]
  assert (tmp_path / "1" / "variables" / "variables.index").read_text() == "old"
  monkeypatch.undo()
  with export.staged_dir(str(tmp_path / "1"), overwrite=True) as staging:
    _artefact(pathlib.Path(staging), "new")
  assert os.listdir(tmp_path) == ["1"]
  assert (tmp_path / "1" / "saved_model.pb").read_text() == "new"


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="names fds by /proc (Linux)")
def test_an_artefacts_files_reach_the_disk_before_its_rename(tmp_path, monkeypatch):
  # Before: the staging folder was renamed to the final name unflushed; a power loss could
  # leave a short file under it, where checkpoints are fsynced before their renames.
  events = []
  fsync, rename = os.fsync, os.rename
  monkeypatch.setattr(os, "fsync", lambda fd: events.append(os.readlink(f"/proc/self/fd/{fd}")))
  monkeypatch.setattr(os, "rename", lambda a, b: events.append(("rename", a, b)) or rename(a, b))
  with export.staged_dir(str(tmp_path / "1")) as staging:
    os.makedirs(os.path.join(staging, "variables"))
    for name in ("saved_model.pb", os.path.join("variables", "variables.index")):
      with open(os.path.join(staging, name), "w") as f:
        f.write("x")
  monkeypatch.setattr(os, "fsync", fsync)
  (moved,) = [k for k, e in enumerate(events) if isinstance(e, tuple)]
  assert events[moved][1:] == (staging, str(tmp_path / "1"))
  assert set(events[:moved]) == {
    os.path.join(staging, "saved_model.pb"),
    os.path.join(staging, "variables", "variables.index"),
    os.path.join(staging, "variables"),
    staging,
  }
  assert events[moved + 1 :] == [str(tmp_path)]  # and the rename itself


def test_an_artefact_a_killed_export_set_aside_is_restored_or_removed(tmp_path, caplog):
  # A SIGKILL between setting the old artefact aside and renaming the new one into place.
  _artefact(tmp_path / "1", "kept")
  os.rename(tmp_path / "1", tmp_path / f".1{export.REPLACED}{DEAD_PID}-ab")
  _artefact(tmp_path / f".1.tmp-{DEAD_PID}-cd", "unverified")
  _artefact(tmp_path / "2", "current")
  _artefact(tmp_path / f".2{export.REPLACED}{DEAD_PID}-ef", "replaced")
  with caplog.at_level("WARNING"):
    export.sweep_staging(str(tmp_path))
  assert sorted(os.listdir(tmp_path)) == ["1", "2"]
  assert (tmp_path / "1" / "saved_model.pb").read_text() == "kept"
  assert (tmp_path / "2" / "saved_model.pb").read_text() == "current"
  assert f"Restoring {tmp_path / '1'} from" in caplog.text
  with pytest.raises(FileExistsError, match="pass --overwrite"):  # restored before the check
    _artefact(tmp_path / f".3{export.REPLACED}{DEAD_PID}-gh", "kept")
    with export.staged_dir(str(tmp_path / "3")):
      pass
  assert (tmp_path / "3" / "saved_model.pb").read_text() == "kept"


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


def test_a_verification_process_killed_or_hung_is_one_line(tmp_path, monkeypatch):
  # The kernel's out-of-memory killer picks the biggest process: the child loading every
  # artefact. Before: a VerificationError traceback, as for an artefact that failed its check.
  artefact = tmp_path / "out" / ".1.tmp-1-x"
  os.makedirs(artefact)
  monkeypatch.setattr(
    verify.subprocess, "run", lambda args, **kw: subprocess.CompletedProcess(args, -9, "", "")
  )
  job = types.SimpleNamespace(fmt="saved_model", path=str(artefact), cases=[])
  with pytest.raises(errors.RunError, match="received its end by SIGKILL") as error:
    verify._run_child([job])  # pylint: disable=protected-access
  assert "\n" not in str(error.value)

  def hung(args, **kwargs):  # a child that never ends: before, TimeoutExpired's traceback
    raise subprocess.TimeoutExpired(args, kwargs["timeout"])

  monkeypatch.setattr(verify.subprocess, "run", hung)
  with pytest.raises(errors.RunError, match=f"within {verify.TIMEOUT_SECONDS} s") as error:
    verify._run_child([job])  # pylint: disable=protected-access
  assert "\n" not in str(error.value)
  assert os.listdir(tmp_path / "out") == [".1.tmp-1-x"]  # its scratch folder removed


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
