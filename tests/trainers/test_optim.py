"""Schedules and clipping against hand-computed values."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import common
from trainers import optim


def lr(schedule, step):
  return float(schedule(tf.constant(step)))


def test_constant_schedule():
  assert lr(optim.StepSchedule(3e-4), 12345) == pytest.approx(3e-4)


def test_cosine_restarts_starts_at_step_and_doubles_period():
  s = optim.StepSchedule(1.0, "cosine_restarts", start_step=10, period=4)
  assert lr(s, 0) == pytest.approx(1.0)
  assert lr(s, 10) == pytest.approx(1.0)  # restart period 1 begins
  assert lr(s, 12) == pytest.approx(0.5 * (1 + math.cos(math.pi * 2 / 4)), abs=1e-6)
  assert lr(s, 14) == pytest.approx(1.0)  # warm restart; period 2 is 8 steps long
  assert lr(s, 18) == pytest.approx(0.5, abs=1e-6)  # half way through period 2
  assert lr(s, 22) == pytest.approx(1.0)  # period 3 (16 steps)


def test_discriminator_schedule_counts_generator_steps():
  # 2 D updates per G step: D iteration 20 is generator step 10.
  s = optim.StepSchedule(1.0, "linear_decay", start_step=0, total_steps=20, updates_per_step=2)
  assert lr(s, 20) == pytest.approx(0.5)


def test_linear_decay():
  s = optim.StepSchedule(2.0, "linear_decay", start_step=10, total_steps=30)
  assert lr(s, 5) == pytest.approx(2.0)
  assert lr(s, 20) == pytest.approx(1.0)
  assert lr(s, 30) == pytest.approx(0.0)


def test_unknown_schedule_and_optimizer_name_the_field():
  with pytest.raises(ValueError, match="optimizer.schedule"):
    optim.StepSchedule(1.0, "cosine")
  c = common.base().optimizer
  c.name = "sgd"
  with pytest.raises(ValueError, match="optimizer.name"):
    optim.make_optimizer(c, 1e-3, 10)


def test_clip_by_value_then_norm():
  grads = [tf.constant([3.0, -4.0]), tf.constant([12.0])]
  clipped, norm = optim.clip_gradients(grads, clip_value=2.5)
  assert float(norm) == pytest.approx(13.0)
  np.testing.assert_allclose(clipped[0], [2.5, -2.5])
  np.testing.assert_allclose(clipped[1], [2.5])
  clipped, norm = optim.clip_gradients(grads, clip_norm=6.5)
  np.testing.assert_allclose(clipped[0], [1.5, -2.0], rtol=1e-6)
  np.testing.assert_allclose(clipped[1], [6.0], rtol=1e-6)


def test_rmsprop_takes_the_configs_rho():
  c = common.base().optimizer
  c.name, c.rho = "rmsprop", 0.99
  opt = optim.make_optimizer(c, 1e-4, total_steps=10)
  assert isinstance(opt, keras.optimizers.RMSprop) and opt.rho == 0.99


@pytest.mark.parametrize("graph", [False, True], ids=["eager", "tf.function"])
def test_fused_adam_takes_keras_adams_steps(graph):
  """Five steps of FusedAdam (one ResourceApplyAdam per variable) and of keras Adam, with a
  schedule and the paper's betas, from the same start: the same weights and moments."""
  rng = np.random.default_rng(0)
  shapes = [(3, 4, 5), (7,), (2, 2)]
  start = [rng.normal(size=s).astype(np.float32) for s in shapes]
  grads = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(5)]

  def run(cls):
    variables = [keras.Variable(x) for x in start]
    schedule = optim.StepSchedule(1e-2, "linear_decay", start_step=1, total_steps=10)
    opt = cls(schedule, beta_1=0.5, beta_2=0.9, epsilon=1e-8)
    apply = lambda g: opt.apply(g, variables)
    apply = tf.function(apply) if graph else apply
    for g in grads:
      apply([tf.constant(x) for x in g])
    return [v.numpy() for v in variables + opt._momentums + opt._velocities]

  fused, reference = run(optim.FusedAdam), run(keras.optimizers.Adam)
  assert not np.allclose(fused[0], start[0])  # it moved
  for a, b in zip(fused, reference, strict=True):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_adam_config_builds_the_fused_adam():
  opt = optim.make_optimizer(common.base().optimizer, 1e-3, total_steps=10)
  assert isinstance(opt, optim.FusedAdam) and isinstance(opt, keras.optimizers.Adam)


def test_the_zoos_optimizer_and_schedule_round_trip_through_keras_serialization(tmp_path):
  # A user's model compiled with them saves and loads with no custom_objects.
  schedule = optim.StepSchedule(1e-3, "cosine_restarts", 0, 10, 100, 1, 1e-5)
  opt = optim.FusedAdam(learning_rate=schedule, beta_1=0.5)
  again = keras.optimizers.deserialize(keras.optimizers.serialize(opt))
  assert type(again) is optim.FusedAdam and again.beta_1 == 0.5
  rate = again.get_config()["learning_rate"]  # the schedule, serialized again
  assert rate["registered_name"] == "trainers>StepSchedule", rate
  assert rate["config"] == schedule.get_config()
  model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
  model.compile(optimizer=opt, loss="mse")
  model.fit(np.ones((4, 3)), np.zeros((4, 2)), epochs=1, verbose=0)
  model.save(tmp_path / "m.keras")
  loaded = keras.saving.load_model(tmp_path / "m.keras")
  assert type(loaded.optimizer) is optim.FusedAdam
  assert int(loaded.optimizer.iterations) == 1
