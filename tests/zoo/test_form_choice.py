"""zoo.layers.form_choice: the fastest form is measured once, remembered on disk, shared
safely between processes; the policy switch."""

import json
import logging
import os
import threading
import time

import pytest
import tensorflow as tf

from zoo.layers import form_choice


class _Forms:
  """Two fake forms, "slow" sleeping 20 ms per call, "fast" not; counts calls."""

  def __init__(self):
    self.calls = {"slow": 0, "fast": 0}

  def candidates(self):
    return {"slow": self._run("slow", 0.02), "fast": self._run("fast", 0.0)}

  def _run(self, name, secs):
    def run():
      self.calls[name] += 1
      time.sleep(secs)

    return run


def _never():
  raise AssertionError("Expected no measurement, a form was run.")


def test_picks_the_faster_form_once(tmp_path):
  chooser = form_choice.Chooser(str(tmp_path / "forms.json"))
  forms = _Forms()
  assert chooser.choose("k", forms.candidates()) == "fast"
  assert forms.calls["slow"] >= 2  # a warm-up, then at least one timed call
  calls = dict(forms.calls)
  assert chooser.choose("k", forms.candidates()) == "fast"
  assert forms.calls == calls
  entry = json.loads((tmp_path / "forms.json").read_text())["k"]
  assert entry["form"] == "fast" and entry["ms"]["slow"] > entry["ms"]["fast"]


def test_a_clearly_slower_form_is_timed_once(tmp_path):
  chooser = form_choice.Chooser(str(tmp_path / "forms.json"))
  forms = _Forms()
  fast_first = dict(reversed(forms.candidates().items()))
  assert chooser.choose("k", fast_first) == "fast"
  assert forms.calls["slow"] == 2 and forms.calls["fast"] == 1 + form_choice.TIMED_CALLS


def test_choice_survives_a_restart(tmp_path):
  path = str(tmp_path / "forms.json")
  assert form_choice.Chooser(path).choose("k", _Forms().candidates()) == "fast"
  restarted = form_choice.Chooser(path)
  assert restarted.choose("k", {"slow": _never, "fast": _never}) == "fast"


def test_native_is_kept_unless_clearly_faster(tmp_path, monkeypatch):
  """Another form replaces TF's op only when NATIVE_MARGIN faster (timings here are given)."""
  monkeypatch.setattr(form_choice, "_median_secs", lambda run, slow: run())
  chooser = form_choice.Chooser(str(tmp_path / "forms.json"))
  native = form_choice.NATIVE
  assert chooser.choose("a", {native: lambda: 0.0100, "other": lambda: 0.0097}) == native
  assert chooser.choose("b", {native: lambda: 0.0100, "other": lambda: 0.0090}) == "other"
  assert chooser.choose("c", {native: lambda: 0.0090, "other": lambda: 0.0100}) == native


def test_unmeasurable_takes_the_remembered_choice_or_native(tmp_path):
  chooser = form_choice.Chooser(str(tmp_path / "forms.json"))
  candidates = {"patch": _never, form_choice.NATIVE: _never}
  assert chooser.choose("k", candidates, measurable=False) == form_choice.NATIVE
  assert not (tmp_path / "forms.json").exists()
  chooser.choose("m", _Forms().candidates())
  assert chooser.choose("m", {"slow": _never, "fast": _never}, measurable=False) == "fast"


def test_nothing_is_measured_inside_unmeasured(tmp_path, monkeypatch):
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  candidates = {"patch": _never, form_choice.NATIVE: _never}
  with form_choice.unmeasured():
    assert form_choice.choose("k", candidates) == form_choice.NATIVE
  assert not list(tmp_path.glob("forms-*.json"))
  assert form_choice.choose("m", _Forms().candidates()) == "fast"  # measured again after
  with form_choice.unmeasured():
    assert form_choice.choose("m", {"slow": _never, "fast": _never}) == "fast"  # remembered


def test_choose_form_keys_every_batch_operand_and_measures_only_static_shapes(
  tmp_path, monkeypatch
):
  """`choose_form` caps every batch operand at MEASURE_MAX_BATCH in its key, builds a form's
  operands only when it is timed, and times nothing when any operand's shape is not static."""
  monkeypatch.setenv(form_choice.POLICY_ENV, "auto")
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
  monkeypatch.setattr(form_choice, "_CHOOSERS", {})
  monkeypatch.setattr(form_choice, "MEASURE_MAX_BATCH", 2)
  built = []

  def runner(name, *shapes):
    def build():
      built.append((name, [s.as_list() for s in shapes]))
      return {"slow": lambda: time.sleep(0.02), "fast": lambda: None}[name]

    return form_choice.once_built(build)

  forms = ("slow", "fast")
  args = ("op", tf.float32, [5, 3], "k3", forms, "fast", runner)
  unknown = form_choice.choose_form(*args, others=[tf.TensorShape([None, 4])])
  assert unknown == "slow" and not built  # neither native nor remembered: the first form
  assert form_choice.choose_form(*args, others=[[7, 4]]) == "fast"
  assert sorted(built) == [("fast", [[2, 3], [2, 4]]), ("slow", [[2, 3], [2, 4]])]
  assert list(form_choice.cached_choices()) == ["op float32 [2, 3] k3 [2, 4] fast,slow"]
  built.clear()
  assert form_choice.choose_form(*args, others=[[3, 4]]) == "fast" and not built
  # A form whose code changed is keyed with its version: measured again, once.
  assert form_choice.choose_form(*args, others=[[3, 4]], versions={"fast": 2}) == "fast"
  assert built and "op float32 [2, 3] k3 [2, 4] fast@2,slow" in form_choice.cached_choices()


def test_corrupt_cache_is_measured_over(tmp_path, caplog):
  path = tmp_path / "forms.json"
  path.write_text("{not json")
  assert form_choice.Chooser(str(path)).choose("k", _Forms().candidates()) == "fast"
  assert json.loads(path.read_text())["k"]["form"] == "fast"
  assert "unreadable forms cache" in caplog.text


def test_cache_entries_of_another_shape_are_measured_over(tmp_path):
  """Valid JSON whose entries are not what the chooser writes (a list for the form, a list
  for the timings) raised TypeError in the first layer built; now they count as missing."""
  path = tmp_path / "forms.json"
  path.write_text(json.dumps({"a": {"form": ["slow"]}, "b": {"form": "slow", "ms": [1, 2]}}))
  chooser = form_choice.Chooser(str(path))
  assert chooser.choose("a", _Forms().candidates()) == "fast"
  assert chooser.measured("b") == {}
  assert chooser.choose("b", _Forms().candidates()) == "fast"
  assert json.loads(path.read_text())["b"]["form"] == "fast"


def test_unwritable_cache_keeps_choices_in_memory(tmp_path, caplog):
  blocker = tmp_path / "file"
  blocker.write_text("")
  chooser = form_choice.Chooser(str(blocker / "forms.json"))  # under a file: never writable
  forms = _Forms()
  assert chooser.choose("a", forms.candidates()) == "fast"
  assert chooser.choose("b", forms.candidates()) == "fast"
  calls = dict(forms.calls)
  assert chooser.choose("a", forms.candidates()) == "fast"
  assert forms.calls == calls
  warnings = [r for r in caplog.records if "cannot write" in r.getMessage()]
  assert len(warnings) == 1


def test_concurrent_writers_lose_nothing(tmp_path):
  path = str(tmp_path / "forms.json")
  first, second = form_choice.Chooser(path), form_choice.Chooser(path)
  first.choose("a", _Forms().candidates())
  second.choose("b", _Forms().candidates())  # read "a", then wrote both
  first.choose("c", _Forms().candidates())  # its memory lacks "b": merged from the file
  choosers = [form_choice.Chooser(path) for _ in range(4)]
  threads = [
    threading.Thread(target=c.choose, args=(f"t{i}", _Forms().candidates()))
    for i, c in enumerate(choosers)
  ]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  with open(path) as f:
    assert set(json.load(f)) == {"a", "b", "c", "t0", "t1", "t2", "t3"}
  assert form_choice.Chooser(path).choose("b", {"slow": _never, "fast": _never}) == "fast"


def test_module_choose_uses_the_cache_directory(tmp_path, monkeypatch):
  monkeypatch.setenv(form_choice.CACHE_ENV, str(tmp_path))
  assert form_choice.cached_choices() == {}
  assert form_choice.choose("k", _Forms().candidates()) == "fast"
  assert form_choice.cached_choices()["k"]["form"] == "fast"
  (written,) = tmp_path.glob("forms-*.json")
  assert written == tmp_path / os.path.basename(form_choice.cache_path())
  assert "tf" in written.name and "k" in json.loads(written.read_text())


def test_a_tpu_does_not_read_its_host_cpus_choices(monkeypatch):
  """A TPU host's CPU runs measure forms; the TPU (XLA: native unless remembered for it) gets
  a cache file of its own."""
  cpu_file = form_choice.cache_path()
  visible = lambda kind=None: ["/device:TPU:0"] if kind == "TPU" else []
  monkeypatch.setattr(tf.config, "list_logical_devices", visible)
  form_choice.device_name.cache_clear()
  try:
    assert form_choice.device_name() == "TPU"
    assert os.path.basename(form_choice.cache_path()).startswith("forms-TPU-tf")
    assert form_choice.cache_path() != cpu_file
  finally:
    form_choice.device_name.cache_clear()


@pytest.mark.parametrize(
  "cpuinfo, name",
  [
    (
      "processor\t: 0\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 17\n"
      "model name\t: AMD EPYC\n",
      "CPU AMD EPYC family 25 model 17 {} threads",
    ),
    (
      "processor\t: 0\nBogoMIPS\t: 243.75\nCPU implementer\t: 0x41\nCPU variant\t: 0x1\n"
      "CPU part\t: 0xd40\n",
      "CPU {machine} implementer 0x41 part 0xd40 variant 0x1 {} threads",
    ),
  ],
)
def test_a_cpu_is_named_by_model_and_threads(monkeypatch, tmp_path, cpuinfo, name):
  """Arm CPUs have no model name (all would share one cache); the same CPU model with 2 or
  32 cores (cluster jobs sharing a home directory) chooses differently, so the threads TF
  runs on are part of the name."""
  import builtins
  import platform

  real_open = builtins.open
  path = tmp_path / "cpuinfo"
  path.write_text(cpuinfo)
  monkeypatch.setattr(
    builtins, "open", lambda f, *a, **k: real_open(path if f == "/proc/cpuinfo" else f, *a, **k)
  )
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
  names = []
  try:
    for threads in (2, 32):
      monkeypatch.setattr(os, "sched_getaffinity", lambda pid, n=threads: set(range(n)))
      form_choice.device_name.cache_clear()
      names.append(form_choice.device_name())
  finally:
    form_choice.device_name.cache_clear()
  machine = platform.machine()
  assert names == [name.format(2, machine=machine), name.format(32, machine=machine)]


def test_a_mac_is_named_by_its_brand_string(monkeypatch):
  """macOS has no /proc/cpuinfo and platform.processor() says "arm" on every Apple chip."""
  import platform
  import subprocess

  monkeypatch.setattr(platform, "system", lambda: "Darwin")
  monkeypatch.setattr(platform, "processor", lambda: "arm")
  calls = []

  def sysctl(command, **kwargs):
    calls.append(command)
    return subprocess.CompletedProcess(command, 0, stdout="Apple M2 Pro\n", stderr="")

  monkeypatch.setattr(subprocess, "run", sysctl)
  monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [])
  monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(10)), raising=False)
  real_open = open

  def no_cpuinfo(f, *a, **k):
    if f == "/proc/cpuinfo":
      raise FileNotFoundError(f)
    return real_open(f, *a, **k)

  import builtins

  monkeypatch.setattr(builtins, "open", no_cpuinfo)
  form_choice.device_name.cache_clear()
  try:
    assert form_choice.device_name() == "CPU Apple M2 Pro 10 threads"
  finally:
    form_choice.device_name.cache_clear()
  assert calls == [["sysctl", "-n", "machdep.cpu.brand_string"]]


def test_policy_from_environment_and_override(monkeypatch):
  monkeypatch.setenv(form_choice.POLICY_ENV, "patch")
  assert form_choice.policy() == "patch"
  form_choice.set_policy("native")
  try:
    assert form_choice.policy() == "native"
  finally:
    form_choice.set_policy(None)
  assert form_choice.policy() == "patch"
  monkeypatch.delenv(form_choice.POLICY_ENV)
  assert form_choice.policy() == "auto"
  monkeypatch.setenv(form_choice.POLICY_ENV, "fastest")
  with pytest.raises(ValueError, match="Expected VIDEOGAN_CONV_FORMS in"):
    form_choice.policy()
  with pytest.raises(ValueError, match="received 'fastest'"):
    form_choice.set_policy("fastest")


def test_timing_many_forms_does_not_warn_about_retracing(tmp_path, monkeypatch):
  """Each timed form is a new tf.function of the same code: TF's retracing warning would say
  the user made a mistake."""
  monkeypatch.setattr(form_choice, "TIMED_CALLS", 1)  # a trace every other call, as slow forms
  records = []
  handler = logging.Handler()
  handler.emit = records.append
  tf.get_logger().addHandler(handler)

  def form():
    fn = tf.function(lambda x: x + 1.0)
    return lambda: fn(tf.ones([2]))

  try:
    chooser = form_choice.Chooser(str(tmp_path / "forms.json"))
    for key in range(8):
      chooser.choose(f"k{key}", {"native": form(), "other": form()})
  finally:
    tf.get_logger().removeHandler(handler)
  assert len(json.loads((tmp_path / "forms.json").read_text())) == 8
  assert not [r for r in records if "retracing" in r.getMessage()]
