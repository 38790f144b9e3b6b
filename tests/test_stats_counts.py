"""Known answers for the event-count tests (arithmetic or an independent computation)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from clusterstats.stats.counts import (counts_from_events, dispersion_test, exact_rate_test, negbin_event_glm,
                                       placebo_windows, poisson_event_glm)

# Constructed counts (not data): a flat series with one obvious spike in 2016.
YEARS = list(range(2008, 2024))
FLAT = [3, 2, 4, 3, 5, 2, 4, 3, 40, 4, 3, 5, 2, 3, 4, 3]


def frame(counts=FLAT):
    return pd.DataFrame({"year": YEARS, "count": counts})


def test_poisson_without_trend_is_ratio_of_means():
    # Two-group Poisson MLE: IRR = mean(window)/mean(rest); var(log IRR) = 1/S1 + 1/S0.
    fit = poisson_event_glm(frame(), window_years=[2016], trend=False, scale=None)
    row = fit.table.iloc[0]
    s1, s0, n0 = 40, sum(FLAT) - 40, len(FLAT) - 1
    assert row["effect"] == pytest.approx(40 / (s0 / n0), rel=1e-8)
    se = np.sqrt(1 / s1 + 1 / s0)
    z = stats.norm.ppf(0.975)
    assert row["ci_low"] == pytest.approx(np.exp(np.log(row["effect"]) - z * se), rel=1e-6)
    assert row["ci_high"] == pytest.approx(np.exp(np.log(row["effect"]) + z * se), rel=1e-6)
    assert row["n"] == 16
    assert hasattr(fit.results, "params")


def test_pearson_scaling_widens_ci_when_overdispersed():
    wild = [1, 9, 0, 8, 2, 10, 1, 7, 60, 2, 11, 0, 9, 1, 8, 2]
    plain = poisson_event_glm(frame(wild), scale=None).table.iloc[0]
    scaled = poisson_event_glm(frame(wild)).table.iloc[0]
    assert scaled["effect"] == pytest.approx(plain["effect"])
    assert (scaled["ci_high"] - scaled["ci_low"]) > (plain["ci_high"] - plain["ci_low"])
    assert "phi" in scaled["note"]


def test_negbin_boundary_falls_back_to_poisson_and_says_why():
    # One-year dummy + Poisson-like rest: ML alpha goes to 0 (the pitfall in notes A7).
    fit = negbin_event_glm(frame(), window_years=[2016])
    row = fit.table.iloc[0]
    assert "boundary" in row["note"] and "fell back to Poisson" in row["note"]
    assert np.isfinite(row["p_value"]) and row["effect"] > 5
    ref = poisson_event_glm(frame(), window_years=[2016]).table.iloc[0]
    assert row["effect"] == pytest.approx(ref["effect"])


def test_negbin_on_overdispersed_counts_estimates_alpha():
    wild = [1, 9, 0, 8, 2, 10, 1, 7, 60, 2, 11, 0, 9, 1, 8, 2]
    row = negbin_event_glm(frame(wild), window_years=[2016]).table.iloc[0]
    assert row["test"] == "event IRR (NB2)"
    assert "alpha" in row["note"] and row["ci_low"] < row["effect"] < row["ci_high"]


def test_dispersion_test_matches_hand_auxiliary_regression():
    wild = [1, 9, 0, 8, 2, 10, 1, 7, 60, 2, 11, 0, 9, 1, 8, 2]
    row = dispersion_test(frame(wild)).iloc[0]
    # Independent: fit the same Poisson model, then the CT (1990) auxiliary OLS by numpy.
    fit = poisson_event_glm(frame(wild), scale=None).results
    y, mu = np.array(wild, float), fit.mu
    z = ((y - mu) ** 2 - y) / mu
    beta = (mu @ z) / (mu @ mu)
    resid = z - beta * mu
    se = np.sqrt(resid @ resid / (len(y) - 1) / (mu @ mu))
    assert row["statistic"] == pytest.approx(beta / se, rel=1e-6)
    assert row["p_value"] == pytest.approx(stats.norm.sf(beta / se), rel=1e-6)


def test_exact_rate_test_equals_binomial_test_and_explains_nan_statistic():
    res = exact_rate_test(40, 1, 50, 15)
    exact = res.iloc[0]
    # Conditional on N = 90, y1 ~ Bin(90, 1/16) under H0.
    assert exact["p_value"] == pytest.approx(
        stats.binomtest(40, 90, 1 / 16, alternative="greater").pvalue, rel=1e-9)
    assert pd.isna(exact["statistic"]) and "no scalar test statistic" in exact["note"]
    assert exact["effect"] == pytest.approx(40 / (50 / 15))
    # Clopper-Pearson via beta quantiles, mapped to the ratio scale.
    lo = stats.beta.ppf(0.025, 40, 51)
    assert exact["ci_low"] == pytest.approx(lo / (1 - lo) * 15, rel=1e-6)
    etest = res.iloc[1]
    assert 0 < etest["p_value"] < 1e-10 and np.isfinite(etest["statistic"])


def test_placebo_true_spike_ranks_first():
    table, per_window = placebo_windows(frame(), window_years=[2016])
    row = table.iloc[0]
    assert row["statistic"] == 1 and row["p_value"] == pytest.approx(1 / 16)
    assert len(per_window) == 16 and per_window["is_true"].sum() == 1


def test_placebo_two_year_window_counts_non_overlapping_placebos():
    _, per_window = placebo_windows(frame(), window_years=[2016, 2017])
    # 15 two-year windows in 16 years; those touching 2016-2017 (3) are skipped.
    assert len(per_window) == 1 + 15 - 3


@pytest.mark.parametrize("call, match", [
    (lambda: poisson_event_glm(frame(), window_years=[2030]), "outside the data"),
    (lambda: poisson_event_glm(frame(), alpha=1.5), "alpha must be in"),
    (lambda: poisson_event_glm(frame().iloc[:0]), "empty"),
    (lambda: poisson_event_glm(frame(), window_years=YEARS), "covers every period"),
    (lambda: exact_rate_test(3, 0, 4, 1), "exposure_window must be positive"),
    (lambda: exact_rate_test(0, 1, 0, 1), "no events"),
    (lambda: poisson_event_glm(frame([-1] + FLAT[1:])), "non-negative integer"),
    (lambda: poisson_event_glm(frame([0] * 16)), "all zero"),
])
def test_bad_parameters_are_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_counts_from_events_keeps_zero_years():
    out = counts_from_events([2012, 2014, 2014, None, 2016.0], start=2011)
    assert out["year"].tolist() == [2011, 2012, 2013, 2014, 2015, 2016]
    assert out["count"].tolist() == [0, 1, 0, 2, 0, 1]
    with pytest.raises(ValueError, match="outside"):
        counts_from_events([2010, 2016], start=2011)


def test_monthly_periods_use_position_trend():
    months = pd.period_range("2016-01", periods=12, freq="M")
    df = pd.DataFrame({"month": months, "count": [2, 1, 3, 2, 2, 1, 2, 3, 9, 11, 10, 2]})
    window = list(months[8:11])
    row = poisson_event_glm(df, "month", "count", window_years=window, trend=False,
                            scale=None).table.iloc[0]
    assert row["effect"] == pytest.approx((30 / 3) / (18 / 9))
    assert np.isfinite(poisson_event_glm(df, "month", "count", window).table.loc[0, "effect"])
