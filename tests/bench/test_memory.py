"""bench/memory.py's analytic figures on the two-stream smoke trainer, counted by hand.

Smoke size: 8x16x16 clips, D widths (8, 16): a trainer builds in a few seconds.
"""

import math

import pytest

from bench import common
from bench import memory_budget as memory
from configs import vgan_two_stream
from trainers import loop
from trainers import memory_limit


@pytest.fixture(scope="module")
def trainer(tmp_path_factory):
  config = common.bench_config(vgan_two_stream.get_config("smoke"), 2, False, "float32")
  return loop.Trainer(config, str(tmp_path_factory.mktemp("memory")))


def test_state_bytes_are_the_weights_and_adam_slots(trainer):
  state = memory.state_bytes(trainer)
  g, d = trainer.generator, trainer.task.discriminators["d"]
  assert state["params"] == {"generator": g.count_params(), "d_d": d.count_params()}
  assert state["bytes"]["generator"] == 4 * g.count_params()  # float32
  assert state["bytes"]["d_d"] == 4 * d.count_params()
  # Adam keeps two slots per trainable weight: what the optimizers hold beyond their scalars.
  slots = [v for opt in (trainer.g_opt, trainer.d_opt) for v in opt.variables if len(v.shape)]
  assert state["bytes"]["optimizer_slots"] == memory.variable_bytes(slots)
  assert state["bytes"]["ema"] == 0  # the config has no EMA
  # float32 weights, plus Adam's two float32 slots per trainable weight.
  trainable = sum(math.prod(v.shape) for v in g.trainable_weights + d.trainable_weights)
  assert state["total"] == 4 * (g.count_params() + d.count_params()) + 2 * 4 * trainable


def test_d_step_keeps_two_passes_of_d_outputs_and_clips(trainer):
  acts = memory.activation_bytes(trainer)
  # D per clip: 4x8x8x8 + 2x4x4x16 conv outputs + the 1x1x1x1 logit; the clip is 8x16x16x3.
  d_outputs, clip, batch = 4 * 8 * 8 * 8 + 2 * 4 * 4 * 16 + 1, 8 * 16 * 16 * 3, 2
  # G per clip: video stream 2x4x4x32, 4x8x8x16, the video and mask heads 8x16x16x(3 + 1);
  # background 4x4x32, 8x8x16, its head 16x16x3.
  g_outputs = (
    2 * 4 * 4 * 32 + 4 * 8 * 8 * 16 + 8 * 16 * 16 * 4 + 4 * 4 * 32 + 8 * 8 * 16 + 16 * 16 * 3
  )
  assert acts["per_network"]["d_d"] == batch * d_outputs
  assert acts["per_network"]["generator"] == batch * g_outputs
  assert acts["d_step"]["x1"] == 4 * 2 * batch * (d_outputs + clip)
  assert acts["d_step"]["x3"] == 4 * 2 * batch * (3 * d_outputs + clip)
  assert acts["g_step"]["x1"] == 4 * batch * (g_outputs + d_outputs + clip)
  assert acts["d_step"]["gradients"] == memory.variable_bytes(trainer.d_vars)


def test_a_step_the_counter_does_not_model_keeps_its_measured_figures(tmp_path):
  """SPADE's step has no analytic activations: the measured RSS and allocator figures are
  reported and the floor says n/a, instead of the script ending in a traceback. Run as the
  command (its module defines flags on import)."""
  import json
  import os
  import subprocess
  import sys

  out = tmp_path / "memory.json"
  root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
  done = subprocess.run(
    [sys.executable, "-m", "bench.memory", "--config=egan_spade_video:smoke", "--batch_size=1",
     "--steps=0", f"--out={out}"],
    cwd=root, capture_output=True, text=True, timeout=600,
  )  # fmt: skip
  assert done.returncode == 0, done.stderr[-2000:]
  record = json.loads(out.read_text())
  assert record["rss_mib"]["peak"] >= record["rss_mib"]["import"] > 0
  assert record["activations"] is None and record["floor"] == {}
  assert record["floor_note"].startswith("n/a: ") and "SPADETask" in record["floor_note"]
  assert "4.-5. activations and the analytic floor: n/a" in done.stdout


def test_a_fixed_input_repeats_one_batch_and_the_step_runs_on_it(tmp_path):
  """`--input=fixed` (bench.train_step, bench.memory): the step reads one batch of its own
  pipeline again and again, as bench/torch_step.py feeds PyTorch."""
  import numpy as np

  config = common.bench_config(vgan_two_stream.get_config("smoke"), 2, False, "float32")
  trainer = loop.Trainer(config, str(tmp_path))
  common.feed(trainer, "fixed")
  first, second = next(trainer.iterator), next(trainer.iterator)
  assert first["video"].shape == (2, 8, 16, 16, 3)
  np.testing.assert_array_equal(first["video"].numpy(), second["video"].numpy())
  before = trainer.current_step()
  trainer.train_call()
  assert trainer.current_step() == before + 1
  with pytest.raises(ValueError, match="Expected an input in"):
    common.feed(trainer, "disk")


def test_no_allocator_figures_under_the_system_allocator(monkeypatch):
  # malloc keeps no count: TensorFlow would report 0 bytes, which is not the step's memory.
  monkeypatch.delenv("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", raising=False)
  reported = common.allocator_bytes() is not None  # False only on a build that counts nothing
  for value, system in (("false", False), ("0", False), ("TRUE", True), ("1", True)):
    monkeypatch.setenv("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", value)
    assert memory_limit.system_allocator() == system
    assert (common.allocator_bytes() is not None) == (reported and not system)
