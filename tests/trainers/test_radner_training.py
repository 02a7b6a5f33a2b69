"""Radner's configs train through the generic loop: a smoke run per model, resume equality.

Tracing one Radner train step (2 critics with gradient penalties, ConvGRU unrolls) takes
minutes on a shared CPU, so the runs through the loop are `slow`; the default tests check
the configs and the objective eagerly.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainers import config_files
from trainers import loop
from trainers import tasks


def load(name, arg, steps):
  c = config_files.load(f"{name}:{arg}")
  c.train.steps, c.train.sample_every, c.train.checkpoint_every = steps, 0, 1
  c.train.log_every = c.train.summary_every = 1
  return c


def weights(trainer):
  return [
    v for net in [trainer.generator, *trainer.task.discriminators.values()] for v in net.weights
  ]


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


@pytest.mark.parametrize(
  "arg,size,frames,g_ch,d_ch,pool",
  [
    ("", 64, 30, 16, (32, 32), 2),
    ("landscape", 128, 25, 32, (16, 64), 1),
    ("resolution=256", 256, 25, 8, (8, 32), 2),
  ],
)
def test_configs_carry_the_thesis_settings(arg, size, frames, g_ch, d_ch, pool):
  c = load("radner_style", arg, steps=1)
  o, t, d = c.optimizer, c.train, c.model.discriminators
  assert (c.data.height, c.data.num_frames, c.model.generator.args.ch) == (size, frames, g_ch)
  assert (
    c.model.generator.args.resolution == size == 4 * 2 ** len(c.model.generator.args.multipliers)
  )
  assert (d.spatial.args.ch, d.temporal.args.ch, d.temporal.args.pool) == (*d_ch, pool)
  assert (d.spatial.weight, d.temporal.weight, d.spatial.args.num_sampled_frames) == (1, 5, 8)
  assert d.spatial.args.conditional and not d.temporal.args.conditional
  assert (c.objective.gan_loss, c.objective.gp_weight, c.objective.d_steps) == ("wgan", 10, 2)
  assert (o.g_lr, o.d_lr, o.beta1, o.beta2, o.clip_value) == (3e-4, 3e-4, 0.0, 0.9, 2.5)
  assert (t.batch_size, t.grad_accum, o.schedule) == (8, 2, "cosine_restarts")
  # After epoch 10, an epoch counted from the data when training starts
  # (tests/trainers/data/test_data_epochs.py: BAIR's 43,264 clips at batch 8, 5,408 steps).
  assert (o.schedule_start_epochs, o.restart_period_epochs, t.steps_per_epoch) == (10, 1, 0)
  assert c.data.source == ("tfds:bair_robot_pushing_small" if size == 64 else "tfrecord")
  d_s = load("dvdgan_s", arg, steps=1)
  assert d_s.model.generator.args.ch == g_ch and not d_s.model.generator.args.conditional
  assert load("dvdgan_s", "image", steps=1).model.generator.args.conditional


def test_radner_objective_reaches_every_weight_and_follows_the_seed():
  """The task's D and G losses, eagerly (a traced loop step costs minutes on a CPU): the
  gradients reach every weight of D_S, D_T and the generator (noise strengths included),
  and the step seed alone decides the noise and D_S's frames."""
  c = load("radner_style", "smoke", steps=1)
  task = tasks.make_task(c)
  video = tf.random.stateless_uniform([2, 4, 16, 16, 3], seed=[1, 2], minval=-1, maxval=1)
  batch = {"video": video, "first_frame": video[:, 0]}
  task.build(batch)
  seed = tf.constant([3, 4], tf.int64)
  d_vars = [v for d in task.discriminators.values() for v in d.trainable_variables]
  with tf.GradientTape() as tape:
    d_total, d_terms = task.d_loss(batch, seed, 0)
  assert all(g is not None for g in tape.gradient(d_total, d_vars))
  assert {"d_spatial/gradient_penalty", "d_temporal/gradient_penalty"} <= set(d_terms)
  with tf.GradientTape() as tape:
    g_total, g_terms = task.g_loss(batch, seed, 0)
  grads = tape.gradient(g_total, task.generator.trainable_variables)
  missing = [
    v.path for v, g in zip(task.generator.trainable_variables, grads, strict=True) if g is None
  ]
  assert not missing
  # g/total = 1 x G loss against D_S + 5 x against D_T.
  np.testing.assert_allclose(
    float(g_total), float(g_terms["g_spatial/loss"] + 5 * g_terms["g_temporal/loss"]), rtol=1e-5
  )
  for v in task.generator.weights:  # noise strengths start at 0: make the noise count
    if "strength" in v.path:
      v.assign(tf.ones_like(v))
  g_total, _ = task.g_loss(batch, seed, 0)
  again, _ = task.g_loss(batch, seed, 0)
  other, _ = task.g_loss(batch, seed + 1, 0)
  assert float(again) == float(g_total) and float(other) != float(g_total)


@pytest.mark.slow
@pytest.mark.parametrize("arg", ["smoke", "image,smoke"])  # 150 and 340 s on a loaded CPU
def test_dvdgan_s_smoke_run(tmp_path, arg):
  trainer = loop.run(load("dvdgan_s", arg, steps=2), str(tmp_path))
  assert trainer.current_step() == 2
  assert trainer.generator.condition == ("image" if "image" in arg else None)


@pytest.mark.slow
def test_radner_smoke_run_resumes_bitwise(tmp_path):  # 20 min on a loaded CPU
  """Two steps straight, or one step, a restart and one more, give the same weights: the
  noise and D_S's frame choice come from the loop's per-step seeds, not from hidden state."""
  c = load("radner_style", "smoke", steps=2)
  straight = loop.run(c, str(tmp_path / "a"))
  c.train.steps = 1
  loop.run(c, str(tmp_path / "b"))
  c.train.steps = 2
  resumed = loop.Trainer(c, str(tmp_path / "b"))
  assert resumed.current_step() == 1
  resumed.train()
  a, b = weights(straight), weights(resumed)
  assert len(a) == len(b) > 0
  for x, y in zip(a, b, strict=True):
    np.testing.assert_array_equal(x.numpy(), y.numpy(), err_msg=x.path)
