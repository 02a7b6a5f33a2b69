"""trainers.onednn: oneDNN turned on, before TensorFlow loads, where TensorFlow leaves it off
and it measured faster on this machine."""

import json
import os
import platform
import subprocess
import sys
import threading

import pytest

from trainers import onednn

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ZEN3 = {  # /proc/cpuinfo of an AMD Zen 3: AVX2, none of the flags TensorFlow turns oneDNN on for
  "model name": "AMD EPYC",
  "cpu family": "25",
  "model": "1",
  "flags": "fpu sse sse2 avx avx2 fma sha_ni vaes",
}
ZEN4 = dict(ZEN3, model="17", flags=ZEN3["flags"] + " avx512f avx512_vnni avx512_bf16")


def _fake_measure(ms_on, ms_off, calls):
  def measure(on):
    calls.append(on)
    return {"onednn": on, "ms": ms_on if on else ms_off}

  return measure


@pytest.mark.parametrize(
  "environ, info, system, machine, why",
  [
    ({"TF_ENABLE_ONEDNN_OPTS": "0"}, ZEN3, "Linux", "x86_64", "TF_ENABLE_ONEDNN_OPTS=0 is set"),
    ({}, ZEN4, "Linux", "x86_64", "TensorFlow turns oneDNN on for this CPU"),
    ({}, ZEN3, "Darwin", "arm64", "not x86 Linux (Darwin arm64)"),
    ({}, ZEN3, "Linux", "x86_64", None),
  ],
)
def test_what_is_left_to_decide(environ, info, system, machine, why):
  assert onednn.undecided(environ, info, system, machine) == why


def test_measured_faster_turns_it_on_and_is_remembered(tmp_path, capsys):
  path, calls, environ = str(tmp_path / "onednn.json"), [], {}
  said = onednn.decide(environ, ZEN3, "Linux", "x86_64", path, _fake_measure(30.0, 100.0, calls))
  assert said == "oneDNN on (measured faster here)" and environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
  assert calls == [True, False]
  line = capsys.readouterr().err
  assert "took 30.0 ms with oneDNN and 100.0 ms without: on for this run and later" in line
  entry = json.load(open(path))[onednn.machine_key(ZEN3)]
  assert entry["onednn"] is True and entry["ms"] == {"onednn": 30.0, "tensorflow": 100.0}
  # The next run reads the verdict: nothing timed, nothing said.
  environ = {}
  onednn.decide(environ, ZEN3, "Linux", "x86_64", path, _fake_measure(1.0, 1.0, calls))
  assert calls == [True, False] and environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
  assert capsys.readouterr().err == ""
  # Another CPU model is another verdict.
  other = dict(ZEN3, model="33")
  onednn.decide({}, other, "Linux", "x86_64", path, _fake_measure(99.0, 100.0, calls))
  assert (
    len(json.load(open(path))) == 2
    and json.load(open(path))[onednn.machine_key(other)]["onednn"] is False
  )  # within the margin: TensorFlow's default stands


@pytest.mark.parametrize("entry", [5, {"onednn": True, "ms": [1, 2]}])
def test_a_cache_entry_of_another_shape_is_measured_over(tmp_path, entry):
  """Valid JSON whose entry for this CPU is not what `decide` writes stopped every program
  at `import trainers` with AttributeError or TypeError; now it is measured again."""
  path, calls, environ = str(tmp_path / "onednn.json"), [], {}
  with open(path, "w") as f:
    json.dump({onednn.machine_key(ZEN3): entry}, f)
  said = onednn.decide(environ, ZEN3, "Linux", "x86_64", path, _fake_measure(30.0, 100.0, calls))
  assert said == "oneDNN on (measured faster here)" and calls == [True, False]
  assert json.load(open(path))[onednn.machine_key(ZEN3)]["ms"]["onednn"] == 30.0


def test_a_failed_measurement_leaves_tensorflows_choice_and_says_why(tmp_path, capsys):
  def broken(on):
    raise RuntimeError("the timing process failed: ImportError: no TensorFlow")

  environ = {}
  said = onednn.decide(environ, ZEN3, "Linux", "x86_64", str(tmp_path / "c.json"), broken)
  assert said.startswith("undecided") and environ == {}
  assert "could not decide (the timing process failed: ImportError" in capsys.readouterr().err
  assert not os.path.exists(tmp_path / "c.json")  # the next run tries again


def test_a_cache_that_cannot_be_written_still_decides_this_run(tmp_path, capsys):
  blocked = tmp_path / "a_file"
  blocked.write_text("not a folder")
  calls, environ = [], {}
  path = str(blocked / "onednn.json")
  said = onednn.decide(environ, ZEN3, "Linux", "x86_64", path, _fake_measure(10.0, 50.0, calls))
  assert said == "oneDNN on (measured faster here)" and environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
  err = capsys.readouterr().err
  assert "not remembered: " in err and "every run will time it again unless" in err


def test_a_lock_file_that_cannot_be_opened_still_decides_this_run(tmp_path, capsys):
  # Before: a folder whose lock file could not be created (read-only) failed `import trainers`
  # with a traceback. A folder in the lock file's place fails to open as it would.
  (tmp_path / "onednn.json.lock").mkdir()
  calls, environ = [], {}
  path = str(tmp_path / "onednn.json")
  said = onednn.decide(environ, ZEN3, "Linux", "x86_64", path, _fake_measure(10.0, 50.0, calls))
  assert said == "oneDNN on (measured faster here)" and environ == {"TF_ENABLE_ONEDNN_OPTS": "1"}
  assert calls == [True, False] and "took 10.0 ms with oneDNN" in capsys.readouterr().err


def test_concurrent_first_runs_measure_once(tmp_path):
  path, calls = str(tmp_path / "onednn.json"), []
  gate = threading.Event()

  def slow_measure(on):
    gate.wait(5)
    return _fake_measure(10.0, 50.0, calls)(on)

  environs = [{}, {}]
  threads = [
    threading.Thread(target=onednn.decide, args=(e, ZEN3, "Linux", "x86_64", path, slow_measure))
    for e in environs
  ]
  for t in threads:
    t.start()
  gate.set()
  for t in threads:
    t.join(30)
  assert calls == [True, False]  # one pair of timings: the second waited and read the first's
  assert environs == [{"TF_ENABLE_ONEDNN_OPTS": "1"}] * 2


def test_the_prediction_before_import_matches_tensorflow():
  import tensorflow  # noqa: F401  (imported: enabled() is TensorFlow's answer)
  from tensorflow.python.util import _pywrap_util_port

  assert onednn.enabled() == bool(_pywrap_util_port.IsMklEnabled())
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  for value in ("0", "1"):
    env["TF_ENABLE_ONEDNN_OPTS"] = value
    done = subprocess.run(
      [
        sys.executable,
        "-c",
        "from trainers import onednn; before = onednn.enabled(); import tensorflow; "
        "from tensorflow.python.util import _pywrap_util_port as p; "
        "print(before, bool(p.IsMklEnabled()))",
      ],
      env=dict(env, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3"),
      capture_output=True,
      text=True,
      timeout=300,
    )
    assert done.stdout.split() == [str(value == "1")] * 2, done.stderr[-2000:]


def test_the_timing_children_run_with_and_without_onednn():
  on, off = onednn.measure(True), onednn.measure(False)
  assert on["onednn"] is True and off["onednn"] is False
  assert on["ms"] > 0 and off["ms"] > 0


def test_a_remembered_verdict_reaches_tensorflow_in_a_program(tmp_path):
  """Importing the zoo's packages before TensorFlow applies this machine's verdict."""
  key = onednn.machine_key(onednn.cpu_info())
  (tmp_path / "onednn.json").write_text(json.dumps({key: {"onednn": True, "ms": {}}}))
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", VIDEOGAN_ZOO_CACHE=str(tmp_path))
  done = subprocess.run(
    [
      sys.executable,
      "-c",
      "import export, tensorflow; from tensorflow.python.util import _pywrap_util_port as p; "
      "print(bool(p.IsMklEnabled()))",
    ],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  # On with the verdict; where TensorFlow turns it on by itself, on all the same.
  assert done.stdout.strip() == "True", done.stderr[-2000:]


def test_tensorflow_imported_first_keeps_its_choice_and_says_what_it_costs(tmp_path, capsys):
  path, calls = str(tmp_path / "onednn.json"), []
  environ = {}
  said = onednn.decide(
    environ, ZEN3, "Linux", "x86_64", path, _fake_measure(30.0, 100.0, calls), True
  )
  # Measured for later runs (this one's TensorFlow read the environment already), not applied.
  assert said == "oneDNN off: TensorFlow was imported first (said)" and environ == {}
  err = capsys.readouterr().err
  assert "on for later runs (remembered in" in err, err
  assert "TensorFlow was imported before trainers and runs without oneDNN" in err, err
  assert "30.0 ms with oneDNN, 100.0 ms without): set TF_ENABLE_ONEDNN_OPTS=1" in err, err
  # A verdict of no faster says nothing; TensorFlow's own choice or the user's, neither.
  slow = dict(ZEN3, model="33")
  onednn.decide({}, slow, "Linux", "x86_64", path, _fake_measure(99.0, 100.0, calls), True)
  onednn.decide({}, ZEN4, "Linux", "x86_64", path, _fake_measure(1.0, 9.0, calls), True)
  onednn.decide({"TF_ENABLE_ONEDNN_OPTS": "0"}, ZEN3, "Linux", "x86_64", path, None, True)
  assert "TensorFlow was imported" not in capsys.readouterr().err


def test_a_script_importing_tensorflow_first_is_told_once(tmp_path):
  """`import tensorflow` before the zoo's packages, as sorted imports put it: one line where
  this machine's verdict is oneDNN, none elsewhere."""
  key = onednn.machine_key(onednn.cpu_info())
  (tmp_path / "onednn.json").write_text(
    json.dumps({key: {"onednn": True, "ms": {"onednn": 1.0, "tensorflow": 2.0}}})
  )
  env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
  env.update(PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", VIDEOGAN_ZOO_CACHE=str(tmp_path))
  done = subprocess.run(
    [sys.executable, "-c", "import tensorflow, trainers, export"],
    env=env,
    capture_output=True,
    text=True,
    timeout=300,
  )
  assert done.returncode == 0, done.stderr[-2000:]
  told = done.stderr.count("TensorFlow was imported before trainers")
  ours = onednn.undecided(env, onednn.cpu_info(), platform.system(), platform.machine()) is None
  assert told == (1 if ours else 0), done.stderr[-2000:]


def test_a_home_without_a_writable_cache_falls_back_to_the_temp_folder(tmp_path, monkeypatch):
  # Before: a read-only (or missing) home left nothing remembered, and every program start
  # timed oneDNN again (29-133 s on a 2-core Zen 3) and every new step its forms.
  import tempfile

  from zoo.layers import form_choice

  monkeypatch.delenv(onednn.CACHE_ENV, raising=False)
  home = tmp_path / "home_is_a_file"
  home.write_text("")
  monkeypatch.setenv("HOME", str(home))
  monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
  fallback = str(tmp_path / "tmp" / f"videogan_zoo-{os.getuid()}")
  assert onednn.cache_directory() == form_choice.cache_directory() == fallback
  assert os.path.dirname(onednn.cache_path()) == os.path.dirname(form_choice.cache_path())
  monkeypatch.setenv("HOME", str(tmp_path / "home"))  # a home that can be written: it
  assert (
    onednn.cache_directory()
    == form_choice.cache_directory()
    == str(tmp_path / "home" / ".cache" / "videogan_zoo")
  )
  monkeypatch.setenv(onednn.CACHE_ENV, str(tmp_path / "chosen"))  # the user's choice: as given
  assert onednn.cache_directory() == form_choice.cache_directory() == str(tmp_path / "chosen")
