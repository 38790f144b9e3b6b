"""Trend in proportions across ordered groups (Cochran-Armitage) and CIs for single shares.

Tests claims like "the share of innovative enterprises rises with enterprise size" (guide,
diagram 11): groups are size classes in order, successes the innovating enterprises, totals
all enterprises. Caveat for survey data (CIS): published counts are grossed-up estimates, not
sampled units, so treating them as binomial counts overstates the precision; pass the
unweighted sample counts when available, or read the p-value as descriptive. Non-integer
counts are accepted and noted.

References
----------
Cochran, W. G. (1954). Some methods for strengthening the common chi-square tests.
*Biometrics* 10(4), 417-451.
Armitage, P. (1955). Tests for linear trends in proportions and frequencies. *Biometrics*
11(3), 375-386.
Agresti, A. (2002). *Categorical Data Analysis*, 2nd ed., Wiley, sections 3.4.6 and 5.3.5
(the linear-by-linear statistic M^2 = (N-1) r^2 is the same test with N-1 for N).
Wilson, E. B. (1927). *JASA* 22(158), 209-212; Clopper, C. J. & Pearson, E. S. (1934).
*Biometrika* 26(4), 404-413; Newcombe, R. G. (1998). *Statistics in Medicine* 17(8), 857-872.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats as sps
from statsmodels.stats.proportion import proportion_confint

from ._tidy import result_frame, result_row

REF_CA = "Cochran (1954) Biometrics 10(4); Armitage (1955) Biometrics 11(3)"


def _counts(df: pd.DataFrame, col: str) -> np.ndarray:
    if col not in df.columns:
        raise KeyError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    v = pd.to_numeric(df[col], errors="coerce")
    bad = v.isna() | (v < 0)
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"column {col!r}, row {i!r}: {df.loc[i, col]!r} is not a non-negative count")
    return v.to_numpy(float)


def cochran_armitage(df: pd.DataFrame, group: str, successes: str, totals: str,
                     scores: str | Sequence[float] | None = None, *,
                     alternative: str = "two-sided", ci_level: float = 0.95) -> pd.DataFrame:
    """Cochran-Armitage test for a linear trend in proportions x_i/n_i over ordered groups.

    z = sum t_i (x_i - n_i pbar) / sqrt(pbar (1 - pbar) S), S = sum n_i (t_i - tbar)^2,
    with tbar the n-weighted mean score. The effect is the slope of the proportion on the
    score, b = sum n_i (t_i - tbar)(p_i - pbar) / S (weighted least squares; z = b / SE_0),
    with a Wald CI using the unpooled variance sum n_i (t_i - tbar)^2 p_i (1 - p_i) / S^2.
    The test uses the variance under H0, the CI the unpooled one, so when a group with an
    extreme score is small they can disagree (the CI covering 0 while p < 0.05); Agresti's
    malformation example in the tests is such a case.
    ``scores``: a column name, a sequence, or None (the group values if numeric, else
    0, 1, 2, ... in row order, so rows must be in the groups' natural order).
    ``alternative``: "two-sided", "increasing" or "decreasing".
    """
    if alternative not in ("two-sided", "increasing", "decreasing"):
        raise ValueError(f"alternative must be two-sided, increasing or decreasing, not {alternative!r}")
    if group not in df.columns:
        raise KeyError(f"group column {group!r} not in frame")
    x, n = _counts(df, successes), _counts(df, totals)
    over = x > n
    if over.any():
        i = df.index[np.argmax(over)]
        raise ValueError(f"row {i!r}: successes {x[over][0]:g} exceed totals {n[over][0]:g}")
    if (n == 0).any():
        i = df.index[np.argmax(n == 0)]
        raise ValueError(f"column {totals!r}, row {i!r}: a group with total 0 has no proportion")
    if isinstance(scores, str):
        if scores not in df.columns:
            raise KeyError(f"scores column {scores!r} not in frame")
        t = pd.to_numeric(df[scores], errors="coerce").to_numpy(float)
        if np.isnan(t).any():
            i = df.index[np.argmax(np.isnan(t))]
            raise ValueError(f"scores column {scores!r}, row {i!r}: {df.loc[i, scores]!r} is not a number")
        score_text = f"scores from column {scores!r}"
    elif scores is not None:
        t = np.asarray(scores, float)
        if len(t) != len(df):
            raise ValueError(f"{len(t)} scores for {len(df)} groups")
        score_text = f"scores {list(t)}"
    elif pd.api.types.is_numeric_dtype(df[group]):
        t = df[group].to_numpy(float)
        score_text = f"scores = {group!r} values"
    else:
        t = np.arange(len(df), dtype=float)
        score_text = "equally spaced scores 0..k-1 in row order"
    if len(df) < 2:
        raise ValueError("a trend test needs at least two groups")
    N, X = n.sum(), x.sum()
    pbar = X / N
    tbar = np.dot(n, t) / N
    S = np.dot(n, (t - tbar) ** 2)
    p_i = x / n
    b = np.dot(n * (t - tbar), p_i - pbar) / S if S > 0 else np.nan
    var0 = pbar * (1 - pbar) / S if S > 0 else np.nan
    z = b / np.sqrt(var0) if var0 > 0 else np.nan
    if alternative == "two-sided":
        p = 2 * sps.norm.sf(abs(z))
    else:
        p = sps.norm.sf(z) if alternative == "increasing" else sps.norm.cdf(z)
    se1 = np.sqrt(np.dot(n * (t - tbar) ** 2, p_i * (1 - p_i))) / S if S > 0 else np.nan
    q = sps.norm.ppf(0.5 + ci_level / 2)
    notes = []
    if not (np.allclose(x, np.round(x)) and np.allclose(n, np.round(n))):
        notes.append("non-integer counts (weighted estimates?): binomial precision is overstated")
    if np.isfinite(se1) and se1 == 0:
        notes.append("every group proportion is 0 or 1: the Wald CI of the slope collapses")
    why = {"statistic": "no variation: all scores equal or pooled proportion is 0 or 1",
           "p_value": "no variation: all scores equal or pooled proportion is 0 or 1",
           "effect": "all scores are equal, the slope is undefined",
           "ci_low": "slope or its standard error undefined",
           "ci_high": "slope or its standard error undefined"}
    return result_frame([result_row(
        test="cochran_armitage",
        method=f"Cochran-Armitage trend test of {successes}/{totals} over {group} ({score_text}), "
               f"{alternative}",
        statistic=z, p_value=p, effect_name="slope_of_proportion_per_score", effect=b,
        ci_low=b - q * se1, ci_high=b + q * se1, ci_level=ci_level, n=N,
        unit="proportion per score unit", reference=REF_CA, note="; ".join(notes) or pd.NA,
        n_groups=len(df), why_nan=why)])


def proportion_ci(df: pd.DataFrame, successes: str, totals: str, group: str | None = None, *,
                  method: str = "wilson", ci_level: float = 0.95) -> pd.DataFrame:
    """Share x/n with a CI per row: ``method="wilson"`` (Wilson 1927) or ``"beta"``
    (Clopper-Pearson exact, 1934), computed by statsmodels ``proportion_confint``.

    One row per input row; ``group`` (if given) is copied into the result.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> import pandas as pd
    >>> from clusterstats.stats import proportion_ci
    >>> n = len(clusters); k = int(clusters["in_bsmepa"].astype(bool).sum())
    >>> row = proportion_ci(pd.DataFrame({"k": [k], "n": [n]}), "k", "n").iloc[0]
    >>> round(float(row["effect"]), 3), round(float(row["ci_low"]), 3), round(float(row["ci_high"]), 3)
    (0.172, 0.134, 0.218)
    """
    names = {"wilson": "Wilson score interval (Wilson 1927)",
             "beta": "Clopper-Pearson exact interval (Clopper & Pearson 1934)"}
    if method not in names:
        raise ValueError(f"method must be one of {list(names)}, not {method!r}")
    x, n = _counts(df, successes), _counts(df, totals)
    rows = []
    for i, (xi, ni) in enumerate(zip(x, n)):
        if xi > ni:
            raise ValueError(f"row {df.index[i]!r}: successes {xi:g} exceed totals {ni:g}")
        if ni == 0:
            lo = hi = share = np.nan
        else:
            share = xi / ni
            lo, hi = proportion_confint(xi, ni, alpha=1 - ci_level, method=method)
        extra = {group: df[group].iloc[i]} if group else {}
        rows.append(result_row(
            test="proportion_ci", method=f"{successes}/{totals}, {names[method]}",
            effect_name="proportion", effect=share, ci_low=lo, ci_high=hi, ci_level=ci_level,
            n=ni, unit="proportion", reference=names[method] + "; Newcombe (1998)",
            why_nan="total is 0", **extra))
    return result_frame(rows)
