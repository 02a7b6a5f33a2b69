"""The converter's command (trainers.data.make_tfrecords, flags as given) with each synthetic
input slowed by 0.2 s, so that a test can kill it between inputs."""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from absl import flags  # pylint: disable=g-import-not-at-top

from trainers.data import make_tfrecords  # pylint: disable=g-import-not-at-top

_produce = make_tfrecords._produce_synthetic  # pylint: disable=protected-access


def _slowly(source, options, put):
  time.sleep(0.2)
  return _produce(source, options, put)


make_tfrecords._produce_synthetic = _slowly  # pylint: disable=protected-access

if __name__ == "__main__":
  values = flags.FlagValues()
  make_tfrecords.define_flags(values)
  values(["make_tfrecords", *sys.argv[1:]])
  sys.exit(make_tfrecords.run(values))
