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
    assert row["verdict"] == "supported"


def test_gap_to_eu28(raw, bg):
    y = raw[raw["time"] == 2016].set_index("geo")["value"]
    row = bg.rows[bg.rows["test"] == "gap_to_reference"].iloc[0]
    assert float(row["effect"]) == pytest.approx(y["BG"] / y["EU28"])
    assert row["verdict"] == "supported"
    assert "'p'" in row["caveats"]   # the EU28 2016 value was provisional


def test_slopes_match_an_independent_least_squares_fit(raw, bg):
    s = raw[(raw["geo"] == "BG") & raw["time"].between(2000, 2016)].sort_values("time")
    t, y = s["time"].to_numpy(float), s["value"].to_numpy(float)
    # hinge basis written differently: separate slopes before and after 2010, joined at 2010
    x = np.column_stack([np.ones_like(t), np.minimum(t - 2010, 0), np.maximum(t - 2010, 0)])
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    rows = bg.rows[bg.rows["test"] == "segmented_trend"].set_index("effect_name")
    assert float(rows.loc["slope_before", "effect"]) == pytest.approx(coef[1], rel=1e-8)
    assert float(rows.loc["slope_after", "effect"]) == pytest.approx(coef[2], rel=1e-8)


def test_c10_summary_and_chosen_break(bg):
    summary = bg.rows[bg.rows["test"] == "segmented_trend_summary"].iloc[0]
    assert summary["claim_id"] == "C10"
    # flat before, rising after, but 2016 is ~1.4 x 2010: "slight" does not hold, hence partly
    assert summary["verdict"] == "partly"
    assert "more than a 'slight' rise" in summary["verdict_text"]
    chosen = bg.rows[bg.rows["test"] == "choose_break"].iloc[0]
    assert 2003 <= float(chosen["effect"]) <= 2013
    assert 0 < float(chosen["p_value"]) <= 1


def test_b_flags_get_sensitivity_rows():
    hr = rd_national.run(country="HR", start=2002)
    tests = set(hr.rows["test"])
    assert {"segmented_trend_b_dummy", "segmented_trend_b_excluded"} <= tests
    assert "'b' (break in time series)" in hr.rows["caveats"].iloc[0]
    assert (hr.rows["verdict"] == "inconclusive").all()   # the claim is about BG


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


def test_figures_mark_flags_and_highlight_country(bg):
    import matplotlib.pyplot as plt

    fig, data = rd_national.figure_series(bg)
    assert set(data["geo"]) == {"BG", "EU28"} and "flag" in data
    plt.close(fig)
    fig, data = rd_national.figure_countries(bg)
    assert len(data) == 29   # 28 member states + the EU28 line
    plt.close(fig)
