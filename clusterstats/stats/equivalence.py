"""Equivalence tests (TOST): positive evidence that a quantity lies *inside* a stated margin.

A claim such as "twice as many" is not supported by failing to reject "exactly twice": that only
says the data are too few to tell. The two one-sided tests procedure (TOST; Schuirmann 1987)
turns the question round: H0 = the true value lies outside the margin ``[low, upp]``, H1 = it
lies inside. Both one-sided nulls must be rejected; the TOST p-value is the larger of the two
one-sided p-values. Rejecting at level alpha is the same as the ``1 - 2 alpha`` confidence
interval lying inside the margin (Schuirmann 1987; Berger & Hsu 1996), so the rows carry that
interval and an interval-based verdict rule can vary the margin without recomputing.

- :func:`tost_proportion`: one proportion, exact binomial (statsmodels
  :func:`~statsmodels.stats.proportion.binom_tost`), Clopper-Pearson ``1 - 2 alpha`` interval.
- :func:`tost_means`: difference of two means (independent, Welch or pooled; or paired), the
  t-based TOST of statsmodels :func:`~statsmodels.stats.weightstats.ttost_ind` /
  :func:`~statsmodels.stats.weightstats.ttost_paired`. Used to check this module against a
  published example (R ``equivalence::tost``), see ``tests/test_stats_equivalence.py``.

Both wrap statsmodels and only put its output into the tidy one-row-per-test frame of
:mod:`clusterstats.stats`.

References
----------
Schuirmann, D. J. (1987). A comparison of the two one-sided tests procedure and the power
approach for assessing the equivalence of average bioavailability. *Journal of
Pharmacokinetics and Biopharmaceutics* 15(6): 657-680.

Berger, R. L. & Hsu, J. C. (1996). Bioequivalence trials, intersection-union tests and
equivalence confidence sets. *Statistical Science* 11(4): 283-319.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ._tidy import result_frame, result_row

__all__ = ["tost_proportion", "tost_means", "REF_TOST"]

REF_TOST = ("Schuirmann (1987) J Pharmacokinet Biopharm 15(6):657-680 (TOST); "
            "Berger & Hsu (1996) Stat Sci 11(4):283-319")


def _check_margin(low: float, upp: float, lo_ok: float, hi_ok: float) -> None:
    if not (lo_ok <= low < upp <= hi_ok):
        raise ValueError(f"the margin must satisfy {lo_ok:g} <= low < upp <= {hi_ok:g}, "
                         f"got low={low!r}, upp={upp!r}")


def _check_alpha(alpha: float) -> None:
    if not (0 < alpha < 0.5):
        raise ValueError(f"alpha must be in (0, 0.5) for a TOST, got {alpha!r}")


def tost_proportion(count: int, nobs: int, low: float, upp: float, *, alpha: float = 0.05,
                    label: str = "share") -> pd.DataFrame:
    """Exact binomial TOST that a proportion lies inside ``[low, upp]``; one tidy row.

    Parameters
    ----------
    count, nobs : int
        Successes and trials (``0 <= count <= nobs``, ``nobs > 0``).
    low, upp : float
        The equivalence margin on the proportion scale, ``0 <= low < upp <= 1``.
    alpha : float
        Level of each one-sided test; the interval reported is the ``1 - 2 alpha``
        Clopper-Pearson interval, which lies inside ``[low, upp]`` exactly when the TOST
        rejects non-equivalence at ``alpha``.
    label : str
        Name of the proportion (``effect_name``).

    Returns
    -------
    DataFrame
        One row: ``statistic`` = count, ``p_value`` = TOST p-value (the larger one-sided p),
        ``effect`` = count / nobs, ``ci_low``/``ci_high`` the ``1 - 2 alpha`` interval,
        ``ci_level`` = 1 - 2 alpha, plus ``p_lower``/``p_upper`` (the two one-sided p-values),
        ``margin_low``/``margin_high``.

    Notes
    -----
    statsmodels' :func:`~statsmodels.stats.proportion.binom_tost` computes the two exact
    one-sided binomial tests (H0: p <= low, H0: p >= upp). No hand-written statistics here.

    References
    ----------
    Schuirmann (1987), see the module docstring; Clopper, C. J. & Pearson, E. S. (1934).
    *Biometrika* 26: 404-413.

    Examples
    --------
    >>> row = tost_proportion(50, 100, 0.4, 0.6).iloc[0]
    >>> bool(row["p_value"] < 0.05), float(row["ci_level"])
    (True, 0.9)
    """
    from statsmodels.stats.proportion import binom_tost, proportion_confint

    _check_alpha(alpha)
    _check_margin(low, upp, 0.0, 1.0)
    if nobs <= 0 or not (0 <= count <= nobs) or int(count) != count or int(nobs) != nobs:
        raise ValueError(f"need integers 0 <= count <= nobs and nobs > 0, got {count}/{nobs}")
    p, p_low, p_upp = (float(v) for v in binom_tost(int(count), int(nobs), low, upp))
    ci_low, ci_high = proportion_confint(int(count), int(nobs), alpha=2 * alpha, method="beta")
    return result_frame(result_row(
        test=f"{label} equivalent to [{low:.3g}, {upp:.3g}] (TOST)",
        method=("exact binomial TOST (two one-sided tests, statsmodels binom_tost); "
                f"Clopper-Pearson {1 - 2 * alpha:.0%} interval"),
        statistic=float(count), p_value=p, effect_name=label, effect=count / nobs,
        ci_low=float(ci_low), ci_high=float(ci_high), ci_level=1 - 2 * alpha, n=int(nobs),
        unit="share", reference=REF_TOST + "; Clopper & Pearson (1934) Biometrika 26:404-413",
        note=(f"statistic = successes ({int(count)} of {int(nobs)}); one-sided p: "
              f"share > {low:.4g}: {p_low:.3g}, share < {upp:.4g}: {p_upp:.3g}"),
        p_lower=p_low, p_upper=p_upp, margin_low=float(low), margin_high=float(upp)))


def tost_means(x, y, low: float, upp: float, *, paired: bool = False, usevar: str = "unequal",
               alpha: float = 0.05, label: str = "difference of means") -> pd.DataFrame:
    """t-based TOST that ``mean(x) - mean(y)`` lies inside ``[low, upp]``; one tidy row.

    Parameters
    ----------
    x, y : array_like
        The two samples (equal length when ``paired``).
    low, upp : float
        The equivalence margin for the difference of means.
    paired : bool
        Paired samples (the TOST of the mean of ``x - y``).
    usevar : {"unequal", "pooled"}
        Welch (unequal variances) or pooled-variance t-tests for independent samples.
    alpha : float
        Level of each one-sided test; the ``1 - 2 alpha`` t interval is reported.

    Returns
    -------
    DataFrame
        One row: ``p_value`` = TOST p-value, ``effect`` = mean difference, the ``1 - 2 alpha``
        interval; ``statistic`` is NA (a TOST has two t statistics) and the two one-sided
        p-values are in ``p_lower``/``p_upper``.

    References
    ----------
    Schuirmann (1987), see the module docstring. Implementation: statsmodels
    :func:`~statsmodels.stats.weightstats.ttost_ind` and
    :func:`~statsmodels.stats.weightstats.ttost_paired`.
    """
    from statsmodels.stats.weightstats import CompareMeans, DescrStatsW, ttost_ind, ttost_paired

    _check_alpha(alpha)
    if not low < upp:
        raise ValueError(f"need low < upp, got low={low!r}, upp={upp!r}")
    if usevar not in ("unequal", "pooled"):
        raise ValueError(f"usevar must be 'unequal' or 'pooled', got {usevar!r}")
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if paired:
        if x.shape != y.shape:
            raise ValueError(f"paired samples need equal lengths, got {len(x)} and {len(y)}")
        p, lower, upper = ttost_paired(x, y, low, upp)
        ci = DescrStatsW(x - y).tconfint_mean(alpha=2 * alpha)
        method, n = "paired t TOST (statsmodels ttost_paired)", len(x)
    else:
        p, lower, upper = ttost_ind(x, y, low, upp, usevar=usevar)
        ci = CompareMeans(DescrStatsW(x), DescrStatsW(y)).tconfint_diff(alpha=2 * alpha,
                                                                        usevar=usevar)
        method = f"two-sample t TOST, {'Welch' if usevar == 'unequal' else 'pooled'} (statsmodels ttost_ind)"
        n = len(x) + len(y)
    return result_frame(result_row(
        test=f"{label} equivalent to [{low:g}, {upp:g}] (TOST)", method=method,
        statistic=np.nan, p_value=float(p), effect_name=label, effect=float(x.mean() - y.mean()),
        ci_low=float(ci[0]), ci_high=float(ci[1]), ci_level=1 - 2 * alpha, n=int(n), unit="difference",
        reference=REF_TOST, why_nan={"statistic": "a TOST has two t statistics, see p_lower/p_upper"},
        p_lower=float(lower[1]), p_upper=float(upper[1]), margin_low=float(low),
        margin_high=float(upp)))
