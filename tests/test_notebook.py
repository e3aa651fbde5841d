"""The notebook experience (issue 15 point 7 and "done when"): examples/notebook.ipynb runs top to bottom in a real
Jupyter kernel (nbclient) and shows the rich outputs: a derivative as LaTeX, a compiled function as HTML with its
signature, a training history as a PNG, no widget or progress warnings."""

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


def test_the_example_notebook_runs_and_shows_rich_outputs(tmp_path):
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    rich = [set(out.get("data", {})) for cell in outputs for out in cell]
    errors = [out for cell in outputs for out in cell if out.get("output_type") == "error"]
    assert not errors, errors
    assert any("text/latex" in kinds for kinds in rich)  # sd.grad(loss, w) as a formula
    html = [out["data"]["text/html"] for cell in outputs for out in cell if "text/html" in out.get("data", {})]
    assert any("fn(x, w)" in text and "<details" in text for text in html), html  # signature, folded source
    assert any("image/png" in kinds for kinds in rich)  # the history's loss curves
    streams = "".join(out.get("text", "") for cell in outputs for out in cell)
    assert "nb_hidden" in streams and "IProgress" not in streams  # the summary printed; no widget warning
