"""The code runs on every Python that setup.cfg admits, not only on the one the tests run on.

The suite usually runs on one interpreter, so what only a newer Python has would pass here
and fail on the declared minimum: syntax (`except*`), a standard-library name (`tomllib`,
`datetime.UTC`, `typing.Self`) or an option a child process is started with (`python -P`);
and a module a newer Python removed (`imghdr`, `cgi`, `pipes` in 3.13) would fail there.
Every Python file of the packages, the tests, the benchmarks and the notebook's code cells
is parsed with the minimum's grammar and searched for those names.
"""

import ast
import configparser
import json
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FOLDERS = ("zoo", "trainers", "export", "configs", "bench", "tests")
# The newest Python the suite has run on (README, Python versions).
NEWEST = (3, 13)

# Names by the Python that added them (a module, or module.attribute; builtins bare).
ADDED = {
  (3, 11): (
    "tomllib wsgiref.types datetime.UTC typing.Self typing.LiteralString typing.Never "
    "typing.assert_never typing.assert_type typing.reveal_type typing.TypeVarTuple "
    "typing.Unpack typing.Required typing.NotRequired typing.dataclass_transform "
    "enum.StrEnum enum.ReprEnum enum.verify enum.member enum.nonmember enum.global_enum "
    "asyncio.TaskGroup asyncio.timeout asyncio.Runner contextlib.chdir hashlib.file_digest "
    "operator.call re.NOFLAG logging.getLevelNamesMapping math.cbrt math.exp2 "
    "ExceptionGroup BaseExceptionGroup"
  ),
  (3, 12): "itertools.batched typing.override typing.TypeAliasType math.sumprod sys.monitoring",
  (3, 13): "warnings.deprecated copy.replace typing.TypeIs typing.ReadOnly math.fma",
}
# Interpreter options by the Python that added them, as a command list starting with
# sys.executable passes them.
OPTIONS = {(3, 11): "-P", (3, 12): "-Xperf", (3, 13): "-Xcpu_count -Xgil"}
# Modules by the Python that removed them (PEP 594 and PEP 632, and imp).
REMOVED = {
  (3, 12): "asynchat asyncore smtpd imp distutils",
  (3, 13): (
    "aifc audioop cgi cgitb chunk crypt imghdr lib2to3 mailcap msilib nis nntplib "
    "ossaudiodev pipes sndhdr spwd sunau telnetlib uu xdrlib"
  ),
}


def _minimum():
  cfg = configparser.ConfigParser()
  cfg.read(os.path.join(ROOT, "setup.cfg"))
  spec = cfg["options"]["python_requires"]
  m = re.fullmatch(r">=\s*3\.(\d+)", spec.strip())
  assert m, f"Expected python_requires of the form '>=3.N' in setup.cfg, received: {spec!r}"
  return 3, int(m.group(1))


def _sources():
  """(name, source) of every Python file and notebook code cell we ship or run."""
  for folder in FOLDERS:
    for where, _, names in os.walk(os.path.join(ROOT, folder)):
      for name in sorted(n for n in names if n.endswith(".py")):
        path = os.path.join(where, name)
        with open(path, encoding="utf-8") as f:
          yield os.path.relpath(path, ROOT), f.read()
  notebooks = os.path.join(ROOT, "notebooks")
  for name in sorted(n for n in os.listdir(notebooks) if n.endswith(".ipynb")):
    with open(os.path.join(notebooks, name), encoding="utf-8") as f:
      cells = json.load(f)["cells"]
    for i, cell in enumerate(c for c in cells if c["cell_type"] == "code"):
      lines = "".join(cell["source"]).splitlines()
      # Shell and magic lines are IPython's, not Python's.
      code = "\n".join("" if l.lstrip().startswith(("!", "%")) else l for l in lines)
      yield f"notebooks/{name} code cell {i}", code


def _names(tree):
  """(line, name, imported) of the standard-library names a module may use: imported modules,
  `from m import n` as m.n, `m.n` through an imported module, and bare names (builtins)."""
  modules = {}
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for a in node.names:
        top = a.name.split(".")[0]
        modules[a.asname or top] = a.name if a.asname else top
        yield node.lineno, a.name, True
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield node.lineno, node.module, True
      yield from ((node.lineno, f"{node.module}.{a.name}", True) for a in node.names)
  for node in ast.walk(tree):
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
      if node.value.id in modules:
        yield node.lineno, f"{modules[node.value.id]}.{node.attr}", False
    elif isinstance(node, ast.Name):
      yield node.lineno, node.id, False
    elif isinstance(node, ast.List | ast.Tuple) and node.elts:
      first = node.elts[0]
      if isinstance(first, ast.Attribute) and ast.unparse(first) == "sys.executable":
        for e in node.elts[1:]:
          if isinstance(e, ast.Constant) and isinstance(e.value, str) and e.value[:1] == "-":
            yield e.lineno, "python " + e.value.split("=")[0].replace("-X ", "-X"), False


def _table(by_version, keep):
  """{name: "3.N"} of the versions that `keep` selects."""
  return {n: f"{v[0]}.{v[1]}" for v, names in by_version.items() if keep(v) for n in names.split()}


def test_no_module_needs_a_newer_or_older_python():
  minimum = _minimum()
  floor = f"{minimum[0]}.{minimum[1]}"
  added = _table(ADDED, lambda v: v > minimum)
  added.update({f"python {o}": v for o, v in _table(OPTIONS, lambda v: v > minimum).items()})
  removed = _table(REMOVED, lambda v: v <= NEWEST)
  bad, files = [], 0
  for name, source in _sources():
    files += 1
    try:
      tree = ast.parse(source, name, feature_version=minimum)
    except SyntaxError as e:
      bad.append(f"{name}:{e.lineno}: syntax newer than Python {floor}: {e.msg}")
      continue
    for line, used, imported in _names(tree):
      if used in added:
        bad.append(f"{name}:{line}: {used} is new in Python {added[used]}")
      elif imported and used.split(".")[0] in removed:
        bad.append(f"{name}:{line}: {used} was removed in Python {removed[used.split('.')[0]]}")
  assert files > 100, f"Expected the repository's Python files, received {files}."
  assert not bad, "\n".join(sorted(set(bad)))
