"""Known answers for the distribution statistics (H8)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from clusterstats.stats.distribution import (median_bootstrap_ci, median_order_ci,
                                             share_in_range)


def test_order_statistic_ci_hand_checked():
    # n = 10: P(2 <= B <= 8), B ~ Bin(10, 1/2) = 1 - 2*(1 + 10)/1024 = 0.978515625 >= 0.95,
    # while k = 3 gives 1 - 2*56/1024 = 0.890625 < 0.95, so the CI is (x_(2), x_(9)).
    lo, hi, cover = median_order_ci(np.arange(1, 11) * 10.0)
    assert (lo, hi) == (20.0, 90.0)
    assert cover == pytest.approx(1 - 2 * 11 / 1024)


def test_median_bootstrap_rows_and_agreement_with_order_ci():
    values = np.arange(1, 101, dtype=float)  # constructed: median 50.5
    res = median_bootstrap_ci(values, n_boot=2000, seed=1)
    assert list(res["method"].str.split().str[0]) == ["percentile", "BCa", "order-statistic"]
    assert (res["effect"] == 50.5).all()
    lo, hi, _ = median_order_ci(values)
    for _, row in res.iloc[:2].iterrows():
        assert row["ci_low"] < 50.5 < row["ci_high"]
        # Bootstrap and distribution-free CIs of the median agree to a few ranks here.
        assert abs(row["ci_low"] - lo) <= 4 and abs(row["ci_high"] - hi) <= 4


def test_median_bootstrap_is_reproducible_with_seed_and_drops_missing():
    vals = [12, 15, None, 30, 8, 22, 19, 40, 11, "n/a"]
    a = median_bootstrap_ci(vals, n_boot=500, seed=7)
    b = median_bootstrap_ci(vals, n_boot=500, seed=7)
    assert a.equals(b)
    assert "2 missing values dropped" in a.loc[0, "note"]
    assert a.loc[0, "n"] == 8


def test_degenerate_bootstrap_is_explained_not_nan():
    res = median_bootstrap_ci([5, 5, 5, 5, 5, 5, 6], n_boot=500, seed=0)
    bca = res.iloc[1]
    # Almost all resampled medians equal 5, so scipy's BCa returns NaN: it must be explained.
    assert bca.isna()[["ci_low", "ci_high"]].all()
    assert "ci_low undefined: BCa is undefined here" in bca["note"]
    assert res["effect"].eq(5).all()


def test_share_in_range_wilson_by_hand():
    vals = [5, 10, 12, 20, 30, 31, 45, 15, 25, 9]  # in [10, 30]: 10, 12, 20, 30, 15, 25 -> 6
    row = share_in_range(vals).iloc[0]
    k, n, z = 6, 10, stats.norm.ppf(0.975)
    p = k / n
    centre = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    assert row["effect"] == pytest.approx(0.6)
    assert row["ci_low"] == pytest.approx(centre - half)
    assert row["ci_high"] == pytest.approx(centre + half)
    # P(B >= 6), B ~ Bin(10, 0.5) = (210 + 120 + 45 + 10 + 1) / 1024
    assert row["p_value"] == pytest.approx(386 / 1024)


@pytest.mark.parametrize("call, match", [
    (lambda: median_bootstrap_ci([]), "empty"),
    (lambda: median_bootstrap_ci([1, 2, 3], ci_level=1.2), "ci_level"),
    (lambda: share_in_range([1, 2], low=30, high=10), "must not exceed"),
    (lambda: share_in_range([None, "x"]), "no numeric"),
    (lambda: share_in_range([1, 2], p0=0), "p0"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
