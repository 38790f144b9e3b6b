"""Known-answer tests for segmented trends, break choice and rank_among (constructed arithmetic)."""
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from clusterstats.stats.trend import EU28, choose_break, flag_years, rank_among, segmented_trend

YEARS = np.arange(2000, 2017).astype(float)


def _wiggle(design: np.ndarray, scale: float) -> np.ndarray:
    """Fixed vector orthogonal to the design columns: OLS recovers the line exactly, SE > 0."""
    v = np.cos(np.arange(design.shape[0]) * 2.3)
    v = v - design @ np.linalg.lstsq(design, v, rcond=None)[0]
    return scale * v / np.abs(v).max()


def _kinked(tau=2010.0, before=0.01, after=0.05, level=0.5, scale=0.002):
    t = YEARS
    x = np.column_stack([np.ones_like(t), t - tau, np.maximum(t - tau, 0)])
    y = level + before * (t - tau) + (after - before) * np.maximum(t - tau, 0) + _wiggle(x, scale)
    return pd.DataFrame({"year": t.astype(int), "v": y})


def test_segmented_trend_recovers_known_slopes():
    out = segmented_trend(_kinked(), "year", "v", break_year=2010).set_index("effect_name")
    assert out.loc["slope_before", "effect"] == pytest.approx(0.01, abs=1e-10)
    assert out.loc["slope_after", "effect"] == pytest.approx(0.05, abs=1e-10)
    assert out.loc["slope_change", "effect"] == pytest.approx(0.04, abs=1e-10)
    for name in ("slope_before", "slope_after", "slope_change"):
        assert out.loc[name, "ci_low"] < out.loc[name, "effect"] < out.loc[name, "ci_high"]
    assert out.loc["slope_before", "n_before"] == 11 and out.loc["slope_before", "n_after"] == 6


def test_slope_after_se_matches_reparameterised_fit():
    # Independent check of the contrast b1 + b2: fit y on min(t - tau, 0) and max(t - tau, 0)
    # so the slope after the kink is a plain coefficient.
    df = _kinked(scale=0.01)
    out = segmented_trend(df, "year", "v").set_index("effect_name")
    t = df["year"].to_numpy(float) - 2010
    alt = sm.OLS(df["v"].to_numpy(), np.column_stack([np.ones_like(t), np.minimum(t, 0),
                                                      np.maximum(t, 0)])).fit()
    assert out.loc["slope_after", "effect"] == pytest.approx(alt.params[2], rel=1e-9)
    assert out.loc["slope_after", "p_value"] == pytest.approx(alt.pvalues[2], rel=1e-6)
    lo, hi = alt.conf_int()[2]
    assert out.loc["slope_after", "ci_low"] == pytest.approx(lo, rel=1e-9)
    assert out.loc["slope_after", "ci_high"] == pytest.approx(hi, rel=1e-9)


def test_break_flag_dummy_removes_a_level_shift_and_flags_are_reported():
    df = _kinked()
    df.loc[df.year >= 2005, "v"] += 0.3                 # a break in series at 2005
    df["flag"] = ""
    df.loc[df.year == 2005, "flag"] = "b"
    df.loc[df.year == 2016, "flag"] = "ep"
    assert flag_years(df, "year", "flag") == {"b": [2005], "e": [2016], "p": [2016]}
    kept = segmented_trend(df, "year", "v", flag="flag").set_index("effect_name")
    assert kept.loc["slope_before", "effect"] != pytest.approx(0.01, abs=1e-3)
    assert "b (break in time series) in 2005" in kept.loc["slope_before", "note"]
    fixed = segmented_trend(df, "year", "v", flag="flag", on_break="dummy").set_index("effect_name")
    # the wiggle was orthogonal to the 3 kink columns, not to the dummy: slopes close, not exact
    assert fixed.loc["slope_before", "effect"] == pytest.approx(0.01, abs=2e-3)
    assert fixed.loc["slope_after", "effect"] == pytest.approx(0.05, abs=2e-3)
    assert "level-shift dummies" in fixed.loc["slope_after", "note"]
    dropped = segmented_trend(df, "year", "v", flag="flag", on_break="exclude")
    assert dropped.loc[0, "n"] == 16


def test_choose_break_finds_the_kink_and_f_matches_statsmodels():
    df = _kinked(tau=2010, before=0.0, after=0.05, scale=0.01)
    out = choose_break(df, "year", "v", n_boot=199)
    test = out.iloc[0]
    assert test["effect"] == 2010 and test["p_value"] < 0.05
    assert list(out["effect_name"][1:]) == ["slope_before", "slope_after", "slope_change"]
    assert "ignore the selection" in out.loc[1, "note"]
    # sup-F at the chosen year equals statsmodels' nested-model F test
    t = df["year"].to_numpy(float)
    y = df["v"].to_numpy()
    full = sm.OLS(y, np.column_stack([np.ones_like(t), t - 2010, np.maximum(t - 2010, 0)])).fit()
    lin = sm.OLS(y, sm.add_constant(t)).fit()
    f_sm = full.compare_f_test(lin)[0]
    assert test["statistic"] == pytest.approx(f_sm, rel=1e-8)
    cands = out.attrs["candidates"]
    assert cands.loc[cands.ssr.idxmin(), "break_year"] == 2010


def test_choose_break_on_straight_line_is_not_significant():
    t = YEARS
    x = np.column_stack([np.ones_like(t), t])
    df = pd.DataFrame({"year": t, "v": 1 + 0.02 * t + _wiggle(x, 0.05)})
    out = choose_break(df, "year", "v", n_boot=199).iloc[0]
    # the cosine wiggle is not a kink: sup-F is small, the bootstrap p large, BIC prefers the line
    assert out["p_value"] > 0.2
    assert out["delta_bic"] > 0


def test_rank_among_counts_and_excludes_aggregates():
    df = pd.DataFrame({"geo": ["EU28", "EA19", "BG", "RO", "LV", "CY", "MT", "DE", "NO"],
                       "year": 2016,
                       "v": [2.04, 2.1, 0.78, 0.48, 0.44, 0.52, 0.61, 2.94, 2.0]})
    out = rank_among(df, "geo", "v").iloc[0]
    assert out["effect"] == 4 and out["rank_from_bottom"] == 5
    assert out["below"] == "CY, LV, MT, RO" and out["n"] == 7       # NO counted: not in `among`
    eu = rank_among(df, "geo", "v", among=EU28).iloc[0]
    assert eu["effect"] == 4 and eu["n"] == 6
    assert "no value for" in eu["note"] and "FR" in eu["missing"]


def test_rank_among_missing_target_and_ties():
    df = pd.DataFrame({"geo": ["BG", "RO", "LV"], "year": [2016] * 3, "v": [0.5, 0.5, None]})
    out = rank_among(df, "geo", "v").iloc[0]
    assert out["effect"] == 0 and "tied with RO" in out["note"] and "LV" in out["note"]
    with pytest.raises(ValueError, match="target 'BG' has no value in year 2015"):
        rank_among(df, "geo", "v", year=2015)
