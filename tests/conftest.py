"""Shared test setup: TensorFlow's C++ logging quiet before any test imports it."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# The forms of zoo.layers.strided_conv by the fixed thresholds, not by timing: measuring every
# new test shape would add seconds, make which code runs depend on the machine's load, and
# write a cache into the home directory. Tests of the measured policy set it themselves.
os.environ["VIDEOGAN_CONV_FORMS"] = "rules"
