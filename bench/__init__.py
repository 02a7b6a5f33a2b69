"""Scripts that print measured figures; run from the repository root as `python -m bench.NAME`."""

import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)

# TensorFlow's threads fitted to a container's CPU limit before any bench starts it, as every
# program of the zoo does (trainers/cpu_quota.py); the host line names the limit.
from trainers import cpu_quota as _cpu_quota

_cpu_quota.fit_threads()
