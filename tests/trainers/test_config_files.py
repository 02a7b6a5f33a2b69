"""trainers.config_files and trainers.cli: configs by name or path, one-line user errors, and
no import hijacking by the folder of a config file."""

import os
import subprocess
import sys
import textwrap

from absl import flags
import pytest

import configs
from trainers import cli
from trainers import config_files


def parse(argv):
  fv = flags.FlagValues()
  config_files.define_flag("config", flag_values=fv, sys_argv=argv)
  fv(argv)
  return fv.config


def test_name_and_path_give_the_same_config():
  by_name = config_files.load("vgan_two_stream:smoke")
  path = os.path.join(configs.__path__[0], "vgan_two_stream.py")
  assert config_files.load(f"{path}:smoke").to_dict() == by_name.to_dict()
  assert by_name.train.steps == 4


def test_a_config_file_elsewhere_uses_the_installed_configs(tmp_path):
  (tmp_path / "mine.py").write_text(
    textwrap.dedent("""\
      from configs import common
      from configs import vgan_two_stream

      def get_config(arg=None):
        arg = common.parse_arg(arg, smoke=False, steps=5)
        c = vgan_two_stream.get_config("smoke" if arg.smoke else None)
        c.train.steps = arg.steps
        return c
      """)
  )
  c = parse(["train", f"--config={tmp_path}/mine.py:smoke,steps=3", "--config.train.batch_size=1"])
  assert (c.train.steps, c.train.batch_size, c.data.num_frames) == (3, 1, 8)


@pytest.mark.parametrize(
  "argv, message",
  [
    (
      ["--config=vgan_two_streem"],
      "Unknown config 'vgan_two_streem'. Did you mean "
      "'vgan_two_stream'? Expected a path to a .py file or one of: dvdgan_s, ",
    ),
    (["--config=/no/such/config.py"], "Config file /no/such/config.py does not exist"),
    (
      # docs/training.md's path form, run where only the installed package exists
      ["--config=/no/such/configs/vgan_two_stream.py:smoke"],
      "Config file /no/such/configs/vgan_two_stream.py does not exist. "
      "The installed config of that name is --config=vgan_two_stream.",
    ),
    (
      ["--config=vgan_two_stream:smok"],
      "--config=vgan_two_stream:smok: Expected config "
      "argument keys from ['quickstart', 'smoke'], received 'smok' (did you mean 'smoke'?)",
    ),
    (
      ["--config=vgan_two_stream", "--config.train.stepz=3"],
      "Unknown config field "
      "--config.train.stepz: train has no 'stepz'; did you mean --config.train.steps?",
    ),
    (
      ["--config=vgan_two_stream", "--config.trian.steps=3"],
      "Unknown config field "
      "--config.trian.steps: the config has no 'trian'; did you mean --config.train?",
    ),
  ],
)
def test_user_errors_say_what_was_expected(argv, message):
  with pytest.raises(cli.UserError) as info:
    parse(["train", *argv])
  assert message in str(info.value)


@pytest.mark.parametrize(
  "text, message",
  [
    ("def get_config(:\n", "Expected Python in the config file {path}, line 1: invalid syntax."),
    ("import no_such_module_here\n", "The config file {path} raised ModuleNotFoundError: "),
    (
      "def get_config():\n  return {}['model']\n",
      "--config={path}: get_config raised KeyError: 'model' (-v 1 shows the traceback).",
    ),
  ],
)
def test_a_config_file_that_fails_is_one_line_naming_it(tmp_path, text, message):
  # Before: the file's SyntaxError or exception as a traceback.
  path = tmp_path / "mine.py"
  path.write_text(text)
  with pytest.raises(cli.UserError) as info:
    parse(["train", f"--config={path}"])
  assert message.format(path=path) in str(info.value)


def test_tuple_element_override_is_not_an_unknown_field():
  c = parse(["train", "--config=vgan_two_stream:smoke", "--config.data.outputs=('label',)"])
  assert tuple(c.data.outputs) == ("label",)


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_python(code, *args, cwd):
  # The checkout on the path, as pytest's own process has it (setup.cfg), so that the child
  # imports this tree whether or not (and wherever) the package is installed.
  path = os.pathsep.join(p for p in (ROOT, os.environ.get("PYTHONPATH")) if p)
  env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=path)
  return subprocess.run(
    [sys.executable, "-c", code, *args],
    cwd=cwd,
    env=env,
    capture_output=True,
    text=True,
    timeout=120,
  )


def test_user_error_is_one_line_and_status_2_traceback_only_with_verbosity(tmp_path):
  code = textwrap.dedent("""\
      from absl import flags
      from trainers import cli
      from trainers import config_files
      config_files.define_flag("config")
      def main(argv):
        raise AssertionError("main must not run")
      cli.run(main)
      """)
  res = run_python(code, "--config=vgan_two_streem", cwd=tmp_path)
  assert res.returncode == 2
  lines = res.stderr.strip().splitlines()
  assert lines[-1].startswith("-c: error: Unknown config 'vgan_two_streem'.")
  assert "Traceback" not in res.stderr
  verbose = run_python(code, "--config=vgan_two_streem", "-v", "1", cwd=tmp_path)
  assert verbose.returncode == 2 and "Traceback" in verbose.stderr


def test_config_folder_cannot_hijack_imports(tmp_path):
  """A config file in a world-writable folder, with a fake `ml_collections/` beside its
  folder and fake `configs` modules beside it: only the file itself is read."""
  folder = tmp_path / "configs"
  folder.mkdir()
  for fake in (
    tmp_path / "ml_collections" / "__init__.py",
    folder / "__init__.py",
    folder / "common.py",
    tmp_path / "zoo" / "__init__.py",
  ):
    fake.parent.mkdir(exist_ok=True)
    fake.write_text("raise RuntimeError('hijacked: ' + __file__)\n")
  (folder / "mine.py").write_text(
    textwrap.dedent("""\
      from configs import common
      from configs import vgan_two_stream

      def get_config(arg=None):
        return vgan_two_stream.get_config(arg)
      """)
  )
  # trainers.train's own flag definitions and parsing, as `python -m trainers.train` runs
  # them, in a fresh process; no training.
  code = textwrap.dedent("""\
      import sys
      from absl import flags
      from trainers import train
      path_before = list(sys.path)
      flags.FLAGS(sys.argv)
      import configs.common, ml_collections, zoo
      assert flags.FLAGS.config.train.steps == 4, flags.FLAGS.config.train.steps
      assert sys.path == path_before, sys.path
      for m in (configs.common, ml_collections, zoo):
        assert not m.__file__.startswith(sys.argv[-1]), m.__file__
      print("ok")
      """)
  elsewhere = tmp_path / "elsewhere"  # python -c puts its working folder on sys.path
  elsewhere.mkdir()
  res = run_python(
    code, f"--config={folder}/mine.py:smoke", "--workdir=unused", str(tmp_path), cwd=elsewhere
  )
  assert res.returncode == 0, res.stderr[-3000:]
  assert res.stdout.strip().endswith("ok")
  assert "hijacked" not in res.stderr


def test_console_entry_point_help_lists_the_programs_flags(tmp_path):
  """videogan-train (trainers.cli.train) shows trainers.train's docstring and flags."""
  code = "import sys; sys.argv[0] = 'videogan-train'; from trainers import cli; cli.train()"
  res = run_python(code, "--help", cwd=tmp_path)
  assert res.stdout.startswith("Trains any model of the zoo."), res.stdout[:300]
  assert "--config: A config name" in res.stdout and "--workdir:" in res.stdout
