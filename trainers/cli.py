"""How the command-line programs start and how they fail on a user's mistake.

Every program runs its `main` through `run(main)` (absl's `app.run`). What a user can fix
prints one line on stderr,

  PROGRAM: error: MESSAGE

and exits non-zero; with `-v 1` (absl's --verbosity) its traceback is printed first:

  status 2  a mistake in the command line or what it names (`UserError`: an unknown config
            name or field, a bad argument, a file that is missing or not an image; absl's
            `UsageError`; a flag that does not parse; a path the OS refuses: missing, a
            directory, read-only; a ValueError of the zoo's own checks, "Expected ...");
  status 1  a run that cannot start or go on (`errors.RunError`: a bad config value, a
            locked or unwritable workdir, input data past its skip bound; a full disk,
            whichever program's write it refused; a batch that does not fit in memory).
Anything else is a bug and keeps its traceback. Ctrl-C, SIGTERM and SIGHUP (a closed terminal
or a dropped ssh session) unwind the program (its `finally` blocks remove temporary files and
release locks) to one line, `PROGRAM: stopped by SIGINT`, and status 128 + the signal: 130, 143
and 129; a signal the program was started with ignored (`nohup`) stays ignored. (The
training loop handles them itself, saving a checkpoint first: `trainers.loop`.) Output piped
to a reader that stops early (`| head`) ends the program with status 141 (128 + SIGPIPE), as
other Unix tools, without a traceback. The console entry points of setup.cfg
(`videogan-train`, ...) start the same programs as `python -m` through `launch`.
"""

from collections.abc import Callable, Sequence
import errno
import importlib
import os
import select
import signal
import sys
import threading
import traceback
from typing import NoReturn

from absl import app
from absl import flags
from absl import logging

from trainers import cpu_quota
from trainers import errors
from trainers import memory_limit

# How the zoo's checks of what a user gave begin ("Expected X, received Y."): a ValueError
# saying so is the user's mistake, reported in one line; any other is a bug.
EXPECTED = "Expected "
EXIT_USER_ERROR = 2  # as argparse: the command line was wrong, not the program
EXIT_RUN_ERROR = 1  # the run could not start or go on, for a reason the user can fix


class UserError(app.UsageError):
  """A mistake in the command line or its inputs, reported as one line without traceback."""

  def __init__(self, message: str):
    super().__init__(message, exitcode=EXIT_USER_ERROR)


def require(flag: flags.FlagHolder):
  """The flag's value; a UserError naming it when it was not given, or given empty (an unset
  shell variable: `--workdir=$RUN`)."""
  if flag.value is None:
    raise UserError(f"Expected --{flag.name}=..., received none.")
  if isinstance(flag.value, str) and not flag.value.strip():
    raise UserError(f"Expected --{flag.name}=..., received an empty value.")
  return flag.value


def no_positional(argv: Sequence[str]) -> None:
  """A UserError when the command line holds positional arguments (absl's argv[1:])."""
  if len(argv) > 1:
    raise UserError(f"Expected only --flags, received positional arguments {list(argv[1:])}.")


def _wants_traceback(argv: Sequence[str]) -> bool:
  """Whether argv sets absl's --verbosity (-v) above 0; read on its own, since the error may
  have stopped the flag parsing before it reached -v."""
  fv = flags.FlagValues()
  flags.DEFINE_integer("verbosity", 0, "", short_name="v", flag_values=fv)
  try:
    fv(list(argv), known_only=True)
  except flags.Error:
    return False
  return fv.verbosity > 0


# OS errors that name a path the user gave: reported as the user's mistake, not a bug.
PATH_ERRORS = (
  FileExistsError,  # an output that exists (export without --overwrite)
  FileNotFoundError,
  IsADirectoryError,
  NotADirectoryError,
  PermissionError,
)


def fail(error: BaseException, argv: Sequence[str] | None = None) -> NoReturn:
  """Prints `error` as one line (its traceback first with -v 1) and exits: status 1 for an
  `errors.RunError`, 2 for anything else (a mistake in the command line)."""
  argv = sys.argv if argv is None else argv
  if _wants_traceback(argv):
    traceback.print_exception(error)
  program = os.path.basename(argv[0]) if argv else "error"
  if isinstance(error, OSError) and error.filename and not str(error).startswith(EXPECTED):
    text = f"{error.strerror}: {error.filename}"
  else:
    text = str(error)
  message = " ".join(text.split())  # one line, whatever the message held
  _say(f"{program}: error: {message}")
  sys.exit(EXIT_RUN_ERROR if isinstance(error, errors.RunError) else EXIT_USER_ERROR)


def _full_disk(error: BaseException) -> str | None:
  """The one line for a write that a full disk (or quota) refused, else None."""
  refused = errors.disk_full(error)
  if refused is None:
    return None
  reason, path = refused
  where = f" to write {path}" if path else ""
  return f"Expected room on the disk{where}, failed: {reason}."


def _out_of_memory(error: BaseException) -> str | None:
  """The one line for a computation that did not fit in memory, else None: TensorFlow's
  ResourceExhaustedError ("OOM when allocating tensor with shape[...] on GPU:0", the usual
  first failure of a batch too large for a GPU) or Python's MemoryError. A host out of
  memory is more often the kernel's OOM killer, a SIGKILL no program sees."""
  if isinstance(error, MemoryError):
    found = "Python's allocation failed (MemoryError)"
  elif type(error).__name__ == "ResourceExhaustedError" and type(error).__module__.startswith(
    "tensorflow"
  ):
    # A step in a tf.function says "Graph execution error:" first and the allocation later.
    lines = [line.strip() for line in str(getattr(error, "message", error)).splitlines()]
    found = next(
      (line for line in lines if line.startswith("OOM when allocating")),
      next((line for line in lines if line), "ResourceExhaustedError"),
    )
    found = found if len(found) <= 300 else found[:297] + "..."
  else:
    return None
  return (
    f"Expected the computation to fit in memory, failed: {found.rstrip('.')}. A smaller batch "
    "needs less: --config.train.batch_size=N to train (the global batch), --batch_size=N in "
    "the other programs; --config.runtime.precision=mixed_float16 (GPU) or mixed_bfloat16 "
    "(TPU, CPUs with bf16 instructions) about halves the activations."
  )


def _say(line: str) -> None:
  """Prints `line` on stderr, where a stream nobody reads any more (a pipe whose reader is
  gone) must not turn the program's last line into a traceback."""
  try:
    print(line, file=sys.stderr, flush=True)
  except OSError:
    pass


SIGHUP = getattr(signal, "SIGHUP", None)  # a terminal's hang-up; Windows has none


def _point_at_null(fd: int) -> None:
  null = os.open(os.devnull, os.O_WRONLY)
  try:
    os.dup2(null, fd)
  finally:
    os.close(null)


def _stdout_reader_gone() -> bool:
  """Whether standard output is a pipe or socket whose reader has gone (`PROGRAM | head -3`,
  a pager quit early): poll reports an error or hang-up on its write end."""
  try:
    poller = select.poll()
    poller.register(sys.stdout.fileno(), select.POLLOUT)
    events = poller.poll(0)
  except (AttributeError, ValueError, OSError):  # no poll (Windows), no stdout
    return False
  return any(event & (select.POLLERR | select.POLLHUP) for _, event in events)


def leave_hung_up_terminal() -> None:
  """Points standard output and error at the null device where they are a terminal that has
  hung up; a file or a pipe is left as it is.

  Closing a terminal or losing an ssh session sends SIGHUP, and from then on every write to
  that terminal fails with EIO: a program saving its work on SIGHUP would end in a traceback
  (status 1) at its next print, with nobody left to read either.
  """
  for fd in (1, 2):
    try:
      os.write(fd, b"")  # a hung-up terminal refuses every write, an empty one too
    except OSError as e:
      if e.errno == errno.EIO:
        _point_at_null(fd)


class Stopped(BaseException):
  """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C raises KeyboardInterrupt: the
  program unwinds through its `finally` blocks instead of dying where it stands (a converter's
  unfinished shards left behind under their temporary names)."""

  def __init__(self, signum: int):
    super().__init__(signal.Signals(signum).name)
    self.signum = signum


def _raise_stopped(signum, frame):
  del frame
  if signum == SIGHUP:
    leave_hung_up_terminal()
  raise Stopped(signum)


def stop(signum: int, argv: Sequence[str] | None = None) -> NoReturn:
  """Ends a program that a signal stopped: one line (its traceback first with -v 1), status
  128 + the signal."""
  if argv is None:  # the process's own command line: it ends (not a program embedding run)
    _end_at_next_signal()
  argv = sys.argv if argv is None else argv
  if _wants_traceback(argv):
    traceback.print_exc()
  program = os.path.basename(argv[0]) if argv else "error"
  _say(f"{program}: stopped by {signal.Signals(signum).name}")
  sys.exit(128 + signum)


def _end_at_next_signal() -> None:
  """Gives Ctrl-C, SIGTERM and SIGHUP their default action from here on (the main thread
  only), where they are not ignored: the program is ending, and a second Ctrl-C, pressed
  while it ends, printed a KeyboardInterrupt traceback of a screen under its last line."""
  if threading.current_thread() is not threading.main_thread():
    return
  for sig in (signal.SIGINT, signal.SIGTERM, SIGHUP):
    if sig is not None and signal.getsignal(sig) not in (signal.SIG_IGN, signal.SIG_DFL, None):
      signal.signal(sig, signal.SIG_DFL)


def expand_home(argv: Sequence[str]) -> list[str]:
  """`argv` with a leading `~` of a `--flag=~/path` value expanded to the home directory.

  A shell expands `~` at the start of a word (`--workdir ~/runs`), but not after `--flag=`
  (bash), so `--workdir=~/runs` made a directory named `~` in the current one and a
  `--config.data.train_files=~/data/*` matched nothing. As zsh's magic_equal_subst does.
  """
  out = list(argv[:1])
  for arg in argv[1:]:
    name, equals, value = arg.partition("=")
    if arg.startswith("-") and equals and (value == "~" or value.startswith("~/")):
      arg = f"{name}={os.path.expanduser(value)}"
    out.append(arg)
  return out


def _parse_flags(argv: Sequence[str]) -> list[str]:
  try:
    return flags.FLAGS(expand_home(argv))
  except (flags.Error, app.UsageError) as e:
    fail(e, argv)


def run(main: Callable[[list[str]], object], argv: Sequence[str] | None = None) -> None:
  """`app.run(main)`, where what the user can fix ends in one line (module docstring).

  Run on the process's own command line (`argv` None), it ends the process itself once
  `main` is done and the logs and standard streams are flushed (`_end_process`). TensorFlow's
  threads are fitted to a container's CPU limit first (`cpu_quota.fit_threads`), and its CPU
  tensors capped under the container's memory limit (`memory_limit.fit_allocator`).
  """
  if signal.getsignal(signal.SIGINT) is _stopped_while_loading:  # loaded: Ctrl-C unwinds
    signal.signal(signal.SIGINT, signal.default_int_handler)
  if sys.platform == "win32":
    fail(
      errors.RunError(
        "Expected Linux or macOS, received Windows: the programs lock workdirs, stop on "
        "signals and find processes the POSIX way. Run them under WSL 2 (Windows Subsystem "
        "for Linux); the models (`import zoo`) load anywhere."
      ),
      argv,
    )
  try:
    fitted = [line for line in (cpu_quota.fit_threads(), memory_limit.fit_allocator()) if line]
  except ValueError as e:  # a variable TensorFlow would abort on (memory_limit.check_environment)
    fail(UserError(str(e)), argv)

  def guarded_main(args):
    for line in fitted:
      logging.info(line)
    try:
      return main(args)
    except (app.UsageError, errors.RunError, *PATH_ERRORS) as e:  # UserError included
      fail(e, argv)
    except ValueError as e:
      if not str(e).startswith(EXPECTED):
        raise
      fail(UserError(str(e)), argv)  # a check of what the user gave, in the zoo's words
    except BrokenPipeError:
      if not _stdout_reader_gone():
        raise
      _point_at_null(1)  # what is still buffered for it cannot fail the exit
      sys.exit(128 + signal.SIGPIPE)  # as a program that SIGPIPE ended, without a traceback
    except KeyboardInterrupt:
      stop(signal.SIGINT, argv)
    except Exception as e:  # a full disk or memory is the run's condition, not a bug: one line
      refused = _full_disk(e) or _out_of_memory(e)
      if refused is None:
        raise
      error = errors.RunError(refused)
      error.__cause__ = e  # -v 1 shows where the write or allocation failed
      fail(error, argv)
    except Stopped as e:
      stop(e.signum, argv)

  # SIGTERM and SIGHUP as exceptions, where nothing else has claimed them (a program embedding
  # this one) and the process was not started with them ignored (`nohup`).
  claimed = []
  if threading.current_thread() is threading.main_thread():
    claimed = [
      sig
      for sig in (signal.SIGTERM, SIGHUP)
      if sig is not None and signal.getsignal(sig) == signal.SIG_DFL
    ]
  for sig in claimed:
    signal.signal(sig, _raise_stopped)
  if argv is not None:
    try:
      app.run(guarded_main, argv=argv, flags_parser=_parse_flags)
    finally:
      for sig in claimed:
        signal.signal(sig, signal.SIG_DFL)
    return
  try:
    app.run(guarded_main, argv=argv, flags_parser=_parse_flags)
  except SystemExit as e:
    _end_process(e.code)
  _end_process(0)


def _end_process(code: object) -> None:
  """Exits with `code` (sys.exit's meaning) without the interpreter's teardown.

  Every program writes its results before `main` returns (files by rename, summaries
  flushed when their writer goes). Tearing TensorFlow down afterwards can deadlock:
  `learning_check --all` hung for good after writing its table, its main thread destroying a
  tf.data iterator that waited for a pool thread that never finished (gdb, TF 2.21), and a
  test session's teardown took minutes.
  """
  _end_at_next_signal()
  if code is None:
    status = 0
  elif isinstance(code, int):
    status = code
  else:  # sys.exit("message"): Python prints it and exits with 1
    _say(str(code))
    status = 1
  logging.flush()
  for stream in (sys.stdout, sys.stderr):
    try:
      stream.flush()
    except OSError:  # a reader that is gone takes nothing more
      pass
    except AttributeError:  # None: started with the stream closed (`PROGRAM >&-`)
      pass
  remove_generated_sources()
  os._exit(status)


# The prefix of the temporary modules AutoGraph writes for every function it converts.
_AUTOGRAPH_PREFIX = "__autograph_generated_file"


def remove_generated_sources() -> None:
  """Deletes the source files AutoGraph wrote to the temporary directory for this process.

  AutoGraph removes them in an `atexit` handler, which `os._exit` skips: without this, each
  run of a program left its converted functions behind (14 files for a two-step smoke run).
  """
  for name, module in list(sys.modules.items()):
    path = getattr(module, "__file__", None)
    if name.startswith(_AUTOGRAPH_PREFIX) and path:
      try:
        os.remove(path)
      except OSError:  # already gone, or never ours to remove
        pass


def _stopped_while_loading(signum, frame) -> None:
  del frame
  program = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] != "-m" else "python -m"
  _say(f"{program}: stopped by {signal.Signals(signum).name}")
  os._exit(128 + signum)  # a TensorFlow loaded in part is not torn down


def stop_quietly_while_loading() -> None:
  """Ctrl-C while `python -m trainers.X` (or `export.X`) loads: one line, as later.

  Python imports such a program's package first, while `sys.argv[0]` is still "-m" (the
  package's `__init__` calls this then); the program then imports TensorFlow for seconds
  before `run` takes the signals over, and a Ctrl-C there printed a KeyboardInterrupt
  traceback through the import machinery (the console programs are guarded in `launch`).
  `run` gives Ctrl-C its KeyboardInterrupt back, so a program's `finally` blocks run as
  before. Nothing changes off the main thread or where Ctrl-C is ignored or claimed.
  """
  if (
    threading.current_thread() is threading.main_thread()
    and signal.getsignal(signal.SIGINT) is signal.default_int_handler
  ):
    signal.signal(signal.SIGINT, _stopped_while_loading)


def launch(module_name: str) -> None:
  """Runs the program `module_name` as `python -m` does: its `define_flags()` when it has one
  (programs that define their flags only when run), then `run(module.main)`. Ctrl-C while
  it loads (TensorFlow takes seconds) is one line, as later, not a traceback of imports."""
  try:
    module = importlib.import_module(module_name)
  except KeyboardInterrupt:
    try:
      stop(signal.SIGINT)
    except SystemExit as e:
      _end_process(e.code)  # without tearing down a TensorFlow loaded in part
  if hasattr(module, "define_flags"):
    module.define_flags()
  # absl's --help shows the flags and docstring of the program in sys.argv[0]: here a
  # console script, which defines none.
  for flag in flags.FLAGS.get_key_flags_for_module(module):
    flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
  sys.modules["__main__"].__doc__ = module.__doc__
  run(module.main)


# Console entry points (setup.cfg); export's are in export/cli.py (trainers never imports
# export).
def train() -> None:
  launch("trainers.train")


def convert() -> None:
  launch("trainers.data.make_tfrecords")


def evaluate() -> None:
  launch("trainers.evaluate")
