"""Radner's generator through the one export path: animate(image, num_frames), TFLite too."""

import os

from ai_edge_litert import interpreter as litert
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from configs import common
from export import animate as animate_lib
from export import export as export_lib
from trainers import workdir as workdir_lib
from zoo import registry


def fake_workdir(path, generator_entry):
  """A workdir as the trainer leaves it (config.json + a checkpoint of fresh weights)."""
  c = common.base()
  c.model.generator = generator_entry
  workdir_lib.save_config(c, path)
  generator = workdir_lib.build_generator(c)
  ckpt = tf.train.Checkpoint(generator=registry.weights_in_order(generator))
  tf.train.CheckpointManager(ckpt, workdir_lib.checkpoint_dir(path), 1).save(1)
  return generator


def test_style_generator_exports_animate_with_num_frames(tmp_path):
  wd = str(tmp_path / "wd")
  fake_workdir(
    wd,
    common.network("radner_style_generator", resolution=16, ch=2, multipliers=(2, 1), num_frames=4),
  )
  result = export_lib.export_workdir(
    wd, str(tmp_path / "out"), formats=("saved_model", "tflite"), tflite_variants=("float32",)
  )
  saved = result["saved_model"]["verification"]
  assert saved["passed"] and saved["worst"] <= 1e-5
  inputs = saved["fresh_process"]["signatures"]["animate"]["inputs"]
  assert set(inputs) == {"image", "num_frames"}
  # The check asked for 6 frames from a 4-frame model, through the served signature.
  assert saved["max_abs_diff"]["animate/video"] <= 1e-5
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  out = loaded.signatures["animate"](
    image=tf.zeros([1, 20, 30, 3], tf.uint8), num_frames=tf.constant(9)
  )
  assert tuple(out["video_uint8"].shape) == (1, 9, 16, 16, 3)
  # TFLite: num_frames is an input too, checked at the training length and two more.
  lite = result["tflite"]["verification"]
  assert lite["passed"] and lite["worst"] <= 1e-4
  figures = lite["max_abs_diff"]
  assert set(figures) == {"float32[num_frames=4]/video", "float32[num_frames=6]/video"}
  assert max(figures.values()) <= 1e-4
  assert lite["select_tf_ops"] == {"float32": []}  # the GRU loops are builtin WHILE ops
  signature = lite["fresh_process"]["signatures"]["float32[num_frames=6]"]["serving_default"]
  assert signature["inputs"] == ["image", "num_frames"]
  path = os.path.join(result["tflite"]["path"], "radner_style_generator_float32.tflite")
  runner = litert.Interpreter(model_path=path).get_signature_runner()
  out = runner(image=np.zeros([1, 16, 16, 3], np.float32), num_frames=np.int32(9))
  assert out["video"].shape == (1, 9, 16, 16, 3)


@pytest.mark.parametrize("conditional", [False, True])
def test_dvdgan_s_tflite_takes_num_frames(tmp_path, conditional):
  """The baseline shares the path: z (and the image) plus num_frames, checked at 4 and 6."""
  wd = str(tmp_path / "wd")
  fake_workdir(
    wd,
    common.network(
      "dvdgan_s",
      resolution=16,
      ch=2,
      multipliers=(2, 1),
      latent_dim=8,
      num_frames=4,
      conditional=conditional,
    ),
  )
  result = export_lib.export_workdir(
    wd, str(tmp_path / "out"), formats=("tflite",), tflite_variants=("float32",)
  )
  lite = result["tflite"]["verification"]
  assert lite["passed"] and set(lite["max_abs_diff"]) == {
    "float32[num_frames=4]/video",
    "float32[num_frames=6]/video",
  }
  assert max(lite["max_abs_diff"].values()) <= 1e-4
  signature = lite["fresh_process"]["signatures"]["float32[num_frames=4]"]["serving_default"]
  want = ["image", "num_frames", "z"] if conditional else ["num_frames", "z"]
  assert signature["inputs"] == want


def test_animate_cli_makes_any_number_of_frames(tmp_path):
  wd = str(tmp_path / "wd")
  fake_workdir(
    wd,
    common.network("radner_style_generator", resolution=16, ch=2, multipliers=(2, 1), num_frames=4),
  )
  photo = str(tmp_path / "photo.png")
  Image.fromarray(np.full((20, 30, 3), 128, np.uint8)).save(photo)
  clip = animate_lib.animate_file(wd, photo, str(tmp_path / "clip.gif"), num_frames=7)
  assert clip.shape == (7, 16, 16, 3) and os.path.isfile(tmp_path / "clip.gif")
  with pytest.raises(ValueError, match="Expected a generator that takes num_frames"):
    vgan = workdir_lib.build_generator(_vgan_image_to_video_config())
    animate_lib.animate(vgan, clip[0], num_frames=7)


def _vgan_image_to_video_config():
  c = common.base()
  c.model.generator = common.network(
    "vgan_image_to_video", encoder_widths=(4, 8), widths=(8, 4), background_widths=(4,)
  )
  return c
