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
    # in the default (MIO_EUR) run another unit is context only: no verdict
    assert row["role"] == "descriptive" and pd.isna(row["verdict"])


def test_one_c12_row_per_unit_and_the_primary_verdict(bg):
    c12 = bg.rows[bg.rows["test"] == "leader_ratio_range"]
    assert sorted(c12["unit_code"]) == sorted(rd_regional.UNITS)
    assert set(c12["leader"]) == {"BG41"}
    primary = c12[c12["role"] == "primary"]
    assert list(primary["unit_code"]) == ["MIO_EUR"] and list(primary["part"]) == ["C12.range"]
    mio = primary.iloc[0]
    # about 8-18x: BG41 / BG34 exceeds 14.5, so "7-14 times each other region" is not supported;
    # only a reading of the upper end as 20 would support it (the sensitivity column says so)
    assert 7.5 < mio["ratio_min"] < 8.5 and 17 < mio["ratio_max"] < 18.5
    assert mio["verdict"] == "not supported" and mio["rule"] == "values_inside"
    assert "high=20: supported" in mio["verdict_sensitivity"]
    assert "derived" in mio["caveats"]


def test_c13_sum_of_others_and_second_region(bg):
    panel = rd_regional.regional_panel("BG", "MIO_EUR").data
    y = panel[panel["year"] == 2016].set_index("geo")["value"]
    total = bg.rows[(bg.rows["part"] == "C13.half") & (bg.rows["role"] == "primary")].iloc[0]
    assert total["unit_code"] == "MIO_EUR"
    assert float(total["effect"]) == pytest.approx(y["BG41"] / y.drop("BG41").sum())
    # the rounding bounds of the published % of GDP (two decimals) straddle 2.5: inconclusive,
    # where the old hand-set [1.5, 2.5] on the point estimate 2.47 said "supported"
    assert float(total["ci_low"]) < 2.5 < float(total["ci_high"])
    assert total["verdict"] == "inconclusive"
    assert "high=2.25: not supported" in total["verdict_sensitivity"]
    second = bg.rows[(bg.rows["part"] == "C13.second") & (bg.rows["role"] == "primary")].iloc[0]
    assert second["second"] == y.drop("BG41").idxmax() == "BG42"
    assert second["verdict"] == "supported"


def test_c13_rounding_bounds_by_hand():
    # BG41 / the others together in million EUR with every published % of GDP moved by 0.005:
    # the leader down and the others up gives the lower bound
    rd, gdp = _csv("tgs00042"), _csv("nama_10r_2gdp_2026")
    regions = ["BG31", "BG32", "BG33", "BG34", "BG41", "BG42"]
    pc = {g: _cell(rd, geo=g, time="2016") for g in regions}
    eur = {g: _cell(gdp, geo=g, time="2016", unit="MIO_EUR") for g in regions}
    low = (pc["BG41"] - 0.005) * eur["BG41"] / sum((pc[g] + 0.005) * eur[g] for g in regions if g != "BG41")
    an = rd_regional.run(country="BG")
    row = an.rows[(an.rows["part"] == "C13.half") & (an.rows["unit_code"] == "MIO_EUR")].iloc[0]
    assert float(row["ci_low"]) == pytest.approx(low, rel=1e-12)


def test_one_rule_for_together_in_every_unit(bg):
    # % of GDP: BG41's intensity over the others' pooled intensity (their GERD over their GDP)
    panel = rd_regional.regional_panel("BG", "PC_GDP").data
    s = panel[panel["year"] == 2016].set_index("geo")
    others = s.drop("BG41")
    pooled = (others["value"] * others["gdp_mio_eur"]).sum() / others["gdp_mio_eur"].sum()
    row = bg.rows[(bg.rows["part"] == "C13.half") & (bg.rows["unit_code"] == "PC_GDP")].iloc[0]
    assert float(row["effect"]) == pytest.approx(s.loc["BG41", "value"] / pooled)


@pytest.mark.parametrize("unit", ["PC_GDP", "EUR_HAB"])
def test_other_units_are_sensitivity_runs(unit):
    an = rd_regional.run(country="BG", unit=unit)
    judged = an.rows[an.rows["role"].isin(["primary", "sensitivity"])]
    assert set(judged["role"]) == {"sensitivity"} and set(judged["unit_code"]) == {unit}
    assert set(judged["part"]) == {"C12.range", "C13.half", "C13.second"}
    # BG41 is 2-4x (PC_GDP) or 4-8x (EUR_HAB) each other region, and BG33 is second in both
    assert set(judged["verdict"]) == {"not supported"}


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
    for col in ("hypothesis", "claim_id", "claim", "h0", "h1", "test", "method", "caveats",
                "data_sources", "data_vintage", "reference", "unit", "role", "run_id"):
        assert bg.rows[col].notna().all(), col
    judged = bg.rows[bg.rows["role"].isin(["primary", "sensitivity"])]
    assert judged["verdict"].notna().all() and judged["verdict_text"].notna().all()
    assert bg.rows.loc[bg.rows["role"] == "descriptive", "verdict"].isna().all()
    assert set(bg.rows["claim_id"]) == {"C12", "C13"}
    assert set(bg.rows["run_id"]) == {"h4_regional_rd_disparity"}
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


def test_hungary_capital_region_is_harmonised_and_leads():
    # tgs00042 gives 2016 under NUTS 2013 (HU10), the 2026 GDP and population under NUTS 2016
    # (HU11 Budapest + HU12 Pest): harmonised, HU10 = HU11 + HU12, and it leads in MIO_EUR
    gdp, pop, rd = _csv("nama_10r_2gdp_2026"), _csv("demo_r_pjanaggr3"), _csv("tgs00042")
    panel = rd_regional.regional_panel("HU", "MIO_EUR", year=2016).data
    hu10 = panel[(panel["geo"] == "HU10") & (panel["year"] == 2016)].iloc[0]
    split = sum(_cell(gdp, geo=g, time="2016", unit="MIO_EUR") for g in ("HU11", "HU12"))
    assert hu10["gdp_mio_eur"] == pytest.approx(split, rel=1e-12)
    assert hu10["population"] == pytest.approx(sum(_cell(pop, geo=g, time="2016") for g in ("HU11", "HU12")))
    assert hu10["value"] == pytest.approx(_cell(rd, geo="HU10", time="2016") / 100 * split, rel=1e-12)
    assert hu10["label"] == "HU10 | HU11+HU12"
    an = rd_regional.run(country="HU")
    row = an.rows[(an.rows["test"] == "leader_ratio_range") & (an.rows["unit_code"] == "MIO_EUR")].iloc[0]
    assert row["leader"] == "HU10"   # was HU33 at 1.0-4.0x before harmonisation


def test_portugal_lisbon_leads_and_versions_are_harmonised_year_by_year():
    # Every 2016 input is in NUTS 2021 codes (tgs00042, the tgs00003 GDP extract, population):
    # PT16, PT17 (Lisbon) and PT18 compare as they are. The partition is built per year from the
    # versions met in that year; before, the 2024 codes of later years merged PT16+PT18 in 2016 too.
    panel = rd_regional.regional_panel("PT", "MIO_EUR", year=2016)
    d = panel.data[panel.data["year"] == 2016].set_index("geo")
    assert {"PT16", "PT17", "PT18"} <= set(d.index) and "PT16+PT18" not in d.index
    rd = _csv("tgs00042")
    ex = pd.read_csv(data_dir() / "eurostat" / "tgs00096_tgs00003_nuts2.csv", dtype={"time": str})
    gdp17 = float(ex[(ex.dataset == "tgs00003") & (ex.geo == "PT17") & (ex.time == "2016")]["value"].iloc[0])
    assert d.loc["PT17", "value"] == pytest.approx(_cell(rd, geo="PT17", time="2016") / 100 * gdp17, rel=1e-12)
    an = rd_regional.run(country="PT")
    lead = an.rows[(an.rows["test"] == "leader_ratio_range") & (an.rows["unit_code"] == "MIO_EUR")].iloc[0]
    assert lead["leader"] == "PT17"   # Lisbon; was PT11 at 25-63x before harmonisation
    # from 2022 tgs00042 and population are in NUTS 2024 codes: Lisbon is PT1A + PT1B there
    late = rd_regional.regional_panel("PT", "PC_GDP", year=2022).data
    assert {"PT1A", "PT1B"} <= set(late.loc[late["year"] == 2022, "geo"])


def test_ireland_compares_its_three_regions_where_the_versions_agree():
    # IE01+IE02 (NUTS 2013, 2013-2015) and IE04-IE06 (2019 on) only merge where they meet
    panel = rd_regional.regional_panel("IE", "MIO_EUR", year=2019).data
    assert sorted(panel.loc[panel["year"] == 2019, "geo"]) == ["IE04", "IE05", "IE06"]


def test_leader_excluded_is_refused():
    from clusterstats import nuts

    panel = rd_regional.regional_panel("HU", "MIO_EUR", year=2016)
    gone = rd_regional.Panel(panel.data[panel.data["geo"] != "HU10"], panel.unit,
                             pd.DataFrame({"year": [2016], "geo": ["HU10"], "reason": ["test"]}),
                             panel.frames, panel.notes)
    with pytest.raises(nuts.NotComparableError, match="HU10"):
        rd_regional.check_coverage(gone, 2016, "HU33")


def test_other_country_runs_and_is_marked_for_comparison():
    ro = rd_regional.run(country="RO", unit="PC_GDP")
    c12 = ro.rows[ro.rows["test"] == "leader_ratio_range"]
    assert set(c12["leader"]) == {"RO32"}
    assert (ro.rows["role"] == "descriptive").all() and ro.rows["verdict"].isna().all()


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
    assert set(rd_regional.hypothesis.figures(bg)) == {"h4_leader_ratios", "h4_dispersion", "h4_map"}
    plt.close("all")


def test_balanced_panel_survives_a_change_of_region_set():
    # two region sets (as before harmonisation: IE01/IE02 then IE04-IE06): the set covering most
    # years wins; on the real data the NUTS harmonisation now makes IE's sets comparable
    rows = [("A1", 2013), ("A2", 2013), ("B1", 2017), ("B2", 2017), ("B3", 2017), ("B1", 2019),
            ("B2", 2019), ("B3", 2019)]
    data = pd.DataFrame(rows, columns=["geo", "year"]).assign(level=1.0)
    panel, regions, years = rd_regional.balanced(data)
    assert regions == ["A1", "A2"] and years == [2013]
    assert set(panel["geo"]) == {"B1", "B2", "B3"}


def test_unweighted_run_has_a_dispersion_series():
    an = rd_regional.run(country="BG", unit="PC_GDP", weight=None)
    measures = set(an.tables["dispersion_by_year"]["effect_name"])
    assert {"theil_t", "gini", "cv"} <= measures
    assert "williamson_cv" not in set(an.rows["test"])


def test_gini_is_the_population_gini_without_correction(bg):
    # the six regions are the whole population: no n/(n-1)-type factor (issue 11, item 5)
    from inequality.gini import Gini

    panel = rd_regional.regional_panel("BG", "MIO_EUR").data
    s = panel[panel["year"] == 2016]
    row = bg.rows[bg.rows["test"] == "gini"].iloc[0]
    assert row["effect_name"] == "gini"
    assert float(row["effect"]) == pytest.approx(float(row["gini_raw"]))
    assert pd.isna(row["ci_low"])
    # unweighted: the independent pysal implementation on the six levels
    unweighted = rd_regional.run(country="BG", weight=None).rows
    g = unweighted[unweighted["test"] == "gini"].iloc[0]
    assert float(g["effect"]) == pytest.approx(Gini(s["level"].to_numpy()).g, rel=1e-9)


def test_run_names_differ_by_unit():
    names = {rd_regional.hypothesis.context(**p).name for p in
             ({"country": "BG"}, {"unit": "PC_GDP"}, {"unit": "EUR_HAB"}, {"country": "RO"})}
    assert names == {"h4_regional_rd_disparity", "h4_regional_rd_disparity__unit-PC_GDP",
                     "h4_regional_rd_disparity__unit-EUR_HAB", "h4_regional_rd_disparity__country-RO"}


def test_defaults_equal_the_notebook_parameters_cell():
    from clusterstats._paths import REPO_ROOT
    from clusterstats.notebook_params import read_parameters

    found = read_parameters(REPO_ROOT / "notebooks" / rd_regional.NOTEBOOK)
    assert {k: p.default for k, p in found.items()
            if k not in ("figures_dir", "results_dir")} == rd_regional.DEFAULTS


def test_weight_none_as_text_means_unweighted():
    assert rd_regional.check_parameters(weight="none")["weight"] is None
