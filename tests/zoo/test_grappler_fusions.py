"""Training graphs that Grappler's remapper optimises without failing.

The remapper fuses a convolution with the ops after it (bias, activation) or before it (a
Pad). When another op still reads the intermediate output it fuses away, it logs "remapper
failed" and drops every fusion of that graph. Each case here differentiates a tiny network
as its training step does, inside a tf.function, in a subprocess whose TensorFlow C++ log is
on, and the line must be absent.
"""

import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
  """
  import sys
  import tensorflow as tf
  from trainers import losses
  from zoo import registry

  seed = tf.constant([1, 2])


  def resnet_step():  # Egan's 3D ResNet discriminator: its first block reads conv_in twice
    shape = (4, 16, 16, 3)
    d = registry.build("egan_resnet_discriminator_3d", video_shape=shape, nf=8, max_width=32)
    x = tf.random.stateless_normal((2,) + shape, seed)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        loss = tf.reduce_mean(d(x, training=True))
      return tape.gradient(loss, d.trainable_variables)

    return step


  def critic_step():  # the conditional (Re)live critic's gradient penalty: a double backward
    d = registry.build(
      "relive_critic", video_shape=(8, 16, 16, 3), widths=(8, 16), conditional=True
    )
    real = tf.random.stateless_normal((2, 8, 16, 16, 3), seed)

    @tf.function
    def step():
      with tf.GradientTape() as tape:
        critic = lambda v: d(v, condition=real[:, 0], training=True)
        loss = losses.gradient_penalty(critic, real, real * 0.5, seed)
      return tape.gradient(loss, d.trainable_variables)

    return step


  for name, make in [("resnet", resnet_step), ("critic", critic_step)]:
    grads = [g for g in make()() if g is not None]  # a penalty does not reach the last bias
    assert grads
    print("ran", name, flush=True)
    print("ran", name, file=sys.stderr, flush=True)
  """
)


def test_the_remapper_keeps_the_training_graphs_fusions():
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="0", CUDA_VISIBLE_DEVICES="")
  run = subprocess.run(
    [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=300
  )
  assert run.returncode == 0, run.stderr[-3000:]
  assert run.stdout.split() == ["ran", "resnet", "ran", "critic"]
  # Each failure names the graph's nodes; the markers on stderr say which case logged it.
  lines = [x for x in run.stderr.splitlines() if "remapper failed" in x or x.startswith("ran ")]
  assert lines == ["ran resnet", "ran critic"], lines
