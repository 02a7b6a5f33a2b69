"""bench.layer_ceiling: every counted layer timed at the shapes of the step the trainer runs."""

import json


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


def test_spade_times_its_layers_and_lists_what_no_layer_call_computes(tmp_path, fresh_python):
  """SPADE's step with its encoder: its gamma and beta maps, the encoder's layers and every 3D
  convolution timed as calls of their layers; its mask lookups and the discriminators' split
  first layers (no call of the layer on its input) left out of the ceiling's GFLOP and listed
  apart (SPADE was refused)."""
  out = tmp_path / "ceiling.json"
  fresh_python(
    "-m",
    "bench.layer_ceiling",
    "--config=egan_spade_video:smoke,vae=True",
    "--batch_size=2",
    "--repeats=1",
    f"--out={out}",
  )
  record = json.loads(out.read_text())
  names = [row["name"] for row in record["rows"]]
  assert any(n.endswith("/gamma") for n in names) and any(n.endswith("/beta") for n in names)
  assert not any(n.endswith("/shared") for n in names)  # class ids: looked up
  assert not any(n.endswith("/conv0/conv") for n in names)  # frames + mask, apart
  assert {row["network"] for row in record["rows"]} == {"generator", "d_d0", "d_d1", "encoder"}
  apart = record["untimed_gflop"]["computed without a call of their layer"]
  assert 0 < apart < 0.05 * record["step_gflop"]
  assert record["layers_only_s_per_step"] > 0 and record["ceiling_gflops"] > 0
