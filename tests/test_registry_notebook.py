"""Notebook 00 runs end to end with papermill and writes its figure and comparison table."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from clusterstats import registry
from clusterstats._paths import REPO_ROOT

NOTEBOOK = REPO_ROOT / "notebooks" / "00_registry_overview.ipynb"


def test_guide_comparison_numbers():
    c = registry.guide_comparison().set_index("statement")
    assert c.loc["clusters registered with BULSTAT", "data_value"] == 243
    assert c.loc["clusters in the Commercial (Trade) Register", "data_value"] == 74
    assert c.loc["categorised clusters (not 'uncategorised')", "data_value"] == 66
    assert c.loc["largest number of members", "data_value"] == 63
    assert (c["guide_line"] > 0).all()


def test_notebook_is_parameterised_and_stripped():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    src = "".join(tagged[0]["source"])
    assert "output_dir" in src and "results_dir" in src
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager
    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")
    papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="clusterstats",
                               parameters={"output_dir": str(tmp_path / "fig"),
                                           "results_dir": str(tmp_path / "res")},
                               progress_bar=False, cwd=str(NOTEBOOK.parent))
    for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
        assert (tmp_path / "fig" / f"registry_overview.{ext}").exists()
    table = pd.read_csv(tmp_path / "res" / "registry_overview.csv")
    assert list(table.columns) == ["statement", "guide_value", "guide_line", "data_value",
                                   "data_n", "note"]
    assert len(table) == len(registry.guide_comparison())
