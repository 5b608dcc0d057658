"""docs/your-own-model.ipynb runs, cell by cell, in a real Jupyter kernel (nbclient + ipykernel)
started from docs/ as Jupyter would; a cell that raises fails the test, and the cells' own
asserts compare the client's arrays with Keras's."""

from __future__ import annotations

import os

import nbformat
from nbclient import NotebookClient

from app.config import PROJECT_ROOT

NOTEBOOK = PROJECT_ROOT / "docs" / "your-own-model.ipynb"


def test_your_own_model_notebook_runs(monkeypatch):
    # The kernel imports this checkout's convnet_vis (and app), whatever else is installed.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}).execute()
    outputs = [cell.outputs for cell in notebook.cells if cell.cell_type == "code"]
    shown = [out for cell_outputs in outputs for out in cell_outputs if out.output_type in ("display_data", "execute_result")]
    assert any("<iframe" in out.data.get("text/html", "") for out in shown)  # show() displayed the page
    assert any("image/png" in out.data for out in shown)  # the Grad-CAM overlay, a PIL image
    printed = "".join(out.get("text", "") for cell_outputs in outputs for out in cell_outputs)
    assert "422" in printed  # the error cell printed the server's status and detail
