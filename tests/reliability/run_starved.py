"""tests/trainers/run_tiny.py with an input pipeline that never delivers a batch: an endless
synthetic stream behind a filter that drops every clip (busy in TensorFlow, never returning),
the shape of a stream whose every record is skipped. Usage as run_tiny.py."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [
  os.path.join(os.path.dirname(HERE), "trainers"),
  os.path.dirname(os.path.dirname(HERE)),
]

import run_tiny  # pylint: disable=g-import-not-at-top

from trainers import loop  # pylint: disable=g-import-not-at-top

_dataset_fn = loop.Trainer._dataset_fn  # pylint: disable=protected-access


def _starved(self, input_context):
  return _dataset_fn(self, input_context).filter(lambda batch: False)


loop.Trainer._dataset_fn = _starved  # pylint: disable=protected-access

if __name__ == "__main__":
  run_tiny.main(*sys.argv[1:])
