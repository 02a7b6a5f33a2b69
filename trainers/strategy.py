"""tf.distribute strategies from `config.runtime`, and per-device defaults."""

import json
import os
import re

from absl import logging
import tensorflow as tf

from trainers import errors

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")
# How TensorFlow 2.21 reports a collective that lost a peer: UNAVAILABLE when the peer is gone
# (its connections reset or refused, or its heartbeats to the coordination service stopped),
# DEADLINE_EXCEEDED when a heartbeat to a frozen coordination leader timed out.
PEER_ERRORS = (tf.errors.UnavailableError, tf.errors.DeadlineExceededError)
_TASK = re.compile(r"/job:\w+/(?:replica:\d+/)?task:\d+")


def make_strategy(runtime):
  """Returns the strategy named by `runtime.strategy`.

  default: one device. mirrored: `runtime.devices` or every local GPU (the CPU when there is
  none). multi_worker: MultiWorkerMirroredStrategy from the TF_CONFIG environment variable.
  tpu: TPUClusterResolver(`runtime.tpu`).
  """
  name = runtime.strategy
  if name == "default":
    return tf.distribute.get_strategy()
  if name == "mirrored":
    devices = list(runtime.devices) or None
    return tf.distribute.MirroredStrategy(devices=devices)
  if name == "multi_worker":
    logging.info("TF_CONFIG: %s", check_tf_config(os.environ.get("TF_CONFIG"))["task"])
    return tf.distribute.MultiWorkerMirroredStrategy()
  if name == "tpu":
    try:
      resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=runtime.tpu or None)
      tf.config.experimental_connect_to_cluster(resolver)
      tf.tpu.experimental.initialize_tpu_system(resolver)
    except (ValueError, RuntimeError, tf.errors.OpError) as e:
      raise errors.RunError(
        f"runtime.strategy='tpu' but no TPU could be reached at runtime.tpu={runtime.tpu!r}: "
        f"{e}. Set --config.runtime.tpu to the TPU name or grpc:// address, or use another "
        "strategy."
      ) from e
    return tf.distribute.TPUStrategy(resolver)
  raise ValueError(f"Expected runtime.strategy in {STRATEGIES}, received {name!r}.")


def check_tf_config(text):
  """TF_CONFIG (`text`) as a dict, checked as MultiWorkerMirroredStrategy reads it: a JSON
  object whose "cluster" maps job names to address lists and whose "task" names one of them
  and an index within its list. Raises errors.ConfigError naming what is wrong."""
  where = "runtime.strategy='multi_worker' reads the TF_CONFIG environment variable"
  if not text:
    raise errors.ConfigError(f"{where} (cluster and task of this worker); it is not set.")
  try:
    value = json.loads(text)
  except json.JSONDecodeError as e:
    raise errors.ConfigError(f"{where}, which is not JSON: {e}: {text!r}.") from e
  cluster = value.get("cluster") if isinstance(value, dict) else None
  task = value.get("task") if isinstance(value, dict) else None
  if not isinstance(cluster, dict) or not all(
    isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in cluster.values()
  ):
    raise errors.ConfigError(
      f'{where}, expected its "cluster" to map job names to lists of host:port addresses '
      f'(e.g. {{"worker": ["host1:2222", "host2:2222"]}}), received {text!r}.'
    )
  kind = task.get("type") if isinstance(task, dict) else None
  index = task.get("index") if isinstance(task, dict) else None
  if kind not in cluster or not isinstance(index, int) or not 0 <= index < len(cluster[kind]):
    raise errors.ConfigError(
      f'{where}, expected its "task" to name a job of the cluster ({", ".join(cluster)}) '
      f"and an index within it, received {task!r}."
    )
  return value


def peer_failure(strategy, error):
  """One line saying which peer a multi-worker run lost and how, or None when `error` is not
  a collective that failed for want of a peer (or the run has one worker)."""
  if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return None
  text = str(error)
  if not isinstance(error, PEER_ERRORS) and "Collective ops is aborted" not in text:
    return None
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  reason = next(
    (line for line in lines if line.startswith("Collective")), lines[0] if lines else ""
  )
  resolver = strategy.cluster_resolver
  me = f"/job:{resolver.task_type}/task:{resolver.task_id}"
  peers = sorted({re.sub(r"/replica:\d+", "", m) for m in _TASK.findall(text)} - {me})
  return f"lost {', '.join(peers) or 'a peer'}: {reason.rstrip('.:')}"


def is_chief(strategy):
  """True on the worker that writes checkpoints and summaries."""
  resolver = getattr(strategy, "cluster_resolver", None)
  if resolver is None or not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
    return True
  task_type, task_id = resolver.task_type, resolver.task_id
  return task_type is None or task_type == "chief" or (task_type == "worker" and task_id == 0)


def use_jit(runtime, strategy):
  """Resolves `runtime.jit_compile` ("auto", "true", "false", or a bool).

  "auto" compiles with XLA on GPU and TPU only: on CPU, bench/train_step.py measured XLA's
  Conv3DTranspose and Conv3D input gradients at ~2 GFLOP/s against ~200 GFLOP/s for the
  oneDNN kernels of a plain tf.function (TF 2.21, 2-core AVX-512 EPYC).
  """
  value = runtime.jit_compile
  if isinstance(value, bool):
    return value
  value = str(value).lower()
  if value in ("true", "1"):
    return True
  if value in ("false", "0"):
    return False
  if value != "auto":
    raise ValueError(f"Expected runtime.jit_compile in auto/true/false, received {value!r}.")
  if isinstance(strategy, tf.distribute.TPUStrategy):
    return True
  return bool(tf.config.list_physical_devices("GPU"))
