"""The exploration notebooks run top to bottom (their code cells, in order, with a non-interactive plot backend)."""
import json
from pathlib import Path

import matplotlib
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs(notebook, tmp_path, monkeypatch):
    matplotlib.use("Agg")
    monkeypatch.setenv("HOME", str(tmp_path))  # the synthetic scenes are cached under ~/.cache
    cells = json.loads(notebook.read_text())["cells"]
    code = "\n\n".join("".join(cell["source"]) for cell in cells if cell["cell_type"] == "code")
    namespace = {}
    exec(compile(code, str(notebook), "exec"), namespace)
    assert namespace["history"].history["loss"]


def test_there_is_a_notebook():
    assert NOTEBOOKS
