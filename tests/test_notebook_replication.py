"""The guide-replication notebook runs under papermill into temporary folders and writes every
figure set (PDF, SVG, PNG, CSV, provenance) and both tables (CSV, LaTeX)."""
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clusterstats.analysis import replication as rep

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "guide_replication.ipynb"
PAPERMILL = [sys.executable, "-m", "papermill", "-k", "clusterstats", "--no-progress-bar"]


def test_notebook_is_committed_without_outputs_and_has_the_parameters():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "clusterstats"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    params = next(c for c in code if "parameters" in c["metadata"].get("tags", []))
    text = "".join(params["source"])
    for line in ('figures_dir = None', 'tables_dir = None', 'cis_file = None', 'width = "double"'):
        assert line in text
    # every registered figure is saved by the notebook
    source = "".join("".join(c["source"]) for c in code)
    for name in rep.FIGURES:
        assert f'"{name}"' in source


@pytest.mark.slow
def test_notebook_writes_every_figure_and_both_tables(tmp_path):
    figs, tabs = tmp_path / "fig", tmp_path / "tab"
    subprocess.run(PAPERMILL + [str(NOTEBOOK), str(tmp_path / "out.ipynb"), "-p", "figures_dir",
                                str(figs), "-p", "tables_dir", str(tabs), "-p", "width", "single"],
                   check=True, capture_output=True, cwd=ROOT)
    run = rep.hypothesis.context(width="single").name
    assert run == "guide_replication__width-single"
    figs, tabs = figs / run, tabs / run   # every file is named from its run
    for name in rep.FIGURES:
        for ext in (".pdf", ".svg", ".png", ".csv", ".provenance.json"):
            assert (figs / f"{name}{ext}").stat().st_size > 0, f"{name}{ext} missing"
        prov = json.loads((figs / f"{name}.provenance.json").read_text())
        assert prov["notebook"].endswith("guide_replication.ipynb") and prov["params"]["width"] == "single"
    for stem in ("guide_table_1_bronze_label", "guide_table_2_gbard"):
        assert (tabs / f"{stem}.csv").is_file() and "\\toprule" in (tabs / f"{stem}.tex").read_text()
    # the offline CIS panels carry no numbers, in the data or in the figure's text
    for name in ("guide_d10_innovation", "guide_d11_innovation_size"):
        data = pd.read_csv(figs / f"{name}.csv")
        assert data["status"].tolist() == ["not available offline"]
        assert "not available offline" in (figs / f"{name}.provenance.json").read_text()


def test_replication_is_a_declared_hypothesis_without_claims(tmp_path):
    h = rep.hypothesis
    assert h.claims == () and h.context().name == "guide_replication"
    ctx = h.context(figures_dir=tmp_path)
    assert rep.tables_folder(ctx) == tmp_path / "guide_replication" / "tables"
    assert rep.tables_folder(ctx, tmp_path / "t") == tmp_path / "t" / "guide_replication"
