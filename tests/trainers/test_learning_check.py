"""trainers.learning_check: the chunked run, table and plot on tiny networks (fast), and the
learning targets on the real configs (slow, `-m slow`)."""

import importlib.util
import json
import os

import keras
import numpy as np
from PIL import Image
import pytest

import eval_helpers
import trainer_helpers
from trainers import learning_check

pytestmark = pytest.mark.usefixtures("one_blas_thread")
one_blas_thread = eval_helpers.one_blas_thread  # the fixture, used by pytestmark

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _float32_policy():
  yield
  keras.config.set_dtype_policy("float32")


def test_eval_points():
  assert learning_check.eval_points(0, 10, 4) == [0, 4, 8, 10]
  assert learning_check.eval_points(5, 10, 4) == [5, 8, 10]
  assert learning_check.eval_points(10, 10, 4) == [10]
  with pytest.raises(ValueError, match="--every >= 1"):
    learning_check.eval_points(0, 10, 0)


def test_tiny_image_to_video_run_writes_table_and_plot(tmp_path):
  wd = str(tmp_path)
  c = trainer_helpers.tiny_config(steps=2, ema_decay=0.5)
  c.model.generator.args.condition = "image"
  c.model.generator.args.two_stream = True
  c.objective.condition = "first_frame"
  result = learning_check.run_check(c, wd, steps=2, every=2, num_videos=8, batch_size=4)
  assert result["steps"] == [0, 2] and len(result["rows"]) == 2
  assert all(r["fd_r3d"] > 0 and 0.0 <= r["mask_iou"] <= 1.0 for r in result["rows"])
  assert result["targets"] == {} and result["ok"]  # no learning target for the tiny network
  written = json.load(open(os.path.join(wd, "learning_check.json")))
  assert [r["step"] for r in written["rows"]] == [0, 2]
  assert written["protocol"]["metric"] == "FD-R3D" and written["protocol"]["num_videos"] == 8
  with Image.open(os.path.join(wd, "learning_check.png")) as image:
    assert image.size == learning_check.PLOT_SIZE and image.mode == "RGB"
    pixels = np.asarray(image)
  assert (pixels < 128).any() and (pixels == 255).all(axis=-1).mean() > 0.5  # drawn, not blank
  table = learning_check.format_table(result)
  assert "FD-R3D drop" in table and "mask IoU" in table
  # Rerunning on the finished workdir measures once, at the end, with the same clips.
  again = learning_check.run_check(c, wd, steps=2, every=2, num_videos=8, batch_size=4, write=False)
  assert again["steps"] == [2]
  assert again["rows"][0]["fd_r3d"] == pytest.approx(result["rows"][1]["fd_r3d"], rel=1e-5)
  assert again["rows"][0]["mask_iou"] == pytest.approx(result["rows"][1]["mask_iou"])


def test_stop_request_ends_the_check_with_a_checkpoint_and_no_verdict(tmp_path, monkeypatch):
  """Ctrl-C / SIGTERM in a chunk stops the whole check (it used to start the next chunk)."""
  from trainers import loop

  wd = str(tmp_path)
  c = trainer_helpers.tiny_config(steps=4)
  requested = loop._StopRequest()
  requested.requested = True
  monkeypatch.setattr(loop._StopRequest, "__enter__", lambda self: requested)
  with pytest.raises(learning_check.StoppedError, match="Stopped on request at step 1 of 4"):
    learning_check.run_check(c, wd, steps=4, every=2, num_videos=8, batch_size=4)
  assert not os.path.exists(os.path.join(wd, "learning_check.json"))
  monkeypatch.undo()
  result = learning_check.run_check(
    c, wd, steps=4, every=2, num_videos=8, batch_size=4, write=False
  )
  assert result["steps"] == [1, 2, 4]  # resumed from the saved step


def test_verdicts_and_plot_edge_cases(tmp_path):
  rows = [{"step": 0, "fd_r3d": 10.0, "mask_iou": 0.1}, {"step": 9, "fd_r3d": 4.0, "mask_iou": 0.6}]
  assert learning_check._verdicts("vgan_two_stream", rows) == (
    {"fd_r3d_drop": 0.5},
    {"fd_r3d_drop": True},
  )
  assert learning_check._verdicts("vgan_two_stream", [rows[0], dict(rows[1], fd_r3d=6.0)])[1] == {
    "fd_r3d_drop": False
  }
  assert learning_check._verdicts("vgan_image_to_video", rows[:1]) == (
    {"mask_iou": 0.5},
    {"mask_iou": False},
  )
  assert learning_check._ticks(2.5, 12.3) == [2.5, 5.0, 7.5, 10.0, 12.5]
  path = learning_check.plot_curves(
    str(tmp_path / "p.png"), [0, 1], {"a": [1.0, float("nan")], "b": [0.5, 0.5]}, size=(300, 200)
  )
  with Image.open(path) as image:
    assert image.size == (300, 200)


def _load_config(name, arg=""):
  spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "configs", name + ".py"))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config(arg)


@pytest.mark.slow
def test_quickstart_two_stream_fd_r3d_halves(tmp_path):
  """FD-R3D falls by >= 50% for vgan_two_stream within the quickstart budget."""
  c = _load_config("quickstart")
  result = learning_check.run_check(c, str(tmp_path), num_videos=256)
  assert result["generator"] == "vgan_two_stream"
  assert result["passed"] == {"fd_r3d_drop": True}, learning_check.format_table(result)


@pytest.mark.slow
def test_image_to_video_mask_iou(tmp_path):
  """Mask IoU >= 0.5 for vgan_image_to_video (the smoke networks, 2000 steps)."""
  c = _load_config("vgan_image_to_video", "smoke")
  c.train.batch_size = 16
  c.data.synthetic.max_shapes = 2
  result = learning_check.run_check(c, str(tmp_path), steps=2000, every=500, num_videos=256)
  assert result["passed"] == {"mask_iou": True}, learning_check.format_table(result)
