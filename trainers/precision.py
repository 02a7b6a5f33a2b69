"""Whether a mixed precision is fast on the device a run trains on, measured there.

A mixed precision computes in bfloat16 or float16 to go faster, but only a device with
instructions for that type does: a CPU without AVX512_BF16 or AMX converts every bfloat16
convolution to float32 and back, and most CPUs have no float16 arithmetic at all. Measured
on a 2-core AMD EPYC (family 25 model 17, Zen 4) with oneDNN held to AVX512_CORE_VNNI (as a
CPU without bf16 instructions), the VGAN two-stream step took 4.98 s in bfloat16 against
2.37 s in float32 (docs/benchmarks.md). So before a mixed-precision run starts, one 3D
convolution of VGAN's kind is timed in both types on the default device, once per machine
(the result is cached with the convolution forms, `zoo.layers.form_choice`), and a run that
would be slower than in float32 says so in one line.
"""

from absl import logging
import keras
import tensorflow as tf

from zoo.layers import form_choice

# One of VGAN's "k4 s2" layers (32 -> 64 channels) at batch 2: a few milliseconds per call in
# float32 on a 2-core CPU, and as clear a verdict as the whole step's (the ratio of bfloat16
# to float32 was the step's within 20% on both sides of the AVX512_BF16 line).
PROBE_INPUT = (2, 8, 32, 32, 32)
PROBE_KERNEL = (4, 4, 4, 32, 64)
# Convolutions per timed call. With one per call (2-3 ms), a thread woken late once (2-4 ms
# here) made bfloat16's first timed call look twice float32's, which ended its timing and
# cached a false "slower" for the machine (1 run of about 10 of the test on this CPU).
PROBE_REPEATS = 8


def slower_than_float32(precision):
  """(compute dtype, its ms, float32's ms, per convolution) when `precision` (a Keras dtype
  policy or its name) computes in a type that runs the probe convolution slower than float32
  on this machine's default device; None when it is not slower, when the compute dtype is
  float32, or on a TPU (where bfloat16 is native and nothing runs eagerly)."""
  if not isinstance(precision, keras.DTypePolicy):
    precision = keras.DTypePolicy(precision)
  dtype = precision.compute_dtype
  if dtype == "float32" or tf.config.list_logical_devices("TPU"):
    return None
  x = tf.random.stateless_normal(PROBE_INPUT, seed=[0, 0])
  k = tf.random.stateless_normal(PROBE_KERNEL, seed=[0, 1]) * 0.05
  candidates = {}
  for name in ("float32", dtype):
    xc, kc = tf.cast(x, name), tf.cast(k, name)
    candidates[name] = lambda xc=xc, kc=kc: [
      tf.nn.conv3d(xc, kc, [1, 2, 2, 2, 1], "SAME") for _ in range(PROBE_REPEATS)
    ][-1]
  key = probe_key(dtype)
  if form_choice.choose(key, candidates) == dtype:
    return None
  ms = form_choice.measured(key)  # per timed call: PROBE_REPEATS convolutions
  per_conv = lambda name: ms.get(name, float("nan")) / PROBE_REPEATS
  return dtype, per_conv(dtype), per_conv("float32")


def probe_key(dtype):
  """The probe's key in the forms cache, for compute dtype `dtype`."""
  return (
    f"precision conv3d {list(PROBE_INPUT)} {list(PROBE_KERNEL)} stride 2 x{PROBE_REPEATS} "
    f"float32,{dtype}"
  )


def warn_if_slower(precision, what=None):
  """Logs one warning when `precision` (as `slower_than_float32` takes it) trains slower than
  float32 here (`what` names the setting, by default `runtime.precision=PRECISION`);
  returns whether it did."""
  slow = slower_than_float32(precision)
  if slow is None:
    return False
  dtype, ms, ms32 = slow
  logging.warning(
    "%s computes in %s, which runs slower than float32 on this machine (%s: a 3D "
    "convolution took %.1f ms against %.1f ms in float32, measured once and cached): "
    "training in float32 is faster here.",
    what or f"runtime.precision={precision}",
    dtype,
    form_choice.device_name(),
    ms,
    ms32,
  )
  return True
