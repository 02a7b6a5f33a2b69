r"""Trains any model of the zoo.

  python -m trainers.train --config=vgan_two_stream --workdir=/tmp/vgan
  python -m trainers.train --config=vgan_two_stream:smoke --workdir=/tmp/s \
      --config.train.steps=10
  videogan-train --config=path/to/my_config.py:smoke --workdir=/tmp/mine

--config is a config name (a module of the installed `configs` package) or a config file,
optionally followed by `:ARG` (trainers.config_files). With no --config it trains the
quickstart. Re-running with the same --workdir resumes from its latest checkpoint.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import flags

from trainers import cli
from trainers import config_files
from trainers import loop

config_files.define_flag("config", "quickstart")
flags.DEFINE_string("workdir", None, "Where checkpoints, summaries and samples go.")
flags.mark_flags_as_required(["workdir"])


def main(argv):
  cli.no_positional(argv)
  loop.run(flags.FLAGS.config, cli.require(flags.FLAGS["workdir"]))


if __name__ == "__main__":
  cli.run(main)
