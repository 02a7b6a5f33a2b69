"""bench/report.py: the tables say "n/a" and "stopped" where a figure does not exist, and
compute their ratios from the rows (rows written by hand, nothing is run)."""

from bench import host
from bench import report


def _row(model, batch=8, s=2.0, gflop=400.0, clip=(32, 64, 64), d_steps=1, **extra):
  row = {
    "model": model,
    "batch_size": batch,
    "jit": False,
    "clip": list(clip),
    "s_per_step": s,
    "clips_per_s": batch / s,
    "input_clips_per_s": batch * d_steps / s,
    "step_gflop": gflop,
    "gflops": None if gflop is None else gflop / s,
    "build_s": 3.0,
    "first_call_s": 12.5,
    "setup_s": 10.5,
    "peak_rss_mib": 2000.0,
    "step_mib": 1300.0,
    "allocator_mib": {"after_build": 300.0, "peak_during_calls": 512.25},
  }
  if gflop is not None:
    row["ratio_fp32_matmul"] = row["gflops"] / 220.0
  row.update(extra)
  return row


def test_step_table_prints_na_and_stopped_rows():
  rows = [
    _row("vgan_two_stream"),
    _row("radner_style", gflop=None, allocator_mib=None, flops_note="n/a: a GRU"),
    {
      "model": "dvdgan_s",
      "batch_size": 8,
      "jit": False,
      "error": "first call over 900 s: stopped",
      "over_budget": True,
    },
    {"model": "egan_spade_video", "batch_size": 8, "jit": True, "error": "exit code 1: x\ny"},
    {
      "model": "egan_resnet_video",
      "batch_size": 16,
      "jit": False,
      "error": "not run: batch 8 peaked at 15000 MiB",
      "skipped": True,
    },
  ]
  lines = report.step_table(rows, 200.0).splitlines()
  assert lines[2].split()[:8] == [
    "vgan_two_stream",
    "8",
    "off",
    "2.000",
    "4.00",
    "400",
    "200",
    "100.0%",
  ]
  assert lines[2].endswith("512.2")
  assert lines[2].split()[9:11] == ["12.5", "10.5"]  # the first call, then less one step
  radner = lines[3].split()
  assert radner[5:8] == ["n/a", "n/a", "n/a"] and radner[-1] == "n/a"
  assert "STOPPED: first call over 900 s" in lines[4]
  assert lines[5].endswith("FAILED: exit code 1: x")
  assert lines[6].endswith("SKIPPED: not run: batch 8 peaked at 15000 MiB")
  assert report.step_notes(rows) == ["radner_style: GFLOP n/a: a GRU"]
  rows[0]["forms_measured"] = 3
  assert report.step_notes(rows)[1].startswith(
    "vgan_two_stream batch 8: its 1st call measured 3 convolution forms"
  )
  rows[0]["call_kernel"] = {"minor_faults": 1000.0, "major_faults": 0.0, "system_s": 2.0}
  rows[0]["first_run_kernel"] = {"minor_faults": 4e6, "major_faults": 0.0, "system_s": 5.0}
  assert len(report.step_notes(rows)) == 2  # 5 s is not over twice 2 s and a second
  rows[0]["first_run_kernel"]["system_s"] = 37.0
  assert report.step_notes(rows)[2] == (
    "vgan_two_stream batch 8: its 1st call took 4,000,000 page faults and 37.0 s of kernel "
    "CPU time, a timed call 1,000 and 2.0 s (first touch of the step's memory, in its setup s)"
  )


def test_train_table_speedup_and_notes():
  rows = {
    ("vgan_two_stream", 8, "float32"): _row("vgan_two_stream", s=2.0),
    ("vgan_two_stream", 8, "mixed_bfloat16"): _row("vgan_two_stream", s=1.0),
    ("relive_lstm", 8, "float32"): _row(
      "relive_lstm", gflop=None, allocator_mib=None, flops_note="n/a: lstm_cell"
    ),
    ("dvdgan_s", 8, "float32"): {"error": "first call over 900 s: stopped", "over_budget": True},
  }
  lines = report.train_table(rows)
  assert len({line.count("|") for line in lines}) == 1  # every row has every column
  bf16 = next(line for line in lines if "mixed_bfloat16" in line)
  assert "| 2.00x |" in bf16
  lstm = next(line for line in lines if "relive_lstm" in line)
  assert "| n/a | n/a | n/a |" in lstm
  assert "| dvdgan_s | | 8 | float32 | stopped: first call over 900 s: stopped |" in lines[-1]
  notes = report.train_notes(rows)
  assert notes == ["- relive_lstm: GFLOP/step n/a: lstm_cell."]
  no_allocator = {k: dict(v, allocator_mib=None) for k, v in rows.items() if "error" not in v}
  assert "TF alloc peak: n/a" in report.train_notes(no_allocator)[-1]


def test_targets_read_only_the_vgan_rows():
  rows = {
    ("vgan_two_stream", 8, "float32"): _row("vgan_two_stream", s=2.0, gflop=404.0),
    ("vgan_two_stream", 8, "mixed_bfloat16"): _row("vgan_two_stream", s=1.25, gflop=404.0),
    ("relive_wgan", 8, "float32"): _row("relive_wgan", s=100.0, gflop=10.0),
  }
  lines = report.targets(rows, {}, {}, ("vgan_two_stream",))
  assert "lowest 92% (vgan_two_stream b8)" in lines[2] and lines[2].endswith("| yes |")
  assert "lowest 1.60x" in lines[3] and lines[3].endswith("| **no** |")
  assert "2000 MiB" in lines[4]
  assert report.targets({}, {}, {}, ("vgan_two_stream",))[2].startswith("| none")
  # On a CPU without bf16 arithmetic the bf16 rows are not run (bench/train_step.py): said.
  rows[("vgan_two_stream", 8, "mixed_bfloat16")] = {
    "error": "not run: bfloat16 runs slower than float32 on this machine (...)",
    "skipped": True,
    "slower_precision": True,
  }
  line = report.targets(rows, {}, {}, ("vgan_two_stream",))[3]
  assert line.startswith("| bf16 step speed-up over fp32 | >= 1.7x | not run: bfloat16 runs")
  assert line.endswith("| n/a: a machine with bf16 arithmetic (AVX512_BF16, AMX, a GPU or TPU) |")


def test_torch_table_ratios_over_both_matmuls():
  variant = {
    "s_per_step": 2.0,
    "clips_per_s": 4.0,
    "step_gflop": 404.0,
    "gflops": 202.0,
    "ratio_torch_matmul": 0.5,
    "first_call_s": 1.0,
    "peak_rss_mib": 900.0,
    "step_mib": 600.0,
  }
  results = {
    8: {"headline": "channels_last", "variants": {"channels_last": variant}},
    16: {"error": "exit code 1: no torch"},
  }
  lines = report.torch_table(results, 404.0)
  assert "| 8 | **channels_last** (headline) | 2 |" in lines[2]
  assert "| 50% | 50% |" in lines[2]
  assert "failed: exit code 1: no torch" in lines[3]
  assert "| n/a |" in report.torch_table({8: results[8]}, None)[2]


def test_scaling_tables():
  rows = {
    ("m", 8, "float32"): _row("m", batch=8, s=2.0),
    ("m", 16, "float32"): _row("m", batch=16, s=3.0),
    ("big", 8, "float32"): _row("big", s=4.0, gflop=800.0, clip=(25, 128, 128), d_steps=2),
  }
  batch = report.batch_table(rows, ["m"], [8, 16, 32])
  assert batch[2].endswith("| 1.00 |") and batch[3].endswith("| 0.75 |")
  assert "not run" in batch[4]
  size = report.size_table(rows, ["big", "absent"], 8)
  assert "| big | 25x128x128 | 8 | 4 | 800 | 5 |" in size[2] and "not run" in size[3]
  # 8 clips x 2 D steps x 25 frames per 4 s = 100 frames/s consumed at 128x128.
  assert report.consumption(rows, 128) == [("big b8", 100.0)]
  inputs = {128: {"frames_per_s": {"jpeg": 250.0}}, 256: {"frames_per_s": {"jpeg": 80.0}}}
  table = report.input_table(inputs, rows)
  assert table[2] == "| 128x128 | jpeg | 250 | big b8 100 | 2.5 |"
  assert table[3] == "| 256x256 | jpeg | 80 | no step of this size in this run | n/a |"


def test_header_names_cpu_family_model_flags_and_versions():
  start = dict(
    host.describe_host(),
    cpu=host.parse_cpuinfo(
      "vendor_id : GenuineIntel\ncpu family : 6\nmodel : 143\n"
      "model name : Intel(R) Xeon(R) Processor\nstepping : 8\nflags : avx512_bf16 amx_bf16"
    ),
    tensorflow="2.21.0",
    keras="3.15.1",
    gpus=[],
  )
  end = dict(start, load_average=[9.0, 9.0, 9.0])
  lines = report.header(start, end, {"float32": 220.0}, {}, None, 4096, quick=True)
  text = "\n".join(lines)
  assert "family 6, model 143, stepping 8" in text
  assert "avx512_bf16 amx_bf16" in text
  assert "TensorFlow 2.21.0, Keras 3.15.1, PyTorch not installed" in text
  assert f"{start['load_average']} / [9.0, 9.0, 9.0]" in text
  assert "220.0 / n/a" in text and "quick run" in text
