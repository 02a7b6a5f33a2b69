"""bench.layer_ceiling: every counted layer timed at the shapes of the step the trainer runs."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_a_predictor_is_timed_at_its_teacher_forced_shapes(tmp_path, fresh_python):
  """The LSTM predictor trains teacher-forced, its frames in one batch: each layer is timed
  once at batch x frames, the LSTM over the whole sequence (it crashed on the LSTM's
  [output, *states], and timed a frame-by-frame rollout)."""
  out = tmp_path / "ceiling.json"
  fresh_python(
    "-m",
    "bench.layer_ceiling",
    "--config=relive_lstm:smoke",
    "--batch_size=2",
    "--repeats=1",
    f"--out={out}",
  )
  record = json.loads(out.read_text())
  rows = {row["name"].split("/", 1)[1]: row for row in record["rows"]}
  assert len(rows) == len(record["rows"])  # one call of each layer
  assert rows["lstm"]["input_shape"] == [2, 7, 32]  # batch 2, frames 0..6 of 8, 32 units
  assert rows["encoder/down0/conv"]["input_shape"] == [14, 16, 16, 3]
  assert record["layers_only_s_per_step"] > 0


def test_spade_is_refused_in_one_line():
  """SPADE's step is not the GAN structure the ceiling sums (feature matching, an encoder),
  and its mask convolutions are counted as lookups, not as calls at recorded shapes."""
  proc = subprocess.run(
    [sys.executable, "-m", "bench.layer_ceiling", "--config=egan_spade_video:smoke"],
    capture_output=True,
    text=True,
    env=dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="2"),
    cwd=ROOT,
    timeout=600,
    check=False,
  )
  assert proc.returncode != 0
  assert "times GAN and predictor steps, not SPADE's" in proc.stderr
  assert "Traceback" not in proc.stderr
