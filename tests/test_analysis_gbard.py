"""H7 (clusterstats.analysis.gbard) on the real snapshot and the guide's Table 2."""
from __future__ import annotations

import pandas as pd
import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import gbard
from clusterstats.params import ParameterError


@pytest.fixture(scope="module")
def bg():
    return gbard.run()


def _eur(nabs: str, geo: str = "BG", year: int = 2016) -> float:
    d = pd.read_csv(data_dir() / "eurostat" / "gba_nabsfin07.csv", keep_default_na=False, na_values=[""])
    sel = d[(d["nabs07"] == nabs) & (d["geo"] == geo) & (d["time"] == year) & (d["unit"] == "MIO_EUR")]
    return float(sel["value"].iloc[0])


def test_industry_share_from_the_csv(bg):
    row = bg.rows[bg.rows["test"] == "share_industry"].iloc[0]
    assert float(row["effect"]) == pytest.approx(_eur("NABS06") / _eur("TOTAL"))
    # 10.9994 %: within the guide's one-decimal rounding of 11.0 %, an exact value (no sampling)
    assert (row["part"], row["rule"], row["verdict"]) == ("C16.industry", "equals", "supported")
    assert row["verdict_sensitivity"] == "tolerance=0.005: supported"


def test_general_knowledge_share_from_the_csv(bg):
    row = bg.rows[bg.rows["test"] == "share_general_knowledge"].iloc[0]
    assert float(row["effect"]) == pytest.approx((_eur("NABS12") + _eur("NABS13")) / _eur("TOTAL"))
    assert float(row["effect"]) > 0.47 and row["verdict"] == "supported"
    assert (row["part"], row["rule"]) == ("C16.knowledge", "interval_inside")


def test_guide_table_percentages_by_hand():
    t = pd.read_csv(data_dir() / "registry" / "gbard_2016_table2.csv")
    total = t.loc[t["objective"] == "Total", "thousand_bgn"].iloc[0]
    assert total == 187465
    # industrial production and technology: 20620 / 187465 = 11.0 %
    assert 20620 / total == pytest.approx(0.10999, abs=1e-5)
    # general advancement of knowledge: (11329 + 77199) / 187465 = 47.2 %
    assert (11329 + 77199) / total == pytest.approx(0.47224, abs=1e-5)


def test_reconciliation_row(bg):
    row = bg.rows[bg.rows["test"] == "reconcile_table2"].iloc[0]
    assert abs(float(row["effect"])) < 0.01
    assert row["role"] == "descriptive" and pd.isna(row["verdict"])
    nac = bg.rows[bg.rows["test"] == "reconcile_table2_nac"].iloc[0]
    t2 = pd.read_csv(data_dir() / "registry" / "gbard_2016_table2.csv")
    assert float(nac["effect"]) == 0.0 and len(t2) == 15  # MIO_NAC equals the guide to the thousand BGN
    assert (nac["part"], nac["verdict"]) == ("C16.table2", "supported")
    rec = bg.tables["reconciliation"]
    tot = rec[rec["nabs07"] == "TOTAL"].iloc[0]
    assert tot["eurostat_thousand_bgn"] == pytest.approx(_eur("TOTAL") * 1.95583 * 1000)


def test_composition_uses_years_as_n(bg):
    comp = bg.rows[bg.rows["test"] == "aitchison_distance"]
    assert set(comp["comparison"]) == {"EU28", "peers"}
    assert (comp["n"].astype(float) <= 10).all()   # years, never euros
    naive = bg.rows[bg.rows["test"] == "naive_chi_square"]
    assert naive["note"].str.contains("no sampling meaning").all()


def test_comparisons_are_descriptive_and_never_support(bg):
    comp = bg.rows[bg.rows["comparison"].notna()]
    assert set(comp["role"]) == {"descriptive"} and comp["verdict"].isna().all()
    # the industry share vs the EU28 over the years: sign-flip p = 0.82, not significant
    nabs06 = comp[(comp["test"] == "share_difference") & (comp["category"] == "NABS06")
                  & (comp["comparison"] == "EU28")].iloc[0]
    assert float(nabs06["p_value"]) == pytest.approx(0.8203125)
    judged = bg.rows[bg.rows["verdict"].notna()]
    assert set(judged["part"]) == {"C16.table2", "C16.industry", "C16.knowledge"}


def test_other_country_gets_no_verdict_and_is_not_its_own_peer():
    ro = gbard.run(country="RO")
    assert ro.rows["verdict"].isna().all()
    assert any("RO left out" in n for n in ro.notes)


def test_declared_hypothesis_matches_the_notebook():
    h = gbard.hypothesis
    assert (h.id, h.notebook, h.claims) == ("H7", "h7_gbard_composition.ipynb", ("C16",))
    assert h.context().name == "h7_gbard_composition"
    assert h.context(peers=("RO", "HR", "HU", "PL", "SK", "CZ", "SI", "EL")).name == "h7_gbard_composition"


def test_judgement_rows_compare_with_eu28(bg):
    row = bg.rows[bg.rows["test"] == "share_industry_vs_reference"].iloc[0]
    assert float(row["effect"]) == pytest.approx(
        _eur("NABS06") / _eur("TOTAL") - _eur("NABS06", "EU28") / _eur("TOTAL", "EU28"))


@pytest.mark.parametrize("kwargs, text", [
    ({"country": "XX"}, "country"),
    ({"peers": ["RO", "ZZ"]}, "peers"),
    ({"year": 2030}, "year"),
    ({"alpha": -0.1}, "alpha"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        gbard.check_parameters(**kwargs)


def test_figure_data(bg):
    import matplotlib.pyplot as plt

    fig, data = gbard.figure_shares(bg)
    assert set(data["group"]) == {"industry", "knowledge", "other"}
    assert data.groupby("geo")["share"].sum().round(9).eq(1).all()
    plt.close(fig)
