"""(Re)live Photos models through the one export path: a predictor's predict(frames, horizon)
(SavedModel, and TFLite with the LSTM unrolled into builtin ops) and a conditional WGAN's
animate(image), each verified for parity in a fresh process by export.verify."""

import os

import numpy as np
import pytest
import tensorflow as tf

from export import export as export_lib
from export import signatures
from export import tflite
from trainers import loop
from tests_config_loader import load_config
import test_export_helpers as helpers


def trained_workdir(tmp_path, name, arg="smoke"):
  c = load_config(name, arg)
  c.train.steps = 1
  c.train.sample_every = 0
  c.objective.d_steps = 1
  wd = str(tmp_path / "wd")
  loop.run(c, wd)
  return wd


def test_lstm_predict_signature_and_tflite_parity(tmp_path):
  """The smoke LSTM's workdir (written as the trainer lays it out; the loop's own run is in
  tests/trainers/test_relive_training.py) through export_workdir."""
  args = load_config("relive_lstm", "smoke").model.generator.args.to_dict()
  wd, _, _ = helpers.make_workdir(str(tmp_path / "wd"), "relive_lstm", **args)
  result = export_lib.export_workdir(wd, str(tmp_path / "out"), formats=("saved_model", "tflite"),
                                     tflite_variants=("float32",))
  assert result["saved_model"]["verification"]["worst"] <= 1e-5
  assert result["tflite"]["verification"]["worst"] <= 1e-4
  assert result["tflite"]["verification"]["select_tf_ops"] == {"float32": []}  # builtin ops
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert sorted(loaded.signatures) == ["predict", "serving_default"]
  frames = np.zeros([1, 1, 16, 16, 3], np.uint8)
  out = loaded.signatures["predict"](frames=frames, horizon=tf.constant(3))
  assert tuple(out["video"].shape) == (1, 3, 16, 16, 3)
  assert out["video_uint8"].dtype == tf.uint8


def test_predict_signature_spec():
  from zoo import registry  # pylint: disable=g-import-not-at-top
  p = registry.build("relive_cnn_next_frame", video_shape=(4, 16, 16, 3),
                     encoder_widths=(4, 8), decoder_widths=(4,))
  p(tf.zeros([1, 1, 16, 16, 3]))
  module = signatures.GeneratorModule(p)
  frames, horizon = module.predict.input_signature
  assert (frames.dtype, frames.shape.as_list(), horizon.dtype, horizon.shape.rank) == (
      tf.uint8, [None, 1, 16, 16, 3], tf.int32, 0)
  out = module.predict(tf.zeros([2, 1, 16, 16, 3], tf.uint8), tf.constant(5))
  assert tuple(out["video"].shape) == (2, 5, 16, 16, 3)  # beyond the training length too
  assert tflite.flex_ops(tflite.convert(p, "float32")[0]) == []


@pytest.mark.slow
@pytest.mark.parametrize("name", ["relive_conditional_wgan", "relive_convlstm"])
def test_other_relive_models_export(tmp_path, name):
  wd = trained_workdir(tmp_path, name)
  formats = ("saved_model",) if name == "relive_conditional_wgan" else ("saved_model", "tflite")
  result = export_lib.export_workdir(wd, str(tmp_path / "out"), formats=formats,
                                     tflite_variants=("float32",))
  for fmt in formats:
    assert os.path.isdir(result[fmt]["path"])
  loaded = tf.saved_model.load(result["saved_model"]["path"])
  assert ("animate" if name == "relive_conditional_wgan" else "predict") in loaded.signatures
