"""The analytic side of bench/memory.py: bytes a GAN trainer holds and its steps keep.

Flag-free, so that tests can import it beside the binaries (bench/memory.py reuses
bench/train_step.py's absl flags, which collide with other binaries' in one process).
See bench/memory.py's docstring for what each figure counts.
"""

import math

import keras
import tensorflow as tf

from bench import flops
from trainers import tasks

MIB = 2**20
TARGET_BYTES = 1.2e9  # the speed target: peak RSS of a two-stream fp32 step at batch 8
SLOTS_PER_WEIGHT = {"adam": 2, "adamw": 2, "rmsprop": 1}


def variable_bytes(variables):
  """Bytes of `variables`: elements x dtype size."""
  return sum(math.prod(v.shape) * tf.as_dtype(v.dtype).size for v in variables)


def state_bytes(trainer):
  """The analytic bytes of what a built `loop.Trainer` holds, from its variables.

  Returns:
    A dict: "params" {network: weight count}, "bytes" {network / "optimizer_slots" / "ema":
    bytes} and "total" (their sum). Networks are "generator" and "d_NAME".
  """
  networks = {"generator": trainer.generator}
  networks.update({f"d_{n}": d for n, d in trainer.task.discriminators.items()})
  name = trainer.config.optimizer.name.lower()
  if name not in SLOTS_PER_WEIGHT:
    raise ValueError(
      f"Expected optimizer.name in {sorted(SLOTS_PER_WEIGHT)}, received "
      f"{trainer.config.optimizer.name!r}."
    )
  trainable = trainer.g_vars + trainer.d_vars
  sizes = {n: variable_bytes(m.weights) for n, m in networks.items()}
  sizes["optimizer_slots"] = SLOTS_PER_WEIGHT[name] * variable_bytes(trainable)
  sizes["ema"] = variable_bytes(trainer.ema.weights) if trainer.ema is not None else 0
  return {
    "params": {n: sum(math.prod(v.shape) for v in m.weights) for n, m in networks.items()},
    "bytes": sizes,
    "total": sum(sizes.values()),
  }


def activation_bytes(trainer):
  """The analytic bytes the D step and the G step keep for their backward passes.

  Returns:
    A dict: for "d_step" and "g_step", {"x1": bytes, "x3": bytes, "gradients": bytes}
    (see the module docstring), and "per_network" {network: conv/dense output elements of
    one forward pass}.
  """
  if isinstance(trainer.task, tasks.SPADETask):  # its FLOPs are counted, its memory is not
    raise flops.NotCounted(
      "objective.task 'spade' (SPADETask): what its step keeps is not modelled (each "
      "discriminator on real and fake together, the encoder)"
    )
  layers = flops.trainer_step_flops(trainer)["layers"]
  size = tf.as_dtype(keras.config.dtype_policy().compute_dtype).size
  outputs = {n: sum(math.prod(c["output_shape"]) for c in cs) for n, cs in layers.items()}
  clips = {n: math.prod(cs[0]["input_shape"]) for n, cs in layers.items() if n != "generator"}
  d_names = list(clips)

  def kept(copies, g_outputs, passes):  # elements: G's outputs + each D's, `passes` times
    return size * (
      copies * g_outputs + passes * sum(copies * outputs[n] + clips[n] for n in d_names)
    )

  steps = {
    "d_step": {f"x{k}": kept(k, 0, 2) for k in (1, 3)},
    "g_step": {f"x{k}": kept(k, outputs["generator"], 1) for k in (1, 3)},
  }
  steps["d_step"]["gradients"] = variable_bytes(trainer.d_vars)
  steps["g_step"]["gradients"] = variable_bytes(trainer.g_vars)
  return dict(steps, per_network=outputs)
