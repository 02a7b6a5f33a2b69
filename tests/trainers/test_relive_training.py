"""(Re)live Photos objectives through the one loop: the critic-norm rule, the reconstruction
curriculum, the multi-key condition, teacher-forced PredictionTask, and smoke runs per model."""

import importlib
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from trainers import loop
from trainers import tasks
from trainers import workdir as workdir_lib

SEED = tf.constant([0, 0])
# (config module, argument): every (Re)live Photos model.
MODELS = [
  ("relive_wgan", "smoke"),
  ("relive_wgan", "smoke,two_stream"),
  ("relive_conditional_wgan", "smoke"),
  ("relive_conditional_wgan", "smoke,two_stream"),
  ("relive_segmentation_conditional", "smoke"),
  ("relive_inception_conditional", "smoke"),
  ("relive_lstm", "smoke"),
  ("relive_convlstm", "smoke"),
  ("relive_cnn_next_frame", "smoke"),
  ("relive_cnn_next_frame", "smoke,residual"),
]
# One loop run per model; the default run keeps two (a conditional WGAN-GP with its
# curriculum, a recurrent predictor) within the test budget, the others are `slow`.
DEFAULT_RUNS = {("relive_conditional_wgan", "smoke"), ("relive_lstm", "smoke")}
# Builds two InceptionV3 trunks (~20 s); its paper-size shapes are tested in tests/zoo.
SLOW_STEPS = {("relive_inception_conditional", "smoke")}


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


def config(name, arg="smoke"):
  return importlib.import_module(f"configs.{name}").get_config(arg)


def batch_for(c, size=2, seed=0):
  t, h, w = c.data.num_frames, c.data.height, c.data.width
  video = tf.random.stateless_uniform([size, t, h, w, 3], [seed, 7], -1, 1)
  return {
    "video": video,
    "middle_frame": video[:, (t - 1) // 2],
    "segmentation": tf.random.stateless_uniform([size, h, w], [seed, 8], 0, 4, tf.int32),
  }


def test_gradient_penalty_with_batch_norm_critic_is_refused_with_the_reason():
  c = config("relive_wgan")
  c.model.discriminators.d.args.critic_norm = "batch"
  with pytest.raises(ValueError, match="batch norm mixes the samples"):
    tasks.make_task(c)
  c.objective.gp_weight = 0.0  # plain WGAN: batch norm allowed
  tasks.make_task(c)
  for norm in ("layer", "none"):
    c = config("relive_wgan")
    c.model.discriminators.d.args.critic_norm = norm
    assert tasks.make_task(c).config.objective.gp_weight == 10.0


def test_paper_defaults():
  c = config("relive_conditional_wgan", "")
  assert (c.objective.gan_loss, c.objective.gp_weight, c.objective.d_steps) == ("wgan", 10.0, 5)
  assert (c.optimizer.g_lr, c.optimizer.beta1, c.optimizer.beta2, c.train.batch_size) == (
    1e-3,
    0.5,
    0.9,
    32,
  )
  assert (c.objective.condition, c.objective.recon_loss, c.objective.recon_frame) == (
    "middle_frame",
    "l2",
    15,
  )
  assert c.model.discriminators.d.args.critic_norm == "layer"
  lstm = config("relive_lstm", "")
  assert (lstm.objective.task, lstm.optimizer.g_lr, lstm.train.batch_size) == (
    "prediction",
    1e-3,
    32,
  )
  assert lstm.model.generator.args.dropout == 0.2


def test_curriculum_adds_the_photo_mse_only_from_recon_start_step():
  c = config("relive_conditional_wgan")
  c.objective.recon_start_step = 10
  c.objective.recon_weight = 3.0
  task = tasks.make_task(c)
  batch = batch_for(c)
  task.build(batch)
  before, terms_before = task.g_loss(batch, SEED, tf.constant(9, tf.int64))
  after, terms_after = task.g_loss(batch, SEED, tf.constant(10, tf.int64))
  recon = float(terms_after["g/reconstruction"])
  fake = task.generator(batch["middle_frame"], training=True)  # BN in training mode, as g_loss
  expected = float(tf.reduce_mean(tf.square(fake[:, 3] - batch["middle_frame"])))
  assert recon == pytest.approx(expected, rel=1e-4)  # frame (T - 1) // 2 = 3 vs the photo
  assert float(terms_before["g/reconstruction"]) == pytest.approx(recon, rel=1e-5)  # logged
  assert float(before) == pytest.approx(float(terms_before["g_d/loss"]), rel=1e-5)  # not added
  assert float(after) == pytest.approx(float(terms_after["g_d/loss"]) + 3.0 * recon, rel=1e-5)


def test_multi_key_condition_hands_photo_and_segmentation():
  c = config("relive_segmentation_conditional")
  task = tasks.make_task(c)
  assert task.data_outputs == ("middle_frame", "segmentation") == tasks.data_outputs(c)
  batch = batch_for(c)
  cond = task.condition(batch)
  assert sorted(cond) == ["image", "segmentation"]
  assert cond["image"] is batch["middle_frame"] and cond["segmentation"] is batch["segmentation"]
  c.objective.condition = "middle_frame+labels"
  with pytest.raises(ValueError, match="joined by"):
    tasks.make_task(c)


def test_prediction_task_is_teacher_forced_mse():
  c = config("relive_lstm")
  task = tasks.make_task(c)
  assert (task.discriminators, task.data_outputs, task.writes_samples) == ({}, (), False)
  batch = batch_for(c)
  assert tuple(task.generator_inputs(batch, SEED).shape) == (2, 1, 16, 16, 3)
  seen = {}

  class Recorder:
    condition, context_frames = "frames", 1

    def teacher_forced(self, frames, training):
      seen["frames"], seen["training"] = frames, training
      return tf.zeros_like(frames)

  task.generator = Recorder()
  loss, terms = task.g_loss(batch, SEED, 0)
  np.testing.assert_array_equal(seen["frames"], batch["video"][:, :-1])  # true frames 0..T-2
  assert seen["training"] is True
  expected = float(tf.reduce_mean(tf.square(batch["video"][:, 1:])))  # vs frames 1..T-1
  assert float(loss) == pytest.approx(expected) == float(terms["g/mse"])
  c.model.generator = config("relive_wgan").model.generator
  with pytest.raises(ValueError, match="next-frame predictor"):
    tasks.make_task(c)


@pytest.mark.parametrize(
  "name,arg",
  [pytest.param(n, a, marks=pytest.mark.slow if (n, a) in SLOW_STEPS else ()) for n, a in MODELS],
  ids=[f"{n}:{a}" for n, a in MODELS],
)
def test_every_model_takes_a_finite_training_step(name, arg):
  """Each objective's losses on one batch, eagerly: finite, and every trainable variable of
  the generator (and critic) gets a gradient."""
  c = config(name, arg)
  task = tasks.make_task(c)
  batch = batch_for(c)
  task.build(batch)
  pairs = [(task.g_loss, task.generator.trainable_variables)]
  if task.discriminators:
    pairs.append((task.d_loss, task.discriminators["d"].trainable_variables))
  for loss_fn, variables in pairs:
    with tf.GradientTape() as tape:
      loss, terms = loss_fn(batch, SEED, tf.constant(5, tf.int64))
    grads = tape.gradient(loss, variables)
    assert np.isfinite(float(loss)) and all(np.isfinite(float(v)) for v in terms.values())
    missing = [v.path for v, g in zip(variables, grads, strict=True) if g is None]
    assert not missing, missing


@pytest.mark.parametrize(
  "name,arg",
  [pytest.param(n, a, marks=() if (n, a) in DEFAULT_RUNS else pytest.mark.slow) for n, a in MODELS],
  ids=[f"{n}:{a}" for n, a in MODELS],
)
def test_smoke_training_run(tmp_path, name, arg):
  """The `:smoke` config through loop.run (one generator step of d_steps critic steps), a
  checkpoint, and the generator restored from the workdir."""
  c = config(name, arg)
  c.train.steps = 1
  c.train.sample_every = 0
  c.objective.d_steps = min(c.objective.d_steps, 2)
  if (name, arg) in DEFAULT_RUNS:
    c.objective.d_steps = 1  # one traced critic step keeps the default run short
  wd = str(tmp_path)
  trainer = loop.run(c, wd)
  assert trainer.current_step() == 1
  assert os.path.exists(workdir_lib.latest_checkpoint(wd) + ".index")
  generator, _, _ = workdir_lib.restore_generator(wd)
  for a, b in zip(generator.weights, trainer.generator.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_generated_clips_for_fd_metrics_take_photo_and_segmentation():
  """trainers.eval.sources (periodic FD-R3D / FVD, the learning check) conditions the
  segmentation model on the eval clips' photo and segmentation, like the trainer."""
  from trainers.eval import sources

  c = config("relive_segmentation_conditional")
  g = workdir_lib.build_generator(c)
  source = sources.GeneratorSource("seg", g, c, seed=0)
  clips = list(source.batches(3, 2, sources.ClipSpec(8, 1, 16, 16)))
  assert [tuple(x.shape) for x in clips] == [(2, 8, 16, 16, 3), (1, 8, 16, 16, 3)]
  assert source.manifest()["conditions"]["key"] == "middle_frame+segmentation"
