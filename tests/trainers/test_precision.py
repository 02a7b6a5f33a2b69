"""A mixed precision that runs slower than float32 on this machine is said in one line.

The probe's verdict is cached with the convolution forms (`zoo.layers.form_choice`), so the
first tests write the slow machine's verdict into a fresh cache; the last runs the real
kernels of this CPU with oneDNN held below its bfloat16 instructions.
"""

import json
import os
import subprocess
import sys

import keras
import pytest

from bench import host
import trainer_helpers
from trainers import keras_gan
from trainers import loop
from trainers import precision
from zoo.layers import form_choice


@pytest.fixture
def cache(tmp_path, monkeypatch):
  """A fresh forms cache; returns a function that records a measured probe in it."""
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path / "cache"))

  def record(dtype, ms, ms32):
    """Records convolutions of `ms` and `ms32` milliseconds (per timed call: the probe's
    PROBE_REPEATS of them)."""
    os.makedirs(os.path.dirname(form_choice.cache_path()), exist_ok=True)
    winner = dtype if ms < ms32 else "float32"
    n = precision.PROBE_REPEATS
    entry = {"form": winner, "ms": {dtype: ms * n, "float32": ms32 * n}}
    with open(form_choice.cache_path(), "w") as f:
      json.dump({precision.probe_key(dtype): entry}, f)

  yield record
  keras.config.set_dtype_policy("float32")


def test_a_slower_precision_is_one_warning_naming_both_times(cache, caplog):
  cache("bfloat16", 7.2, 3.0)
  with caplog.at_level("WARNING"):
    assert precision.warn_if_slower("mixed_bfloat16")
  lines = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert len(lines) == 1, lines
  assert lines[0].startswith("runtime.precision=mixed_bfloat16 computes in bfloat16, which runs")
  assert "7.2 ms against 3.0 ms in float32" in lines[0]
  assert form_choice.device_name() in lines[0]


def test_a_faster_precision_and_float32_say_nothing(cache, caplog):
  cache("bfloat16", 1.9, 3.2)
  with caplog.at_level("WARNING"):
    assert not precision.warn_if_slower("mixed_bfloat16")
    assert not precision.warn_if_slower("float32")
  assert not [r for r in caplog.records if r.levelname == "WARNING"]
  # float32 measures nothing: the cache holds only the recorded bfloat16 probe.
  with open(form_choice.cache_path()) as f:
    assert list(json.load(f)) == [precision.probe_key("bfloat16")]


def test_the_trainer_and_the_keras_gan_check_their_precision(cache, caplog, tmp_path):
  cache("bfloat16", 7.2, 3.0)
  config = trainer_helpers.tiny_config()
  config.runtime.precision = "mixed_bfloat16"
  with caplog.at_level("WARNING"):
    loop.Trainer(config, str(tmp_path / "run"))
  assert "runtime.precision=mixed_bfloat16 computes in bfloat16" in caplog.text
  caplog.clear()
  keras.config.set_dtype_policy("mixed_bfloat16")
  with caplog.at_level("WARNING"):
    keras_gan.GAN(trainer_helpers.tiny_config())
  assert "Keras' dtype policy mixed_bfloat16 computes in bfloat16" in caplog.text
  assert "trainers.train's setting" not in caplog.text  # a float32 config asks for nothing


def test_a_keras_gan_says_when_the_configs_precision_is_not_keras_policy(cache, caplog):
  config = trainer_helpers.tiny_config()
  config.runtime.precision = "mixed_bfloat16"
  with caplog.at_level("WARNING"):
    keras_gan.GAN(config)  # Keras' policy is float32: the config's bf16 is not what runs
  warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
  assert warned == [
    "runtime.precision=mixed_bfloat16 is trainers.train's setting; GAN follows Keras' dtype "
    "policy, float32: call keras.config.set_dtype_policy('mixed_bfloat16') before GAN(config) "
    "to train in mixed_bfloat16."
  ]


_PROBE = (
  "from trainers import precision; "
  "print('slower' if precision.slower_than_float32('mixed_bfloat16') else 'not slower')"
)


@pytest.mark.skipif(
  "avx512f" not in host.cpu_info()["flags"], reason="oneDNN's ISA cap needs AVX-512"
)
def test_bfloat16_without_its_instructions_is_measured_slower(tmp_path):
  """With oneDNN held to AVX512_CORE_VNNI, bfloat16 convolutions are converted to float32
  (2.4x slower on a 2-core AMD EPYC, family 25 model 17); a CPU that has AVX512_BF16 or AMX
  and uses it runs them faster than float32."""
  flags = set(host.cpu_info()["flags"])
  native = bool(flags & {"avx512_bf16", "amx_bf16"})
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
  runs = {"AVX512_CORE_VNNI": "slower"}
  if native:
    runs["ALL"] = "not slower"
  for isa, verdict in runs.items():
    env.update({form_choice.CACHE_ENV: str(tmp_path / isa), "ONEDNN_MAX_CPU_ISA": isa})
    done = subprocess.run(
      [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == verdict, (isa, done.stdout, done.stderr[-2000:])
