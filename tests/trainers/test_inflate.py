"""trainers.inflate: a trained 2D run -> a 3D run's step-0 checkpoint that training resumes."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from configs import egan_dcgan_image
from configs import egan_dcgan_video
from configs import egan_resnet_image
from configs import egan_resnet_video
from trainers import errors
from trainers import inflate
from trainers import loop
from trainers import workdir as workdir_lib
from zoo import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def train_smoke(module, workdir, steps=2):
  c = module.get_config("smoke")
  c.train.steps, c.train.sample_every = steps, 0
  return loop.run(c, workdir)


def restore_discriminator(workdir, name="d"):
  config = workdir_lib.load_config(workdir)
  d = workdir_lib.build_network(config.model.discriminators[name])
  d.build((None,) + tuple(d.video_shape))
  ckpt = tf.train.Checkpoint(**{f"discriminator_{name}": registry.weights_in_order(d)})
  ckpt.restore(workdir_lib.latest_checkpoint(workdir)).expect_partial()
  return d


@pytest.fixture(scope="module")
def dcgan_run(tmp_path_factory):
  """A 2D DCGAN smoke run (frame mode, hinge) trained 2 steps."""
  workdir = str(tmp_path_factory.mktemp("dcgan2d"))
  train_smoke(egan_dcgan_image, workdir)
  return workdir


def test_cli_writes_the_inflated_step_0(dcgan_run, tmp_path):
  workdir = str(tmp_path / "dcgan3d")
  env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2")
  config = os.path.join(ROOT, "configs", "egan_dcgan_video.py") + ":smoke"
  subprocess.run(
    [
      sys.executable,
      "-m",
      "trainers.inflate",
      f"--from={dcgan_run}",
      f"--config={config}",
      f"--workdir={workdir}",
    ],
    check=True,
    cwd=ROOT,
    env=env,
    timeout=300,
  )
  path = workdir_lib.latest_checkpoint(workdir)
  assert path.endswith("ckpt-0")
  # weights_in_order covers spectral norm's state (Keras's vector_u) in the checkpoint.
  assert any("vector_u" in name for name, _ in tf.train.list_variables(path))
  assert workdir_lib.load_config(workdir).model.generator.name == "egan_dcgan_generator_3d"
  d2, d3 = restore_discriminator(dcgan_run), restore_discriminator(workdir)
  frame = tf.random.stateless_uniform([2, 1, 16, 16, 3], seed=[1, 1], minval=-1, maxval=1)
  clip = tf.tile(frame, [1, d3.video_shape[0], 1, 1, 1])
  np.testing.assert_allclose(d3(clip), d2(frame), rtol=1e-5, atol=1e-6)


def test_an_inflation_stopped_while_it_saves_leaves_no_run_to_train_from_scratch(
  dcgan_run, tmp_path, monkeypatch
):
  # Before: config.json was written first; Ctrl-C (or a full disk) in the checkpoint's save
  # left it alone, a workdir like a fresh run's, and trainers.train there started the 3D run
  # from random weights without a word.
  def stopped(self, file_prefix, options=None):
    raise KeyboardInterrupt

  c = egan_dcgan_video.get_config("smoke")
  workdir = str(tmp_path / "dcgan3d")
  monkeypatch.setattr(workdir_lib.AtomicCheckpoint, "_write", stopped)
  with pytest.raises(KeyboardInterrupt):
    inflate.inflate_workdir(dcgan_run, c, workdir)
  assert not os.path.exists(os.path.join(workdir, workdir_lib.CONFIG_FILE))
  monkeypatch.undo()
  assert inflate.inflate_workdir(dcgan_run, c, workdir).endswith("ckpt-0")  # again, in full
  assert workdir_lib.load_config(workdir).model.generator.name == "egan_dcgan_generator_3d"


def test_inflating_into_a_workdir_a_run_holds_is_refused(dcgan_run, tmp_path):
  # Before: inflate took no lock, and wrote its step 0 beside a trainer just started there.
  workdir = str(tmp_path / "dcgan3d")
  os.makedirs(workdir)
  with workdir_lib.WorkdirLock(workdir):
    with pytest.raises(errors.WorkdirLockedError, match=f"pid {os.getpid()}"):
      inflate.inflate_workdir(dcgan_run, egan_dcgan_video.get_config("smoke"), workdir)
  assert not workdir_lib.checkpoint_paths(workdir_lib.checkpoint_dir(workdir))
  assert inflate.inflate_workdir(dcgan_run, egan_dcgan_video.get_config("smoke"), workdir).endswith(
    "ckpt-0"
  )
  assert (tmp_path / "dcgan3d" / workdir_lib.LOCK_FILE).read_text() == ""  # released


@pytest.mark.slow
def test_resnet_recipe_pretrain_inflate_fine_tune(tmp_path):
  image_dir, video_dir = str(tmp_path / "resnet2d"), str(tmp_path / "resnet3d")
  train_smoke(egan_resnet_image, image_dir)
  c = egan_resnet_video.get_config("smoke")
  c.train.steps, c.train.sample_every = 2, 0
  inflate.inflate_workdir(image_dir, c, video_dir)
  g2, _, _ = workdir_lib.restore_generator(image_dir)  # the EMA generators of both runs
  g3, _, _ = workdir_lib.restore_generator(video_dir)
  z = tf.random.stateless_normal([2, g2.latent_dim], seed=[4, 2])
  np.testing.assert_allclose(g3(z), tf.tile(g2(z), [1, g3.video_shape[0], 1, 1, 1]), atol=3e-5)
  trainer = loop.run(c, video_dir)  # fine-tunes from the inflated step 0
  assert trainer.restored.endswith("ckpt-0") and trainer.current_step() == 2
  with pytest.raises(FileExistsError, match="without checkpoints"):
    inflate.inflate_workdir(image_dir, c, video_dir)
