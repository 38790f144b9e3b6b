"""Known answers for change points: brute-force optimum and numerical integration.

The classic coal-mining disasters series (Raftery & Akman 1986) is not shipped by any
installed package (statsmodels, scipy, ruptures, sklearn), and typing it in is not allowed, so
the checks use constructed counts with an obvious step and independent computations.
"""
from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from clusterstats.stats.changepoint import (penalty_value, pelt_poisson, poisson_pulse,
                                            poisson_switchpoint)

YEARS = list(range(2008, 2024))
SPIKE = [3, 2, 4, 3, 5, 2, 4, 3, 40, 4, 3, 5, 2, 3, 4, 3]          # constructed, spike 2016
STEP = [2, 3, 1, 2, 3, 2, 2, 12, 10, 13, 11, 12, 9, 14, 10, 12]      # constructed, step 2015


def brute_force_segmentation(y, pen):
    """Exhaustive search over all 2^(n-1) segmentations with scipy's Poisson log-pmf."""
    n, best = len(y), (np.inf, None)
    for k in range(n):
        for cuts in itertools.combinations(range(1, n), k):
            bounds = [0, *cuts, n]
            nll = sum(-stats.poisson.logpmf(y[s:e], max(np.mean(y[s:e]), 1e-300)).sum()
                      for s, e in zip(bounds[:-1], bounds[1:]))
            total = nll + pen * k
            if total < best[0] - 1e-9:
                best = (total, list(cuts))
    return best[1]


def test_pelt_equals_exhaustive_optimum():
    y = np.array([1, 2, 1, 9, 11, 8, 2, 1, 2, 3, 0, 2], float)
    pen = penalty_value("bic", len(y))
    res = pelt_poisson(y, penalty="bic")
    starts = res.detail["start"].tolist()[1:]
    assert starts == brute_force_segmentation(y, pen)
    assert res.table.loc[0, "statistic"] == len(starts)


def test_pelt_isolates_the_spike_year():
    res = pelt_poisson(SPIKE, penalty="2logn", years=YEARS)
    seg = res.detail
    assert seg["start"].tolist() == [2008, 2016, 2017]
    assert seg.loc[1, "rate"] == 40
    assert "2016, 2017" in res.table.loc[0, "note"]


def switch_posterior_by_quadrature(y, a, b):
    """p(tau | y) by numerical integration of each segment's rate (independent of the code)."""
    def seg(vals):
        f = lambda lam: np.prod(stats.poisson.pmf(vals, lam)) * stats.gamma.pdf(lam, a, scale=1 / b)
        return integrate.quad(f, 0, 60, points=[np.mean(vals)], limit=200)[0]
    m = np.array([seg(y[:k]) * seg(y[k:]) for k in range(1, len(y))])
    return m / m.sum()


def test_switchpoint_posterior_matches_quadrature():
    y = np.array([1, 3, 2, 7, 9, 8])
    df = pd.DataFrame({"year": range(2000, 2006), "count": y})
    res = poisson_switchpoint(df, prior_shape=2.0, prior_rate=0.5)
    expected = switch_posterior_by_quadrature(y, 2.0, 0.5)
    np.testing.assert_allclose(res.detail["posterior"].to_numpy(), expected, rtol=1e-6)
    assert res.detail["first_year_after"].tolist() == [2001, 2002, 2003, 2004, 2005]


def test_switchpoint_finds_constructed_step():
    res = poisson_switchpoint(pd.DataFrame({"year": YEARS, "count": STEP}))
    row = res.table.iloc[0]
    assert row["effect"] == 2015 and row["ci_low"] <= 2015 <= row["ci_high"]
    assert row["statistic"] > 2  # log10 BF: decisive evidence for a change
    assert res.detail["posterior"].sum() == pytest.approx(1.0)


def test_switchpoint_flat_series_prefers_no_change():
    flat = pd.DataFrame({"year": YEARS, "count": [4] * 16})
    assert poisson_switchpoint(flat).table.loc[0, "statistic"] < 0


def test_pulse_posterior_matches_quadrature_and_finds_spike():
    y = np.array([2, 1, 9, 2, 1])
    a, b = 1.0, 0.5

    def seg(vals):
        f = lambda lam: np.prod(stats.poisson.pmf(vals, lam)) * stats.gamma.pdf(lam, a, scale=1 / b)
        return integrate.quad(f, 0, 60, points=[max(np.mean(vals), 0.1)], limit=200)[0]
    wins = [(s, e) for s in range(1, 4) for e in range(s, 4)]  # baseline on both sides
    m = np.array([seg(y[s:e + 1]) * seg(np.r_[y[:s], y[e + 1:]]) for s, e in wins])
    df = pd.DataFrame({"year": range(2014, 2019), "count": y})
    res = poisson_pulse(df, prior_shape=a, prior_rate=b, focus_year=2016)
    np.testing.assert_allclose(res.detail["posterior"].to_numpy(), m / m.sum(), rtol=1e-6)
    spike = poisson_pulse(pd.DataFrame({"year": YEARS, "count": SPIKE}), focus_year=2016)
    assert spike.table.loc[0, "effect"] > 0.9
    assert "modal window 2016-2016" in spike.table.loc[0, "note"]
    with pytest.raises(ValueError, match="first/last"):
        poisson_pulse(pd.DataFrame({"year": YEARS, "count": SPIKE}), focus_year=2023)


@pytest.mark.parametrize("call, match", [
    (lambda: pelt_poisson([]), "non-empty"),
    (lambda: pelt_poisson([1, -2, 3]), "non-negative integer"),
    (lambda: pelt_poisson([1, 2, 3], penalty="mdl"), "penalty must be"),
    (lambda: pelt_poisson([1, 2, 3], years=[1, 2]), "labels"),
    (lambda: poisson_switchpoint(pd.DataFrame({"year": [1, 2], "count": [1, 2]})), "three"),
    (lambda: poisson_switchpoint(pd.DataFrame({"year": YEARS, "count": STEP}), ci_level=1), "ci_level"),
    (lambda: poisson_pulse(pd.DataFrame({"year": YEARS, "count": STEP}), focus_year=1990), "outside"),
    (lambda: poisson_switchpoint(pd.DataFrame({"year": YEARS, "count": STEP}), prior_shape=0), "shape"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
