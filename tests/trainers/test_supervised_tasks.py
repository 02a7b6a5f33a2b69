"""Supervised objectives through the one loop: VGAN's autoencoder + GMM baseline
(reconstruction, fit_gmm, GMM sampling) and the UCF101 transfer classifier (classify)."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import common
from configs import vgan_autoencoder_gmm
from configs import vgan_two_stream
from trainers import classify
from trainers import fit_gmm
from trainers import loop
from trainers import tasks
from trainers import workdir as workdir_lib
from zoo import inputs as zoo_inputs


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


def ae_config(steps=25, **train):
  c = vgan_autoencoder_gmm.get_config("smoke")  # 8x16x16, code 16, 4 components
  c.model.generator.args.widths = c.model.generator.args.background_widths = (16, 8)
  c.train.batch_size = 4
  c.train.steps = steps
  c.train.checkpoint_every = 0
  c.train.log_every = 0
  c.train.summary_every = 0
  c.optimizer.g_lr = 1e-3
  c.gmm.num_clips = 16
  c.data.synthetic.num_clips = 8  # a small set the autoencoder can learn within 25 steps
  for k, v in train.items():
    c.train[k] = v
  return c


def classifier_config(mode="random_init", transfer_from="", steps=3):
  """What configs/vgan_ucf101_transfer.py:smoke sets: 3 classes of synthetic clips."""
  c = common.base()
  c.model.generator = common.network(
    "vgan_action_classifier",
    num_classes=3,
    mode=mode,
    dropout=0.5,
    video_shape=(8, 16, 16, 3),
    widths=(8, 16),
  )
  c.objective.task = "classification"
  c.objective.transfer_from = transfer_from
  c.objective.transfer_discriminator = "d"
  c.data.outputs = ("label",)
  c.data.num_frames, c.data.height, c.data.width = 8, 16, 16
  c.data.shuffle_buffer = 8
  c.train.batch_size = 4
  c.train.steps = steps
  c.train.checkpoint_every = 0
  c.train.log_every = 0
  c.train.sample_every = 0
  c.optimizer.g_lr = 1e-2
  return c


def values(variables):
  return [v.numpy().copy() for v in variables]


# --- reconstruction ----------------------------------------------------------------------


@pytest.mark.parametrize("name,expected", [("l2", (1.0 + 0.25) / 2), ("l1", (1.0 + 0.5) / 2)])
def test_reconstruction_loss_hand_value(name, expected):
  c = ae_config()
  c.objective.recon_loss = name
  task = tasks.make_task(c)
  assert (task.discriminators, task.data_outputs, task.writes_samples) == ({}, (), False)
  video = tf.reshape(tf.tile([1.0, -0.5], [8 * 16 * 16 * 3]), [2, 8, 16, 16, 3])
  task.generator = lambda x, training: tf.zeros_like(x)  # reconstructs everything as 0
  batch = {"video": video, "z": tf.ones([2, 17])}  # the loop's z is ignored
  loss, terms = task.g_loss(batch, tf.constant([0, 0]), 0)
  assert float(loss) == pytest.approx(expected)
  assert float(terms["g/reconstruction"]) == float(terms["g/total"]) == float(loss)


def test_reconstruction_config_errors_name_the_field():
  c = ae_config()
  c.objective.recon_loss = "l3"
  with pytest.raises(ValueError, match="objective.recon_loss"):
    tasks.make_task(c)
  c = ae_config()
  c.model.generator = common.network("vgan_one_stream")
  with pytest.raises(ValueError, match="model.generator to be an autoencoder"):
    tasks.make_task(c)


@pytest.fixture(scope="module")
def trained_ae(tmp_path_factory):
  """An autoencoder trained 25 steps through the loop (with an EMA copy); losses on a fixed
  batch before and after."""
  wd = str(tmp_path_factory.mktemp("ae"))
  c = ae_config(steps=25, ema_decay=0.5)
  trainer = loop.Trainer(c, wd)
  batch = next(iter(trainer.dataset))
  seed = tf.constant([0, 0])
  first = float(trainer.task.g_loss(batch, seed, 0)[0])
  trainer.train()
  last = float(trainer.task.g_loss(batch, seed, 0)[0])
  keras.config.set_dtype_policy("float32")
  return wd, trainer, first, last


def test_autoencoder_training_lowers_the_reconstruction_loss(trained_ae):
  wd, trainer, first, last = trained_ae
  assert trainer.current_step() == 25
  assert last < 0.8 * first, (first, last)
  assert not os.path.exists(workdir_lib.samples_dir(wd))  # writes_samples False


def test_fit_gmm_checkpoint_restores_the_fitted_mixture(trained_ae):
  wd, trainer, _, _ = trained_ae
  fitted, path = fit_gmm.fit(wd, num_clips=16, batch_size=4)
  keras.config.set_dtype_policy("float32")
  assert path.endswith("ckpt-25") and sorted(fitted) == ["ema_generator", "generator"]
  for ema, key in ((False, "generator"), (True, "ema_generator")):
    g, _, restored_path = workdir_lib.restore_generator(wd, ema=ema)
    assert restored_path == path
    for variable, value in zip(
      (g.gmm_weights, g.gmm_means, g.gmm_cholesky), fitted[key], strict=True
    ):
      np.testing.assert_array_equal(variable.numpy(), value)
  weights, means, _ = fitted["generator"]
  assert weights.shape == (4,) and means.shape == (4, 16)
  assert weights.sum() == pytest.approx(1.0, abs=1e-5)
  assert not np.allclose(fitted["generator"][1], fitted["ema_generator"][1])  # own codes each
  result = json.load(open(os.path.join(wd, fit_gmm.RESULT_FILE)))
  assert (result["num_clips"], result["num_components"], result["step"]) == (16, 4, 25)
  resumed = loop.Trainer(workdir_lib.load_config(wd), wd)  # still a resumable training state
  assert resumed.current_step() == 25
  np.testing.assert_array_equal(resumed.generator.gmm_means.numpy(), means)
  keras.config.set_dtype_policy("float32")


def test_generation_after_fitting_draws_codes_from_the_gmm(trained_ae):
  wd, _, _, _ = trained_ae
  g, _, _ = workdir_lib.restore_generator(wd)
  mean = np.linspace(-2.0, 2.0, 16).astype(np.float32)
  means = np.stack([mean, -mean, mean + 5.0, mean - 5.0])
  g.set_gmm(np.array([1.0, 0.0, 0.0, 0.0]), means, 1e-7 * np.stack([np.eye(16)] * 4))
  z = zoo_inputs.generator_inputs(g, 6, tf.constant([3, 4]))  # as export.sample draws it
  assert tuple(z.shape) == (6, 18)
  samples = g(z, training=False).numpy()
  expected = g.decode(tf.constant(np.tile(mean, [6, 1])), training=False).numpy()
  np.testing.assert_allclose(samples, expected, atol=1e-4)
  assert np.std(samples) > 1e-3  # not a constant output that would match anything


# --- classification ----------------------------------------------------------------------


def test_classification_loss_and_accuracy_hand_values():
  logits = tf.constant([[0.0, np.log(3.0)], [np.log(2.0), 0.0]])
  labels = tf.constant([1, 1])
  expected = (-np.log(3.0 / 4.0) - np.log(1.0 / 3.0)) / 2.0
  assert float(tasks.softmax_cross_entropy(logits, labels)) == pytest.approx(expected)
  assert float(tasks.top1_accuracy(logits, labels)) == 0.5
  task = tasks.make_task(classifier_config())
  assert (task.discriminators, task.data_outputs, task.writes_samples) == ({}, ("label",), False)
  task.generator = lambda x, training: logits
  loss, terms = task.g_loss(
    {"video": tf.zeros([2, 8, 16, 16, 3]), "label": labels}, tf.constant([0, 0]), 0
  )
  assert float(loss) == pytest.approx(expected)
  assert float(terms["g/accuracy"]) == 0.5


def test_data_outputs_of_every_task():
  assert tasks.data_outputs(classifier_config()) == ("label",)
  assert tasks.data_outputs(ae_config()) == ()
  c = vgan_two_stream.get_config("smoke")
  c.objective.condition = "first_frame"
  assert tasks.data_outputs(c) == ("first_frame",)


def test_transfer_modes_require_a_readable_transfer_from(tmp_path):
  for mode in ("finetune", "last_layer"):
    with pytest.raises(ValueError, match="Expected objective.transfer_from"):
      tasks.make_task(classifier_config(mode))
  with pytest.raises(FileNotFoundError, match="objective.transfer_from"):
    tasks.make_task(classifier_config("finetune", str(tmp_path / "missing")))
  c = classifier_config()
  c.data.outputs = ()
  with pytest.raises(ValueError, match="data.outputs to include 'label'"):
    tasks.make_task(c)


@pytest.fixture(scope="module")
def source_vgan(tmp_path_factory):
  """A vgan_two_stream:smoke run of one step: the discriminator to transfer from."""
  wd = str(tmp_path_factory.mktemp("vgan"))
  c = vgan_two_stream.get_config("smoke")
  c.train.steps, c.train.sample_every, c.train.log_every = 1, 0, 0
  trainer = loop.run(c, wd)
  keras.config.set_dtype_policy("float32")
  return wd, trainer.task.discriminators["d"]


def test_transfer_loads_the_source_discriminator_trunk(source_vgan):
  wd, d = source_vgan
  with pytest.raises(ValueError, match="objective.transfer_discriminator"):
    c = classifier_config("finetune", wd)
    c.objective.transfer_discriminator = "t"
    tasks.make_task(c)
  task = tasks.make_task(classifier_config("finetune", wd))
  task.build({"video": tf.zeros([1, 8, 16, 16, 3])})
  trunk = task.generator.trunk.weights
  assert len(trunk) == len(d.trunk.weights) > 0
  for a, b in zip(trunk, d.trunk.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
  moving = [v for v in d.trunk.weights if "moving_mean" in v.path]
  assert moving and not np.allclose(moving[0].numpy(), 0.0)  # a trained, not a fresh, trunk


def test_last_layer_trains_the_head_only_and_classify_reports(source_vgan, tmp_path):
  src, d = source_vgan
  wd = str(tmp_path)
  c = classifier_config("last_layer", src, steps=3)
  c.train.checkpoint_every = 3
  trainer = loop.Trainer(c, wd)
  classifier = trainer.generator
  head = values(classifier.final.weights)
  trainer.train()
  assert trainer.current_step() == 3
  for a, b in zip(classifier.trunk.weights, d.trunk.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)  # BN stats too
  assert not np.allclose(classifier.final.weights[0].numpy(), head[0])
  keras.config.set_dtype_policy("float32")

  restored, _, _ = classify.restore_classifier(wd)
  for a, b in zip(restored.weights, classifier.weights, strict=True):
    np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)
  result = classify.evaluate(wd, num_clips=7, batch_size=3)  # 3 + 3 + 1: nothing dropped
  assert 0.0 <= result["top1"] <= 1.0
  assert (result["num_clips"], result["mode"], result["step"]) == (7, "last_layer", 3)
  assert result["correct"] == round(result["top1"] * 7)
  assert json.load(open(os.path.join(wd, classify.RESULT_FILE))) == result
