"""H0 (notebook 00, claims C01-C04): the guide's counts against the annexes, judged by the rules
data/claims.yaml declares, and the notebook run end to end with papermill."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from scipy import stats

from clusterstats import registry
from clusterstats._paths import REPO_ROOT
from clusterstats.analysis import registers

NOTEBOOK = REPO_ROOT / "notebooks" / "00_registry_overview.ipynb"


def test_guide_comparison_numbers():
    c = registry.guide_comparison().set_index("statement")
    assert c.loc["clusters registered with BULSTAT", "data_value"] == 243
    assert c.loc["clusters in the Commercial (Trade) Register", "data_value"] == 74
    assert c.loc["categorised clusters (not 'uncategorised')", "data_value"] == 66
    assert c.loc["largest number of members", "data_value"] == 63
    assert (c["guide_line"] > 0).all()


@pytest.fixture(scope="module")
def h0():
    return registers.run()


def _part(h0, part, role="primary"):
    rows = h0.rows
    return rows[(rows["part"] == part) & (rows["role"] == role)].iloc[0]


def test_exact_register_counts_use_equals(h0):
    assert _part(h0, "C01.bulstat")["verdict"] == "supported"       # 243 = 243
    tr = _part(h0, "C01.trade_register")
    assert (tr["effect"], tr["rule"], tr["verdict"]) == (74, "equals", "not supported")
    assert _part(h0, "C02.unions")["verdict"] == "not supported"    # 72 numbered rows, not 78
    assert _part(h0, "C04.categorised")["verdict"] == "supported"   # 72 less 6 uncategorised


def test_counts_with_missing_rows_use_within_bounds(h0):
    fy = _part(h0, "C04.founding_known")
    missing = len(registry.bsmepa_coverage()["missing"])
    assert (fy["ci_low"], fy["ci_high"]) == (fy["effect"], fy["effect"] + missing)
    assert fy["rule"] == "within_bounds" and fy["verdict"] == "inconclusive"


def test_twice_as_many_needs_an_equivalence_test(h0):
    # 29 start-up vs 17 developing (row 26 in both); recount from the raw table
    b = registry.load_bsmepa()
    printed = b[b["row_status"] != "missing_from_source"]
    s = int((printed["stage"] == "start-up").sum() + (printed["stage_2"] == "start-up").sum())
    d = int((printed["stage"] == "developing").sum() + (printed["stage_2"] == "developing").sum())
    row = _part(h0, "C03.twice")
    assert (int(row["statistic"]), int(row["n"])) == (s, s + d) == (29, 46)
    # the difference test does not reject 2/3 (p = 0.64): that was the old "supported"
    diff = h0.rows[h0.rows["test"].str.contains("difference test")].iloc[0]
    assert diff["p_value"] == pytest.approx(stats.binomtest(s, s + d, 2 / 3).pvalue)
    assert diff["p_value"] > 0.05 and pd.isna(diff["verdict"])
    # TOST against the declared margin: the 90 % interval reaches outside it -> inconclusive
    low, high = row["margin_low"], row["margin_high"]
    ci = stats.binomtest(s, s + d).proportion_ci(0.9, method="exact")
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(ci.low), pytest.approx(ci.high))
    assert ci.low < low and ci.high > high and row["p_value"] > 0.05
    assert row["rule"] == "equivalence_interval" and row["verdict"] == "inconclusive"
    assert "high=0.75: inconclusive" in row["verdict_sensitivity"]
    sens = h0.rows[(h0.rows["part"] == "C03.twice") & (h0.rows["role"] == "sensitivity")]
    assert sorted(sens["n"].astype(int)) == [59, 65] and sens["verdict"].eq("inconclusive").all()


def test_the_tost_margin_is_the_one_claims_yaml_declares(h0):
    from clusterstats import claims
    spec = claims.part("C03.twice")
    row = _part(h0, "C03.twice")
    assert (row["margin_low"], row["margin_high"]) == (spec.thresholds["low"], spec.thresholds["high"])


def test_earlier_entry_point_still_works():
    rows = registers.run_h0(alpha=0.05).rows
    assert set(rows["claim_id"]) == {"C01", "C02", "C03", "C04"}
    assert set(rows["hypothesis"]) == {"H0"} and set(rows["run_id"]) == {"00_registry_overview"}


def test_notebook_is_parameterised_and_stripped():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1
    src = "".join(tagged[0]["source"])
    assert "figures_dir = None" in src and "results_dir = None" in src and "alpha = 0.05" in src
    assert all(not c.get("outputs") for c in nb["cells"] if c["cell_type"] == "code")
    code = "".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code")
    assert "_paths" not in code and "registers.hypothesis" in code


@pytest.mark.slow
def test_notebook_executes(tmp_path):
    papermill = pytest.importorskip("papermill")
    from jupyter_client.kernelspec import KernelSpecManager
    if "clusterstats" not in KernelSpecManager().find_kernel_specs():
        pytest.skip("kernel 'clusterstats' not installed (make install)")
    papermill.execute_notebook(str(NOTEBOOK), str(tmp_path / "out.ipynb"), kernel_name="clusterstats",
                               parameters={"figures_dir": str(tmp_path / "fig"),
                                           "results_dir": str(tmp_path / "res"),
                                           "build_dir": str(tmp_path / "build")},
                               progress_bar=False, cwd=str(NOTEBOOK.parent))
    for ext in ("png", "pdf", "svg", "csv", "provenance.json"):
        assert (tmp_path / "fig" / "00_registry_overview" / f"registry_overview.{ext}").exists()
    table = pd.read_csv(tmp_path / "build" / "runs" / "00_registry_overview" / "registry_overview.csv")
    assert list(table.columns) == ["statement", "guide_value", "guide_line", "data_value",
                                   "data_n", "note"]
    assert len(table) == len(registry.guide_comparison())
    rows = pd.read_csv(tmp_path / "res" / "rows" / "00_registry_overview.csv")
    assert set(rows["claim_id"]) == {"C01", "C02", "C03", "C04"}
    assert rows.loc[rows["part"] == "C03.twice", "verdict"].eq("inconclusive").all()
