"""bench/host.py: the CPU read from /proc/cpuinfo, child command lines, child processes.

No figure is timed here: the children are a few lines of Python that exit or sleep.
"""

import json
import os
import sys

from bench import host

INTEL = """processor\t: 0
vendor_id\t: GenuineIntel
cpu family\t: 6
model\t\t: 143
model name\t: Intel(R) Xeon(R) Processor
stepping\t: 8
flags\t\t: fpu sse avx avx2 fma avx512f avx512_bf16 amx_bf16 amx_tile amx_int8

processor\t: 1
vendor_id\t: AnotherVendor
model name\t: not the first processor
"""
AMD = """processor : 0
vendor_id : AuthenticAMD
cpu family : 25
model : 17
model name : AMD EPYC Processor
stepping : 1
flags : fpu avx avx2 fma avx512f avx512_bf16 avx512_vnni
"""
ARM = """processor : 0
BogoMIPS : 50.00
Features : fp asimd sve
CPU implementer : 0x41
CPU part : 0xd40
"""


def test_cpuinfo_names_family_model_and_matrix_flags_of_the_first_processor():
  cpu = host.parse_cpuinfo(INTEL)
  assert cpu == {
    "vendor": "GenuineIntel",
    "model_name": "Intel(R) Xeon(R) Processor",
    "family": "6",
    "model": "143",
    "stepping": "8",
    "flags": ["avx", "avx2", "fma", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8"],
  }
  name = host.cpu_name(cpu)
  assert name == "Intel(R) Xeon(R) Processor (GenuineIntel family 6 model 143 stepping 8)"


def test_cpuinfo_of_an_amd_and_an_arm_machine():
  amd = host.parse_cpuinfo(AMD)
  assert host.cpu_name(amd) == "AMD EPYC Processor (AuthenticAMD family 25 model 17 stepping 1)"
  assert "amx_tile" not in amd["flags"] and "avx512_bf16" in amd["flags"]
  arm = host.parse_cpuinfo(ARM)
  assert (arm["vendor"], arm["model"], arm["flags"]) == ("0x41", "0xd40", [])
  assert host.parse_cpuinfo("")["flags"] == []


def test_host_line_names_the_cpu_its_flags_and_the_load():
  machine = host.describe_host()
  line = host.host_line(machine)
  assert host.cpu_name(machine["cpu"]) in line
  assert str(machine["load_average"]) in line and f"/{machine['logical_cpus']} CPUs" in line


def test_host_line_names_the_memory_settings_a_row_ran_under(monkeypatch):
  for name in host.MEMORY_VARIABLES:
    monkeypatch.delenv(name, raising=False)
  assert host.describe_host()["memory_settings"] == {}
  assert "MALLOC" not in host.host_line(host.describe_host())
  monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "1048576")
  monkeypatch.setenv("TF_ONEDNN_USE_SYSTEM_ALLOCATOR", "true")
  machine = host.describe_host()
  assert machine["memory_settings"] == {
    "TF_ONEDNN_USE_SYSTEM_ALLOCATOR": "true",
    "MALLOC_MMAP_THRESHOLD_": "1048576",
  }
  assert host.host_line(machine).endswith(
    "; TF_ONEDNN_USE_SYSTEM_ALLOCATOR=true MALLOC_MMAP_THRESHOLD_=1048576"
  )


def test_child_argv_drops_the_per_row_flags_and_keeps_overrides_after_config():
  argv = [
    "--config=vgan_two_stream",
    "--config.train.steps_per_call=2",
    "--batch",
    "8,16",
    "--steps=3",
    "--noisolate",
    "--out=/tmp/x.json",
  ]
  got = host.child_argv("bench.train_step", argv, ("config", "batch", "out", "isolate"), ["--a=1"])
  assert got == [
    sys.executable,
    "-m",
    "bench.train_step",
    "--a=1",
    "--config.train.steps_per_call=2",
    "--steps=3",
  ]


def test_marks_round_trip(tmp_path):
  path = str(tmp_path / "progress")
  assert host.read_marks(path) == {}
  host.mark(path, "first_call")
  host.mark(path, "first_call_done")
  host.mark("", "ignored")
  marks = host.read_marks(path)
  assert sorted(marks) == ["first_call", "first_call_done"]
  assert marks["first_call"] <= marks["first_call_done"]


def _child(tmp_path, code):
  out = str(tmp_path / "out.json")
  return [sys.executable, "-c", code.replace("OUT", repr(out))], out


def test_run_child_returns_the_json_or_the_error(tmp_path):
  argv, out = _child(tmp_path, "import json; json.dump({'x': 1}, open(OUT, 'w'))")
  assert host.run_child(argv, out) == {"x": 1}
  argv, out = _child(tmp_path / "a", "import sys; print('first'); sys.exit('the reason')")
  (tmp_path / "a").mkdir()
  result = host.run_child(argv, out)
  assert result["error"].splitlines()[0] == "exit code 1: the reason"
  code = "import os, signal; print('dying'); os.kill(os.getpid(), signal.SIGKILL)"
  argv, out = _child(tmp_path, code)
  result = host.run_child(argv, out)
  assert result["error"].startswith("exit code -9 (SIGKILL: out of memory?)")


def test_run_child_stops_a_first_call_over_its_budget(tmp_path):
  progress = str(tmp_path / "progress")
  code = (
    f"import time; from bench import host; host.mark({progress!r}, 'first_call'); time.sleep(60)"
  )
  argv, out = _child(tmp_path, code)
  result = host.run_child(argv, out, timeout=50, progress=progress, first_call_budget=0.5)
  assert result["over_budget"] and "first call over 0.5 s" in result["error"]
  assert json.dumps(result)  # serialisable, as run_all writes it


def test_a_batch_that_would_not_fit_in_memory_is_not_started():
  row = {"batch_size": 8, "peak_rss_mib": 15000.0, "step_mib": 14000.0}
  # 1000 MiB held before the step, 14000 of it doubled at batch 16.
  assert host.predicted_peak_mib(row, 16) == 29000.0
  reason = host.memory_shortfall(row, 16, available=23000.0)
  assert reason.startswith("not run: batch 8 peaked at 15000 MiB")
  assert "would need about 29000 MiB; 23000 MiB available" in reason
  assert host.memory_shortfall(row, 16, available=40000.0) == ""
  assert host.memory_shortfall(None, 16, available=100.0) == ""  # nothing measured yet
  assert host.memory_shortfall(row, 16, available=None) == ""  # no /proc/meminfo


def test_available_memory_is_read_where_the_kernel_reports_it():
  available = host.available_mib()
  if sys.platform.startswith("linux"):
    assert available > 0


def test_a_batch_after_a_failed_smaller_one_is_not_started():
  killed = {"batch_size": 8, "error": "exit code -9: killed"}
  assert host.memory_shortfall(killed, 16, available=1e9) == "not run: batch 8 failed"
  skipped = {"batch_size": 8, "error": "not run: ...", "skipped": True}
  assert host.memory_shortfall(skipped, 16, available=1e9) == ""


def test_kernel_use_counts_the_faults_of_touching_fresh_memory():
  before = host.kernel_use()
  fresh = bytearray(64 << 20)  # mapped, not yet touched
  for i in range(0, len(fresh), 4096):
    fresh[i] = 1
  used = host.kernel_use_since(before)
  assert used["minor_faults"] >= 32  # 64 MiB: 16,384 pages of 4 KiB, 32 of 2 MiB
  assert used["system_s"] >= 0


SMAPS = """\
00400000-00600000 r-xp 00000000 08:01 123 /usr/bin/python3.11
Size:               2048 kB
Rss:                1500 kB
01000000-02000000 rw-p 00000000 00:00 0 [heap]
Size:              16384 kB
Rss:                8000 kB
7f0000000000-7f0020000000 rw-p 00000000 00:00 0
Size:             524288 kB
Rss:              100000 kB
VmFlags: rd wr mr mw me ac
7f1000000000-7f1000100000 rw-p 00000000 00:00 0
Size:               1024 kB
Rss:                 512 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0 [stack]
Size:                132 kB
Rss:                  64 kB
"""


def test_rss_by_kind_of_mapping(tmp_path):
  smaps = tmp_path / "smaps"
  smaps.write_text(SMAPS)
  assert host.mapping_rss_mib(str(smaps)) == {
    "large_anonymous": 100000 / 1024,  # a 512 MiB region, 98 MiB of it touched
    "heap": 8000 / 1024,
    "files": 1500 / 1024,
    "other": (512 + 64) / 1024,  # a 1 MiB anonymous mapping and the stack
  }
  assert host.mapping_rss_mib(str(tmp_path / "none")) is None
  mine = host.mapping_rss_mib()  # this process: the kinds sum to its RSS
  assert mine is not None and abs(sum(mine.values()) - host.rss_mib()) < 16


def test_the_mapping_lines_say_what_the_build_and_the_calls_added():
  phase = lambda a, h, f, o: {"large_anonymous": a, "heap": h, "files": f, "other": o}
  lines = host.mapping_lines(
    {"import": phase(120, 103, 408, 28), "state": phase(503, 150, 426, 38), "after_calls": None}
  )
  assert lines[0] == "   RSS by mapping, MiB (import / state):"
  assert lines[1].endswith(": 120 / 503 (+383)") and "allocator regions" in lines[1]
  assert len(lines) == 5
  assert host.mapping_lines({"import": phase(1, 1, 1, 1)}) == []  # nothing to compare


def test_a_stopped_run_all_keeps_the_parts_it_measured(tmp_path, monkeypatch):
  # Before: bench.run_all (hours on 2 cores) wrote its report at the end only: a kill or a
  # closed terminal lost every figure measured so far.
  calls = []

  def run_child(argv, out):
    calls.append(argv[2:-1])
    return {"error": "exit code 1: no"} if "--fail" in argv else {"figure": len(calls)}

  monkeypatch.setattr(host, "run_child", run_child)
  machine = host.describe_host()
  machine.update(tensorflow="2.21.0", keras="3.15.1")
  out = str(tmp_path / "RESULTS.md")
  first = host.KeptResults(out, machine, resume=True)
  assert first.run("fvd", ["--a=1"], "FVD") == {"figure": 1}
  assert first.run("convert", ["--fail"], "converter")["error"]
  # Killed here. The same command again on this machine and commit:
  again = host.KeptResults(out, machine, resume=True)
  assert again.run("fvd", ["--a=1"], "FVD") == {"figure": 1}
  assert again.run("convert", ["--fail"], "converter")["error"]  # failed: measured again
  assert again.run("fvd", ["--a=2"], "FVD at 2") == {"figure": 4}
  assert calls == [["bench.fvd", "--a=1"], ["bench.convert", "--fail"]] + [
    ["bench.convert", "--fail"],
    ["bench.fvd", "--a=2"],
  ]
  (note,) = again.note()
  assert note.startswith("- 1 parts kept from an interrupted run of this machine and commit")
  assert note.endswith(": FVD")
  # Another machine's (or version's, or commit's) figures are not taken, nor with --noresume.
  other = dict(machine, keras="3.16.0")
  assert host.KeptResults(out, other, resume=True).run("fvd", ["--a=1"], "FVD") == {"figure": 5}
  assert host.KeptResults(out, machine, resume=False).run("fvd", ["--a=2"], "F") == {"figure": 6}
  again.remove()
  assert not os.path.exists(out + ".partial.json")
