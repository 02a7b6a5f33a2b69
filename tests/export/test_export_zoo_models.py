"""The real VGAN generators, trained a step by the real loop, go through the one export path."""

import os

import pytest

from export import export as export_lib
from trainers import config_files
from trainers import loop


@pytest.mark.parametrize(
  "config,formats",
  [
    ("vgan_two_stream", ("saved_model",)),
    ("vgan_image_to_video", ("saved_model",)),
    ("vgan_autoencoder_gmm", ("saved_model", "tflite")),  # the GMM mapping must convert
  ],
)
def test_smoke_model_exports_and_verifies(tmp_path, config, formats):
  c = config_files.load(f"{config}:smoke")
  c.train.steps = 1
  c.train.sample_every = 0
  wd = str(tmp_path / "wd")
  loop.run(c, wd)
  result = export_lib.export_workdir(
    wd, str(tmp_path / "out"), formats=formats, tflite_variants=("float32",)
  )
  for fmt in formats:
    assert os.path.isdir(result[fmt]["path"])
    worst = result[fmt]["verification"]["worst"]
    assert worst <= (1e-4 if fmt == "tflite" else 1e-5), (fmt, worst)
