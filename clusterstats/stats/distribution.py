"""Distribution statistics for H8: "clusters have mainly between 10 and 30 members".

- :func:`median_bootstrap_ci`: the median with bootstrap CIs (percentile and BCa; Efron &
  Tibshirani 1993, *An Introduction to the Bootstrap*, ch. 13-14, via
  ``scipy.stats.bootstrap``) and the distribution-free order-statistic CI (Conover 1999,
  *Practical Nonparametric Statistics*, 3rd ed., sec. 3.2) as a check that needs no resampling.
- :func:`share_in_range`: the share of values in [low, high] with a Wilson score CI (Wilson
  1927, *JASA* 22: 209-212; Brown, Cai & DasGupta 2001, *Stat Sci* 16: 101-133) and an exact
  one-sided binomial test of "more than half" ("mainly").
"""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from ._tidy import result_frame, result_row

REF_BOOT = "Efron & Tibshirani (1993) An Introduction to the Bootstrap, ch. 13-14 (percentile, BCa)"
REF_ORDER = "Conover (1999) Practical Nonparametric Statistics, 3rd ed., sec. 3.2"
REF_WILSON = "Wilson (1927) JASA 22:209-212; Brown, Cai & DasGupta (2001) Stat Sci 16:101-133"


def _clean(values, name: str = "values") -> tuple[np.ndarray, int]:
    """Finite values as floats and the number of missing ones dropped."""
    arr = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce").to_numpy(float)
    if arr.size == 0:
        raise ValueError(f"{name} is empty")
    keep = np.isfinite(arr)
    if not keep.any():
        raise ValueError(f"{name} has no numeric values")
    return arr[keep], int((~keep).sum())


def _check_level(ci_level: float) -> None:
    if not (0 < ci_level < 1):
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}")


def median_order_ci(values, ci_level: float = 0.95) -> tuple[float, float, float]:
    """Distribution-free CI for the median from order statistics.

    Returns (low, high, achieved coverage): the widest symmetric pair x_(k), x_(n+1-k) with
    coverage P(k <= B <= n-k), B ~ Bin(n, 1/2), at least ``ci_level``.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> members = clusters["members"].dropna()  # member counts printed in the BSMEPA annex
    >>> from clusterstats.stats import median_order_ci
    >>> median_order_ci(members)
    (13.0, 22.0, 0.9799383929930627)
    """
    _check_level(ci_level)
    x = np.sort(_clean(values)[0])
    n = x.size
    best = (float(x[0]), float(x[-1]), 1 - 2 * 0.5 ** n)
    for k in range(1, n // 2 + 1):
        coverage = stats.binom.cdf(n - k, n, 0.5) - stats.binom.cdf(k - 1, n, 0.5)
        if coverage < ci_level:
            break
        best = (float(x[k - 1]), float(x[n - k]), float(coverage))
    return best


def median_bootstrap_ci(values, n_boot: int = 9999, seed: int = 0,
                        ci_level: float = 0.95, unit: str | None = None) -> pd.DataFrame:
    """The median with percentile and BCa bootstrap CIs and the order-statistic CI.

    Three rows (one per CI method), same point estimate. Missing values are dropped and
    counted in ``note``. With ties around the median every jackknife median can be equal, so
    BCa's acceleration is 0/0 and scipy returns NaN: the row then says so instead of showing
    NaN (the percentile and order-statistic rows remain).

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> members = clusters["members"].dropna()  # member counts printed in the BSMEPA annex
    >>> from clusterstats.stats import median_bootstrap_ci
    >>> r = median_bootstrap_ci(members, n_boot=999, unit="members")
    >>> r[["effect", "ci_low", "ci_high"]].round(1).values.tolist()
    [[16.0, 13.0, 19.0], [16.0, <NA>, <NA>], [16.0, 13.0, 22.0]]
    """
    _check_level(ci_level)
    if n_boot < 100:
        raise ValueError(f"n_boot must be at least 100, got {n_boot}")
    x, dropped = _clean(values)
    if x.size < 2:
        raise ValueError("need at least two values for a CI of the median")
    med = float(np.median(x))
    note = f"{dropped} missing values dropped" if dropped else None
    rows = []
    for method in ("percentile", "BCa"):
        # scipy warns (and returns NaN) when BCa meets a degenerate bootstrap distribution;
        # result_row turns that NaN into NA with the reason below.
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = stats.bootstrap((x,), np.median, n_resamples=n_boot, method=method,
                                  confidence_level=ci_level, rng=np.random.default_rng(seed))
        rows.append(result_row(
            test="median", method=f"{method} bootstrap, {n_boot} resamples, seed {seed}",
            effect_name="median", effect=med, ci_low=float(res.confidence_interval.low),
            ci_high=float(res.confidence_interval.high), ci_level=ci_level, n=x.size,
            unit=unit, reference=REF_BOOT, note=note,
            why_nan=("BCa is undefined here: its jackknife acceleration is 0/0 because every "
                     "leave-one-out median is equal (ties around the median), or the bootstrap "
                     "distribution is degenerate; use the percentile or order-statistic CI")))
    lo, hi, cover = median_order_ci(x, ci_level)
    rows.append(result_row(
        test="median", method="order-statistic CI (binomial, distribution-free)",
        effect_name="median", effect=med, ci_low=lo, ci_high=hi, ci_level=ci_level, n=x.size,
        unit=unit, reference=REF_ORDER,
        note="; ".join(filter(None, [note, f"achieved coverage {cover:.4f}"]))))
    return result_frame(rows)


def share_in_range(values, low: float = 10, high: float = 30, ci_level: float = 0.95,
                   p0: float = 0.5) -> pd.DataFrame:
    """Share of values in [low, high] (inclusive) with a Wilson CI and a test of share > p0.

    "Mainly between 10 and 30" is read as "more than half" (p0 = 0.5): the p-value is the exact
    one-sided binomial test of H0: share <= p0. Missing values are dropped and counted in
    ``note``.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> members = clusters["members"].dropna()  # member counts printed in the BSMEPA annex
    >>> from clusterstats.stats import share_in_range
    >>> row = share_in_range(members, low=10, high=30).iloc[0]
    >>> round(float(row["effect"]), 3), round(float(row["ci_low"]), 3), round(float(row["ci_high"]), 3)
    (0.75, 0.579, 0.867)
    """
    _check_level(ci_level)
    if not (0 < p0 < 1):
        raise ValueError(f"p0 must be in (0, 1), got {p0!r}")
    if low > high:
        raise ValueError(f"low ({low}) must not exceed high ({high})")
    x, dropped = _clean(values)
    k, n = int(((x >= low) & (x <= high)).sum()), x.size
    ci_low, ci_high = proportion_confint(k, n, alpha=1 - ci_level, method="wilson")
    test = stats.binomtest(k, n, p0, alternative="greater")
    return result_frame(result_row(
        test=f"share in [{low:g}, {high:g}]",
        method=f"Wilson score CI; exact binomial test, H1: share > {p0:g}",
        statistic=float(k), p_value=float(test.pvalue), effect_name="share", effect=k / n,
        ci_low=float(ci_low), ci_high=float(ci_high), ci_level=ci_level, n=n, unit="share",
        reference=REF_WILSON,
        note="; ".join(filter(None, [f"statistic = number in range ({k} of {n})",
                                     f"{dropped} missing values dropped" if dropped else None]))))
