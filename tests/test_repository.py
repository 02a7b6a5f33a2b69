"""The repository stands on its own: no references outside it, a short README, working links.

A clone (or the wheel) is all a reader has, so no tracked file may point at folders beside
the checkout or at a tracker's issue numbers; the README is the front door (two commands
first, a picture, at most 10 KB) and every relative link in it, in the other top-level pages
and in docs/ resolves. The wheel holds every file of the packages (code and package data)
and the sdist the whole tree, tests included.
"""

import ast
import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, "README.md")
DOCS = os.path.join(ROOT, "docs")

README_MAX_BYTES = 10 * 1024
PICTURE_MAX_BYTES = 300 * 1024
COMMANDS = (
  "pip install -e . && python -m trainers.train",
  "pip install -e '.[test]' && python -m pytest -q -n 2",
)
# Where the first lines end: the commands must be read before anything else.
FIRST_LINES = 10

# Outside references: the folder beside the checkout, tracker issues (the word followed by a
# number, after a space, a hyphen or a "#") and the design notes that lived outside (now
# docs/architecture.md).
FORBIDDEN = {
  "a path outside the repository": re.compile(r"\.\./shared"),
  "an issue number": re.compile(r"\b[Ii]ssues?[ -]#?[0-9]+"),
  "the design notes outside the repository": re.compile(r"ARCHITECTURES\.md"),
}
# The changelog may name what a release fixed in the words of its time.
EXEMPT = {"CHANGELOG.md"}
BINARY = (".png", ".gif", ".jpg", ".jpeg", ".mp4", ".npz", ".tflite", ".h5", ".whl")

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?([^)\s>]+)>?")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"`[^`]*`")


def _tracked_files():
  if not os.path.isdir(os.path.join(ROOT, ".git")) and not os.path.isfile(
    os.path.join(ROOT, ".git")
  ):
    pytest.skip("Not a git checkout (e.g. an installed wheel): nothing to list.")
  out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True)
  files = [f for f in out.stdout.decode().split("\0") if f]
  assert files, "Expected git ls-files to list the repository's files, received none."
  return files


def _markdown_files():
  """README, the other top-level pages and docs/*.md."""
  docs = sorted(os.path.join(DOCS, f) for f in os.listdir(DOCS) if f.endswith(".md"))
  assert docs, f"Expected markdown pages in {DOCS}, received none."
  top = [os.path.join(ROOT, f) for f in ("CONTRIBUTING.md", "CHANGELOG.md")]
  return [README] + [f for f in top if os.path.isfile(f)] + docs


def _prose(path, code_spans=False):
  """The lines of a markdown file outside code blocks, and without code spans unless asked
  (code is not a link; a heading's anchor keeps its code's text)."""
  lines, in_code = [], False
  with open(path, encoding="utf-8") as f:
    for line in f:
      if FENCE.match(line):
        in_code = not in_code
        continue
      if not in_code:
        lines.append(line if code_spans else CODE_SPAN.sub("", line))
  return lines


def _slug(heading):
  """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
  text = re.sub(r"[`*_]|\[([^\]]*)\]\([^)]*\)", r"\1", heading.strip().lower())
  text = re.sub(r"[^\w\- ]", "", text)
  return text.replace(" ", "-")


def _anchors(path):
  anchors, seen = set(), {}
  for line in _prose(path, code_spans=True):
    m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
    if not m:
      continue
    slug = _slug(m.group(1))
    n = seen.get(slug, 0)
    seen[slug] = n + 1
    anchors.add(slug if n == 0 else f"{slug}-{n}")
  return anchors


def test_no_file_refers_outside_the_repository():
  found = []
  for name in _tracked_files():
    if name in EXEMPT or name.lower().endswith(BINARY):
      continue
    path = os.path.join(ROOT, name)
    if not os.path.isfile(path):
      continue  # deleted in the work tree, not yet committed
    with open(path, "rb") as f:
      text = f.read().decode("utf-8", errors="ignore")
    for number, line in enumerate(text.splitlines(), 1):
      for what, pattern in FORBIDDEN.items():
        if pattern.search(line):
          found.append(f"{name}:{number}: {what}: {line.strip()[:100]}")
  assert not found, "Expected no references outside the repository, received:\n" + "\n".join(found)


def test_readme_is_short():
  size = os.path.getsize(README)
  assert size <= README_MAX_BYTES, (
    f"Expected README.md of at most {README_MAX_BYTES} bytes, received {size}: move "
    "reference material into docs/."
  )


def test_readme_starts_with_the_two_commands():
  with open(README, encoding="utf-8") as f:
    head = "".join(f.readline() for _ in range(FIRST_LINES))
  for command in COMMANDS:
    assert command in head, (
      f"Expected the command {command!r} in README.md's first {FIRST_LINES} lines, "
      f"received:\n{head}"
    )


def test_readme_picture_is_committed_and_small():
  images = [m.group(1) for line in _prose(README) for m in IMAGE.finditer(line)]
  assert images, "Expected a picture (![...](path)) in README.md, received none."
  target = images[0]
  assert "://" not in target, f"Expected README's picture in the repository, received {target}."
  path = os.path.normpath(os.path.join(ROOT, target))
  assert os.path.isfile(path), f"Expected README's picture at {target}, received no such file."
  size = os.path.getsize(path)
  assert size <= PICTURE_MAX_BYTES, (
    f"Expected README's picture {target} of at most {PICTURE_MAX_BYTES} bytes, received {size}."
  )


def test_relative_links_resolve():
  broken, checked = _broken_links(_markdown_files(), ROOT)
  assert checked, "Expected relative links in README.md and docs/, received none."
  assert not broken, "Expected every relative link to resolve, received:\n" + "\n".join(broken)


def _broken_links(pages, root):
  """([page: target, ...] of the relative links in `pages` that do not resolve, the number
  of relative links checked); names relative to `root`."""
  broken, checked = [], 0
  for page in pages:
    name = os.path.relpath(page, root)
    for line in _prose(page):
      for m in LINK.finditer(line):
        target = m.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I):
          continue  # http:, https:, mailto:
        checked += 1
        file_part, _, anchor = target.partition("#")
        path = (
          os.path.normpath(os.path.join(os.path.dirname(page), file_part)) if file_part else page
        )
        if not os.path.exists(path):
          broken.append(f"{name}: {target} (no file {os.path.relpath(path, root)})")
        elif anchor and path.endswith(".md") and anchor not in _anchors(path):
          broken.append(f"{name}: {target} (no heading with anchor #{anchor})")
  return broken, checked


# What the wheel installs: the packages the programs run from (setup.cfg), every file of
# theirs (code and package data). The sdist is the whole tracked tree but for these.
PACKAGES = ("zoo", "trainers", "export", "configs")
DOC_DIR = "share/doc/videogan-zoo"  # setup.cfg's data_files
NOT_IN_SDIST = {".gitignore"}


def test_the_wheel_and_sdist_hold_what_users_run(tmp_path):
  """Both distributions are built from a copy of the tracked files (the checkout's build/ and
  egg-info stay out of it): the wheel holds every file of the packages and nothing else, the
  sdist every tracked file, so that the tests run in it as in a clone."""
  files = _tracked_files()
  source, out = tmp_path / "source", tmp_path / "dist"
  for name in files:
    if os.path.isfile(os.path.join(ROOT, name)):
      os.makedirs(source / os.path.dirname(name), exist_ok=True)
      shutil.copy2(os.path.join(ROOT, name), source / name)
  for kind in ("sdist", "wheel"):  # one process each: build_meta keeps state between builds
    done = subprocess.run(
      [sys.executable, "-c", f"import setuptools.build_meta as b; b.build_{kind}({str(out)!r})"],
      cwd=source,
      capture_output=True,
      text=True,
    )
    assert done.returncode == 0, f"Expected the {kind} to build, received:\n{done.stderr}"
  (wheel_path,), (sdist_path,) = out.glob("*.whl"), out.glob("*.tar.gz")
  with zipfile.ZipFile(wheel_path) as z:
    wheel = {n for n in z.namelist() if ".dist-info/" not in n}
  with tarfile.open(sdist_path) as t:
    sdist = {m.name.split("/", 1)[1] for m in t.getmembers() if m.isfile() and "/" in m.name}
  present = {n for n in files if os.path.isfile(os.path.join(ROOT, n))}
  ours = {n for n in present if n.split("/")[0] in PACKAGES}
  assert ours, f"Expected tracked files under {PACKAGES}, received none."
  assert not ours - wheel, f"Expected in the wheel, missing: {sorted(ours - wheel)}"
  extra = {n for n in wheel - ours if f".data/data/{DOC_DIR}/" not in n}
  assert not extra, f"Expected only the packages' files and docs in the wheel: {sorted(extra)}"
  missing = present - NOT_IN_SDIST - sdist
  assert not missing, f"Expected every tracked file in the sdist, missing: {sorted(missing)}"
  # The docs beside the install (<prefix>/share/doc/videogan-zoo), laid out as in a clone:
  # every relative link of the README and docs/ resolves there.
  with zipfile.ZipFile(wheel_path) as z:
    prefix = next(n for n in z.namelist() if ".data/data/" in n).split(".data/data/")[0]
    doc_files = [n for n in z.namelist() if n.startswith(f"{prefix}.data/data/{DOC_DIR}/")]
    z.extractall(tmp_path / "installed", doc_files)
  installed = tmp_path / "installed" / f"{prefix}.data" / "data" / DOC_DIR
  pages = [str(installed / "README.md")] + sorted(str(p) for p in installed.glob("docs/*.md"))
  assert len(pages) == 1 + len(os.listdir(DOCS)) - 1, pages  # every page of docs/ (not images/)
  broken, checked = _broken_links(pages, str(installed))
  assert checked and not broken, f"Expected the installed docs' links to resolve: {broken}"


# The import graph stays layered: zoo imports nothing of ours, trainers imports zoo (and the
# configs it loads), export imports zoo and the trainer's IO and CLI plumbing, bench sits on
# top. Keys: a package; values: the first-party modules it may import (a prefix allows its
# submodules).
OURS = ("zoo", "trainers", "export", "configs", "bench")
ALLOWED = {
  "zoo": ("zoo",),
  "configs": ("configs",),
  "trainers": ("trainers", "zoo", "configs"),
  "export": (
    "export",
    "zoo",
    "trainers.cli",
    "trainers.errors",
    "trainers.onednn",
    "trainers.workdir",
    "trainers.data.format",
    "trainers.data.video_io",
  ),
}


def _imports(path):
  with open(path) as f:
    tree = ast.parse(f.read(), path)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      yield from (a.name for a in node.names)
    elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
      yield from (f"{node.module}.{a.name}" for a in node.names)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_the_import_graph_is_layered(package):
  bad, files = [], 0
  for folder, _, names in os.walk(os.path.join(ROOT, package)):
    for name in names:
      if not name.endswith(".py"):
        continue
      files += 1
      path = os.path.join(folder, name)
      for module in _imports(path):
        if module.split(".")[0] not in OURS:
          continue
        if not any(module == a or module.startswith(a + ".") for a in ALLOWED[package]):
          bad.append(f"{os.path.relpath(path, ROOT)} imports {module}")
  assert files, package
  assert not bad, "\n".join(bad)
