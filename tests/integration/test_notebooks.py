"""Notebooks are executed for real: jupytext .py pairs converted and run by a Jupyter kernel."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_executes(path, btc_15m):
    jupytext = pytest.importorskip("jupytext")
    from nbclient import NotebookClient

    nb = jupytext.read(path)
    client = NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    errors = [o for o in outputs if o.get("output_type") == "error"]
    assert not errors, errors[0].get("evalue") if errors else ""
    text = "".join(o.get("text", "") for o in outputs if o.get("output_type") == "stream")
    assert "integrity ok: True" in text
    assert "rewritten readings: 0 of" in text


def test_there_are_notebooks():
    assert NOTEBOOKS, "notebooks/ holds the jupytext notebooks the suite executes"
