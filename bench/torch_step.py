r"""The PyTorch eager reference for bench/plain_step.py: the same VGAN two-stream step, timed.

    pip install -e '.[bench]'   # the CPU wheel torch==2.13.0
    python -m bench.torch_step --config=vgan_two_stream --batch_size=8
    python -m bench.torch_step --config=vgan_two_stream:smoke --batch_size=2 \
        --steps=2 --channels_last

The speed targets compare our step with a PyTorch eager implementation of the same full step,
as achieved GFLOP/s over matmul GFLOP/s; this measures that reference on the same machine.
Builds the config's Keras task (`trainers.tasks.make_task`) and its PyTorch twin
(`bench/torch_vgan.py`: same layers, same initial weights, same losses, d_steps and Adam
settings; parameter counts, output shapes and a training-mode forward pass checked against
Keras), then times
`torch_vgan.Step` on one random real batch made before timing. GFLOP per step is
`bench/flops.gan_step_flops` on the Keras task, the count the TF benches use, so the ratios
compare.

Prints s/step (median and best), GFLOP/s and its ratio both to the fp32 4096^2 matmul measured
by TensorFlow in this process (`common.matmul_gflops`, the TF benches' denominator) and to a
4096^2 `torch.matmul` measured here, the peak RSS (of the whole process: TensorFlow and the
Keras task are in it too; the RSS before the PyTorch matmul and step is printed beside it) and
the machine.
"""

import importlib.util
import json
import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

if importlib.util.find_spec("torch") is None:
  sys.exit(
    "bench/torch_step.py needs PyTorch (the CPU wheel torch==2.13.0): pip install -e '.[bench]'"
  )

import numpy as np
import tensorflow as tf
import torch

from bench import common
from bench import flops
from bench import torch_vgan
from trainers import config_files

config_files.define_flag(
  "config",
  "vgan_two_stream",
  "Config name or file, e.g. vgan_two_stream or ...:smoke.",
  lock_config=False,
)
flags.DEFINE_integer("batch_size", 8, "Batch size.")
flags.DEFINE_integer("steps", 3, "Timed steps.")
flags.DEFINE_integer("warmup", 1, "Untimed steps first (allocator growth, oneDNN primitives).")
flags.DEFINE_integer("threads", os.cpu_count(), "torch.set_num_threads.")
flags.DEFINE_bool(
  "channels_last",
  False,
  "torch.channels_last_3d (channels_last for the 2D "
  "background stream) for the models and their inputs.",
)
flags.DEFINE_string("out", "", "Write the figures as JSON to this path.")
FLAGS = flags.FLAGS


def main(argv):
  del argv
  c = FLAGS.config
  torch.set_num_threads(FLAGS.threads)
  machine = common.describe_machine()
  peak = common.matmul_gflops(tf.float32)["gflops"]
  ref = torch_vgan.build_reference(c, FLAGS.channels_last)
  task = ref["task"]
  b, t, h, w = FLAGS.batch_size, c.data.num_frames, c.data.height, c.data.width
  spec = {"video": tf.TensorSpec([b, t, h, w, 3], tf.float32)}
  gflop = flops.gan_step_flops(task, spec)["total"] / 1e9
  rss_before = common.rss_mib()  # TF, the Keras task and the PyTorch models, before the timed work

  torch_peak = torch_vgan.torch_matmul_gflops()["gflops"]
  memory_format = torch.channels_last_3d if FLAGS.channels_last else torch.contiguous_format
  real = torch.rand(b, 3, t, h, w, generator=torch.Generator().manual_seed(1)) * 2 - 1
  real = real.contiguous(memory_format=memory_format)
  step = torch_vgan.Step(ref["generator"], ref["discriminators"], task.d_weights, c, memory_format)
  losses = []
  timing = common.time_callable(lambda: losses.append(step(real)), FLAGS.warmup, FLAGS.steps)
  if not all(np.isfinite(losses[-1])):
    raise FloatingPointError(f"Expected finite losses, received {losses[-1]}.")

  gflops = gflop / timing["median"]
  record = {
    "config": config_flags.get_config_filename(FLAGS["config"]),
    "batch_size": b,
    "precision": "float32",
    "framework": "pytorch eager",
    "torch": torch.__version__,
    "threads": torch.get_num_threads(),
    "channels_last": FLAGS.channels_last,
    "s_per_step": timing["median"],
    "best_s_per_step": timing["best"],
    "step_seconds": timing["times"],
    "warmup_seconds": timing["warmup"],
    "clips_per_s": b / timing["median"],
    "step_gflop": gflop,
    "gflops": gflops,
    "fp32_matmul_gflops": peak,
    "ratio_fp32_matmul": gflops / peak,
    "torch_matmul_gflops": torch_peak,
    "ratio_torch_matmul": gflops / torch_peak,
    "params": ref["params"],
    "relative_diff": ref["relative_diff"],
    "last_losses": {"d": losses[-1][0], "g": losses[-1][1]},
    "rss_before_step_mib": rss_before,
    "peak_rss_mib": common.peak_rss_mib(),
    "machine": machine,
  }
  print("machine:", common.machine_line(machine))
  print(
    f"PyTorch {torch.__version__}, {record['threads']} threads, oneDNN "
    f"{'on' if torch.backends.mkldnn.is_available() else 'off'}, "
    f"{'channels_last_3d' if FLAGS.channels_last else 'contiguous (NCDHW)'}"
  )
  print(
    "trainable parameters (Keras = PyTorch): "
    + ", ".join(f"{n} {p['torch']:,}" for n, p in ref["params"].items())
    + "; forward max |PyTorch - Keras| / max |Keras|: "
    + ", ".join(f"{n} {d:.1e}" for n, d in ref["relative_diff"].items())
  )
  print(
    f"PyTorch eager step, {record['config']}, batch {b}, float32: "
    f"{timing['median']:.3f} s/step (best {timing['best']:.3f}), {gflop:.1f} GFLOP, "
    f"{gflops:.1f} GFLOP/s = {record['ratio_fp32_matmul']:.0%} of the TF fp32 matmul "
    f"({peak:.1f} GFLOP/s), {record['ratio_torch_matmul']:.0%} of the torch fp32 matmul "
    f"({torch_peak:.1f} GFLOP/s); peak RSS {record['peak_rss_mib']:.0f} MiB "
    f"({rss_before:.0f} MiB before the PyTorch matmul and step)"
  )
  if FLAGS.out:
    with open(FLAGS.out, "w") as f:
      json.dump(record, f, indent=1)


if __name__ == "__main__":
  app.run(main)
