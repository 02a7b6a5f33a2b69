"""Every config file loads through absl's config_flags, and its smoke version builds."""

import glob
import os

from absl import flags
from ml_collections import config_flags
import pytest
import tensorflow as tf

from trainers import tasks
from trainers import workdir as workdir_lib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(p for p in glob.glob(os.path.join(ROOT, "configs", "*.py"))
                 if os.path.basename(p) not in ("common.py", "__init__.py"))


def load(path, arg="", overrides=()):
  """Parses --config=PATH[:arg] plus overrides exactly as trainers.train does."""
  argv = [__file__, f"--config={path}" + (f":{arg}" if arg else ""), *overrides]
  fv = flags.FlagValues()
  config_flags.DEFINE_config_file("config", None, "", flag_values=fv, lock_config=True,
                                  sys_argv=argv)
  fv(argv)
  return fv.config


def test_there_are_configs():
  names = {os.path.basename(p) for p in CONFIGS}
  assert {"quickstart.py", "vgan_one_stream.py", "vgan_two_stream.py",
          "vgan_image_to_video.py"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_full_config_loads_with_paper_values(path):
  c = load(path)
  assert c.model.generator.name
  assert c.train.steps > 0 and c.train.batch_size > 0


def example_batch(c, task, size=1, frames=tf.zeros):
  """A batch shaped as the pipeline yields it for config `c` and the task's data outputs.

  video [size, T, H, W, 3] (T = 1 in frame mode: one-frame clips for image models); label
  int32 [size]; segmentation int32 class ids [size, H, W]; any other output a frame
  [size, H, W, 3]. Float tensors come from `frames(shape)`.
  """
  t, h, w = c.data.num_frames, c.data.height, c.data.width
  t = 1 if c.data.get("frame_mode", False) else t
  batch = {"video": frames([size, t, h, w, 3])}
  for key in task.data_outputs:
    if key == "label":
      batch[key] = tf.zeros([size], tf.int32)
    elif key == "segmentation":
      batch[key] = tf.zeros([size, h, w], tf.int32)
    else:
      batch[key] = frames([size, h, w, 3])
  return batch


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_smoke_config_builds_its_models(path):
  c = load(path, "smoke")
  assert c.train.steps <= 10
  task = tasks.make_task(c)
  batch = example_batch(c, task)
  _, t, h, w, _ = batch["video"].shape  # t = 1 in frame mode
  task.build(batch)
  video = task.generator(task.generator_inputs(batch, tf.constant([0, 0])), training=False)
  if hasattr(task.generator, "num_classes"):  # a classifier in the generator slot
    assert tuple(video.shape) == (1, task.generator.num_classes)
    assert tuple(task.generator.video_shape) == (t, h, w, 3)
    return
  assert tuple(video.shape[1:]) == (t, h, w, 3) == tuple(task.generator.video_shape)
  for d in task.discriminators.values():  # [B, 1], or [B, patches] for a PatchGAN
    logits = d(video, condition=task.condition(batch))
    assert logits.shape[0] == 1 and logits.shape.rank == 2


def test_command_line_overrides_and_bad_argument():
  path = os.path.join(ROOT, "configs", "vgan_two_stream.py")
  c = load(path, "smoke", ["--config.train.steps=7", "--config.optimizer.g_lr=0.001"])
  assert c.train.steps == 7 and c.optimizer.g_lr == 0.001
  with pytest.raises(Exception, match="smok"):
    load(path, "smok")


def test_paper_hyperparameters_vgan():
  c = load(os.path.join(ROOT, "configs", "vgan_two_stream.py"))
  assert (c.train.batch_size, c.optimizer.g_lr, c.optimizer.beta1) == (64, 2e-4, 0.5)
  assert c.objective.mask_sparsity == 0.1 and c.objective.gan_loss == "non_saturating"
  i2v = load(os.path.join(ROOT, "configs", "vgan_image_to_video.py"))
  assert (i2v.train.batch_size, i2v.objective.recon_loss, i2v.objective.recon_weight) == (
      32, "l1", 10.0)


def test_generator_of_a_saved_workdir_config_rebuilds(tmp_path):
  c = load(os.path.join(ROOT, "configs", "vgan_one_stream.py"), "smoke")
  workdir_lib.save_config(c, str(tmp_path))
  g = workdir_lib.build_generator(workdir_lib.load_config(str(tmp_path)))
  assert g.video_shape == (8, 16, 16, 3)


def test_image_to_video_quickstart_argument_is_the_quickstart_scale():
  c = load(os.path.join(ROOT, "configs", "vgan_image_to_video.py"), "quickstart")
  assert (c.data.num_frames, c.data.height, c.data.width) == (16, 32, 32)
  assert c.train.batch_size == 16 and c.train.steps == 2000
  from configs import vgan_image_to_video  # pylint: disable=import-outside-toplevel
  with pytest.raises(ValueError, match="'quickstart', received 'bogus'"):
    vgan_image_to_video.get_config("bogus")
