"""Known answers for the overdispersion-aware window tests, Rubin's rules, the like-for-like
placebo, the code-order draws and the Fisher power (constructed numbers, not data)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from clusterstats.stats.association import detectable_difference, fisher_power
from clusterstats.stats.calibration import calibrate_code_to_year, code_order_bounds, order_draws
from clusterstats.stats.counts import (negbin_window_fit, placebo_draws, poisson_dispersion_check,
                                       pooled_window_test, rubin_pool)

YEARS = list(range(2008, 2017))


def test_rubin_pool_by_hand():
    # Rubin (1987) rules written out: Q = mean, W = mean var, B = var(Q), T = W + (1 + 1/m) B
    q, u = np.array([1.0, 1.4, 0.9, 1.3]), np.array([0.04, 0.05, 0.03, 0.04])
    out = rubin_pool(q, u)
    b = q.var(ddof=1)
    t = u.mean() + 1.25 * b
    assert out["estimate"] == pytest.approx(q.mean()) and out["se"] == pytest.approx(np.sqrt(t))
    r = 1.25 * b / u.mean()
    assert out["df"] == pytest.approx(3 * (1 + 1 / r) ** 2)  # Rubin's df with df_com = inf
    # Barnard-Rubin with a finite complete-data df is smaller than both
    br = rubin_pool(q, u, df_com=6)
    assert br["df"] < min(out["df"], 6)
    assert rubin_pool([1.0], [0.04], df_com=6)["df"] == 6  # m = 1: complete-data inference


def test_identical_draws_pool_to_the_single_fit():
    y = [7, 3, 6, 16, 22, 81, 9, 8, 48]
    one = pooled_window_test(y, YEARS, {"w": [2016]}).table.iloc[0]
    many = pooled_window_test(np.tile(y, (5, 1)), YEARS, {"w": [2016]}).table.iloc[0]
    assert many["effect"] == pytest.approx(one["effect"]) and many["p_value"] == pytest.approx(one["p_value"])


def test_nb_fit_matches_statsmodels_and_falls_back_at_the_boundary():
    y = np.array([2, 3, 2, 3, 2, 3, 2, 3, 20.0])
    fit = negbin_window_fit(y, YEARS, {"w": [2016]})
    assert fit.model.startswith("quasi-Poisson")  # equidispersed rest: alpha -> 0
    ref = sm.GLM(y, np.column_stack([np.ones(9), np.eye(9)[8]]), family=sm.families.Poisson()).fit()
    assert fit.log_irr["w"] == pytest.approx(ref.params[1])
    with pytest.raises(ValueError, match="no events"):
        negbin_window_fit([0, 1, 2, 3, 4, 5, 6, 7, 8], YEARS, {"w": [2008]})


def test_dispersion_check_fails_on_overdispersed_counts():
    rows, passed = poisson_dispersion_check([7, 3, 6, 16, 22, 81, 9, 8, 48], YEARS,
                                            {"a": [2016], "b": [2013]})
    x2 = rows.iloc[0]
    base = np.array([7, 3, 6, 16, 22, 9, 8.0])
    assert x2["statistic"] == pytest.approx(((base - base.mean()) ** 2 / base.mean()).sum())
    assert x2["p_value"] == pytest.approx(stats.chi2.sf(x2["statistic"], 6))
    assert not passed


def test_placebo_uses_the_same_ratio_for_every_window():
    y = np.array([7, 3, 6, 16, 22, 81, 9, 8, 60])
    row, per_draw = placebo_draws(y, YEARS, [2016])
    # ratio of each year vs the mean of all others: monotone in the count, so 2016 ranks below 2013
    assert row.iloc[0]["statistic"] == 2 and per_draw["rate_ratio"].iloc[0] == pytest.approx(60 / ((y.sum() - 60) / 8))


def test_order_draws_respect_bounds_and_anchors():
    anchors = pd.DataFrame({"code": [str(175000000 + k) for k in (0, 100, 200, 300)],
                            "year": [2010, 2010, 2012, 2013]})
    fit = calibrate_code_to_year(anchors, n_boot=0)
    codes = [str(175000000 + k) for k in (50, 120, 150, 190, 250)]
    bounds = code_order_bounds(fit, codes)
    assert bounds["lower"].tolist() == [2010, 2010, 2010, 2010, 2012]
    assert bounds["upper"].tolist() == [2010, 2012, 2012, 2012, 2013]
    draws = order_draws(bounds, 2000, seed=1)
    assert (draws >= bounds["lower"].to_numpy()).all() and (draws <= bounds["upper"].to_numpy()).all()
    assert (np.diff(draws, axis=1) >= 0).all()  # code order respected in every draw
    assert (draws[:, 0] == 2010).all()
    # code 120 lies a fifth of the way from anchor 100 (2010) to 200 (2012): P(2010) = (1 - 0.2)^2
    assert np.mean(draws[:, 1] == 2010) == pytest.approx(0.64, abs=0.03)


def test_fisher_power_by_enumeration_and_simulation():
    # size at the null never exceeds alpha (Fisher is conservative)
    assert fisher_power(0.2, 0.2, 16, 17) <= 0.05
    rng = np.random.default_rng(0)
    x1, x0 = rng.binomial(16, 0.6, 4000), rng.binomial(17, 0.2, 4000)
    sim = np.mean([stats.fisher_exact([[a, 16 - a], [b, 17 - b]], alternative="greater").pvalue < 0.05
                   for a, b in zip(x1, x0)])
    assert fisher_power(0.2, 0.6, 16, 17) == pytest.approx(sim, abs=0.025)
    rows = detectable_difference(3 / 17, 16, 17)
    exact = rows.iloc[0]["effect"]
    assert fisher_power(3 / 17, exact, 16, 17) >= 0.8 > fisher_power(3 / 17, exact - 0.002, 16, 17)
