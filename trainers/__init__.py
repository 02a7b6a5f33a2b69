import os as _os
import sys as _sys

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)

# oneDNN on where TensorFlow leaves it off and it measured faster on this machine; it must
# be decided before TensorFlow is imported (trainers/onednn.py).
from trainers import onednn as _onednn

_onednn.choose()

if _sys.argv[:1] == ["-m"]:  # `python -m trainers.X` or `export.X`, still loading (cli)
  from trainers import cli as _cli

  _cli.stop_quietly_while_loading()
