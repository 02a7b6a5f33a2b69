"""Faults seen from outside: signals while the input is busy, one-line errors, a second run."""

import errno
import glob
import json
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import sys
import time

from absl import flags as absl_flags
import helpers
import pytest
import tensorflow as tf

from trainers import cli
from trainers.data import make_tfrecords

STARVED = os.path.join(helpers.HERE, "run_starved.py")
CONVERT_SLOWLY = os.path.join(helpers.HERE, "convert_slowly.py")
EVALUATE_SLOWLY = os.path.join(helpers.HERE, "evaluate_slowly.py")


def _as_from_a_terminal():
  # pytest-xdist's workers (and a CI job started in the background, or under nohup) ignore
  # SIGINT (and SIGHUP), and their children would too: a run started with a signal ignored
  # keeps ignoring it, as it should.
  signal.signal(signal.SIGINT, signal.SIG_DFL)
  signal.signal(signal.SIGHUP, signal.SIG_DFL)


def _start_starved(workdir, env=helpers.ENV, **overrides):
  overrides = {"train.steps": 100, "train.checkpoint_every": 1, "train.log_every": 1, **overrides}
  return subprocess.Popen(
    [sys.executable, STARVED, str(workdir), json.dumps(overrides)],
    env=env,
    stderr=subprocess.PIPE,
    text=True,
    preexec_fn=_as_from_a_terminal,
  )


def _wait_for(proc, text, timeout=240):
  seen, deadline = [], time.time() + timeout
  for line in proc.stderr:
    seen.append(line)
    if text in line or time.time() > deadline:
      break
  return seen


def test_sigterm_ends_a_run_whose_input_never_delivers(tmp_path):
  # Before: the handler waited for a step that never came; only SIGKILL ended the process.
  proc = _start_starved(tmp_path / "wd", **{"runtime.stop_timeout_secs": 2.0})
  seen = _wait_for(proc, "Training test_tiny_generator")
  time.sleep(1.0)
  sent = time.monotonic()
  proc.send_signal(signal.SIGTERM)
  _, rest = proc.communicate(timeout=60)
  log = "".join(seen) + rest
  assert proc.returncode == 128 + signal.SIGTERM, log[-3000:]
  assert time.monotonic() - sent < 30
  assert "Exiting with status 143 on no step finished within runtime.stop_timeout_secs=2" in log


def test_two_ctrl_c_end_a_run_whose_input_never_delivers_at_once(tmp_path):
  proc = _start_starved(tmp_path / "wd", **{"runtime.stop_timeout_secs": 600.0})
  seen = _wait_for(proc, "Training test_tiny_generator")
  time.sleep(1.0)
  sent = time.monotonic()
  proc.send_signal(signal.SIGINT)
  # Apart enough to arrive in two reads of the watcher's pipe: it used to wait for the
  # checkpoint after the first and never read the second.
  time.sleep(2.0)
  proc.send_signal(signal.SIGINT)
  _, rest = proc.communicate(timeout=60)
  assert proc.returncode == 128 + signal.SIGINT, ("".join(seen) + rest)[-3000:]
  assert time.monotonic() - sent < 30
  assert "on a second Ctrl-C" in rest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_signal_stops_the_converter_in_one_line_keeping_its_finished_inputs(tmp_path, sig):
  # ~10 s each. Before: SIGTERM left every shard's .tmp file behind (200 MB after 25 s) and
  # Ctrl-C printed a traceback; then a signal removed every shard, and the same command
  # started again from the first input. (Going on from there: test_data_make_tfrecords.py.)
  out = tmp_path / "out"
  out.mkdir()
  command = [sys.executable, "-m", "trainers.data.make_tfrecords", "--source=synthetic"]
  command += ["--num_clips=100000", "--clip_length=8", "--crop=16x16", f"--output={out}/train"]
  proc = subprocess.Popen(
    command, env=helpers.ENV, stderr=subprocess.PIPE, text=True, preexec_fn=_as_from_a_terminal
  )
  journal = out / "train.resume.tmp"
  deadline = time.time() + 120
  while not journal.exists() or journal.read_text().count("\n") < 3:  # header, two inputs
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-3000:]
    time.sleep(0.1)
  proc.send_signal(sig)
  _, err = proc.communicate(timeout=60)
  assert proc.returncode == 128 + sig, err[-3000:]
  assert helpers.last_line(err) == f"make_tfrecords.py: stopped by {signal.Signals(sig).name}"
  assert "Traceback" not in err, err[-3000:]
  kept = re.search(r"Stopped after (\d+) of 6250 inputs \((\d+) clips\): their shards", err)
  assert kept and int(kept[1]) >= 2 and int(kept[2]) == 16 * int(kept[1]), err[-3000:]
  names = sorted(p.name for p in out.iterdir())
  assert names == [f"train-0000{k}-of-00008.tfrecord.tmp" for k in range(8)] + [journal.name]


def _convert_in_process(*args):
  values = absl_flags.FlagValues()
  make_tfrecords.define_flags(values)
  values(["make_tfrecords", *args])
  assert make_tfrecords.run(values) == 0
  prefix = args[-1].split("=", 1)[1]
  with open(prefix + ".manifest.json") as f:
    manifest = json.load(f)
  records = [
    [tf.train.Example.FromString(r) for r in tf.data.TFRecordDataset(p).as_numpy_iterator()]
    for p in sorted(glob.glob(prefix + "-*-of-*.tfrecord"))
  ]
  return manifest, records


def test_a_killed_conversion_goes_on_to_the_records_of_one_never_killed(tmp_path):
  # ~15 s. SIGKILL gives no chance to save anything: what the journal's lines count must
  # already be in the shards (each writer is flushed before its input's line is written).
  flags = ["--source=synthetic", "--num_clips=160", "--clip_length=4", "--crop=8x8"]
  flags += ["--num_shards=3"]
  killed = tmp_path / "killed"
  killed.mkdir()
  proc = subprocess.Popen(
    [sys.executable, CONVERT_SLOWLY, *flags, f"--output={killed}/train"],
    env=helpers.ENV,
    stderr=subprocess.PIPE,
    text=True,
  )
  journal = killed / "train.resume.tmp"
  deadline = time.time() + 120
  while not journal.exists() or journal.read_text().count("\n") < 4:  # header, three inputs
    assert proc.poll() is None and time.time() < deadline, proc.stderr.read()[-3000:]
    time.sleep(0.02)
  proc.kill()
  proc.communicate(timeout=60)
  finished = journal.read_text().count("\n") - 1
  assert 3 <= finished < 10  # of the 10 inputs of 16 clips

  resumed, records = _convert_in_process(*flags, f"--output={killed}/train")
  whole = tmp_path / "whole"
  whole.mkdir()
  expected, expected_records = _convert_in_process(*flags, f"--output={whole}/train")
  assert resumed.pop("resumed_after_inputs") in ([finished], [finished + 1])
  assert {**resumed, "seconds": 0} == {**expected, "seconds": 0}
  assert sum(map(len, records)) == 160 and records == expected_records
  assert sorted(p.name for p in killed.iterdir()) == sorted(p.name for p in whole.iterdir())


def test_a_killed_evaluation_goes_on_to_the_numbers_of_one_never_killed(tmp_path):
  # ~20 s. Before, a kill lost every clip embedded; the file is renamed into place whole, so
  # a kill at any point leaves the last save or none.
  flags = ["--real=synthetic:1", "--fake=synthetic:2", "--metrics=fd_r3d", "--num_videos=48"]
  flags += ["--batch_size=4", "--num_frames=4", "--height=16", "--width=16"]
  out = tmp_path / "killed.json"
  proc = subprocess.Popen(
    [sys.executable, EVALUATE_SLOWLY, *flags, f"--out={out}", "--progress_every=0"],
    env=helpers.ENV,
    stderr=subprocess.PIPE,
    text=True,
  )
  seen = _wait_for(proc, "fake: 8/48 clips")  # the real side complete, the fake side begun
  proc.kill()
  proc.communicate(timeout=60)
  assert (tmp_path / "killed_partial.npz").exists(), "".join(seen)[-3000:]

  def evaluate(to):
    done = subprocess.run(
      [sys.executable, EVALUATE_SLOWLY, *flags, f"--out={to}"],
      env=helpers.ENV,
      capture_output=True,
      text=True,
      timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stderr

  again = evaluate(out)
  going_on = re.search(r"Going on from \S+: real 48 clips, fake (\d+) clips", again)
  assert going_on and 4 <= int(going_on[1]) < 48, again[-3000:]
  evaluate(tmp_path / "whole.json")
  resumed, expected = json.loads(out.read_text()), json.loads((tmp_path / "whole.json").read_text())
  assert resumed["metrics"] == expected["metrics"]
  assert resumed["protocol"]["num_fake_clips"] == 48
  assert not (tmp_path / "killed_partial.npz").exists()


def test_a_step_that_never_ends_ends_the_process_after_the_step_timeout(tmp_path):
  # Before: without a signal the run waited for its input for ever.
  temp = tmp_path / "temp"
  temp.mkdir()
  env = dict(helpers.ENV, TMPDIR=str(temp))
  proc = _start_starved(tmp_path / "wd", env=env, **{"runtime.step_timeout_secs": 3.0})
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 1, err[-3000:]
  assert (
    "Exiting with status 1 on no step finished within runtime.step_timeout_secs=3 s of step 0"
    in err
  ), err[-3000:]
  # Ending at once skips AutoGraph's own clean-up of the functions it converted.
  assert not list(temp.glob("__autograph_generated_file*")), sorted(os.listdir(temp))


def test_a_program_leaves_no_converted_functions_in_the_temporary_directory(tmp_path):
  # Before: every program ended by os._exit, which skips AutoGraph's atexit clean-up: each
  # run left the source of every function it converted in /tmp (14 for a 2-step smoke run).
  program = tmp_path / "double.py"  # AutoGraph converts code it can read from a file
  program.write_text(
    "import tensorflow as tf\nfrom trainers import cli\n\n"
    "@tf.function\ndef double(x):\n  if x > 0:\n    x = x * 2\n  return x\n\n"
    "cli.run(lambda argv: print(int(double(tf.constant(3)))))\n"
  )
  temp = tmp_path / "temp"
  temp.mkdir()
  env = dict(helpers.ENV, TMPDIR=str(temp))
  done = subprocess.run([sys.executable, program], env=env, capture_output=True, text=True)
  assert done.returncode == 0 and done.stdout == "6\n", done.stderr[-3000:]
  assert not list(temp.glob("__autograph_generated_file*")), sorted(os.listdir(temp))


@pytest.mark.slow  # ~40 s: trainers in fresh processes
def test_an_input_without_a_usable_clip_ends_with_one_line_naming_the_file(tmp_path):
  shard = helpers.write_shard(tmp_path / "other.tfrecord", helpers.label_only_examples(4))
  config = helpers.config_file(
    tmp_path,
    {
      "data.source": "tfrecord",
      "data.train_files": shard,
      "data.skip_corrupt": True,
      "train.steps": 10,
    },
  )
  start = time.monotonic()
  res = helpers.train_cli(config, tmp_path / "wd")
  assert res.returncode == 1, res.stderr[-3000:]
  line = helpers.last_line(res.stderr)
  assert line.startswith("train.py: error: Expected at most data.max_skip_rate=0.01"), res.stderr[
    -3000:
  ]
  assert f"in {shard} (1000 schema)" in line
  assert "Traceback" not in res.stderr
  assert time.monotonic() - start < 120  # includes starting TensorFlow and building


@pytest.mark.slow  # ~40 s: trainers in fresh processes
def test_user_errors_are_one_line_and_the_traceback_needs_verbosity(tmp_path):
  nothing = helpers.config_file(
    tmp_path, {"data.source": "tfrecord", "data.train_files": str(tmp_path / "none-*.tfrecord")}
  )
  res = helpers.train_cli(nothing, tmp_path / "wd")
  assert res.returncode == 1
  assert helpers.last_line(res.stderr).startswith(
    "train.py: error: Expected data.train_files to match files for the training input"
  )
  assert "Traceback" not in res.stderr and not os.path.exists(tmp_path / "wd")
  verbose = helpers.train_cli(nothing, tmp_path / "wd", "--verbosity=1")
  assert verbose.returncode != 0 and "Traceback" in verbose.stderr
  afile = tmp_path / "afile"
  afile.write_text("")
  res = helpers.train_cli(helpers.config_file(tmp_path, {}), afile)
  assert res.returncode == 1
  assert helpers.last_line(res.stderr) == (
    f"train.py: error: Expected --workdir to be a directory, received {afile}, which is a file."
  )


@pytest.mark.slow  # ~40 s: trainers in fresh processes
def test_a_second_trainer_on_a_busy_workdir_stops_naming_the_first(tmp_path):
  # Before: both exited 0 and left two runs' checkpoints interleaved.
  first = helpers.start_tiny(
    tmp_path / "wd", {"train.steps": 10**6, "train.log_every": 1, "train.checkpoint_every": 0}
  )
  try:
    seen = _wait_for(first, "step 2/")
    assert any("step 2/" in line for line in seen), "".join(seen)[-3000:]
    res = helpers.train_cli(helpers.config_file(tmp_path, {}), tmp_path / "wd")
    assert res.returncode == 1
    assert helpers.last_line(res.stderr).startswith(
      f"train.py: error: Expected no other run training in {tmp_path / 'wd'}, received one "
      "holding "
      f"{tmp_path / 'wd' / 'lock'}: pid {first.pid} on host "
    )
  finally:
    first.send_signal(signal.SIGTERM)
    first.communicate(timeout=120)
  assert first.returncode == 128 + signal.SIGTERM
  assert (tmp_path / "wd" / "lock").read_text() == ""  # released on exit


@pytest.mark.slow  # ~40 s: a trainer in a fresh process
def test_a_workdir_reads_safely_while_it_trains(tmp_path):
  # Checkpoints appear complete (renamed) and vanish (max_to_keep) while the reader works.
  import trainer_helpers  # noqa: F401  pylint: disable=g-import-not-at-top  (tiny networks)
  from trainers import workdir as workdir_lib  # pylint: disable=g-import-not-at-top

  proc = helpers.start_tiny(
    tmp_path / "wd",
    {
      "train.steps": 10**6,
      "train.log_every": 1,
      "train.checkpoint_every": 1,
      "train.keep_checkpoints": 1,
    },
  )
  try:
    seen = _wait_for(proc, "step 2/")
    assert any("step 2/" in line for line in seen), "".join(seen)[-3000:]
    steps, deadline = set(), time.time() + 10
    while time.time() < deadline:
      _, config, path = workdir_lib.restore_generator(str(tmp_path / "wd"))
      assert config.train.keep_checkpoints == 1
      steps.add(path)
  finally:
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
  assert len(steps) >= 2  # it read while new checkpoints replaced old ones


def _status_and_stderr(capsys, error, program):
  """(exit status, stderr) of `cli.run` on a main that raises `error`."""

  def main(argv):
    del argv
    raise error

  with pytest.raises(SystemExit) as exited:
    cli.run(main, argv=[program])
  return exited.value.code, capsys.readouterr().err.strip()


@pytest.mark.parametrize(
  "error, line",
  [
    (OSError(errno.ENOSPC, "No space left on device"), ", failed: No space left on device."),
    (
      OSError(errno.EDQUOT, "Disk quota exceeded", "/out/a.tflite"),
      " to write /out/a.tflite, failed: Disk quota exceeded.",
    ),
    (
      tf.errors.ResourceExhaustedError(None, None, "/out/x.pb; No space left on device"),
      " to write /out/x.pb, failed: No space left on device.",
    ),
    (  # a SavedModel's variables (export), as TensorFlow 2.21 words it
      tf.errors.ResourceExhaustedError(
        None,
        None,
        "{{function_node __wrapped__SaveV2_dtypes_31_device_/job:localhost/replica:0/task:0/"
        "device:CPU:0}} /out/.1.tmp-7-x/variables/variables_temp/part-00000-of-00001.data-"
        "00000-of-00001.tempstate2216950939114938206; No space left on device [Op:SaveV2]",
      ),
      " to write /out/.1.tmp-7-x/variables/variables_temp/part-00000-of-00001.data-00000-of-"
      "00001, failed: No space left on device.",
    ),
    (  # TensorBoard's event file (training)
      tf.errors.ResourceExhaustedError(
        None,
        None,
        "{{function_node __wrapped__CreateSummaryFileWriter_device_/job:localhost/replica:0/"
        "task:0/device:CPU:0}} /w/train/events.out.tfevents.1.vm.2.0.v2; No space left on "
        "device Failed to flush 1 events to /w/train/events.out.tfevents.1.vm.2.0.v2 Flushing "
        "first event. Could not initialize events writer. [Op:CreateSummaryFileWriter]",
      ),
      " to write /w/train/events.out.tfevents.1.vm.2.0.v2, failed: No space left on device.",
    ),
  ],
)
def test_a_full_disk_is_one_line_in_every_program(capsys, error, line):
  # Before: export's traceback ended "OSError: [Errno 28] No space left on device".
  code, err = _status_and_stderr(capsys, error, "export.py")
  assert code == 1
  assert err == f"export.py: error: Expected room on the disk{line}", err


@pytest.mark.parametrize(
  "error, found",
  [
    (
      tf.errors.ResourceExhaustedError(
        None,
        None,
        "OOM when allocating tensor with shape[64,512,16,16,16] and type float on "
        "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc\n\t "
        "[[{{node generator/conv3d}}]]",
      ),
      "OOM when allocating tensor with shape[64,512,16,16,16] and type float on "
      "/job:localhost/replica:0/task:0/device:GPU:0 by allocator GPU_0_bfc",
    ),
    (  # a step in a tf.function names the graph first, the allocation further down
      tf.errors.ResourceExhaustedError(
        None,
        None,
        "Graph execution error:\n\nDetected at node random_uniform defined at (most recent "
        'call last):\n  File "train.py", line 7, in step\n\nOOM when allocating tensor '
        "with shape[8,64,32,64,64] and type float on /job:localhost/replica:0/task:0/device:"
        "CPU:0 by allocator mklcpu\n\t [[{{node random_uniform}}]]\nHint: If you want to "
        "see a list of allocated tensors when OOM happens, ...",
      ),
      "OOM when allocating tensor with shape[8,64,32,64,64] and type float on "
      "/job:localhost/replica:0/task:0/device:CPU:0 by allocator mklcpu",
    ),
    (MemoryError(), "Python's allocation failed (MemoryError)"),
  ],
)
def test_a_batch_too_large_for_memory_is_one_line_saying_what_to_lower(capsys, error, found):
  # Before: a GPU out of memory, the commonest first failure of a new config, printed
  # TensorFlow's traceback of several screens.
  code, err = _status_and_stderr(capsys, error, "train.py")
  assert code == 1
  assert err.startswith(
    f"train.py: error: Expected the computation to fit in memory, failed: {found}. "
  )
  assert "--config.train.batch_size=N" in err and len(err.splitlines()) == 1
  assert "--config.runtime.precision=mixed_float16" in err  # a field the configs have


def test_the_zoos_own_checks_are_one_line_and_other_value_errors_stay_bugs(capsys):
  # Before: videogan-animate on an unconditional workdir printed the check's ValueError
  # ("Expected a workdir with an image-conditioned generator, ...") as a traceback.
  def main(argv):
    del argv
    raise ValueError("Expected a workdir with an image-conditioned generator, received 'w'.")

  with pytest.raises(SystemExit) as exited:
    cli.run(main, argv=["animate.py"])
  assert exited.value.code == 2
  assert capsys.readouterr().err.strip() == (
    "animate.py: error: Expected a workdir with an image-conditioned generator, received 'w'."
  )

  def buggy(argv):
    del argv
    raise ValueError("operands could not be broadcast together")

  with pytest.raises(ValueError, match="broadcast"):
    cli.run(buggy, argv=["animate.py"])


def test_a_home_path_after_an_equals_sign_is_the_home_directory(tmp_path):
  # bash leaves `~` alone after `--output=`: before, the converter wrote to a directory
  # named `~` inside the current one.
  home, cwd = tmp_path / "home", tmp_path / "cwd"
  home.mkdir()
  cwd.mkdir()
  command = [sys.executable, "-m", "trainers.data.make_tfrecords", "--source=synthetic"]
  command += ["--num_clips=4", "--clip_length=4", "--crop=8x8", "--output=~/out/train"]
  done = subprocess.run(
    command, env={**helpers.ENV, "HOME": str(home)}, cwd=cwd, capture_output=True, text=True
  )
  assert done.returncode == 0, done.stderr[-3000:]
  assert list((home / "out").glob("train*.tfrecord*")) and not list(cwd.iterdir())
  assert cli.expand_home(["p", "--a=~", "--b=~/x", "--c=a~b", "--d=~user", "~/e", "-f=~/g"]) == [
    "p",
    f"--a={os.path.expanduser('~')}",
    f"--b={os.path.expanduser('~/x')}",
    "--c=a~b",
    "--d=~user",
    "~/e",
    f"-f={os.path.expanduser('~/g')}",
  ]


@pytest.mark.slow
def test_an_empty_workdir_is_one_line_before_anything_is_built(tmp_path):
  """`--workdir=$RUN` with RUN unset: training built every network, then stopped with
  "Expected a writable workdir, received : No such file or directory."; export read a
  workdir named ''. Now both name the flag, before any work, with status 2."""
  for module, more in (("trainers.train", []), ("export.export", [f"--out={tmp_path}/out"])):
    done = subprocess.run(
      [sys.executable, "-m", module, "--workdir=", *more],
      env=helpers.ENV,
      cwd=tmp_path,
      capture_output=True,
      text=True,
      timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if ": error: " in line]
    assert done.returncode == 2, done.stderr[-3000:]
    assert lines == [
      f"{module.split('.')[1]}.py: error: Expected --workdir=..., received an empty value."
    ]
    assert "Traceback" not in done.stderr and not list(tmp_path.iterdir())


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGHUP])
def test_a_run_started_with_a_signal_ignored_keeps_ignoring_it(sig):
  # `nohup` and a script's `cmd &` start the trainer with SIGINT (nohup: SIGHUP too) ignored
  # so that a Ctrl-C for the terminal's foreground job, or the terminal's closing, leaves it
  # running. Before, the loop took SIGINT over.
  from trainers import loop

  previous = signal.signal(sig, signal.SIG_IGN)
  try:
    with loop._StopRequest() as request:
      assert signal.getsignal(sig) == signal.SIG_IGN
      assert signal.getsignal(signal.SIGTERM) == request._handle
      os.kill(os.getpid(), sig)
      time.sleep(0.1)
      assert not request.requested
    assert signal.getsignal(sig) == signal.SIG_IGN
  finally:
    signal.signal(sig, previous)


def test_a_closed_terminal_saves_a_checkpoint_and_exits_129(tmp_path):
  # The run's terminal hangs up (a closed window, a dropped ssh session): SIGHUP, then every
  # write to the terminal fails with EIO. Before, SIGHUP ended the run where it stood: the
  # steps since the last checkpoint were lost (here: all of them).
  wd = tmp_path / "wd"
  overrides = {"train.steps": 10**6, "train.checkpoint_every": 0, "train.log_every": 1}
  command = [sys.executable, helpers.RUN_TINY, str(wd), json.dumps(overrides)]
  pid, terminal = pty.fork()  # the child leads a new session; the terminal is its own
  if pid == 0:  # the child
    try:
      _as_from_a_terminal()
      os.chdir(helpers.ROOT)
      os.execve(sys.executable, command, helpers.ENV)
    finally:
      os._exit(127)
  seen, deadline = b"", time.time() + 240
  try:
    while b"step 3/" not in seen and time.time() < deadline:
      if select.select([terminal], [], [], 1.0)[0]:
        seen += os.read(terminal, 65536)
  except OSError:  # EIO: the child ended and its end of the terminal closed
    pass
  os.close(terminal)  # the hang-up: the kernel sends SIGHUP to the session's leader
  status = None
  while status is None and time.time() < deadline + 120:
    done, status = os.waitpid(pid, os.WNOHANG)
    if not done:
      status = None
      time.sleep(0.2)
  if status is None:
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
  log = seen.decode(errors="replace")[-3000:]
  assert b"step 3/" in seen, log
  # 129: not 1 (a traceback from a write to the dead terminal), nor 120 (its flush at exit)
  assert status is not None and os.waitstatus_to_exitcode(status) == 128 + signal.SIGHUP, log
  latest = tf.train.latest_checkpoint(str(wd / "checkpoints"))
  assert latest is not None and int(latest.rsplit("-", 1)[1]) >= 3, log


def test_a_hung_up_terminal_is_left_for_the_null_device_and_a_pipe_is_kept(tmp_path):
  # What the run prints after its terminal hung up (a table, a last line) would fail with EIO.
  child = f"""
import errno, os, sys
from trainers import cli
from trainers.data import make_tfrecords
sys.stdin.readline()  # the test hung the terminal up
try:
  os.write(1, b"")
  sys.exit("expected the terminal to be hung up")
except OSError as e:
  assert e.errno == errno.EIO, e
cli.leave_hung_up_terminal()
print("x" * 100000, flush=True)
print("y" * 100000, file=sys.stderr, flush=True)
open({str(tmp_path / "done")!r}, "w").close()
"""
  terminal, end = pty.openpty()
  proc = subprocess.Popen(
    [sys.executable, "-c", child], stdin=subprocess.PIPE, stdout=end, stderr=end, env=helpers.ENV
  )
  os.close(end)
  os.close(terminal)  # the terminal's last master closes: the child's end hangs up
  proc.communicate(b"go\n", timeout=60)
  assert proc.returncode == 0 and (tmp_path / "done").exists()
  # A pipe (a log file, `| tee`) keeps what is written to it.
  piped = "from trainers import cli; cli.leave_hung_up_terminal(); print('kept')"
  done = subprocess.run([sys.executable, "-c", piped], env=helpers.ENV, capture_output=True)
  assert done.returncode == 0 and done.stdout == b"kept\n", done.stderr


def test_the_stop_signals_leave_out_sighup_where_the_os_has_none():
  # Windows has no SIGHUP: the loop and the programs must still import and stop on the others.
  code = (
    "import signal; del signal.SIGHUP\n"
    "from trainers import cli, loop\n"
    "assert cli.SIGHUP is None and loop.STOP_SIGNALS == (signal.SIGTERM, signal.SIGINT)\n"
    "with loop._StopRequest() as request:\n"
    "  assert signal.getsignal(signal.SIGTERM) == request._handle\n"
  )
  done = subprocess.run([sys.executable, "-c", code], env=helpers.ENV, capture_output=True)
  assert done.returncode == 0, done.stderr.decode()[-3000:]


def test_windows_is_refused_in_one_line_pointing_to_wsl(monkeypatch, capsys):
  # Before: "No module named 'fcntl'" at import, or worse, `os.kill(pid, 0)` on another run's
  # pid (which on Windows ends that process) while checking its workdir lock.
  monkeypatch.setattr(sys, "platform", "win32")
  ran = []
  with pytest.raises(SystemExit) as stopped:
    cli.run(ran.append, argv=["train.py"])
  assert stopped.value.code == 1 and not ran
  assert capsys.readouterr().err.startswith(
    "train.py: error: Expected Linux or macOS, received Windows: "
  )
  # The modules import without fcntl, so the refusal is the program's own line.
  code = "import sys; sys.modules['fcntl'] = None\nfrom trainers import loop, workdir\n"
  code += "assert workdir.fcntl is None\n"
  done = subprocess.run([sys.executable, "-c", code], env=helpers.ENV, capture_output=True)
  assert done.returncode == 0, done.stderr.decode()[-3000:]


def test_ctrl_c_while_a_console_program_loads_is_one_line(tmp_path):
  # `videogan-train ...`, then Ctrl-C during the seconds TensorFlow takes to import. Before:
  # a KeyboardInterrupt traceback through some forty frames of import machinery.
  (tmp_path / "slow_to_load.py").write_text("raise KeyboardInterrupt\n")
  code = "from trainers import cli\ncli.launch('slow_to_load')\n"
  env = dict(helpers.ENV, PYTHONPATH=f"{tmp_path}{os.pathsep}{helpers.ENV['PYTHONPATH']}")
  proc = subprocess.run(
    [sys.executable, "-c", code], env=env, capture_output=True, timeout=120, check=False
  )
  err = proc.stderr.decode()
  assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
  assert err.strip() == "-c: stopped by SIGINT", err[-3000:]


def _python_m(tmp_path, module, files):
  """Runs `python -m module` from a package of `files` in `tmp_path`, with Python's own Ctrl-C
  handler (a pytest-xdist worker, whose children inherit it, ignores SIGINT)."""
  package = tmp_path / "program"
  package.mkdir()
  for name, text in {"__init__.py": "import export\n", **files}.items():
    (package / name).write_text(text)
  env = dict(helpers.ENV, PYTHONPATH=f"{tmp_path}{os.pathsep}{helpers.ENV['PYTHONPATH']}")
  return subprocess.run(
    [sys.executable, "-m", f"program.{module}"],
    env=env,
    capture_output=True,
    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    timeout=120,
    check=False,
  )


def test_ctrl_c_while_a_python_m_program_loads_is_one_line(tmp_path):
  # `python -m trainers.train ...` (or export.X, whose package imports trainers), then Ctrl-C
  # while the program imports TensorFlow. Before: a KeyboardInterrupt traceback of imports.
  loading = "import os, signal\nos.kill(os.getpid(), signal.SIGINT)\nimport tensorflow\n"
  proc = _python_m(tmp_path, "slow", {"slow.py": loading})
  err = proc.stderr.decode()
  assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
  assert err.strip() == "slow.py: stopped by SIGINT", err[-3000:]


def test_ctrl_c_in_a_python_m_program_still_unwinds_once_it_runs(tmp_path):
  # Once `cli.run` has the program, Ctrl-C raises KeyboardInterrupt again: its `finally`
  # blocks run (a converter renames or removes its unfinished shards there).
  program = (
    "import os, signal\n"
    "from trainers import cli\n"
    "def main(argv):\n"
    "  try:\n"
    "    os.kill(os.getpid(), signal.SIGINT)\n"
    "  finally:\n"
    "    print('cleaned up', flush=True)\n"
    "cli.run(main)\n"
  )
  proc = _python_m(tmp_path, "prog", {"prog.py": program})
  err = proc.stderr.decode()
  assert proc.returncode == 128 + signal.SIGINT, err[-3000:]
  assert proc.stdout.decode() == "cleaned up\n"
  assert err.strip().splitlines()[-1] == "prog.py: stopped by SIGINT", err[-3000:]
  assert "Traceback" not in err, err[-3000:]


def test_every_python_m_program_hands_its_signals_to_cli_run():
  # The quiet Ctrl-C of loading (`cli.stop_quietly_while_loading`) ends the process at once;
  # only `cli.run` gives Ctrl-C its KeyboardInterrupt back, so every program run as
  # `python -m trainers.X` / `export.X` must end in it.
  programs = []
  for package in ("trainers", "export"):
    for path in sorted(pathlib.Path(helpers.ROOT, package).rglob("*.py")):
      text = path.read_text()
      if 'if __name__ == "__main__":' not in text or path.name == "verify_child.py":
        continue  # verify_child.py runs as a file (export.verify), never as `python -m`
      programs.append(path.name)
      tail = text.split('if __name__ == "__main__":', 1)[1]
      assert re.search(r"cli\.run\(main\)", tail), f"{path} does not end in cli.run(main)"
  assert {"train.py", "make_tfrecords.py", "export.py", "animate.py"} <= set(programs), programs


def test_a_second_ctrl_c_while_a_program_ends_ends_it_without_a_traceback():
  # Ctrl-C pressed twice: the first stops the program, the second comes while it ends.
  # Before: "PROGRAM: stopped by SIGINT", then a KeyboardInterrupt traceback of a screen.
  code = (
    "import os, signal, time\n"
    "from trainers import cli\n"
    "def second_ctrl_c():\n"
    "  os.kill(os.getpid(), signal.SIGINT)\n"
    "  time.sleep(5)\n"
    "cli.remove_generated_sources = second_ctrl_c\n"
    "def main(argv):\n"
    "  raise KeyboardInterrupt\n"
    "cli.run(main)\n"
  )
  proc = subprocess.run(
    [sys.executable, "-c", code],
    env=helpers.ENV,
    capture_output=True,
    preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    timeout=120,
    check=False,
  )
  err = proc.stderr.decode()
  assert proc.returncode == -signal.SIGINT, err[-3000:]  # 130 in a shell, as the first would
  assert err.strip().splitlines()[-1] == "-c: stopped by SIGINT", err[-3000:]
  assert "Traceback" not in err, err[-3000:]


def test_a_run_embedded_in_a_program_keeps_its_ctrl_c_handler_when_stopped(capsys):
  # `cli.run(main, argv=...)` inside another program (a test, a notebook): its Ctrl-C must
  # still raise KeyboardInterrupt afterwards, not end that program at once.
  def main(argv):
    del argv
    raise KeyboardInterrupt

  # Python's own Ctrl-C handler, as a program has it (a pytest-xdist worker ignores SIGINT).
  previous = signal.signal(signal.SIGINT, signal.default_int_handler)
  try:
    with pytest.raises(SystemExit) as exited:
      cli.run(main, argv=["embedded"])
    assert exited.value.code == 130
    assert capsys.readouterr().err.strip() == "embedded: stopped by SIGINT"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
  finally:
    signal.signal(signal.SIGINT, previous)


@pytest.mark.parametrize("closed", [1, 2])
def test_a_program_started_with_stdout_or_stderr_closed_ends_as_it_should(closed):
  # `videogan-train ... >&-` (a service manager, a cron line): Python has sys.stdout None.
  # Before: the run trained and saved, then ended with status 1 and an AttributeError
  # traceback at its last flush.
  code = "from trainers import cli\ncli.run(lambda argv: print('done'))\n"
  proc = subprocess.run(
    [sys.executable, "-c", code],
    env=helpers.ENV,
    capture_output=True,
    preexec_fn=lambda: os.close(closed),
    timeout=120,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr.decode()[-3000:]
  assert b"Traceback" not in proc.stderr + proc.stdout


def test_a_reader_that_stops_early_ends_the_program_without_a_traceback():
  # `videogan-evaluate ... | head -3`, or a pager quit early. Before: "BrokenPipeError:
  # [Errno 32] Broken pipe" with a traceback, status 1.
  code = (
    "from trainers import cli\ncli.run(lambda argv: [print(f'line {i}') for i in range(10**6)])\n"
  )
  proc = subprocess.Popen(
    [sys.executable, "-c", code], env=helpers.ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE
  )
  assert proc.stdout.readline() == b"line 0\n"
  proc.stdout.close()  # the reader goes
  err = proc.stderr.read().decode()
  proc.wait(timeout=120)
  assert proc.returncode == 128 + signal.SIGPIPE, err[-3000:]
  assert "Traceback" not in err and "BrokenPipeError" not in err, err[-3000:]
