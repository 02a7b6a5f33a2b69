"""Config files, one per model, found by name: `--config=NAME[:ARG]` (trainers.config_files)."""

import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)
