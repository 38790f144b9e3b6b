"""H4 (clusterstats.analysis.rd_regional) on the real snapshot, cross-checked with plain pandas."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import rd_regional
from clusterstats.params import ParameterError


def _csv(name: str) -> pd.DataFrame:
    # read the snapshot CSV directly: an independent path from load_snapshot
    return pd.read_csv(data_dir() / "eurostat" / f"{name}.csv", dtype={"time": str}, keep_default_na=False,
                       na_values=[""])


def _cell(df, **where) -> float:
    sel = df
    for k, v in where.items():
        sel = sel[sel[k] == v]
    assert len(sel) == 1, where
    return float(sel["value"].iloc[0])


@pytest.fixture(scope="module")
def bg():
    return rd_regional.run(country="BG", year=2016)


def test_mio_eur_is_pc_gdp_times_gdp_for_one_region_year():
    rd, gdp = _csv("tgs00042"), _csv("nama_10r_2gdp_2026")
    expected = _cell(rd, geo="BG41", time="2016") / 100 * _cell(gdp, geo="BG41", time="2016", unit="MIO_EUR")
    panel = rd_regional.regional_panel("BG", "MIO_EUR").data
    got = panel[(panel["geo"] == "BG41") & (panel["year"] == 2016)]
    assert got["value"].iloc[0] == pytest.approx(expected, rel=1e-12)
    assert bool(got["derived"].iloc[0]) and "PC_GDP / 100" in got["formula"].iloc[0]


def test_eur_hab_uses_1_january_population():
    rd, gdp, pop = _csv("tgs00042"), _csv("nama_10r_2gdp_2026"), _csv("demo_r_pjanaggr3")
    expected = (_cell(rd, geo="BG42", time="2018") / 100 * _cell(gdp, geo="BG42", time="2018", unit="MIO_EUR")
                * 1e6 / _cell(pop, geo="BG42", time="2018"))
    panel = rd_regional.regional_panel("BG", "EUR_HAB").data
    got = panel[(panel["geo"] == "BG42") & (panel["year"] == 2018)]["value"].iloc[0]
    assert got == pytest.approx(expected, rel=1e-12)
    assert "1 January" in rd_regional.FORMULA["EUR_HAB"]


def test_pc_gdp_ratio_row_matches_a_direct_computation(bg):
    rd = _csv("tgs00042")
    vals = {g: _cell(rd, geo=g, time="2016") for g in ["BG31", "BG32", "BG33", "BG34", "BG41", "BG42"]}
    ratios = [vals["BG41"] / v for g, v in vals.items() if g != "BG41"]
    row = bg.rows[(bg.rows["test"] == "leader_ratio_range") & (bg.rows["unit_code"] == "PC_GDP")].iloc[0]
    assert float(row["ratio_min"]) == pytest.approx(min(ratios))
    assert float(row["ratio_max"]) == pytest.approx(max(ratios))
    # 2.2-4.2 times in % of GDP: the guide's 7-14 is not reproduced in that unit
    assert row["verdict"] == "not supported"


def test_one_c12_row_per_unit_and_which_unit_overlaps(bg):
    c12 = bg.rows[bg.rows["test"] == "leader_ratio_range"]
    assert sorted(c12["unit_code"]) == sorted(rd_regional.UNITS)
    assert set(c12["leader"]) == {"BG41"}
    mio = c12[c12["unit_code"] == "MIO_EUR"].iloc[0]
    assert mio["verdict"] == "partly"   # about 8-18x: overlaps 7-14, not inside it
    assert "derived" in mio["caveats"]


def test_c13_sum_of_others_and_second_region(bg):
    panel = rd_regional.regional_panel("BG", "MIO_EUR").data
    y = panel[panel["year"] == 2016].set_index("geo")["value"]
    total = bg.rows[(bg.rows["test"] == "leader_to_total_of_others") & (bg.rows["unit_code"] == "MIO_EUR")]
    assert float(total["effect"].iloc[0]) == pytest.approx(y["BG41"] / y.drop("BG41").sum())
    second = bg.rows[(bg.rows["test"] == "second_region") & (bg.rows["unit_code"] == "MIO_EUR")].iloc[0]
    assert second["second"] == y.drop("BG41").idxmax() == "BG42"
    assert second["verdict"] == "supported"


def test_weighted_theil_t_matches_an_independent_formula(bg):
    panel = rd_regional.regional_panel("BG", "MIO_EUR").data
    s = panel[panel["year"] == 2016]
    gerd, pop = s["value"].to_numpy() * 1e6, s["population"].to_numpy()
    share_gerd, share_pop = gerd / gerd.sum(), pop / pop.sum()
    expected = float(np.sum(share_gerd * np.log(share_gerd / share_pop)))   # T = sum s_i ln(s_i/p_i)
    row = bg.rows[bg.rows["test"] == "theil_t"].iloc[0]
    assert float(row["effect"]) == pytest.approx(expected, rel=1e-10)
    assert 0 < float(row["between_share"]) < 1


def test_every_row_has_the_required_fields(bg):
    for col in ("hypothesis", "claim_id", "claim", "h0", "h1", "test", "method", "verdict",
                "verdict_text", "caveats", "data_sources", "data_vintage", "reference", "unit"):
        assert bg.rows[col].notna().all(), col
    assert set(bg.rows["claim_id"]) == {"C12", "C13"}
    assert "nama_10r_2gdp_2026" in bg.rows["data_sources"].iloc[0]


def test_one_gdp_vintage_per_series():
    panel = rd_regional.regional_panel("BG", "MIO_EUR")
    assert panel.data["year"].min() == 2014   # 2013 is only in the 2017 vintage: never spliced
    assert any("nama_10r_2gdp_2026" in n for n in panel.notes)
    early = rd_regional.regional_panel("BG", "MIO_EUR", years=(2013, 2014))
    # the 2017 vintage covers both years, the 2026 one only 2014: the whole series takes 2017
    assert any("nama_10r_2gdp_2017" in n for n in early.notes)
    assert sorted(early.data["year"].unique()) == [2013, 2014]
    gdp17 = _csv("nama_10r_2gdp_2017")
    row = early.data[(early.data["geo"] == "BG41") & (early.data["year"] == 2014)].iloc[0]
    assert row["gdp_mio_eur"] == _cell(gdp17, geo="BG41", time="2014", unit="MIO_EUR")


def test_nuts_version_change_is_listed_not_hidden():
    panel = rd_regional.regional_panel("HU", "MIO_EUR")
    dropped = panel.dropped
    assert ((dropped["geo"] == "HU10") & (dropped["year"] == 2016)).any()
    assert "no regional GDP" in dropped.loc[dropped["geo"] == "HU10", "reason"].iloc[0]
    assert "HU10" not in set(panel.data["geo"])


def test_other_country_runs_and_is_marked_for_comparison():
    ro = rd_regional.run(country="RO", unit="PC_GDP")
    c12 = ro.rows[ro.rows["test"] == "leader_ratio_range"]
    assert set(c12["leader"]) == {"RO32"}
    assert (ro.rows["verdict"] == "inconclusive").all()


@pytest.mark.parametrize("kwargs, text", [
    ({"country": "XX"}, "country"),
    ({"regions": ["BG99"]}, "regions"),
    ({"years": [1990, 2016]}, "outside the data"),
    ({"alpha": 1.5}, "alpha"),
    ({"alpha": 0}, "alpha"),
    ({"unit": "EUR"}, "unit"),
    ({"leader": "RO32"}, "leader"),
    ({"weight": "area"}, "weight"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        rd_regional.check_parameters(**kwargs)


def test_year_without_data_is_a_parameter_error():
    with pytest.raises(ParameterError, match="year=2030"):
        rd_regional.run(country="BG", year=2030)


def test_figures_state_the_unit(bg):
    import matplotlib.pyplot as plt

    fig, data = rd_regional.figure_ratios(bg)
    assert {"unit_code", "ratio", "derived", "formula"} <= set(data.columns)
    assert "ratio" in fig.axes[0].get_ylabel()
    plt.close(fig)
    fig, data = rd_regional.figure_dispersion(bg)
    assert "EUR per inhabitant" in fig.axes[0].get_ylabel()
    plt.close(fig)


def test_balanced_panel_survives_a_nuts_revision():
    # tgs00042 holds IE01/IE02 (NUTS 2013) in 2013 and 2015 and IE04-IE06 (NUTS 2016+) later
    data = rd_regional.regional_panel("IE", "PC_GDP").data
    panel, regions, years = rd_regional.balanced(data)
    assert regions == ["IE01", "IE02"] and years == [2013, 2015]
    assert set(panel["geo"]) == {"IE04", "IE05", "IE06"}
    assert panel.groupby("year")["geo"].nunique().eq(3).all()


def test_unweighted_run_has_a_dispersion_series():
    an = rd_regional.run(country="BG", unit="PC_GDP", weight=None)
    measures = set(an.tables["dispersion_by_year"]["effect_name"])
    assert {"theil_t", "gini_corrected", "cv"} <= measures
    assert "williamson_cv" not in set(an.rows["test"])


def test_weight_none_as_text_means_unweighted():
    assert rd_regional.check_parameters(weight="none")["weight"] is None
