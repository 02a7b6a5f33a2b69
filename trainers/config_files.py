"""Config files by name or by path: `--config=vgan_two_stream:smoke` or `--config=my.py:smoke`.

A name is a module of the installed `configs` package (`names()` lists them). A path is a
Python file, loaded from that file with importlib; its `from configs import common` resolves
to the installed package. Nothing is added to sys.path, so the folder holding a config file
cannot shadow an installed package (a fake `ml_collections/` beside it is never imported).
After the colon comes the config's argument, e.g. `smoke` or `smoke,frames=8`
(`configs.common.parse_arg`).

Every mistake (an unknown name, a missing file, a bad argument, an unknown
`--config.x.y` field) is a `cli.UserError` whose one line says what was expected.
"""

import difflib
import importlib
import importlib.util
import os
import pkgutil
import re
import sys
import types

from absl import flags
import ml_collections
from ml_collections import config_flags

import configs
from trainers import cli

_HELPERS = ("common",)  # modules of `configs` that are not configs

# --config belongs to the program that calls define_flag (its --help lists it), not to us.
flags.disclaim_key_flags()


def names() -> list[str]:
  """The config names of the installed `configs` package, sorted."""
  return sorted(
    m.name
    for m in pkgutil.iter_modules(configs.__path__)
    if m.name not in _HELPERS and not m.name.startswith("_")
  )


def _is_path(where: str) -> bool:
  return where.endswith(".py") or os.sep in where or "/" in where


def _module_by_name(name: str) -> types.ModuleType:
  known = names()
  if name not in known:
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise cli.UserError(
      f"Unknown config {name!r}.{hint} Expected a path to a .py file or one of: {', '.join(known)}."
    )
  return importlib.import_module(f"configs.{name}")


def _module_by_path(path: str) -> types.ModuleType:
  if not os.path.isfile(path):
    stem = os.path.splitext(os.path.basename(path))[0]
    # e.g. configs/NAME.py of a checkout, given where only the installed package exists
    hint = f" The installed config of that name is --config={stem}." if stem in names() else ""
    raise cli.UserError(
      f"Config file {path} does not exist.{hint} Expected a .py file or one of "
      f"the names {', '.join(names())}."
    )
  folder = os.path.realpath(os.path.dirname(path))
  stem = os.path.splitext(os.path.basename(path))[0]
  if folder in {os.path.realpath(p) for p in configs.__path__} and stem in names():
    return importlib.import_module(f"configs.{stem}")  # the installed module itself
  spec = importlib.util.spec_from_file_location(f"config_file_{stem}", path)
  module = importlib.util.module_from_spec(spec)
  try:
    spec.loader.exec_module(module)
  except SyntaxError as e:
    where = f"{path}, line {e.lineno}"
    raise cli.UserError(f"Expected Python in the config file {where}: {e.msg}.") from e
  except Exception as e:  # its own code failed: the user's to fix, the traceback with -v 1
    raise cli.UserError(
      f"The config file {path} raised {type(e).__name__}: {e} (-v 1 shows the traceback)."
    ) from e
  return module


def load(spec: str) -> ml_collections.ConfigDict:
  """The ConfigDict of `spec`: NAME or PATH, optionally followed by `:ARG`."""
  where, _, arg = spec.partition(":")
  if not where:
    raise cli.UserError(f"Expected --config=NAME[:ARG] or PATH.py[:ARG], received {spec!r}.")
  module = _module_by_path(where) if _is_path(where) else _module_by_name(where)
  get_config = getattr(module, "get_config", None)
  if get_config is None:
    raise cli.UserError(f"Expected a get_config(arg) function in {module.__file__}.")
  try:
    return get_config(arg) if arg else get_config()
  except ValueError as e:  # the config's argument (configs.common.parse_arg, shrink checks)
    raise cli.UserError(f"--config={spec}: {e}") from e
  except Exception as e:  # a user's config file whose get_config fails
    if not _is_path(where):
      raise  # a packaged config's failure is a bug of the zoo: its traceback
    raise cli.UserError(
      f"--config={spec}: get_config raised {type(e).__name__}: {e} (-v 1 shows the traceback)."
    ) from e


def _field_error(config: ml_collections.ConfigDict, path: str, flag: str) -> str | None:
  """Why `path` (e.g. "train.steps") names no field of `config`; None when it does."""
  node, seen = config, []
  for key in path.split("."):
    key, _, index = key.partition("[")  # a[0]: the tuple's element, checked by the override
    if not isinstance(node, (ml_collections.ConfigDict, dict)) or key not in node:
      keys = sorted(node.keys()) if isinstance(node, (ml_collections.ConfigDict, dict)) else []
      where = ".".join(seen) or "the config"
      close = difflib.get_close_matches(key, keys, n=1)
      hint = f"; did you mean --{flag}.{'.'.join([*seen, close[0]])}?" if close else "."
      return f"Unknown config field --{flag}.{path}: {where} has no {key!r}{hint}"
    if index:
      return None
    node = node[key]
    seen.append(key)
  return None


class _ConfigParser(flags.ArgumentParser):
  """Parses --config=SPEC with `load`, then checks each --config.x.y of the command line."""

  def __init__(self, name: str, lock_config: bool, sys_argv: list[str] | None):
    self.name, self.lock_config, self.sys_argv = name, lock_config, sys_argv

  def parse(self, argument):
    config = load(argument)
    argv = sys.argv if self.sys_argv is None else self.sys_argv
    for arg in argv:
      match = re.match(rf"^--?(?:no)?{self.name}\.([^=\s]+)", arg)
      error = match and _field_error(config, match.group(1), self.name)
      if error:
        raise cli.UserError(error)
    if self.lock_config:
      config.lock()
    return config

  def flag_type(self):
    return "config name or file"


def define_flag(
  name: str = "config",
  default: str | None = None,
  help_string: str = "A config name (e.g. vgan_two_stream:smoke) or file (FILE.py[:ARG]).",
  lock_config: bool = True,
  flag_values: flags.FlagValues = flags.FLAGS,
  sys_argv: list[str] | None = None,
) -> flags.FlagHolder:
  """Defines --NAME (a config by name or path) with ml_collections' --NAME.x.y overrides.

  ml_collections' own DEFINE_config_file takes paths only; its flag is kept (the overrides
  parse by field type) and given the parser of `load`.
  """
  holder = config_flags.DEFINE_config_file(
    name, None, help_string, flag_values=flag_values, lock_config=lock_config, sys_argv=sys_argv
  )
  flag_values[name].parser = _ConfigParser(name, lock_config, sys_argv)
  if default is not None:
    try:  # parsed now when the command line has no --NAME, overrides included
      flag_values.set_default(name, default)
    except cli.UserError as e:
      cli.fail(e, sys_argv)
  return holder
