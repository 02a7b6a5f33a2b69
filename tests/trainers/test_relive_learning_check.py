"""For next-frame predictors the learning check reports MSE against the
copy-the-last-frame baseline on the same clips (the metric here; the full checks are the slow
tests of test_learning_check.py)."""

import json
import os

import keras
import pytest

from configs import relive_cnn_next_frame
from trainers import learning_check


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


def test_predictor_check_reports_mse_against_copy_last_frame(tmp_path):
  c = relive_cnn_next_frame.get_config("smoke")
  c.train.sample_every = 0
  wd = str(tmp_path)
  result = learning_check.run_check(c, wd, steps=1, every=1, num_videos=4, batch_size=2)
  assert result["steps"] == [0, 1] and result["protocol"]["metric"] == "MSE vs copy-last-frame"
  first, last = result["rows"]
  for row in result["rows"]:
    assert row["mse_one_step"] > 0 and row["mse_copy_last"] > 0
    assert row["mse_vs_copy_last"] == pytest.approx(row["mse_one_step"] / row["mse_copy_last"])
    assert "fd_r3d" not in row
  # The same clips at every measurement: the baselines do not move, the model does.
  assert last["mse_copy_last"] == pytest.approx(first["mse_copy_last"])
  assert last["mse_copy_last_recursive"] == pytest.approx(first["mse_copy_last_recursive"])
  assert last["mse_one_step"] != first["mse_one_step"]
  assert result["targets"] == {"mse_vs_copy_last": ["<", 1.0], "rollout_vs_copy_last": ["<", 1.0]}
  assert result["verdicts"]["mse_vs_copy_last"] == (
    "pass" if last["mse_vs_copy_last"] < 1.0 else "fail"
  )
  # The rollout runs ROLLOUT_STEPS frames past the context, whatever the training clips' T.
  assert last["rollout_vs_copy_last"] == pytest.approx(
    last["mse_recursive"] / last["mse_copy_last_recursive"]
  )
  written = json.load(open(os.path.join(wd, learning_check.RESULT_FILE)))
  assert written["rows"][1]["mse_copy_last"] == pytest.approx(last["mse_copy_last"])
  assert os.path.exists(os.path.join(wd, learning_check.PLOT_FILE))
  assert "mse_vs_copy_last" in learning_check.format_table(result)
