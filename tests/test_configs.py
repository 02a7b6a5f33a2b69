"""Every config loads by name through trainers.config_files, and its smoke version builds."""

from absl import flags
import pytest
import tensorflow as tf

from configs import common
from trainers import config_files
from trainers import tasks
from trainers import workdir as workdir_lib

CONFIGS = config_files.names()


def load(spec, arg="", overrides=()):
  """Parses --config=SPEC[:arg] plus overrides exactly as trainers.train does."""
  argv = ["train", f"--config={spec}" + (f":{arg}" if arg else ""), *overrides]
  fv = flags.FlagValues()
  config_files.define_flag("config", flag_values=fv, sys_argv=argv)
  fv(argv)
  return fv.config


def test_there_are_configs():
  assert {"quickstart", "vgan_one_stream", "vgan_two_stream", "vgan_image_to_video"} <= set(CONFIGS)
  assert "common" not in CONFIGS


@pytest.mark.parametrize("name", CONFIGS)
def test_full_config_loads_with_paper_values(name):
  c = load(name)
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


@pytest.mark.parametrize("name", CONFIGS)
def test_smoke_config_builds_its_models(name):
  c = load(name, "smoke")
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


def test_command_line_overrides():
  c = load("vgan_two_stream", "smoke", ["--config.train.steps=7", "--config.optimizer.g_lr=0.001"])
  assert c.train.steps == 7 and c.optimizer.g_lr == 0.001


def test_paper_hyperparameters_vgan():
  c = load("vgan_two_stream")
  assert (c.train.batch_size, c.optimizer.g_lr, c.optimizer.beta1) == (64, 2e-4, 0.5)
  assert c.objective.mask_sparsity == 0.1 and c.objective.gan_loss == "non_saturating"
  i2v = load("vgan_image_to_video")
  assert (i2v.train.batch_size, i2v.objective.recon_loss, i2v.objective.recon_weight) == (
    32,
    "l1",
    10.0,
  )


def test_generator_of_a_saved_workdir_config_rebuilds(tmp_path):
  c = load("vgan_one_stream", "smoke")
  workdir_lib.save_config(c, str(tmp_path))
  g = workdir_lib.build_generator(workdir_lib.load_config(str(tmp_path)))
  assert g.video_shape == (8, 16, 16, 3)


def test_image_to_video_quickstart_argument_is_the_quickstart_scale():
  c = load("vgan_image_to_video", "quickstart")
  assert (c.data.num_frames, c.data.height, c.data.width) == (16, 32, 32)
  assert c.train.batch_size == 16 and c.train.steps == 1200 and c.train.ema_decay == 0.995
  with pytest.raises(config_files.cli.UserError, match="smoke or quickstart"):
    load("vgan_image_to_video", "smoke,quickstart")


def test_arguments_with_values():
  assert load("radner_style", "resolution=256,smoke").data.height == 16  # smoke shrinks
  full = load("radner_style", "resolution=256")
  assert (full.data.height, full.data.source) == (256, "tfrecord")
  small = load("egan_spade_image", "size=small,vae")
  assert small.model.generator.args.size == "small" and small.objective.kl_weight == 0.05
  video = load("egan_spade_video", "size=small")
  assert video.model.generator.args.size == "small" and video.objective.kl_weight == 0.0


def test_parse_arg_defaults_words_and_values():
  arg = common.parse_arg(None, smoke=False, size="mid", frames=8, lr=0.5)
  assert arg.to_dict() == {"smoke": False, "size": "mid", "frames": 8, "lr": 0.5}
  arg = common.parse_arg(
    "smoke, frames=4,size=small,lr=1e-3", smoke=False, size="mid", frames=8, lr=0.5
  )
  assert arg.to_dict() == {"smoke": True, "size": "small", "frames": 4, "lr": 1e-3}
  assert common.parse_arg("smoke=false", smoke=True).smoke is False


@pytest.mark.parametrize(
  "arg, match",
  [
    ("smok", "received 'smok' \\(did you mean 'smoke'\\?\\)"),
    ("frames", "Expected frames=VALUE \\(int\\)"),
    ("frames=eight", "Expected frames=VALUE of type int, received 'eight'"),
    ("smoke=maybe", "of type bool, received 'maybe'"),
  ],
)
def test_parse_arg_errors_name_the_key(arg, match):
  with pytest.raises(ValueError, match=match):
    common.parse_arg(arg, smoke=False, frames=8)
