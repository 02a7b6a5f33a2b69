r"""How fast the GAN step could be if only its convolutions cost time: each counted layer alone.

    python -m bench.layer_ceiling --config=vgan_two_stream --batch_size=8

For every call of a counted layer (bench/flops.py: convolutions, transposed convolutions,
dense) of the generator and the discriminators, at the step's shapes, this times the layer
by itself in a `tf.function` (the layer's own call, bias included, on a random input made
before timing) three ways: forward (f), weight gradients (w) and input gradient (x), each
alone (a gradient needs the layer's input and the incoming gradient, not its output, so TF
prunes the forward from w and x). The step's structure (bench/flops.py's `step_flops`)
then says how often each is paid per generator step with `objective.d_steps` = k:

  generator:      (k + 1) x f (the fake of each D step, and the G step's)  +  w  +  x
                  (no x for layers whose input depends on no weight, e.g. the projection of z)
  discriminator:  2k x (f + w + x) (real and fake; no x for the first layer, fed with data)
                  + f + x in the G step (the gradient flows to the fake, not to D's weights)

Their sum is the time of a step made of nothing but these layers, each run alone: the
kernel-level ceiling. The bench prints it as GFLOP/s and as a share of the fp32 matmul
measured in the same run, next to a per-layer table (shape, forward GFLOP, the three times,
the forward's GFLOP/s), so that the distance between bench/train_step.py and the 85% target
splits into what the convolution kernels themselves reach and what the rest of the step
(normalisation, activations, composition, losses, optimizers, the loop) adds.

SPADE's step (`trainers.tasks.SPADETask`) is the same with its differences (bench/flops.py's
`spade_step_flops`): with feature matching, the G step calls each discriminator once on the
real and fake clips together, twice a D step's batch, so its f + x count twice; a VAE
encoder reads the real clips as the generator's first layers do (f in each D step, f + w +
x in the G step).

A gradient penalty's double backward pass (WGAN-GP, R1) is not timed: its FLOPs, an
estimate, are left out of the ceiling's and listed apart, so the ceiling is that of the step
without the penalty. So are the counted computations that are no call of a layer on its
input (SPADE's mask convolutions of class ids, looked up, and its discriminator's first
layer, computed as a convolution of the frames plus one of the mask): their FLOPs (1.4%
of SPADE's step) are listed apart.

A layer run alone is not the layer inside a step (caches and oneDNN primitive reuse differ
both ways), and it runs as the layer's own call: where the step computes a part of it in a
form measured faster (SPADE's maps' weight gradients, `zoo.layers.spade.map_conv`), the
ceiling is of TensorFlow's kernels. Read it as an estimate, and run this on a quiet machine.
"""

import json
import os

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf

tf.get_logger().setLevel("ERROR")  # the per-layer functions retrace by design

from bench import common
from bench import flops
from bench import host
from trainers import config_files

config_files.define_flag(
  "config", None, "Config name or file, e.g. vgan_two_stream.", lock_config=False
)
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("repeats", 5, "Timed calls per layer and mode (the median is used).")
flags.DEFINE_enum("precision", "float32", ["float32", "mixed_bfloat16"], "Keras dtype policy.")
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS

MODES = ("f", "w", "x")


def _layers_by_path(models):
  paths = flops._layer_paths(models)
  found = {}
  for m in models:
    for layer in flops._sublayers(m, include_self=True, recursive=True):
      if isinstance(layer, flops.COUNTED):
        found[paths[id(layer)]] = layer
  return found


def called_as_recorded(layer, input_shape):
  """Whether a recorded call is the layer's own call on an input of `input_shape`, not a
  computation from its kernel on another input (which the layer's input spec refuses)."""
  spec = layer.input_spec
  if spec is None or isinstance(spec, list):
    return True
  if spec.ndim is not None and spec.ndim != len(input_shape):
    return False
  return all(input_shape[axis] == size for axis, size in (spec.axes or {}).items())


def per_step(cost, seconds, network, d_steps, matched):
  """What a counted call costs per generator step, from `seconds` (or FLOPs) {f, w, x} of one
  call: the structure of the module docstring; `matched`: how many D-step batches the G step
  feeds each discriminator (2 with SPADE's feature matching, else 1)."""
  grads = (seconds["w"] if cost["trainable"] else 0.0) + (
    seconds["x"] if cost["after_weights"] else 0.0
  )
  if network in ("generator", "encoder"):  # the encoder reads the real clips in every step
    return (d_steps + 1) * seconds["f"] + grads
  return 2 * d_steps * (seconds["f"] + grads) + matched * (seconds["f"] + seconds["x"])


def time_layer(layer, input_shape, repeats):
  """Median seconds of the layer's forward (f), weight gradients (w), input gradient (x)."""
  x = tf.random.stateless_normal(input_shape, seed=[5, 6])
  x = tf.cast(x, layer.compute_dtype)
  weights = layer.trainable_weights

  def output(x):  # a recurrent layer returning its states gives [output, *states]
    y = layer(x)
    return y[0] if isinstance(y, list | tuple) else y

  y_shape = output(x).shape
  dy = tf.cast(tf.random.stateless_normal(y_shape, seed=[7, 8]), layer.compute_dtype)

  def make(mode):
    @tf.function
    def run(x):
      with tf.GradientTape() as tape:
        tape.watch(x)
        y = output(x)
      if mode == "f":
        return tf.reduce_sum(tf.cast(y, tf.float32))
      targets = list(weights) if mode == "w" else [x]
      grads = tape.gradient(y, targets, output_gradients=dy)
      return tf.add_n([tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads])

    return run

  out = {}
  for mode in MODES:
    run = make(mode)
    out[mode] = host.time_callable(lambda run=run: run(x).numpy(), 1, repeats)["median"]
  return out


def main(argv):
  del argv
  c = FLAGS.config
  if c is None:
    raise app.UsageError("--config is required, e.g. --config=vgan_two_stream")
  machine = common.describe_machine()
  peak = common.matmul_gflops(tf.float32)["gflops"]
  task, batch = common.task_and_batch(c, FLAGS.batch_size, FLAGS.precision)
  b = FLAGS.batch_size
  step = flops.step_flops(task, batch)
  k = step["d_steps"]
  matched = step["g_step_d_batches"]
  models = [task.generator] + list(task.discriminators.values())
  layers = _layers_by_path(models)

  rows, total, not_calls = [], 0.0, 0.0
  for network, costs in step["layers"].items():
    for cost in costs:
      layer = layers[cost["name"]]
      if not called_as_recorded(layer, cost["input_shape"]):
        not_calls += per_step(cost, dict.fromkeys(MODES, cost["flops"]), network, k, matched)
        continue
      times = time_layer(layer, cost["input_shape"], FLAGS.repeats)
      seconds = per_step(cost, times, network, k, matched)
      total += seconds
      rows.append({**cost, "network": network, "seconds": times, "per_step_s": seconds})
      gf = cost["flops"] / 1e9
      print(
        f"{network:>10} {cost['name'][-40:]:>40} {str(tuple(cost['input_shape'])):>24} "
        f"{gf:7.2f} GF | "
        + " ".join(f"{m} {times[m] * 1e3:7.1f} ms" for m in MODES)
        + f" | f {gf / times['f']:6.1f} GF/s | per step {seconds:6.3f} s",
        flush=True,
      )
  if not rows:
    raise app.UsageError(f"{FLAGS.config!r}: no counted layer is called in its step.")

  # The ceiling divides what is timed by its time: a penalty's FLOPs without its time would
  # put it above the matmul (relive_wgan: 138%).
  untimed = flops.estimated_terms(step)  # no single layer call runs a double backward
  if not_calls:
    untimed["computed without a call of their layer"] = not_calls
  gflop = (step["total"] - sum(untimed.values())) / 1e9
  record = {
    "config": config_flags.get_config_filename(FLAGS["config"]),
    "batch_size": b,
    "precision": FLAGS.precision,
    "step_gflop": gflop,
    "untimed_gflop": {name: f / 1e9 for name, f in untimed.items()},
    "layers_only_s_per_step": total,
    "ceiling_gflops": gflop / total,
    "fp32_matmul_gflops": peak,
    "ceiling_ratio_fp32_matmul": gflop / total / peak,
    "rows": rows,
    "machine": machine,
  }
  print("machine:", common.machine_line(machine))
  print(
    f"layers alone, {record['config']}, batch {b}, {FLAGS.precision}: {total:.3f} s per "
    f"step for {gflop:.1f} GFLOP = {gflop / total:.1f} GFLOP/s = "
    f"{record['ceiling_ratio_fp32_matmul']:.0%} of the fp32 matmul ({peak:.1f} GFLOP/s)"
  )
  if untimed:
    print(
      "not timed, and left out of the GFLOP above: "
      + ", ".join(f"{name} ({f / 1e9:.1f} GFLOP, estimated)" for name, f in untimed.items())
      + "; the ceiling is of the step without them"
    )
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)


if __name__ == "__main__":
  app.run(main)
