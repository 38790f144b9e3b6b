"""H5 (clusterstats.analysis.rd_national) on the real snapshot, cross-checked with plain pandas/numpy."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from clusterstats._paths import data_dir
from clusterstats.analysis import rd_national
from clusterstats.params import ParameterError
from clusterstats.stats.trend import EU28


@pytest.fixture(scope="module")
def raw():
    d = pd.read_csv(data_dir() / "eurostat" / "rd_e_gerdtot.csv", dtype={"time": int},
                    keep_default_na=False, na_values=[""])
    return d[(d["unit"] == "PC_GDP") & (d["sectperf"] == "TOTAL")]


@pytest.fixture(scope="module")
def bg():
    return rd_national.run()


def test_rank_counts_eu28_states_below_bulgaria(raw, bg):
    y = raw[raw["time"] == 2016].set_index("geo")["value"]
    below = sorted(g for g in EU28 if g != "BG" and g in y and y[g] < y["BG"])
    row = bg.rows[bg.rows["test"] == "rank_among"].iloc[0]
    assert int(row["effect"]) == len(below) == 4
    assert row["below"] == ", ".join(below) == "CY, LV, MT, RO"
    # a count over all 28 member states (none missing): judged exactly, by the declared rule
    assert (row["part"], row["role"], row["rule"]) == ("C11.rank", "primary", "equals")
    assert row["verdict"] == "supported"


def test_gap_to_eu28(raw, bg):
    y = raw[raw["time"] == 2016].set_index("geo")["value"]
    row = bg.rows[bg.rows["test"] == "gap_to_reference"].iloc[0]
    assert float(row["effect"]) == pytest.approx(y["BG"] / y["EU28"])
    assert float(row["statistic"]) == pytest.approx(y["BG"] - y["EU28"])
    # 0.38 of the EU28 level: inside the declared "well below" margin (less than half)
    assert row["part"] == "C11.well_below" and row["verdict"] == "supported"
    assert "high=0.333: not supported" in row["verdict_sensitivity"]
    assert "(flagged 'p')" in row["note"]   # the EU28 2016 value was provisional


def test_unweighted_member_mean_is_a_sensitivity_row(raw, bg):
    y = raw[raw["time"] == 2016].set_index("geo")["value"]
    mean = float(np.mean([y[g] for g in EU28]))
    row = bg.rows[bg.rows["test"] == "gap_to_member_mean"].iloc[0]
    assert float(row["effect"]) == pytest.approx(y["BG"] / mean)
    # 0.508 of the plain mean: just above half, so under this reading "well below" fails
    assert row["role"] == "sensitivity" and row["verdict"] == "not supported"


def test_slopes_match_an_independent_least_squares_fit(raw, bg):
    s = raw[(raw["geo"] == "BG") & raw["time"].between(2000, 2016)].sort_values("time")
    t, y = s["time"].to_numpy(float), s["value"].to_numpy(float)
    # hinge basis written differently: separate slopes before and after 2010, joined at 2010
    x = np.column_stack([np.ones_like(t), np.minimum(t - 2010, 0), np.maximum(t - 2010, 0)])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    rows = bg.rows[bg.rows["test"] == "segmented_trend"].set_index("effect_name")
    assert float(rows.loc["slope_before", "effect"]) == pytest.approx(coef[1], rel=1e-8)
    assert float(rows.loc["slope_after", "effect"]) == pytest.approx(coef[2], rel=1e-8)


def _part(bg, part):
    rows = bg.rows[(bg.rows["part"] == part) & (bg.rows["role"] == "primary")]
    assert len(rows) == 1
    return rows.iloc[0]


def test_c10_stable_before_2010_is_an_equivalence_not_a_non_significance(bg):
    row = _part(bg, "C10.stable")
    assert row["effect_name"] == "slope_before" and row["rule"] == "interval_inside"
    # the whole interval [-0.004, 0.008] lies inside the declared band of +-0.01 pp a year
    assert -0.01 <= float(row["ci_low"]) and float(row["ci_high"]) <= 0.01
    assert row["verdict"] == "supported"
    # with a band of 0.005 the interval straddles it: the verdict hangs on the band
    assert "high=0.005: inconclusive" in row["verdict_sensitivity"]


def test_c10_slight_rise_is_not_supported_at_the_declared_threshold(bg):
    row = _part(bg, "C10.slight_rise")
    assert row["effect_name"] == "slope_after"
    # 0.068 pp a year, interval [0.0502, 0.0856]: wholly above the declared 0.05
    assert float(row["ci_low"]) > 0.05 and row["verdict"] == "not supported"
    sens = row["verdict_sensitivity"]
    assert "high=0.03: not supported" in sens and "high=0.075: inconclusive" in sens
    assert "high=0.1: supported" in sens


def test_c10_diagnostics_and_descriptives_carry_no_verdict(bg):
    rows = bg.rows
    chosen = rows[rows["test"] == "choose_break"].iloc[0]
    assert 2003 <= float(chosen["effect"]) <= 2013 and 0 < float(chosen["p_value"]) <= 1
    assert chosen["role"] == "diagnostic"
    ratio = rows[rows["test"] == "ratio_end_to_break"].iloc[0]
    assert float(ratio["effect"]) == pytest.approx(0.78 / 0.56)
    assert ratio["role"] == "descriptive"
    assert rows.loc[rows["role"].isin(["diagnostic", "descriptive"]), "verdict"].isna().all()
    assert not rows["test"].eq("segmented_trend_summary").any()


def test_another_window_for_bulgaria_gives_sensitivity_rows():
    later = rd_national.run(break_year=2008)
    judged = later.rows[later.rows["part"].notna()]
    assert set(judged["role"]) == {"sensitivity"}


def test_b_flags_get_sensitivity_rows():
    hr = rd_national.run(country="HR", start=2002)
    tests = set(hr.rows["test"])
    assert {"segmented_trend_b_dummy", "segmented_trend_b_excluded"} <= tests
    assert "'b' (break in time series)" in hr.rows["caveats"].iloc[0]
    assert hr.rows["verdict"].isna().all() and hr.rows["part"].isna().all()   # the claims are about BG


def test_no_b_flags_no_sensitivity_rows(bg):
    assert not bg.rows["test"].str.startswith("segmented_trend_b_").any()


@pytest.mark.parametrize("kwargs, text", [
    ({"country": "XX"}, "country"),
    ({"reference": "EU99"}, "reference"),
    ({"start": 1950}, "outside the data"),
    ({"start": 2010, "end": 2005}, "after end"),
    ({"break_year": 2000}, "break_year"),
    ({"alpha": 2}, "alpha"),
])
def test_bad_parameters(kwargs, text):
    with pytest.raises(ParameterError, match=text):
        rd_national.check_parameters(**kwargs)
    with pytest.raises(ParameterError, match=text):
        rd_national.hypothesis.context(**kwargs)


def test_declared_hypothesis_matches_the_notebook():
    h = rd_national.hypothesis
    assert (h.id, h.notebook, h.claims) == ("H5", "h5_bulgaria_vs_eu.ipynb", ("C10", "C11"))
    assert h.context().name == "h5_bulgaria_vs_eu"
    assert h.context(break_year=2008).name == "h5_bulgaria_vs_eu__break_year-2008"


def test_figures_mark_flags_and_highlight_country(bg):
    import matplotlib.pyplot as plt

    fig, data = rd_national.figure_series(bg)
    assert set(data["geo"]) == {"BG", "EU28"} and "flag" in data
    plt.close(fig)
    fig, data = rd_national.figure_countries(bg)
    assert len(data) == 29   # 28 member states + the EU28 line
    plt.close(fig)
