"""Scripts that print measured figures; run from the repository root as `python -m bench.NAME`."""

import os as _os

_os.environ["KERAS_BACKEND"] = "tensorflow"  # the zoo's one backend, before Keras loads (zoo)

# TensorFlow's threads fitted to a container's CPU limit, and its CPU tensors capped under its
# memory limit, before any bench starts it, as every program of the zoo does
# (trainers/cpu_quota.py, trainers/memory_limit.py); the host line names the CPU limit.
from trainers import cpu_quota as _cpu_quota
from trainers import memory_limit as _memory_limit

_cpu_quota.fit_threads()
_memory_limit.fit_allocator()
