"""trainers.evaluate_prediction: the Table 1 protocol on stand-in predictors (hand values) and on
saved workdirs (in-process; the CLI subprocess is `slow`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf

from configs import relive_cnn_next_frame
from configs import relive_segmentation_conditional
from trainers import evaluate_prediction
from trainers import workdir as workdir_lib
from zoo import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


class CopyThenZeros:
  """Teacher forcing copies the last frame; the rollout predicts zeros."""

  condition, context_frames = "frames", 2

  def teacher_forced(self, frames, training=False):
    del training
    return frames

  def rollout(self, frames, horizon, training=False):
    del training
    return tf.zeros_like(frames[:, :1]) * tf.ones([1, horizon, 1, 1, 1])


def test_predictor_protocol_hand_values():
  video = tf.random.stateless_uniform([3, 5, 12, 12, 3], [0, 1], -1, 1)
  batches = [{"video": video[:2]}, {"video": video[2:]}]
  result = evaluate_prediction.evaluate_predictor(CopyThenZeros(), batches, names=("mse",))
  v = video.numpy().astype(np.float64)
  copy = np.mean((v[:, :-1] - v[:, 1:]) ** 2)
  assert result["one_step"]["mse"] == pytest.approx(copy)
  assert result["copy_last_one_step"]["mse"] == pytest.approx(copy)
  assert result["recursive"]["mse"] == pytest.approx(np.mean(v[:, 2:] ** 2))
  assert result["copy_last_recursive"]["mse"] == pytest.approx(np.mean((v[:, 2:] - v[:, 1:2]) ** 2))
  assert len(result["recursive"]["mse_per_step"]) == 3  # frames 2, 3, 4


def saved_without_training(tmp_path, module, arg="smoke"):
  """A workdir as the trainer lays it out (config.json, checkpoints/ckpt-0) of an untrained
  generator: the protocol, not the model, is under test (the loop's runs are tested in
  test_relive_training.py)."""
  c = module.get_config(arg)
  wd = str(tmp_path / "wd")
  workdir_lib.save_config(c, wd)
  generator = workdir_lib.build_generator(c)
  ckpt = tf.train.Checkpoint(generator=registry.weights_in_order(generator))
  tf.train.CheckpointManager(ckpt, workdir_lib.checkpoint_dir(wd), 1).save(checkpoint_number=0)
  return wd


def test_predictor_workdir_reports_table1_metrics(tmp_path):
  wd = saved_without_training(tmp_path, relive_cnn_next_frame)
  result = evaluate_prediction.evaluate_workdir(wd, "synthetic:3", num_clips=3, batch_size=2)
  assert result["num_clips"] == 3 and result["generator"] == "relive_cnn_next_frame"
  results = result["results"]
  assert sorted(results) == ["copy_last_one_step", "copy_last_recursive", "one_step", "recursive"]
  for metrics in results.values():
    assert {"mse", "psnr", "ssim"} <= set(metrics) and metrics["mse"] > 0
  assert len(results["recursive"]["mse_per_step"]) == 7  # 8 frames, 1 of context
  assert result["report_table1_mse"]["lstm_recursive"] == 0.24
  json.dumps(result)  # JSON-ready


@pytest.mark.slow
def test_conditional_workdir_through_the_cli(tmp_path):
  wd = saved_without_training(tmp_path, relive_segmentation_conditional)
  out = str(tmp_path / "table1.json")
  proc = subprocess.run(
    [
      sys.executable,
      "-m",
      "trainers.evaluate_prediction",
      f"--workdir={wd}",
      "--data=synthetic",
      "--num_clips=4",
      "--batch_size=2",
      f"--out={out}",
    ],
    cwd=ROOT,
    capture_output=True,
    text=True,
    timeout=600,
    env=dict(os.environ, PYTHONPATH=ROOT),
  )
  assert proc.returncode == 0, proc.stderr[-2000:]
  result = json.load(open(out))
  assert result["num_clips"] == 4 and list(result["results"]) == ["generated"]
  assert len(result["results"]["generated"]["mse_per_step"]) == 8
  assert json.loads(proc.stdout)["results"]["generated"]["mse"] == pytest.approx(
    result["results"]["generated"]["mse"]
  )
