"""Shared test setup: TensorFlow's C++ logging quiet before any test imports it."""

import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The forms of zoo.layers.strided_conv by the fixed thresholds, not by timing: measuring every
# new test shape would add seconds, make which code runs depend on the machine's load, and
# write a cache into the home directory. Tests of the measured policy set it themselves.
os.environ["VIDEOGAN_CONV_FORMS"] = "rules"

# Tests run with the oneDNN choice the programs make (trainers/onednn.py), taken before any
# test imports TensorFlow.
import trainers  # noqa: F401
from trainers import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def fresh_python():
  """Runs `python ARGS...` in a fresh process from the repository root (on PYTHONPATH), quiet
  C++ logging; returns the CompletedProcess after asserting status 0.

  For what needs a process of its own: logical devices made before TensorFlow initialises,
  a command line run as a user runs it.
  """

  def run(*args, timeout=600):
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(
      [sys.executable, *args],
      capture_output=True,
      text=True,
      env=env,
      cwd=ROOT,
      timeout=timeout,
      check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc

  return run


_exit_status = None


def pytest_sessionfinish(session, exitstatus):
  global _exit_status
  _exit_status = int(exitstatus)


@pytest.hookimpl(trylast=True)
def pytest_unconfigure(config):
  """Ends the process once pytest has reported, skipping the interpreter's teardown.

  Tearing down the TensorFlow state a long session builds (graphs, functions, models) took
  about 4 of the suite's 20 minutes on a 2-core Xeon, after the last result was printed
  (tests/export alone: 160 s of tests, 224 s in all). Nothing is left to flush by then; the
  sources AutoGraph wrote, which its `atexit` handler would remove, are removed as the
  programs remove theirs.
  """
  del config
  if _exit_status is not None:
    sys.stdout.flush()
    sys.stderr.flush()
    cli.remove_generated_sources()
    os._exit(_exit_status)  # no teardown: see the docstring
