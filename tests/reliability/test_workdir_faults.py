"""A workdir survives failed starts, full disks, kills and a second trainer (in process)."""

import errno
import json
import os
import socket
import time

import helpers
import numpy as np
import pytest
import tensorflow as tf

import trainer_helpers  # also registers the tiny networks
from trainers import errors
from trainers import loop
from trainers import workdir as workdir_lib
from trainers.data import video_io
from trainers.eval import sources


def _tiny(**train):
  return trainer_helpers.tiny_config(**train)


def _trained(tmp_path, steps=2, **train):
  wd = str(tmp_path / "wd")
  loop.run(_tiny(steps=steps, checkpoint_every=1, log_every=0, summary_every=0, **train), wd)
  return wd


# --- one run per workdir ------------------------------------------------------------------


def test_a_second_holder_is_refused_naming_the_first(tmp_path):
  first = workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  try:
    with pytest.raises(
      errors.WorkdirLockedError, match=f"pid {os.getpid()} on host {socket.gethostname()}"
    ):
      workdir_lib.WorkdirLock(str(tmp_path)).acquire()  # flock is per open file: refused
  finally:
    first.release()
  assert (tmp_path / workdir_lib.LOCK_FILE).read_text() == ""  # released: empty
  workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()


def test_a_stale_lock_is_taken_over_and_a_live_lease_is_not(tmp_path, caplog):
  lock_file = tmp_path / workdir_lib.LOCK_FILE
  dead = {"host": socket.gethostname(), "pid": 2**22 + 7, "started": 0, "heartbeat": time.time()}
  lock_file.write_text(json.dumps(dead))
  with caplog.at_level("WARNING"):
    workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()
  assert "Taking over the lock" in caplog.text and f"pid {dead['pid']}" in caplog.text
  # Another host's fresh heartbeat (a shared filesystem where flock does not reach): refused.
  lock_file.write_text(json.dumps(dict(dead, host="elsewhere", pid=4242)))
  with pytest.raises(errors.WorkdirLockedError, match="pid 4242 on host elsewhere"):
    workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  # ... until its lease runs out.
  lock_file.write_text(json.dumps(dict(dead, host="elsewhere", pid=4242, heartbeat=0)))
  workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()


def test_a_lock_recorded_by_a_former_life_of_this_pid_is_taken_over(tmp_path, caplog):
  """A container restarted at once runs the trainer as pid 1 again, on the same host name,
  and found its own pid in the lock with a fresh heartbeat: refused as "another run" until
  the lease ran out (a restart loop of 60 s). Under a file lock it obtained, a record of its
  own pid can only be a former life's."""
  lock_file = tmp_path / workdir_lib.LOCK_FILE
  me = {"host": socket.gethostname(), "pid": os.getpid(), "started": 0, "heartbeat": time.time()}
  lock_file.write_text(json.dumps(me))
  with caplog.at_level("WARNING"):
    workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()
  assert "Taking over the lock" in caplog.text
  first = workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  try:  # the file lock still tells a live holder in this same process
    with pytest.raises(errors.WorkdirLockedError, match=f"pid {os.getpid()}"):
      workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  finally:
    first.release()


@pytest.mark.parametrize("code", [errno.ENOLCK, errno.EOPNOTSUPP])
def test_a_filesystem_without_file_locks_trains_under_the_heartbeat_lease(
  tmp_path, monkeypatch, caplog, code
):
  """NFS without its lock service answers flock with ENOLCK, some FUSE mounts with
  EOPNOTSUPP. Before, training there stopped with that OSError's traceback; now the lock
  file's heartbeat is the lock: a second run is still refused while the first lives."""
  import fcntl

  def refuse(fd, operation):
    raise OSError(code, os.strerror(code))

  monkeypatch.setattr(fcntl, "flock", refuse)
  with caplog.at_level("WARNING"):
    first = workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  try:
    assert "the filesystem refuses file locks" in caplog.text
    with pytest.raises(errors.WorkdirLockedError, match=f"pid {os.getpid()}"):
      workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  finally:
    first.release()
  workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()


def test_a_workdir_that_is_a_file_or_unwritable_is_one_line(tmp_path, monkeypatch):
  afile = tmp_path / "afile"
  afile.write_text("x")
  with pytest.raises(errors.RunError, match="Expected --workdir to be a directory"):
    workdir_lib.WorkdirLock(str(afile)).acquire()
  real_open = os.open

  def read_only(path, *args, **kwargs):
    if str(path).endswith(workdir_lib.LOCK_FILE):
      raise PermissionError(errno.EACCES, "Permission denied", path)
    return real_open(path, *args, **kwargs)

  monkeypatch.setattr(os, "open", read_only)
  with pytest.raises(errors.RunError, match="Expected a writable workdir.*Permission denied"):
    workdir_lib.WorkdirLock(str(tmp_path / "ro")).acquire()


def test_a_workdir_named_by_url_trains_resumes_evaluates_and_is_leased(tmp_path, monkeypatch):
  """A workdir in a bucket (`gs://...`, as TPU runs keep theirs) is reached through
  tf.io.gfile; here `file://`, which TensorFlow reads the same way. Before, the lock made a
  local folder named `gs:` in the current directory (no lock where the run writes), and the
  first sample grid stopped the run: FFmpeg writes local files only."""
  (tmp_path / "cwd").mkdir()
  monkeypatch.chdir(tmp_path / "cwd")
  url = "file://" + str(tmp_path / "wd")
  c = _tiny(steps=2, checkpoint_every=1, log_every=0, summary_every=0, sample_every=2)
  assert loop.run(c, url).current_step() == 2
  c.train.steps = 3
  resumed = loop.Trainer(c, url)
  assert resumed.restored == url + "/checkpoints/ckpt-2" and resumed.current_step() == 2
  resumed.train()
  assert resumed.current_step() == 3
  samples = tf.io.gfile.listdir(url + "/samples")
  assert {"step_00000002.mp4", "step_00000002.gif"} <= set(samples), samples
  assert os.listdir(tmp_path / "cwd") == []  # nothing written beside the run
  assert tf.io.gfile.GFile(url + "/" + workdir_lib.LOCK_FILE).read() == ""  # released
  # The lease is the lock: another host's fresh heartbeat keeps a second run out.
  holder = {"host": "elsewhere", "pid": 4242, "started": 0, "heartbeat": time.time()}
  with tf.io.gfile.GFile(url + "/" + workdir_lib.LOCK_FILE, "w") as f:
    f.write(json.dumps(holder))
  with pytest.raises(errors.WorkdirLockedError, match="pid 4242 on host elsewhere.*recent"):
    workdir_lib.WorkdirLock(url).acquire()
  # The programs that read a workdir find it by its URL too (evaluate's --fake=URL).
  assert sources.is_workdir(url) and not sources.is_workdir(url + "/samples")


def test_sample_videos_reach_a_filesystem_ffmpeg_cannot_write(tmp_path):
  """TensorFlow's in-memory filesystem stands in for a bucket that FFmpeg and Pillow cannot
  open: the MP4 and GIF are written locally and copied there whole, and decode as written."""
  frames = np.zeros([3, 8, 10, 3], np.uint8)
  for t in range(3):  # a square moving right (Pillow merges repeated GIF frames)
    frames[t, 2:6, 2 * t : 2 * t + 4] = 255
  for ext in (".mp4", ".gif"):
    url = f"ram://samples/{tmp_path.name}/clip{ext}"
    video_io.write_video(url, frames, fps=4)
    local = tmp_path / f"copy{ext}"
    local.write_bytes(tf.io.gfile.GFile(url, "rb").read())
    decoded, fps = video_io.read_video(str(local))
    assert decoded.shape == frames.shape and fps == pytest.approx(4, rel=0.05), ext
    assert np.abs(decoded.astype(int) - frames).mean() < 8, ext


# --- a failed start damages nothing -------------------------------------------------------


def test_a_bad_config_leaves_the_workdir_unchanged(tmp_path):
  wd = _trained(tmp_path)
  config_json = (tmp_path / "wd" / "config.json").read_bytes()
  unknown = _tiny(steps=4)
  unknown.model.generator.name = "no_such_model"
  with pytest.raises(errors.ConfigError, match="model.generator.name among"):
    loop.run(unknown, wd)
  bad_field = _tiny(steps=4)
  bad_field.model.generator.args.no_such_arg = 3
  with pytest.raises(ValueError, match="no_such_arg"):
    loop.run(bad_field, wd)
  assert (tmp_path / "wd" / "config.json").read_bytes() == config_json
  assert (tmp_path / "wd" / workdir_lib.LOCK_FILE).read_text() == ""  # released
  workdir_lib.restore_generator(wd)  # what export.sample reads still loads


def test_resuming_with_another_model_is_refused_naming_the_fields(tmp_path):
  wd = _trained(tmp_path)
  config_json = (tmp_path / "wd" / "config.json").read_bytes()
  other = _tiny(steps=4)
  other.model.generator.args.latent_dim = 16
  other.model.generator.args.size = 16  # a model of its own: 16-pixel clips
  other.data.height = other.data.width = 16
  with pytest.raises(errors.ConfigError) as error:
    loop.run(other, wd)
  message = str(error.value)
  assert "model.generator.args.latent_dim: 8 -> 16" in message
  assert "data.height: 8 -> 16" in message and "allow_model_change" in message
  assert (tmp_path / "wd" / "config.json").read_bytes() == config_json
  # Resumed anyway, a model whose variables change shape is refused in one line, where
  # TensorFlow's ValueError ("Received incompatible tensor") was printed with a traceback.
  other.runtime.allow_model_change = True
  with pytest.raises(errors.ConfigError, match=r"ckpt-2, which does not: .*incompatible"):
    loop.run(other, wd)
  assert (tmp_path / "wd" / "config.json").read_bytes() == config_json
  assert (tmp_path / "wd" / workdir_lib.LOCK_FILE).read_text() == ""  # released
  longer = _tiny(steps=3, checkpoint_every=1, log_every=0, summary_every=0)
  assert loop.run(longer, wd).current_step() == 3  # steps, rates, ...: fine


def test_fields_changed_between_two_runs_are_named_when_resuming(tmp_path, caplog):
  # A config file edited between two runs: before, a changed learning rate or interval was
  # taken without a word (config.json silently rewritten).
  wd = _trained(tmp_path, steps=1)
  config = _tiny(steps=2, checkpoint_every=1, log_every=0, summary_every=0)
  config.optimizer.g_lr = 0.125
  with caplog.at_level("INFO"):
    loop.run(config, wd)
  lines = [r.getMessage() for r in caplog.records if "changed since" in r.getMessage()]
  assert len(lines) == 1, caplog.text
  assert "optimizer.g_lr: " in lines[0] and " -> 0.125" in lines[0]
  assert "train.steps: 1 -> 2" in lines[0] and "model." not in lines[0]


def test_a_run_written_before_a_field_existed_resumes_after_an_upgrade(tmp_path, caplog):
  """config.json of a run written by an older zoo lacks the fields added since: they count
  as their defaults, so the run resumes (it was refused: `train.ema_decay: None -> 0.0`),
  and a new field set otherwise is still a change."""
  wd = _trained(tmp_path)
  path = tmp_path / "wd" / "config.json"
  stored = json.loads(path.read_text())
  del stored["train"]["ema_decay"], stored["runtime"]["precision"]
  path.write_text(json.dumps(stored))
  with caplog.at_level("WARNING"):
    resumed = loop.run(_tiny(steps=3, checkpoint_every=1, log_every=0, summary_every=0), wd)
  assert resumed.current_step() == 3 and "allow_model_change" not in caplog.text
  path.write_text(json.dumps(stored))
  with pytest.raises(errors.ConfigError, match=r"train.ema_decay: 0.0 -> 0.5"):
    loop.run(_tiny(steps=4, ema_decay=0.5), wd)


def test_resuming_with_another_batch_size_starts_the_input_afresh(tmp_path, caplog):
  """The checkpoint holds the input's position, batches of 4 clips; resumed with batches of
  8 (a bigger GPU), the restored pipeline stopped at its first batch with TensorFlow's
  "Incompatible shapes: expected [8,...] but got [4,...]". Now everything else resumes and
  the input starts afresh, with a warning naming the change."""
  wd = str(tmp_path / "wd")
  quiet = dict(checkpoint_every=1, log_every=0, summary_every=0)
  first = loop.run(_tiny(steps=2, **quiet), wd)
  saved = [w.numpy() for w in first.generator.weights]
  with caplog.at_level("WARNING"):
    again = loop.run(_tiny(steps=2, batch_size=8, **quiet), wd)
  assert "changed input (train.batch_size: 4 -> 8)" in caplog.text
  assert again.current_step() == 2
  for a, b in zip(saved, again.generator.weights, strict=True):
    np.testing.assert_array_equal(a, b.numpy())
  assert loop.run(_tiny(steps=3, batch_size=8, **quiet), wd).current_step() == 3
  # The evaluation's own data is not the training input: changing it keeps the position.
  other_eval = _tiny(steps=4, batch_size=8, **quiet)
  other_eval.data.source = "tfds:moving_mnist"
  stored = workdir_lib.load_config(wd)
  stored.data.source = other_eval.data.source
  other_eval.data.tfds_eval_split = "test[:10%]"
  assert workdir_lib.input_changes(stored, other_eval) == []
  other_eval.data.tfds_train_split = "test[10%:]"
  assert [c[0] for c in workdir_lib.input_changes(stored, other_eval)] == ["data.tfds_train_split"]


def test_a_model_registered_outside_the_zoo_is_found_by_the_workdirs_readers(tmp_path):
  """A model of the user's own code (here the tests' tiny generator, registered by
  trainer_helpers) is not registered in a new process that reads the workdir: export and
  evaluate stopped with a KeyError's traceback. config.json now records where it came from;
  the readers import it (by module name, else by file), or say in one line why not."""
  import subprocess
  import sys

  wd = _trained(tmp_path, steps=1)
  stored = json.loads((tmp_path / "wd" / "config.json").read_text())
  source = stored["registered"]["test_tiny_generator"]
  assert source == {"module": "trainer_helpers", "file": trainer_helpers.__file__}
  assert "test_tiny_list_generator" not in stored["registered"]  # registered, not used
  env = dict(helpers.ENV, PYTHONPATH=helpers.ROOT)  # without tests/trainers: not by name
  read = "from trainers import workdir; print(type(workdir.restore_generator(%r)[0]).__name__)"
  done = subprocess.run(
    [sys.executable, "-c", read % wd], env=env, capture_output=True, text=True, timeout=300
  )
  assert done.returncode == 0 and done.stdout.split()[-1] == "TinyGenerator", done.stderr[-2000:]
  for name in stored["registered"]:  # the tiny discriminator's file registers both
    stored["registered"][name] = {"module": "gone", "file": "/nowhere/gone.py"}
  (tmp_path / "wd" / "config.json").write_text(json.dumps(stored))
  command = [sys.executable, "-m", "export.sample", f"--workdir={wd}", "--num=1"]
  command.append(f"--out={tmp_path / 's.mp4'}")
  done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
  assert done.returncode == 2, done.stderr[-2000:]
  assert helpers.last_line(done.stderr).startswith(
    "sample.py: error: Expected model 'test_tiny_discriminator' to be registered by module "
    "'gone' (file /nowhere/gone.py), as it was when the workdir was trained"
  ), done.stderr[-2000:]


@pytest.mark.parametrize(
  "content, why",
  [
    (b'{"model": ', "unreadable content (Expecting value: line 1 column 11 (char 10))"),
    (b"\xff\xfe\x00", "unreadable content ("),
    (b"[1, 2]", "another JSON value"),
    (b"{}", "a JSON object without model, data, objective, train"),
    (b'{"model": {}, "data": {}, "objective": {}, "train": {}}', "without model.generator"),
  ],
)
def test_a_damaged_config_json_is_one_line_for_every_reader(tmp_path, content, why):
  # Before: json's traceback (train, export) or an AttributeError on "model".
  wd = _trained(tmp_path)
  path = tmp_path / "wd" / "config.json"
  path.write_bytes(content)
  expected = f"Expected {path} to hold the run's config as a JSON object (written by "
  for read in (lambda: loop.run(_tiny(steps=4), wd), lambda: workdir_lib.restore_generator(wd)):
    with pytest.raises(errors.ConfigError) as error:
      read()
    assert str(error.value).startswith(expected + "trainers.train), received "), error.value
    assert why in str(error.value)


# --- nothing half-written under a final name ----------------------------------------------


def test_a_full_disk_during_the_index_merge_leaves_no_checkpoint_under_its_name(
  tmp_path, monkeypatch
):
  real_write = tf.train.Checkpoint._write  # pylint: disable=protected-access
  calls = []

  def full_disk(self, prefix, options=None):
    calls.append(prefix)
    out = real_write(self, prefix, options)
    if len(calls) == 2:  # the second checkpoint: the merged index is cut short
      with open(prefix + ".index", "r+b") as f:
        f.truncate(10)
      raise OSError(errno.ENOSPC, "No space left on device")
    return out

  monkeypatch.setattr(tf.train.Checkpoint, "_write", full_disk)
  wd = str(tmp_path / "wd")
  with pytest.raises(errors.RunError) as error:
    loop.run(_tiny(steps=2, checkpoint_every=1, log_every=0, summary_every=0), wd)
  assert "\n" not in str(error.value)
  assert "ckpt-2" in str(error.value) and "No space left on device" in str(error.value)
  assert "ckpt-1, is kept" in str(error.value)
  assert sorted(os.listdir(os.path.join(wd, "checkpoints"))) == [
    "checkpoint",
    "ckpt-1.data-00000-of-00001",
    "ckpt-1.index",
  ]
  assert workdir_lib.latest_checkpoint(wd).endswith("ckpt-1")


def test_a_first_checkpoint_the_disk_refuses_is_one_line_saying_none_is_kept(tmp_path, monkeypatch):
  # Before: "failed: {{function_node __wrapped__SaveV2_...}} PATH.tempstate...; No space left
  # on device [Op:SaveV2]. The last complete checkpoint, None, is kept."
  def full_disk(self, prefix, options=None):
    raise tf.errors.ResourceExhaustedError(
      None,
      None,
      "{{function_node __wrapped__SaveV2_dtypes_106_device_/job:localhost/replica:0/task:0/"
      f"device:CPU:0}} {prefix}_temp/part-00000-of-00001.data-00000-of-00001.tempstate89; No "
      "space left on device [Op:SaveV2]",
    )

  monkeypatch.setattr(tf.train.Checkpoint, "_write", full_disk)
  wd = str(tmp_path / "wd")
  with pytest.raises(errors.RunError) as error:
    loop.run(_tiny(steps=1, checkpoint_every=1, log_every=0, summary_every=0), wd)
  assert str(error.value) == (
    f"Expected to save checkpoint ckpt-1 in {wd}/checkpoints, failed: No space left on "
    "device. No earlier checkpoint was saved: a run started again begins at step 0."
  )


def test_a_write_the_disk_refuses_names_its_file_and_leaves_no_temporary(tmp_path, monkeypatch):
  # Before: the lock's write said only "No space left on device" (which disk?), and a
  # config.json or metrics.json that failed left its empty `.tmp` behind.
  def full_disk(*args):
    raise OSError(errno.ENOSPC, "No space left on device")

  monkeypatch.setattr(os, "pwrite", full_disk)
  with pytest.raises(OSError) as error:
    workdir_lib.WorkdirLock(str(tmp_path)).acquire()
  assert error.value.filename == str(tmp_path / workdir_lib.LOCK_FILE)
  monkeypatch.undo()
  workdir_lib.WorkdirLock(str(tmp_path)).acquire().release()  # the failed one holds nothing

  path = tmp_path / "metrics.json"
  path.write_text('{"fvd": 1}')

  class FullFile(tf.io.gfile.GFile):
    def write(self, data):
      super().write(data[:10])
      raise tf.errors.ResourceExhaustedError(None, None, f"{self.name}; No space left on device")

  monkeypatch.setattr(tf.io.gfile, "GFile", FullFile)
  with pytest.raises(tf.errors.ResourceExhaustedError):
    workdir_lib.write_json(str(path), {"fvd": 2})
  assert sorted(os.listdir(tmp_path)) == [workdir_lib.LOCK_FILE, "metrics.json"]
  assert path.read_text() == '{"fvd": 1}'  # the earlier record, as it was


def _assert_readers_fall_back_to_step_1(wd, caplog, warning, why):
  """The readers of `wd`, whose ckpt-2 is damaged, take ckpt-1 with a warning holding
  `warning`; asked for step 2 by name, they refuse it saying `why`."""
  with caplog.at_level("WARNING"):
    assert workdir_lib.latest_checkpoint(wd).endswith("ckpt-1")
    _, _, path = workdir_lib.restore_generator(wd)
  assert path.endswith("ckpt-1") and warning in caplog.text
  with pytest.raises(errors.RunError, match=f"step 2.*{why}.*readable steps: \\[1\\]"):
    workdir_lib.latest_checkpoint(wd, step=2)


def test_readers_skip_a_damaged_checkpoint_and_start_sweeps_temporaries(tmp_path, caplog):
  wd = _trained(tmp_path, steps=2)
  directory = workdir_lib.checkpoint_dir(wd)
  with open(os.path.join(directory, "ckpt-2.index"), "r+b") as f:  # as a kill mid-merge left it
    f.truncate(10)
  _assert_readers_fall_back_to_step_1(wd, caplog, "Skipping checkpoint", "does not load")
  os.makedirs(os.path.join(directory, "ckpt-3_temp"))
  open(os.path.join(directory, "ckpt-3.partial.index"), "w").close()
  caplog.clear()
  with caplog.at_level("INFO"):
    trainer = loop.Trainer(_tiny(steps=3, log_every=0, summary_every=0), wd)
  assert trainer.restored.endswith("ckpt-1") and trainer.current_step() == 1
  assert "ckpt-3_temp, left by a checkpoint write" in caplog.text
  assert not [n for n in os.listdir(directory) if "_temp" in n or ".partial" in n]


@pytest.mark.parametrize("keep", [0, 0.5, -1])
def test_a_checkpoint_whose_data_file_is_cut_short_is_skipped_by_every_reader(
  tmp_path, caplog, keep
):
  """A data file cut short (a copy of the workdir stopped part-way, a damaged disk) passed
  the readers' check, whose index loads, and every restore failed with TensorFlow's
  IndexError ("Read less bytes than requested") in a traceback: now it is skipped as any
  damaged checkpoint."""
  wd = _trained(tmp_path, steps=2)
  directory = workdir_lib.checkpoint_dir(wd)
  (data,) = [os.path.join(directory, n) for n in os.listdir(directory) if "ckpt-2.data" in n]
  size = os.path.getsize(data)
  os.truncate(data, {0: 0, 0.5: size // 2, -1: size - 1}[keep])
  _assert_readers_fall_back_to_step_1(wd, caplog, "a data file is cut short", "cut short")
  trainer = loop.run(_tiny(steps=3, checkpoint_every=1, log_every=0, summary_every=0), wd)
  assert trainer.restored.endswith("ckpt-1") and trainer.current_step() == 3
  assert workdir_lib.checkpoint_problem(os.path.join(directory, "ckpt-2")) is None  # rewritten


@pytest.mark.parametrize("state", ["", "garbage {", None])
def test_a_damaged_checkpoint_state_file_is_rewritten_from_the_checkpoints(tmp_path, caplog, state):
  """TensorFlow's `checkpoint` file empty (as a power loss can leave a file just replaced),
  unparsable or gone: the run resumes from its newest checkpoint and train.keep_checkpoints
  still counts the older ones. Before, an empty file stopped the trainer with "ValueError:
  Invalid checkpoint state" and a traceback; the others left the older checkpoints on disk
  for good."""
  wd = _trained(tmp_path, steps=2, keep_checkpoints=2)
  directory = workdir_lib.checkpoint_dir(wd)
  state_file = os.path.join(directory, "checkpoint")
  if state is None:
    os.remove(state_file)
  else:
    with open(state_file, "w") as f:
      f.write(state)
  with caplog.at_level("WARNING"):
    trainer = loop.run(
      _tiny(steps=4, checkpoint_every=1, keep_checkpoints=2, log_every=0, summary_every=0), wd
    )
  assert trainer.restored.endswith("ckpt-2") and trainer.current_step() == 4
  assert ("Rewriting" in caplog.text) == (state is not None)
  assert sorted(n for n in os.listdir(directory) if n.endswith(".index")) == [
    "ckpt-3.index",
    "ckpt-4.index",
  ]
  listed = tf.train.get_checkpoint_state(directory).all_model_checkpoint_paths
  assert [os.path.basename(p) for p in listed] == ["ckpt-3", "ckpt-4"]


# --- config traps -------------------------------------------------------------------------


def _conditional(tmp_path, clips, **train):
  path = helpers.write_shard(tmp_path / "clips.tfrecord", helpers.good_examples(clips))
  c = _tiny(steps=1, log_every=0, summary_every=0, sample_every=1, checkpoint_every=0, **train)
  c.model.generator.args.condition = "image"
  c.objective.condition = "first_frame"
  c.data.source, c.data.train_files = "tfrecord", path
  return c


def test_a_conditional_model_from_training_files_alone_samples_from_them(tmp_path, caplog):
  with caplog.at_level("WARNING"):
    trainer = loop.run(_conditional(tmp_path, clips=6), str(tmp_path / "wd"))
  assert trainer.current_step() == 1
  assert "data.eval_files is empty: the sample grid's conditions" in caplog.text
  assert os.path.exists(tmp_path / "wd" / "samples" / "step_00000001.mp4")


def test_too_few_clips_for_the_sample_grid_fail_before_anything_is_written(tmp_path):
  c = _conditional(tmp_path, clips=2, num_samples=4)
  with pytest.raises(
    errors.ConfigError, match="train.num_samples=4 clips in data.train_files.*received 2"
  ):
    loop.run(c, str(tmp_path / "wd"))
  assert not os.path.exists(tmp_path / "wd")
  c = _conditional(tmp_path, clips=2)
  c.eval.every, c.data.eval_files = 1, ""
  with pytest.raises(errors.ConfigError, match="Expected data.eval_files .* eval.every"):
    loop.run(c, str(tmp_path / "wd"))
  c.data.train_files = str(tmp_path / "nothing-*.tfrecord")
  with pytest.raises(errors.ConfigError, match="data.train_files to match files.*nothing-"):
    loop.run(c, str(tmp_path / "wd"))


# --- skips reach the workdir and TensorBoard -----------------------------------------------


def test_skipped_records_are_written_to_the_workdir_and_tensorboard(tmp_path):
  from trainers.data import pipeline  # pylint: disable=g-import-not-at-top

  shard = helpers.write_shard(
    tmp_path / "mixed.tfrecord", helpers.good_examples(4) + helpers.label_only_examples(1)
  )
  c = _tiny(steps=2, log_every=1, summary_every=0, checkpoint_every=0)
  c.data.source, c.data.train_files, c.data.skip_corrupt = "tfrecord", shard, True
  pipeline.reset_skipped_records()
  loop.run(c, str(tmp_path / "wd"))
  written = json.loads((tmp_path / "wd" / workdir_lib.SKIPPED_FILE).read_text())
  assert written["step"] == 2 and written["files"][shard]["schema"] >= 1
  tags = set()
  for path in tf.io.gfile.glob(str(tmp_path / "wd" / "train" / "events.*")):
    for event in tf.compat.v1.train.summary_iterator(path):
      tags.update(v.tag for v in event.summary.value)
  assert {"data/skipped_records", "data/skipped_schema"} <= tags
