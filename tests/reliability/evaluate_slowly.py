"""The evaluation's command (trainers.evaluate, flags as given) with its progress saved after
every batch and each batch slowed by 0.1 s, so that a test can kill it mid-way."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from absl import flags  # pylint: disable=g-import-not-at-top
from absl import logging  # pylint: disable=g-import-not-at-top

from trainers import evaluate  # pylint: disable=g-import-not-at-top

evaluate.RESUME_SAVE_SECONDS = 0.0
_update = evaluate.Embeddings.update


def _slowly(self, batch):
  time.sleep(0.1)
  return _update(self, batch)


evaluate.Embeddings.update = _slowly

if __name__ == "__main__":
  values = flags.FlagValues()
  evaluate.define_flags(values)
  values(["evaluate", *sys.argv[1:]])
  logging.set_verbosity(logging.INFO)
  sys.exit(evaluate.run(values))
