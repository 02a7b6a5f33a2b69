"""The check every measured form of the zoo shares (`zoo.layers.form_choice`)."""

import json

import numpy as np
import tensorflow as tf

from zoo.layers import form_choice


def measured_once_and_remembered(monkeypatch, tmp_path, run, key, form):
  """Runs `run()` under the measured policy with an empty cache in `tmp_path` and asserts the
  cache's one entry: `key`, TF's op and `form` both timed, `form` chosen only when clearly
  faster than TF's op. Then runs it as a restarted process would (no chooser in memory):
  nothing may be measured, and the result is the first one."""
  monkeypatch.setenv(form_choice.POLICY_ENV, "auto")
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
  first = run()
  (path,) = tmp_path.glob("forms-*.json")
  ((found, entry),) = json.loads(path.read_text()).items()
  assert found == key
  assert set(entry["ms"]) == {form, form_choice.NATIVE} and entry["form"] in entry["ms"]
  if entry["form"] == form:
    assert entry["ms"][form] < (1 - form_choice.NATIVE_MARGIN) * entry["ms"][form_choice.NATIVE]

  def no_measuring(run, slow):
    raise AssertionError("Expected the remembered choice, a form was measured.")

  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  monkeypatch.setattr(form_choice, "_median_secs", no_measuring)
  again = run()
  for a, b in zip(tf.nest.flatten(again), tf.nest.flatten(first), strict=True):
    np.testing.assert_array_equal(a, b)
