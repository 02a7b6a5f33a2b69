"""Errors a user can fix: the CLIs print their message as one line and exit non-zero."""


class RunError(Exception):
  """A run cannot start or go on for a reason the user can fix (workdir, config, disk, data);
  its message is one line that says what was expected and what was found."""


class ConfigError(RunError, ValueError):
  """A config field has a value the run cannot use; the message names the field."""


class WorkdirLockedError(RunError):
  """Another run holds the workdir's lock; the message names its host and process id."""
