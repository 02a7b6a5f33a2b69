"""The notebooks run top to bottom (at smoke size: VIDEOGAN_NOTEBOOK_SMOKE=1) without an error."""

import os

from nbclient import NotebookClient
import nbformat
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = sorted(
  os.path.join(ROOT, "notebooks", n)
  for n in os.listdir(os.path.join(ROOT, "notebooks"))
  if n.endswith(".ipynb")
)


def test_there_are_notebooks():
  assert [os.path.basename(n) for n in NOTEBOOKS] == ["quickstart.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_top_to_bottom(path, tmp_path, monkeypatch):
  monkeypatch.setenv("VIDEOGAN_NOTEBOOK_SMOKE", "1")
  monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
  # The kernel imports this checkout's packages, as a user's kernel imports the installed ones.
  monkeypatch.setenv(
    "PYTHONPATH",
    os.pathsep.join([ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]),
  )
  with open(path) as f:
    notebook = nbformat.read(f, as_version=4)
  client = NotebookClient(
    notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
  )
  client.execute()  # raises CellExecutionError with the failing cell's traceback
  code = [c for c in notebook.cells if c.cell_type == "code"]
  assert code and all(c.get("execution_count") for c in code)
  outputs = [o for c in code for o in c.outputs]
  assert any("image/gif" in o.get("data", {}) for o in outputs)  # the sample grid, inline
  text = "".join(o.get("text", "") for o in outputs)
  assert "fd_r3d" in text and "verified" in text
