"""trainers.learning_check: the chunked run, table and plot on tiny networks (fast), and the
learning targets on the real configs (slow, `-m slow`)."""

import json
import os
import subprocess
import sys

import keras
import numpy as np
from PIL import Image
import pytest

import eval_helpers
import trainer_helpers
from trainers import learning_check

pytestmark = pytest.mark.usefixtures("one_blas_thread")
one_blas_thread = eval_helpers.one_blas_thread  # the fixture, used by pytestmark


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


def test_tiny_image_to_video_run_writes_table_baselines_and_plot(tmp_path):
  wd = str(tmp_path)
  c = trainer_helpers.tiny_config(steps=2, ema_decay=0.5)
  c.model.generator.args.condition = "image"
  c.model.generator.args.two_stream = True
  c.objective.condition = "first_frame"
  c.data.synthetic.motion = "by_appearance"
  result = learning_check.run_check(c, wd, steps=2, every=2, num_videos=8, batch_size=4)
  assert result["kind"] == "conditioned" and result["steps"] == [0, 2]
  assert len(result["rows"]) == 2
  for r in result["rows"]:
    assert r["fd_r3d"] > 0 and 0.0 <= r["mask_iou"] <= 1.0
    assert r["cond_error"] > 0 and r["motion_real"] > 0
    assert r["motion_ratio"] == pytest.approx(r["motion"] / r["motion_real"])
  # Baselines on the same clips, measured once: the real clips do not change between rows.
  assert result["rows"][0]["motion_real"] == result["rows"][1]["motion_real"]
  fd = result["baselines"]["fd_r3d"]
  assert 0 < fd["floor"] < fd["static"] and fd["motion_real"] > 0
  assert result["baselines"]["mask_iou"]["oracle"] == 1.0
  assert result["baselines"]["mask_iou"]["oracle_reads"] == "appearance"
  assert set(result["targets"]) == {"cond_error_drop", "motion_ratio", "mask_iou"}
  assert set(result["verdicts"]) == set(result["targets"])
  assert result["ok"] == ("fail" not in result["verdicts"].values())
  written = json.load(open(os.path.join(wd, "learning_check.json")))
  assert [r["step"] for r in written["rows"]] == [0, 2]
  assert written["protocol"]["metric"] == "FD-R3D" and written["protocol"]["num_videos"] == 8
  with Image.open(os.path.join(wd, "learning_check.png")) as image:
    assert image.size == (720, 60 + 150 * 4) and image.mode == "RGB"  # a panel per series
    pixels = np.asarray(image)
  assert (pixels < 128).any() and (pixels == 255).all(axis=-1).mean() > 0.5  # drawn, not blank
  table = learning_check.format_table(result)
  assert "mask_iou" in table and "baselines of fd_r3d: floor" in table and "oracle 1" in table
  # Rerunning on the finished workdir measures once, at the end, with the same clips.
  again = learning_check.run_check(c, wd, steps=2, every=2, num_videos=8, batch_size=4, write=False)
  assert again["steps"] == [2]
  assert again["rows"][0]["fd_r3d"] == pytest.approx(result["rows"][1]["fd_r3d"], rel=1e-5)
  assert again["rows"][0]["mask_iou"] == pytest.approx(result["rows"][1]["mask_iou"])
  assert again["baselines"]["fd_r3d"]["floor"] == pytest.approx(fd["floor"], rel=1e-5)


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


def test_values_and_verdicts_from_rows():
  rows = [
    {"step": 0, "fd_r3d": 10.0, "cond_error": 0.4, "motion_ratio": 0.1, "mask_iou": 0.1},
    {"step": 9, "fd_r3d": 4.0, "cond_error": 0.1, "motion_ratio": 2.5, "mask_iou": 0.6},
  ]
  values = learning_check.summary_values(rows)
  assert values == pytest.approx(
    {"fd_r3d_drop": 0.6, "cond_error_drop": 0.75, "motion_ratio": 2.5, "mask_iou": 0.6}
  )
  targets = dict(learning_check.TARGETS["conditioned"], **learning_check.MASK_TARGET)
  reachable = {"mask_iou": {"static": 0.3, "oracle": 1.0}}
  assert learning_check.verdicts(targets, values, reachable) == {
    "cond_error_drop": "pass",
    "motion_ratio": "fail",  # moves 2.5 times as much as the real clips
    "mask_iou": "pass",
  }
  # A target above what its oracle scores is neither passed nor failed.
  capped = learning_check.verdicts(targets, values, {"mask_iou": {"oracle": 0.33}})
  assert capped["mask_iou"] == "unreachable"
  unconditional = learning_check.TARGETS["unconditional"]
  assert learning_check.verdicts(unconditional, {"fd_r3d_drop": 0.49}, {}) == {
    "fd_r3d_drop": "fail"
  }
  assert learning_check.verdicts(unconditional, {}, {}) == {"fd_r3d_drop": "fail"}


def test_every_check_names_a_config_that_loads_with_its_overrides():
  for name, check in learning_check.CHECKS.items():
    c = learning_check.check_config(name)
    assert name in (check.config.split(":")[0], c.model.generator.name), check.config
    # One trainer spans the whole budget (run_check), so a decay ends at the check's last step.
    schedule = c.optimizer.get("schedule", "constant")
    assert schedule in ("constant", "linear_decay"), name
    if schedule == "linear_decay":
      assert c.optimizer.schedule_start_step < check.steps, name
      assert learning_check._budget_config(c, check.steps).train.steps == check.steps
    assert 0 < check.every <= check.steps and c.train.checkpoint_every <= check.every
    for field, value in dict(check.overrides).items():  # applied in order: the last one holds
      node = c
      for part in field.split("."):
        node = node[part]
      assert node == value, (name, field)
  with pytest.raises(ValueError, match="Expected a model among"):
    learning_check.check_config("nope")


def test_plot_edge_cases(tmp_path):
  assert learning_check._ticks(2.5, 12.3) == [2.5, 5.0, 7.5, 10.0, 12.5]
  path = learning_check.plot_curves(
    str(tmp_path / "p.png"), [0, 1], {"a": [1.0, float("nan")], "b": [0.5, 0.5]}, size=(300, 200)
  )
  with Image.open(path) as image:
    assert image.size == (300, 200)
  path = learning_check.plot_panels(
    str(tmp_path / "q.png"),
    [{"name": "x", "steps": [0, 5], "values": [None, 2.0], "lines": {"floor": 0.5}}],
  )
  with Image.open(path) as image:
    assert image.size == learning_check.PLOT_SIZE


def test_all_writes_one_table_and_one_picture_for_two_models(tmp_path):
  """A miniature of `--all`: two models, a few steps each, few clips."""
  wd = str(tmp_path)
  summary = learning_check.run_all(
    wd, ["vgan_one_stream", "relive_cnn_next_frame"], num_videos=8, batch_size=8, steps=30
  )
  models = summary["models"]
  assert list(models) == ["vgan_one_stream", "relive_cnn_next_frame"]
  assert all("error" not in r for r in models.values()), models
  gan, predictor = models["vgan_one_stream"], models["relive_cnn_next_frame"]
  assert gan["kind"] == "unconditional" and gan["steps"] == [0, 15, 30]
  assert predictor["kind"] == "predictor" and predictor["steps"] == [0, 15, 30]
  # The predictor learns something in 30 steps: its one-step MSE falls.
  assert predictor["rows"][-1]["mse_one_step"] < predictor["rows"][0]["mse_one_step"]
  written = json.load(open(os.path.join(wd, "learning_checks.json")))
  assert set(written["models"]) == set(models) and "family" in written["machine"]
  table = open(os.path.join(wd, "learning_checks.md")).read()
  assert table.count("| vgan_one_stream |") == 1 and table.count("| relive_cnn_next_frame |") == 2
  assert "floor" in table and "static" in table and "copy-last: 1" in table
  # The unconditional row says how much its samples move against the real clips.
  assert all(r["motion_ratio"] > 0 for r in gan["rows"]) and "x the real clips'" in table
  with Image.open(os.path.join(wd, "learning_checks.png")) as image:
    assert image.size == (720, 60 + 150 * 2)
  for name in models:
    assert os.path.exists(os.path.join(wd, name, learning_check.RESULT_FILE))


@pytest.mark.slow  # up to ~15 minutes per model on two cores
@pytest.mark.parametrize("name", sorted(learning_check.CHECKS))
def test_every_model_meets_its_learning_targets(name, tmp_path):
  result = learning_check.run_check(learning_check.check_config(name), str(tmp_path))
  assert "fail" not in result["verdicts"].values(), learning_check.format_table(result)


@pytest.mark.slow  # ~1 minute: three short trainings
def test_inflation_row_trains_both_starts_for_equal_3d_steps(tmp_path):
  wd = str(tmp_path)
  summary = learning_check.run_all(wd, [learning_check.INFLATION], num_videos=8, steps=4)
  row = summary["models"][learning_check.INFLATION]
  assert "error" not in row, row
  assert row["scratch"]["steps"] == row["inflated"]["steps"] == [0, 2, 4]
  pretrain = row["pretrain_2d"]
  assert pretrain["steps"] >= learning_check.PRETRAIN_CHUNK
  assert pretrain["seconds"] >= row["scratch"]["train_seconds"]  # at least the same wall-clock
  # Inflation changes the start: the two runs' FD-R3D differ from step 0.
  assert row["inflated"]["rows"][0]["fd_r3d"] != row["scratch"]["rows"][0]["fd_r3d"]
  table = open(os.path.join(wd, "learning_checks.md")).read()
  assert "| from scratch |" in table and "| inflated from" in table


def test_all_keeps_the_models_of_an_earlier_summary_with_their_machine(tmp_path):
  wd = str(tmp_path)
  earlier = {"generator": "relive_lstm", "error": "E", "date": "2026-01-01", "machine": "m0"}
  with open(os.path.join(wd, "learning_checks.json"), "w") as f:
    json.dump({"models": {"relive_lstm": earlier, "relive_cnn_next_frame": earlier}}, f)
  summary = learning_check.run_all(wd, ["relive_cnn_next_frame"], num_videos=4, steps=2)
  models = summary["models"]
  assert models["relive_lstm"] == earlier  # kept as it was
  assert models["relive_cnn_next_frame"]["kind"] == "predictor"  # measured again
  assert models["relive_cnn_next_frame"]["machine"] == summary["machine"]
  table = open(os.path.join(wd, "learning_checks.md")).read()
  assert "2026-01-01 on m0" in table and f"on {summary['machine']}" in table


def test_cli_mistakes_are_one_line(tmp_path):
  for args, expected in (
    ([f"--workdir={tmp_path}"], "Expected either --config or --all."),
    (["--all", "--models=vgan_two_stream,nope", f"--workdir={tmp_path}"], "received ['nope']"),
  ):
    proc = subprocess.run(
      [sys.executable, "-m", "trainers.learning_check", *args],
      capture_output=True,
      text=True,
      check=False,
      env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    last = proc.stderr.strip().splitlines()[-1]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert last.startswith("learning_check.py: error: ") and expected in last, last
  assert os.listdir(tmp_path) == []  # nothing written
