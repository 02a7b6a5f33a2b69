"""trainers.evaluate_frames: Table 4.1's per-frame FID / IS from held-out first frames."""

import json
import os

from absl import flags
import numpy as np
from PIL import Image
import pytest
import tensorflow as tf

from configs import common
import eval_helpers
from trainers import evaluate_frames
from trainers import workdir as workdir_lib
from zoo import registry

pytestmark = pytest.mark.usefixtures("one_blas_thread")
one_blas_thread = eval_helpers.one_blas_thread  # the fixture, used by pytestmark


@pytest.fixture(scope="module")
def inception_dir(tmp_path_factory):
  # 16-d pool_3: the 8 + 4 Frechet distances below cost milliseconds, not minutes.
  return eval_helpers.save_stand_in_inception(tmp_path_factory, pool_dim=16)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
  """A tiny style generator's workdir on synthetic clips (fresh weights, as a trainer saves)."""
  path = str(tmp_path_factory.mktemp("radner_wd"))
  c = common.radner_smoke(common.radner(common.base(), "bair"))
  c.model.generator = common.network(
    "radner_style_generator", resolution=16, ch=2, multipliers=(2, 1), num_frames=4
  )
  c.objective.condition = "first_frame"
  workdir_lib.save_config(c, path)
  generator = workdir_lib.build_generator(c)
  ckpt = tf.train.Checkpoint(generator=registry.weights_in_order(generator))
  tf.train.CheckpointManager(ckpt, workdir_lib.checkpoint_dir(path), 1).save(1)
  return path


def test_per_frame_fid_and_is_json_and_plot(tmp_path, workdir, inception_dir):
  out = str(tmp_path / "table41.json")
  result = evaluate_frames.evaluate_frames(
    workdir, out, inception_dir, num_videos=6, num_frames=7, batch_size=4, is_splits=2
  )
  # 7 frames from a 4-frame model: the frame count is free at inference.
  assert [r["frame"] for r in result["per_frame"]] == list(range(7))
  assert result["num_videos"] == 6 and result["inception"]["matches_tfgan"]
  for r in result["per_frame"]:
    assert np.isfinite(r["fid"]) and r["fid"] >= 0 and r["is"] >= 1.0
  with open(out) as f:
    saved = json.load(f)
  assert saved["per_frame"][3]["fid"] == pytest.approx(result["per_frame"][3]["fid"])
  plot = tmp_path / "table41_fid.png"
  assert saved["plot"] == plot.name and Image.open(plot).size[0] > 100
  # Real frame t against itself would give FID 0: the metric compares frame t of both sets.
  real = evaluate_frames.FrameFeatures(evaluate_frames.inception_lib.load_inception(inception_dir))
  clips = next(iter(evaluate_frames.held_out_clips(workdir_lib.load_config(workdir), 3, 5, 0)))
  real.update(clips["video"])
  same = evaluate_frames.per_frame_metrics(real, real, is_splits=1)
  assert all(abs(r["fid"]) < 1e-3 for r in same["per_frame"])


def test_missing_inception_exits_2_before_reading_clips(tmp_path, workdir, capsys):
  fv = flags.FlagValues()
  evaluate_frames.define_flags(fv)
  fv(
    [
      "evaluate_frames",
      f"--workdir={workdir}",
      f"--out={tmp_path / 'r.json'}",
      f"--inception={tmp_path / 'nowhere'}",
      "--noallow_download",
    ]
  )
  assert evaluate_frames.run(fv) == 2
  assert "Looked for InceptionV3" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "r.json")
