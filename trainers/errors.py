"""Errors a user can fix: the CLIs print their message as one line and exit non-zero."""

from collections.abc import Iterator
import contextlib
import errno
import os
import re


class RunError(Exception):
  """A run cannot start or go on for a reason the user can fix (workdir, config, disk, data);
  its message is one line that says what was expected and what was found."""


class ConfigError(RunError, ValueError):
  """A config field has a value the run cannot use; the message names the field."""


class WorkdirLockedError(RunError):
  """Another run holds the workdir's lock; the message names its host and process id."""


DISK_FULL = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}

# What TensorFlow wraps an op's message in: `{{function_node __wrapped__SaveV2_...}} ` before,
# ` [Op:SaveV2]` after, and the suffix of the temporary file its writers rename when done.
_TF_FUNCTION = re.compile(r"^\{\{function_node [^}]*\}\}\s*")
_TF_OP = re.compile(r"\s*\[Op:[^\]]*\]\s*$")
_TF_TEMPORARY = re.compile(r"\.tempstate\d+$")


def plain(message: str) -> str:
  """A TensorFlow op's error message without the function and op names it is wrapped in."""
  return _TF_OP.sub("", _TF_FUNCTION.sub("", message.strip()))


def disk_full(error: BaseException) -> tuple[str, str] | None:
  """(reason, path) when a full disk or quota refused the write that raised `error`, else
  None: an OSError with its errno (path "" when it names no file), or TensorFlow's error for
  a file it writes, whose message reads `PATH; No space left on device`."""
  if isinstance(error, OSError) and error.errno in DISK_FULL:
    return DISK_FULL[error.errno], os.fspath(error.filename or "")
  if not type(error).__module__.startswith("tensorflow"):
    return None
  message = plain(str(getattr(error, "message", "")))
  for reason in DISK_FULL.values():
    before, found, _ = message.partition(f"; {reason}")
    if found:
      path = before.strip().splitlines()[-1].strip() if before.strip() else ""
      return reason, _TF_TEMPORARY.sub("", path)
    if reason in message:
      return reason, ""
  return None


@contextlib.contextmanager
def writing(path: str) -> Iterator[None]:
  """Names `path` in an OSError raised inside that names no file: a write to an open file
  (`f.write`, its flush at `close`, Keras's `save`) refused by a full disk says only
  "No space left on device", and the user is left to guess which disk."""
  try:
    yield
  except OSError as e:
    if e.filename is not None or e.errno is None:
      raise
    raise OSError(e.errno, e.strerror, os.fspath(path)) from e
