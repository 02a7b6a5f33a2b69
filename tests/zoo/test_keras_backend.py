"""The zoo runs on Keras' TensorFlow backend, whichever backend the user's Keras is set to."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _python(code, tmp_path, **env):
  keras_home = tmp_path / "keras_home"
  keras_home.mkdir(exist_ok=True)
  # A Keras 3 user's keras.json that chose JAX (not installed here).
  (keras_home / "keras.json").write_text(json.dumps({"backend": "jax"}))
  env = dict(
    os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2", KERAS_HOME=str(keras_home), **env
  )
  return subprocess.run(
    [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
  )


def test_a_keras_set_to_another_backend_still_runs_the_zoo(tmp_path):
  # Before: "No module named 'jax'" from inside Keras; with torch installed, "Cannot convert
  # the argument `type_value`: torch.float32 to a TensorFlow DType" from the first layer.
  code = (
    "from trainers import loop\n"  # a program's first import loads Keras
    "import keras, numpy as np\n"
    "assert keras.backend.backend() == 'tensorflow', keras.backend.backend()\n"
    "from zoo import registry\n"
    "g = registry.build('vgan_two_stream')\n"
    "print(tuple(g(np.zeros((1, 100), 'float32')).shape))\n"
  )
  for env in ({}, {"KERAS_BACKEND": "jax"}):
    done = _python(code, tmp_path, **env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "(1, 32, 64, 64, 3)"


def test_keras_loaded_first_with_another_backend_is_one_clear_error(tmp_path):
  # Keras imported before the zoo in a JAX or PyTorch session (neither backend is installed
  # here: Keras' answer for its backend stands in for one).
  code = "import keras\nkeras.backend.backend = lambda: 'jax'\nimport zoo\n"
  done = _python(code, tmp_path, KERAS_BACKEND="tensorflow")
  assert done.returncode != 0
  assert (
    "ImportError: Expected Keras on its TensorFlow backend, received Keras already loaded with "
    "the 'jax' backend (KERAS_BACKEND or ~/.keras/keras.json): import zoo before keras, or "
    "run with KERAS_BACKEND=tensorflow."
  ) in done.stderr, done.stderr[-3000:]
