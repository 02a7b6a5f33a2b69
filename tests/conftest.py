"""Shared test setup: quiet TF, small thread pools, the repository root on sys.path, and this
folder on it too, for helpers several test folders share (`segmenter_helpers`)."""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
for path in (ROOT, os.path.join(ROOT, "tests")):
  if path not in sys.path:
    sys.path.insert(0, path)
