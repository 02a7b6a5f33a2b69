"""One tiny training run per Egan config through the one loop, and SPADETask's extra terms."""

import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from configs import egan_dcgan_image
from configs import egan_dcgan_video
from configs import egan_resnet_image
from configs import egan_resnet_video
from configs import egan_spade_image
from configs import egan_spade_video
from configs import relive_segmentation_conditional
from trainers import errors
from trainers import loop
from trainers import tasks
from trainers.data import format as record_format
from zoo.layers import form_choice


def test_paper_hyperparameters():
  dcgan, resnet = egan_dcgan_image.get_config(), egan_resnet_image.get_config()
  resnet3d, spade = egan_resnet_video.get_config(), egan_spade_image.get_config("size=small,vae")
  assert (
    dcgan.objective.gan_loss,
    dcgan.optimizer.name,
    dcgan.optimizer.g_lr,
    dcgan.optimizer.beta1,
    dcgan.optimizer.beta2,
  ) == ("hinge", "adam", 2e-4, 0.0, 0.999)
  assert (
    resnet.objective.gan_loss,
    resnet.objective.r1_weight,
    resnet.optimizer.name,
    resnet.optimizer.g_lr,
    resnet.train.ema_decay,
  ) == ("non_saturating", 10.0, "rmsprop", 1e-4, 0.999)
  assert (resnet3d.optimizer.g_lr, resnet3d.optimizer.d_lr) == (1e-5, 3e-5)
  assert resnet.optimizer.rho == resnet3d.optimizer.rho == 0.99  # PyTorch's RMSprop alpha
  assert (
    spade.objective.gan_loss,
    spade.objective.feature_matching,
    spade.objective.vgg_weight,
    spade.objective.kl_weight,
    spade.optimizer.beta1,
    spade.optimizer.beta2,
  ) == ("hinge", 10.0, 10.0, 0.05, 0.0, 0.9)
  assert spade.model.generator.args.use_vae and spade.model.generator.args.size == "small"
  assert egan_spade_image.get_config("size=mid").objective.kl_weight == 0.0
  for c in (dcgan, resnet, spade):  # frames: resize 160, crop 128, flip, one per clip
    assert (c.data.resize, c.data.height, c.data.random_flip, c.data.frame_mode) == (
      160,
      128,
      True,
      True,
    )
  video = egan_spade_video.get_config("size=small")
  assert (
    video.data.num_frames,
    video.data.frame_stride,
    video.data.max_start,
    video.data.frame_mode,
  ) == (8, 3, 8, False)
  assert egan_dcgan_video.get_config().data.num_frames == 32


def smoke_run(module, workdir, **objective):
  c = module.get_config("smoke")
  c.train.steps, c.train.sample_every = 2, 0
  for k, v in objective.items():
    c.objective[k] = v
  return loop.run(c, str(workdir))


def test_a_trainer_times_forms_at_the_batch_its_steps_run_not_its_build(tmp_path, monkeypatch):
  # The trainer creates variables on one clip: before, every form of that batch-1 pass was
  # timed too (17 of the SPADE step's 34 time-padded shapes), once per machine, never run.
  monkeypatch.setenv(form_choice.POLICY_ENV, "auto")
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path / "cache"))
  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  c = egan_spade_video.get_config("smoke")
  c.train.steps, c.train.sample_every, c.train.batch_size = 1, 0, 2
  trainer = loop.Trainer(c, str(tmp_path / "wd"))
  assert not list((tmp_path / "cache").glob("forms-*.json"))
  trainer.train_call()
  (path,) = (tmp_path / "cache").glob("forms-*.json")
  shapes = [key.split(" [", 1)[1] for key in json.loads(path.read_text())]
  # Batch 2, and 4 where a discriminator sees the real and the fake clips together.
  assert shapes and all(shape.startswith(("2, ", "4, ")) for shape in shapes), shapes


def test_spade_task_terms_and_the_vgg_warning(caplog):
  c = egan_spade_image.get_config("smoke")
  with caplog.at_level(logging.WARNING):
    task = tasks.make_task(c)
  assert isinstance(task, tasks.SPADETask) and task.vae and task.vgg is None
  assert "VGG perceptual loss is OFF" in caplog.text
  batch = {
    "video": tf.random.stateless_uniform([2, 1, 16, 16, 3], [1, 1], -1, 1),
    "segmentation": tf.random.stateless_uniform([2, 16, 16], [2, 2], 0, 4, tf.int32),
  }
  task.build(batch)
  seed, step = tf.constant([1, 2], tf.int64), tf.constant(0, tf.int64)
  _, terms = task.g_loss(batch, seed, step)
  assert {"g/feature_matching", "g/kl", "g_d0/loss", "g_d1/loss"} <= set(terms)
  assert "g/vgg" not in terms
  assert all(np.isfinite(float(v)) for v in terms.values())
  _, d_terms = task.d_loss(batch, seed, step)
  assert {"d_d0/loss", "d_d1/loss"} <= set(d_terms)
  # Feature matching is 0 when the fake is the real clip; KL is 0 for N(0, I).
  zeros = tf.zeros([2, 256])
  real, cond = batch["video"], task.condition(batch)
  seen = task.judge_fake(batch, real, cond, seed)[1]
  extra = task.generator_terms(batch, real, {"mu": zeros, "logvar": zeros}, cond, seen)
  assert extra["g/feature_matching"][0] == 10.0 and extra["g/kl"][0] == 0.05
  assert float(extra["g/feature_matching"][1]) == pytest.approx(0.0, abs=1e-6)
  assert float(extra["g/kl"][1]) == pytest.approx(0.0, abs=1e-6)


def test_spade_generator_step_calls_each_discriminator_once_on_real_and_fake(monkeypatch):
  task = tasks.make_task(egan_spade_video.get_config("smoke"))
  batch = {
    "video": tf.random.stateless_uniform([2, 4, 16, 16, 3], [1, 1], -1, 1),
    "segmentation": tf.random.stateless_uniform([2, 16, 16], [2, 2], 0, 4, tf.int32),
  }
  task.build(batch)
  seed, step = tf.constant([1, 2], tf.int64), tf.constant(0, tf.int64)
  variables = task.generator.variables + [
    v for d in task.discriminators.values() for v in d.variables
  ]
  before = [v.numpy() for v in variables]
  batches = []
  d_class = type(next(iter(task.discriminators.values())))
  call = d_class.call

  def counted(self, video, *args, **kwargs):
    batches.append(int(video.shape[0]))
    return call(self, video, *args, **kwargs)

  monkeypatch.setattr(d_class, "call", counted)
  _, terms = task.g_loss(batch, seed, step)
  assert batches == [4] * len(task.discriminators)  # real and fake together, once each
  monkeypatch.setattr(d_class, "call", call)

  # The same step by hand from the same weights (spectral norm's vectors included): the
  # fake's half of one call gives the GAN loss, both halves the feature matching.
  for v, value in zip(variables, before, strict=True):
    v.assign(value)
  fake, _ = task.generate(batch, seed, training=True)
  cond = task.condition(batch)
  both = tf.concat([batch["video"], fake], 0)
  fm = 0.0
  for name, d in task.discriminators.items():
    logits, features = d(
      both, condition=tf.concat([cond, cond], 0), training=True, return_features=True
    )
    expected = float(task.g_loss_fn(tf.split(logits, 2)[1]))
    assert float(terms[f"g_{name}/loss"]) == pytest.approx(expected, rel=1e-5)
    fm += task.d_weights[name] * sum(
      float(tf.reduce_mean(tf.abs(f - r))) for r, f in (tf.split(x, 2) for x in features)
    )
  assert float(terms["g/feature_matching"]) == pytest.approx(fm, rel=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
  "module",
  [egan_dcgan_video, egan_resnet_image, egan_resnet_video, egan_spade_image, egan_spade_video],
  ids=lambda m: m.__name__,
)
def test_smoke_training(module, tmp_path):
  assert smoke_run(module, tmp_path).current_step() == 2


@pytest.mark.slow
def test_vgg_term_on_with_a_local_weights_file(tmp_path):
  import keras

  path = str(tmp_path / "vgg19.weights.h5")
  keras.applications.VGG19(include_top=False, weights=None).save_weights(path)
  c = egan_spade_image.get_config("smoke")
  c.data.height = c.data.width = 32  # VGG19's five blocks need 32 pixels
  c.model.generator.args.up_mults = (2, 1)
  for d in c.model.discriminators.values():
    d.args.video_shape = (1, 32, 32, 3)
  c.objective.vgg_weights = path
  task = tasks.make_task(c)
  real = tf.random.stateless_uniform([2, 1, 32, 32, 3], [1, 1], -1, 1)
  assert task.vgg is not None
  assert float(tasks.perceptual_loss(task.vgg, real, real)) == pytest.approx(0.0)
  assert float(tasks.perceptual_loss(task.vgg, -real, real)) > 0


@pytest.mark.parametrize("name", ["egan_spade_image", "relive_segmentation_conditional"])
def test_shards_with_class_ids_the_generator_lacks_are_refused_before_training(tmp_path, name):
  module = {"egan_spade_image": egan_spade_image}.get(name, relive_segmentation_conditional)
  c = module.get_config("smoke")
  c.data.source, c.data.train_files = "tfrecord", str(tmp_path / "seg-*.tfrecord")
  (tmp_path / "seg-00000-of-00001.tfrecord").write_bytes(b"")
  classes = tasks.make_task(c).contract.classes
  assert classes and classes < 200
  manifest = tmp_path / ("seg" + record_format.MANIFEST_SUFFIX)

  def counted(*ids):
    manifest.write_text(json.dumps({"segmentation": {"class_pixels": {str(i): 5 for i in ids}}}))

  counted(0, classes - 1)
  assert tasks.make_task(c).contract.classes == classes
  counted(0, classes - 1, classes, 200, 255)  # a 256-class segmenter's ids, its ignore label
  with pytest.raises(errors.ConfigError) as e:
    tasks.make_task(c)
  assert f"below {classes} (model.generator.args.num_classes)" in str(e.value)
  assert f"ids {classes}, 200, 255 in the shards of {tmp_path}/seg.manifest.json" in str(e.value)
