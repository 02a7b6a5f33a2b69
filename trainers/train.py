"""Trains any model of the zoo.

  python -m trainers.train --config=configs/vgan_two_stream.py --workdir=/tmp/vgan
  python -m trainers.train --config=configs/vgan_two_stream.py:smoke --workdir=/tmp/s \
      --config.train.steps=10

With no --config it trains the quickstart (configs/quickstart.py). Re-running with the same
--workdir resumes from its latest checkpoint.
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _config_import_root(argv):
  """Config files import `configs.common`: put the folder holding configs/ on sys.path."""
  for i, arg in enumerate(argv):
    path = None
    if arg.startswith("--config="):
      path = arg.split("=", 1)[1]
    elif arg == "--config" and i + 1 < len(argv):
      path = argv[i + 1]
    if path:
      root = os.path.dirname(os.path.dirname(os.path.abspath(path.split(":")[0])))
      if root not in sys.path:
        sys.path.insert(0, root)


_config_import_root(sys.argv)

from absl import app  # pylint: disable=g-import-not-at-top
from absl import flags
from absl import logging
from ml_collections import config_flags

from trainers import errors
from trainers import loop
from trainers.data import pipeline

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if _ROOT not in sys.path:
  sys.path.insert(0, _ROOT)
_DEFAULT_CONFIG = os.path.join(_ROOT, "configs", "quickstart.py")

config_flags.DEFINE_config_file(
    "config", _DEFAULT_CONFIG if os.path.exists(_DEFAULT_CONFIG) else None,
    "A config file from configs/ (optionally FILE.py:ARG, e.g. :smoke).", lock_config=True)
flags.DEFINE_string("workdir", None, "Where checkpoints, summaries and samples go.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
  config = flags.FLAGS.config
  if config is None:
    raise app.UsageError("--config is required (no configs/quickstart.py next to trainers/).")
  try:
    loop.run(config, flags.FLAGS.workdir)
  except (errors.RunError, pipeline.DataError) as e:
    if logging.get_verbosity() >= logging.DEBUG:  # --verbosity=1: the traceback too
      raise
    sys.exit(f"Error: {e}")


if __name__ == "__main__":
  app.run(main)
