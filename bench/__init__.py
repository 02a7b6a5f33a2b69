"""Scripts that print measured figures; run from the repository root as `python -m bench.NAME`."""

import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)
