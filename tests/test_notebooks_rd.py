"""The H4-H7 notebooks run end to end with papermill, into temporary folders."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from clusterstats._paths import REPO_ROOT

NOTEBOOKS = REPO_ROOT / "notebooks"
NAMES = ["h4_regional_rd_disparity", "h5_bulgaria_vs_eu", "h6_innovation_by_size", "h7_gbard_composition"]


def _kernel_or_skip():
    pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager
    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")


def _execute(name: str, tmp_path: Path, **parameters) -> tuple[Path, Path]:
    import papermill

    fig, res = tmp_path / "fig", tmp_path / "res"
    papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="clusterstats", progress_bar=False, cwd=str(NOTEBOOKS),
                               parameters={"figures_dir": str(fig), "results_dir": str(res), **parameters})
    return fig, res


def _rows(res: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(res / "rows" / f"{name}.csv")


@pytest.mark.parametrize("name", NAMES)
def test_notebook_is_parameterised_stripped_and_uses_the_kernel(name):
    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "clusterstats"
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    src = "".join(tagged[0]["source"])
    assert "figures_dir = None" in src and "results_dir = None" in src
    assert all(not c.get("outputs") and c.get("execution_count") is None
               for c in nb["cells"] if c["cell_type"] == "code")
    # the cell after the parameters validates them, so a bad value fails in the first cell
    # (a converted notebook builds its run context there, which validates them)
    first = "".join(nb["cells"][nb["cells"].index(tagged[0]) + 1]["source"])
    assert "check_parameters(" in first or ".context(" in first


CONVERTED = {"h5_bulgaria_vs_eu": "rd_national", "h6_innovation_by_size": "innovation",
             "h7_gbard_composition": "gbard"}


@pytest.mark.parametrize("name", list(CONVERTED))
def test_converted_notebook_uses_only_public_names_and_no_typed_numbers(name):
    """H5-H7 are declared hypotheses: context -> compute -> judge -> save, nothing private
    imported, and no number in the markdown that is not a year, a claim id, a citation or a
    value from data/claims.yaml."""
    import re

    from clusterstats.claims import claim_numbers

    nb = json.loads((NOTEBOOKS / f"{name}.ipynb").read_text(encoding="utf-8"))
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert f"{CONVERTED[name]}.hypothesis" in code
    for step in ("H.context(", "H.compute(ctx)", "H.judge(evidence)", "H.save(ctx", "H.narrative("):
        assert step in code, step
    assert not re.search(r"import\s+_|\._\w+|from\s+\S*\._", code)
    allowed = claim_numbers()
    for cell in (c for c in nb["cells"] if c["cell_type"] == "markdown"):
        text = re.sub(r"\bC\d\d(\.\w+)?", "", "".join(cell["source"]))
        text = re.sub(r"\b(lines?|p\.)\s*[\d–\-, ]+(ff\.)?", "", text)
        for number in re.findall(r"\d+(?:\.\d+)?", text):
            year = number.isdigit() and 1990 <= int(number) <= 2030
            assert year or number in allowed, f"{name}: typed number {number} in markdown"


@pytest.mark.slow
def test_h4_bulgaria(tmp_path):
    _kernel_or_skip()
    fig, res = _execute("h4_regional_rd_disparity", tmp_path)
    run = "h4_regional_rd_disparity"   # the default run: figures/<run>/..., results/rows/<run>.csv
    for stem in ("h4_leader_ratios", "h4_dispersion", "h4_map"):
        for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
            assert (fig / run / f"{stem}.{ext}").exists(), f"{stem}.{ext}"
    prov = json.loads((fig / run / "h4_map.provenance.json").read_text(encoding="utf-8"))
    assert '"unit": "MIO_EUR"' in json.dumps(prov, sort_keys=True)
    rows = _rows(res, run)
    assert set(rows["claim_id"]) == {"C12", "C13"} and set(rows["hypothesis"]) == {"H4"}
    primary = rows[rows["role"] == "primary"]
    assert set(primary["part"]) == {"C12.range", "C13.half", "C13.second"}
    assert primary["verdict"].notna().all()


@pytest.mark.slow
def test_h4_unit_runs_write_their_own_files(tmp_path):
    _kernel_or_skip()
    fig, res = _execute("h4_regional_rd_disparity", tmp_path, unit="PC_GDP")
    run = "h4_regional_rd_disparity__unit-PC_GDP"
    assert (fig / run / "h4_leader_ratios.png").exists() and (fig / run / "h4_map.png").exists()
    assert not (fig / "h4_regional_rd_disparity").exists()
    rows = _rows(res, run)
    assert set(rows.loc[rows["role"].isin(["primary", "sensitivity"]), "role"]) == {"sensitivity"}


@pytest.mark.slow
@pytest.mark.parametrize("country", ["RO", "PT"])
def test_h4_another_country_from_the_command_line(tmp_path, country):
    _kernel_or_skip()
    papermill = Path(sys.executable).with_name("papermill")
    if not papermill.exists():
        pytest.skip("papermill command not found next to the interpreter")
    fig, res = tmp_path / "fig", tmp_path / "res"
    proc = subprocess.run(
        [str(papermill), str(NOTEBOOKS / "h4_regional_rd_disparity.ipynb"), str(tmp_path / "out.ipynb"),
         "-k", "clusterstats", "--cwd", str(NOTEBOOKS), "--no-progress-bar", "-p", "country", country,
         "-p", "figures_dir", str(fig), "-p", "results_dir", str(res)],
        capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = f"h4_regional_rd_disparity__country-{country}"
    assert (fig / run / "h4_leader_ratios.png").exists()
    assert (fig / run / "h4_map.png").exists()
    rows = _rows(res, run)
    leaders = set(rows.loc[rows["test"] == "leader_ratio_range", "leader"])
    # the leading region can differ by unit (PT: Norte in % of GDP, Lisbon in million EUR)
    assert leaders and all(code.startswith(country) for code in leaders)
    if country == "RO":
        assert leaders == {"RO32"}  # Bucuresti-Ilfov
    assert f'"country": "{country}"' in rows["parameters"].iloc[0]


@pytest.mark.slow
def test_h4_bad_parameter_fails_in_the_first_cell(tmp_path):
    _kernel_or_skip()
    import papermill

    with pytest.raises(papermill.PapermillExecutionError) as info:
        _execute("h4_regional_rd_disparity", tmp_path, country="XX")
    assert info.value.ename == "ParameterError"
    # cells run: 1 parameters, 2 papermill's injected parameters, 3 the validation cell
    assert info.value.exec_count == 3
    assert "check_parameters(" in info.value.source


@pytest.mark.slow
def test_h5(tmp_path):
    _kernel_or_skip()
    fig, res = _execute("h5_bulgaria_vs_eu", tmp_path)
    for stem in ("h5_gerd_series", "h5_gerd_eu_countries"):
        for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
            assert (fig / "h5_bulgaria_vs_eu" / f"{stem}.{ext}").exists(), f"{stem}.{ext}"
    prov = json.loads((fig / "h5_bulgaria_vs_eu" / "h5_gerd_series.provenance.json").read_text())
    assert prov["params"]["country"] == "BG" and prov["params"]["break_year"] == 2010
    rows = _rows(res, "h5_bulgaria_vs_eu")
    assert set(rows["claim_id"]) == {"C10", "C11"} and set(rows["run_id"]) == {"h5_bulgaria_vs_eu"}
    judged = rows[rows["role"] == "primary"].set_index("part")
    assert judged.loc["C10.slight_rise", "verdict"] == "not supported"
    assert judged.loc["C11.rank", "verdict"] == "supported"
    out = (tmp_path / "out.ipynb").read_text(encoding="utf-8")
    assert "A slight upward trend" in out and "Under other readings" in out


@pytest.mark.slow
def test_h6_offline_writes_not_testable_rows(tmp_path, monkeypatch):
    _kernel_or_skip()
    monkeypatch.setenv("CLUSTERSTATS_OFFLINE", "1")
    fig, res = _execute("h6_innovation_by_size", tmp_path)
    rows = _rows(res, "h6_innovation_by_size")
    assert list(rows["claim_id"]) == ["C14", "C15"]
    assert set(rows["verdict"]) == {"not testable offline"}
    assert not fig.exists() or not any(fig.iterdir())
    out = (tmp_path / "out.ipynb").read_text(encoding="utf-8")
    assert "The analysis stops here" in out and "cis_file" in out


@pytest.mark.slow
def test_h7(tmp_path):
    _kernel_or_skip()
    fig, res = _execute("h7_gbard_composition", tmp_path)
    for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
        assert (fig / "h7_gbard_composition" / f"h7_gbard_shares.{ext}").exists(), ext
    rows = _rows(res, "h7_gbard_composition")
    assert set(rows["claim_id"]) == {"C16"}
    assert rows.loc[rows["test"] == "share_industry", "verdict"].iloc[0] == "supported"
    assert rows.loc[rows["role"] == "descriptive", "verdict"].isna().all()
