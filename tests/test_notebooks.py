"""The notebooks run top to bottom in a real Jupyter kernel (nbclient), are committed without outputs, and the tour
gives what its readers rely on: streaming equals the full model, export round trips, both strategies' curves.

Each notebook runs once per test session (about a minute for notebooks/explore.ipynb on 2 CPU cores). The kernel
inherits a temporary HOME and TMPDIR, so the synthetic scenes (~/.cache/mtl_synthetic), Keras, IPython, matplotlib
and the notebook's temporary files stay out of the user's home and /tmp.
"""
import math
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))
TOUR = REPO / "notebooks" / "explore.ipynb"
CELL_TIMEOUT_S = 600
# Appended to the executed copy (never to the file): the kernel must run this environment's interpreter.
KERNEL_PREFIX_CELL = "import sys\nprint('kernel prefix:', sys.prefix)"


def _execute(path, home):
    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(KERNEL_PREFIX_CELL))
    with pytest.MonkeyPatch.context() as env:  # the kernel subprocess inherits this environment
        env.setenv("HOME", str(home))
        env.setenv("TMPDIR", str(home))  # tempfile.mkdtemp() in the notebook
        # MPLBACKEND too: the kernel keeps ipykernel's inline backend, as in a user's Jupyter, so figures show
        for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "IPYTHONDIR", "MPLCONFIGDIR", "MPLBACKEND"):
            env.delenv(name, raising=False)
        env.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
        # "python3" is ipykernel's spec in this environment; jupyter_client starts it with sys.executable.
        client = NotebookClient(notebook, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                                resources={"metadata": {"path": str(path.parent)}})
        client.execute()  # a failing cell raises CellExecutionError with the cell's source and traceback
    return notebook


@pytest.fixture(scope="session")
def run_notebook(tmp_path_factory):
    """path -> the executed notebook; each notebook runs once, and a failure is re-raised by every later test."""
    runs = {}

    def run(path):
        if path not in runs:
            try:
                runs[path] = _execute(path, tmp_path_factory.mktemp(f"home-{path.stem}"))
            except Exception as error:
                runs[path] = error
        if isinstance(runs[path], Exception):
            raise runs[path]
        return runs[path]
    return run


def _stdout(cell):
    return "".join(output.get("text", "") for output in cell.get("outputs", [])
                   if output.output_type == "stream" and output.name == "stdout")


def _all_stdout(notebook):
    return "\n".join(_stdout(cell) for cell in notebook.cells if cell.cell_type == "code")


def _printed_number(notebook, label):
    match = re.search(re.escape(label) + r"\s*([-+0-9.eE]+|nan|inf)", _all_stdout(notebook))
    assert match, f"the notebook did not print {label!r}"
    return float(match.group(1))


def _has_figure(cell):
    return any("image/png" in output.get("data", {}) for output in cell.get("outputs", []))


def test_there_is_a_notebook():
    assert TOUR in NOTEBOOKS


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_committed_notebook_is_valid_and_stripped(notebook):
    content = nbformat.read(notebook, as_version=4)
    nbformat.validate(content)
    assert content.nbformat == 4
    for index, cell in enumerate(content.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"cell {index} of {notebook.name} has outputs: strip them before committing"
            assert cell.execution_count is None, f"cell {index} of {notebook.name} has an execution count"
        assert "execution" not in cell.metadata, f"cell {index} of {notebook.name} carries execution timings"


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[path.name for path in NOTEBOOKS])
def test_notebook_runs_top_to_bottom(notebook, run_notebook):
    executed = run_notebook(notebook)
    prefix = _stdout(executed.cells[-1]).split("kernel prefix:")[-1].strip()
    assert prefix == sys.prefix, f"the python3 kernel ran {prefix}, not this environment ({sys.prefix})"


def test_tour_streaming_equals_the_full_model(run_notebook):
    assert _printed_number(run_notebook(TOUR), "streaming max abs difference:") < 1e-4


def test_tour_saved_and_exported_models_give_the_same_outputs(run_notebook):
    executed = run_notebook(TOUR)
    assert _printed_number(executed, ".keras max abs difference:") < 1e-5
    assert _printed_number(executed, "SavedModel max abs difference:") < 1e-4


def test_tour_trains_both_strategies_and_plots_their_curves(run_notebook):
    cells = [cell for cell in run_notebook(TOUR).cells if cell.cell_type == "code"]
    training = next(index for index, cell in enumerate(cells) if "final losses:" in _stdout(cell))
    lines = {line.split()[0]: line for line in _stdout(cells[training]).splitlines() if "final losses:" in line}
    assert sorted(lines) == ["equal", "gls"]
    for strategy, line in lines.items():
        losses = [float(value) for value in re.findall(r"'\w+': ([-+0-9.eE]+|nan|inf)", line)]
        assert len(losses) == 3 and all(math.isfinite(value) for value in losses), line
    assert _has_figure(cells[training + 1]), "the cell after training should plot the loss and weight curves"
    assert sum(_has_figure(cell) for cell in cells) >= 5  # scenes, curves, predictions, detections, the drive
