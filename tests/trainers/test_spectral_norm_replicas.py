"""Spectral norm's power-iteration state under MirroredStrategy: 2 replicas equal 1."""

import os
import subprocess
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Trains the tiny generator against Egan's 3D DCGAN discriminator (spectral norm on every
# convolution) for 3 steps, on one device and then mirrored on two logical CPUs (which must
# exist before TensorFlow initialises, hence a fresh process); saves the discriminator's
# weights (vector_u included) of each run, their initial values and, for the mirrored run,
# whether every replica holds the same copy of each.
CHILD = r"""
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
import trainer_helpers
from configs import common
from trainers import loop

out = {}
for name, strategy in (("one", "default"), ("two", "mirrored")):
  c = trainer_helpers.tiny_config(steps=3, checkpoint_every=0)
  c.model.discriminators.d = common.network(
      "egan_dcgan_discriminator_3d", video_shape=(4, 8, 8, 3), widths=(8, 16))
  c.model.discriminators.d.weight = 1.0
  c.objective.gan_loss = "hinge"
  c.data.random_flip = False
  c.runtime.strategy = strategy
  c.runtime.devices = ("/cpu:0", "/cpu:1") if strategy == "mirrored" else ()
  trainer = loop.Trainer(c, f"{sys.argv[1]}/{name}")
  d = trainer.task.discriminators["d"]
  if name == "one":
    out["names"] = np.array([v.name for v in d.weights])
    out.update({f"init/{i}": v.numpy() for i, v in enumerate(d.weights)})
  trainer.train()
  assert trainer.num_replicas == (2 if strategy == "mirrored" else 1)
  out.update({f"{name}/{i}": v.numpy() for i, v in enumerate(d.weights)})
  if strategy == "mirrored":
    out.update({
        f"synced/{i}": all(np.array_equal(x.numpy(), v.value.values[0].numpy())
                           for x in v.value.values)
        for i, v in enumerate(d.weights)})
np.savez(f"{sys.argv[1]}/weights.npz", **out)
"""


def test_spectral_norm_on_two_replicas_equals_one_replica(tmp_path):
  # ~15 s: one fresh process, two runs of 3 steps.
  env = dict(os.environ, PYTHONPATH=os.pathsep.join([HERE, ROOT]), TF_CPP_MIN_LOG_LEVEL="2")
  proc = subprocess.run(
    [sys.executable, "-c", CHILD, str(tmp_path)],
    capture_output=True,
    text=True,
    env=env,
    timeout=600,
    check=False,
  )
  assert proc.returncode == 0, proc.stderr[-3000:]
  with np.load(tmp_path / "weights.npz") as f:
    w = {k: f[k] for k in f.files}
  names = list(w["names"])
  us = [i for i, n in enumerate(names) if n == "vector_u"]
  assert len(us) == 3  # two strided convolutions and the final one
  for i, name in enumerate(names):
    assert w[f"synced/{i}"], f"the replicas' copies of weight {i} ({name}) differ"
    # Float sums split over 2 replicas round differently: the stated tolerance of the other
    # replica tests (test_trainer_process.py).
    np.testing.assert_allclose(w[f"one/{i}"], w[f"two/{i}"], rtol=1e-5, atol=1e-6, err_msg=name)
  for i in us:  # the power iteration ran: u moved off its random start
    assert not np.allclose(w[f"init/{i}"], w[f"one/{i}"], atol=1e-3)
