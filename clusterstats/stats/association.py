"""Association and share tests for H2 (universities in developed clusters) and H3 (Sofia).

- :func:`fisher_exact_2x2`: Fisher's exact test with the conditional maximum-likelihood odds
  ratio and its exact CI (Fisher 1935; Cornfield 1956; as R's ``fisher.test``), via scipy.
- :func:`logistic_association`: logistic regression (statsmodels ``Logit``, no Firth
  penalty), odds ratios per predictor; perfect or quasi-complete separation is detected and
  explained (Albert & Anderson 1984, *Biometrika* 71: 1-10) instead of reporting huge ORs.
- :func:`binomial_share_test`: exact binomial test of a share against p0 with the
  Clopper-Pearson CI (Clopper & Pearson 1934, *Biometrika* 26: 404-413), e.g. "more than half
  of the clusters are in Sofia".
- :func:`share_vs_reference`: the same test against reference shares (Sofia's share of the
  population or of active enterprises), with the ratio share/reference (a location quotient).
"""
from __future__ import annotations

import warnings
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from scipy.stats.contingency import odds_ratio
from statsmodels.tools.sm_exceptions import PerfectSeparationError, PerfectSeparationWarning

from ._tidy import result_frame, result_row

REF_FISHER = ("Fisher (1935) The Design of Experiments; conditional MLE odds ratio and exact "
              "CI: Cornfield (1956), as in R fisher.test")
REF_LOGIT = "Agresti (2013) Categorical Data Analysis, 3rd ed., ch. 5; Albert & Anderson (1984) Biometrika 71:1-10"
REF_BINOM = "Clopper & Pearson (1934) Biometrika 26:404-413"
_ALTS = {"two-sided": "two-sided", "greater": "greater", "less": "less",
         "larger": "greater", "smaller": "less"}


def _check_level(ci_level: float) -> None:
    if not (0 < ci_level < 1):
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}")


def _alt(alternative: str) -> str:
    if alternative not in _ALTS:
        raise ValueError(f"alternative must be one of {sorted(_ALTS)}, got {alternative!r}")
    return _ALTS[alternative]


def _binary(series: pd.Series, name: str) -> pd.Series:
    values = series.dropna().unique()
    if len(values) > 2:
        raise ValueError(f"column {name!r} must be binary, found {len(values)} values: "
                         f"{sorted(map(str, values))[:6]}")
    return series


def crosstab_2x2(df: pd.DataFrame, row: str, col: str) -> pd.DataFrame:
    """2x2 table of two binary columns, rows/cols ordered True/1 first (exposed, outcome).

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import crosstab_2x2
    >>> df = clusters.assign(categorised=clusters["in_bsmepa"].astype(bool),
    ... south_west=clusters["seat_nuts2"].eq("BG41"))
    >>> crosstab_2x2(df, "categorised", "south_west").shape
    (2, 2)
    """
    for name in (row, col):
        if name not in df.columns:
            raise ValueError(f"column {name!r} not in frame (columns: {list(df.columns)})")
        _binary(df[name], name)
    data = df[[row, col]].dropna()
    if data.empty:
        raise ValueError(f"no rows with both {row!r} and {col!r} present")
    table = pd.crosstab(data[row].astype(bool), data[col].astype(bool))
    return table.reindex(index=[True, False], columns=[True, False], fill_value=0)


def fisher_exact_2x2(df: pd.DataFrame | None = None, row: str | None = None,
                     col: str | None = None, *, table=None, alternative: str = "two-sided",
                     ci_level: float = 0.95) -> pd.DataFrame:
    """Fisher's exact test on a 2x2 table (from two binary columns of ``df`` or ``table=``).

    ``table`` is [[a, b], [c, d]] with rows exposed/not exposed and columns outcome yes/no.
    The effect is the conditional MLE odds ratio with its exact CI (for a one-sided
    alternative the CI is one-sided too, as in R). A zero cell gives an OR of 0 or infinity;
    the row says why instead of showing NaN/inf.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import fisher_exact_2x2
    >>> df = clusters.assign(categorised=clusters["in_bsmepa"].astype(bool),
    ... south_west=clusters["seat_nuts2"].eq("BG41"))
    >>> row = fisher_exact_2x2(df, "categorised", "south_west").iloc[0]
    >>> float(row["p_value"]) < 0.001
    True
    """
    _check_level(ci_level)
    alt = _alt(alternative)
    if table is None:
        if df is None or row is None or col is None:
            raise ValueError("give df with row and col, or table=[[a, b], [c, d]]")
        table = crosstab_2x2(df, row, col).to_numpy()
    t = np.asarray(table)
    if t.shape != (2, 2) or (t < 0).any() or not np.allclose(t, np.round(t)):
        raise ValueError(f"table must be 2x2 non-negative integer counts, got {t.tolist()}")
    t = t.astype(int)
    if t.sum() == 0:
        raise ValueError("table is empty (all cells zero)")
    p = stats.fisher_exact(t, alternative=alt).pvalue
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ores = odds_ratio(t, kind="conditional")
        ci = ores.confidence_interval(ci_level, alternative=alt)
    zero = "a zero cell makes the odds ratio 0 or unbounded; the p-value is valid"
    return result_frame(result_row(
        test="Fisher exact 2x2", method=f"Fisher exact test ({alt}); conditional MLE odds ratio, "
                                        f"exact CI; table {t.tolist()}",
        statistic=float(t[0, 0]), p_value=float(p), effect_name="odds ratio (conditional MLE)",
        effect=float(ores.statistic), ci_low=float(ci.low), ci_high=float(ci.high),
        ci_level=ci_level, n=int(t.sum()), unit="ratio", reference=REF_FISHER,
        note="statistic = count in the top-left cell" + (
            "; one-sided CI" if alt != "two-sided" else ""),
        why_nan=zero))


def logistic_association(df: pd.DataFrame, outcome: str, predictors: Sequence[str],
                         ci_level: float = 0.95) -> pd.DataFrame:
    """Logistic regression of a binary outcome on predictors; one row per predictor (OR).

    Plain maximum likelihood (no Firth penalty). Under perfect or quasi-complete separation
    the ML estimate does not exist (coefficients run off to infinity); the function then
    returns one row per predictor with NA estimates and a note pointing to Fisher's exact test
    (or a Firth/penalised fit), instead of reporting meaningless ORs.
    """
    _check_level(ci_level)
    if df is None or len(df) == 0:
        raise ValueError("empty frame")
    cols = [outcome, *predictors]
    missing = [c for c in cols if c not in df.columns]
    if missing:
        raise ValueError(f"columns {missing} not in frame (columns: {list(df.columns)})")
    if not predictors:
        raise ValueError("need at least one predictor")
    data = df[cols].dropna()
    _binary(data[outcome], outcome)
    y = data[outcome].astype(float)
    X = sm.add_constant(data[list(predictors)].astype(float), has_constant="add")
    method = f"logistic regression (ML, no Firth), {outcome} ~ {' + '.join(predictors)}"
    separation = None
    with warnings.catch_warnings():
        warnings.simplefilter("error", PerfectSeparationWarning)
        warnings.filterwarnings("ignore", message=".*converge.*")
        try:
            res = sm.Logit(y, X).fit(disp=0, maxiter=100)
            # Quasi-complete separation: ML runs off to the boundary without an exception.
            fitted = np.asarray(res.predict())
            if (np.asarray(res.bse)[1:] > 1e3).any() or ((fitted < 1e-8) | (fitted > 1 - 1e-8)).any():
                separation = "quasi-complete separation (fitted probabilities of 0 or 1)"
        except (PerfectSeparationError, PerfectSeparationWarning):
            separation = "perfect separation"
            res = None
        except np.linalg.LinAlgError as exc:
            separation = f"singular information matrix ({exc})"
            res = None
    if separation:
        return result_frame([result_row(
            test=f"logistic association: {p}", method=method, effect_name="odds ratio",
            n=len(data), unit="ratio", reference=REF_LOGIT,
            note=f"{separation}: the ML odds ratio does not exist; use fisher_exact_2x2 "
                 "(exact) or a Firth-penalised fit") for p in predictors])
    ci = np.asarray(res.conf_int(alpha=1 - ci_level))
    rows = []
    for i, p in enumerate(predictors, start=1):
        rows.append(result_row(
            test=f"logistic association: {p}", method=method,
            statistic=float(np.asarray(res.tvalues)[i]), p_value=float(np.asarray(res.pvalues)[i]),
            effect_name="odds ratio", effect=float(np.exp(np.asarray(res.params)[i])),
            ci_low=float(np.exp(ci[i, 0])), ci_high=float(np.exp(ci[i, 1])), ci_level=ci_level,
            n=len(data), unit="ratio", reference=REF_LOGIT,
            note="Wald z statistic and CI"))
    return result_frame(rows)


def binomial_share_test(successes: int, n: int, p0: float = 0.5, alternative: str = "greater",
                        ci_level: float = 0.95, label: str = "share") -> pd.DataFrame:
    """Exact binomial test of a share against ``p0`` with the Clopper-Pearson CI.

    The CI is two-sided at ``ci_level`` whatever the alternative, so it reads as an interval
    estimate of the share.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import binomial_share_test
    >>> seats = clusters["seat_nuts2"].dropna()
    >>> in_sw = int((seats == "BG41").sum())  # seats in the South-west region (Sofia)
    >>> row = binomial_share_test(in_sw, len(seats), p0=0.5).iloc[0]
    >>> round(float(row["effect"]), 3), round(float(row["p_value"]), 4)
    (0.571, 0.2204)
    """
    _check_level(ci_level)
    alt = _alt(alternative)
    if not (0 < p0 < 1):
        raise ValueError(f"p0 must be in (0, 1), got {p0!r}")
    if n <= 0 or not (0 <= successes <= n) or int(successes) != successes or int(n) != n:
        raise ValueError(f"need integers 0 <= successes <= n and n > 0, got {successes}/{n}")
    res = stats.binomtest(int(successes), int(n), p0, alternative=alt)
    # proportion_ci follows the test's alternative; the two-sided CI needs its own call.
    ci = stats.binomtest(int(successes), int(n)).proportion_ci(ci_level, method="exact")
    return result_frame(result_row(
        test=f"{label} vs {p0:g}", method=f"exact binomial test ({alt}), Clopper-Pearson CI",
        statistic=float(successes), p_value=float(res.pvalue), effect_name=label,
        effect=successes / n, ci_low=float(ci.low), ci_high=float(ci.high), ci_level=ci_level,
        n=int(n), unit="share", reference=REF_BINOM,
        note=f"statistic = successes ({int(successes)} of {int(n)})"))


def share_vs_reference(successes: int, n: int, reference_share: float | Mapping[str, float],
                       alternative: str = "greater", ci_level: float = 0.95,
                       label: str = "share") -> pd.DataFrame:
    """Clusters' share in a region against the region's reference share(s).

    ``reference_share`` is one share or a mapping name -> share (e.g. {"population": ...,
    "active employer enterprises": ...}); one row each. The effect is the ratio share/reference
    (a location quotient of clusters relative to the base) with its CI from the Clopper-Pearson
    interval of the share. The reference is treated as known: it is a census-type count whose
    sampling error is negligible next to that of a few hundred clusters.
    """
    refs = reference_share if isinstance(reference_share, Mapping) else {"reference": reference_share}
    if not refs:
        raise ValueError("no reference share given")
    rows = []
    for name, ref in refs.items():
        if not (0 < ref < 1):
            raise ValueError(f"reference share {name!r} must be in (0, 1), got {ref!r}")
        row = binomial_share_test(successes, n, ref, alternative, ci_level, label).iloc[0].to_dict()
        row.update(test=f"{label} vs {name} share ({ref:.4g})", effect_name=f"{label} / {name} share",
                   effect=row["effect"] / ref, ci_low=row["ci_low"] / ref,
                   ci_high=row["ci_high"] / ref, unit="ratio",
                   note=f"{row['note']}; share {row['effect']:.4g} (CI {row['ci_low']:.4g}-"
                        f"{row['ci_high']:.4g}); reference share treated as known")
        rows.append(row)
    return result_frame(rows)


def fisher_power(p_control: float, p_exposed: float, n_exposed: int, n_control: int,
                 alpha: float = 0.05, alternative: str = "greater") -> float:
    """Exact power of the one-sided Fisher test for two independent binomial proportions.

    Sums the probability of every pair of outcomes (x1 of ``n_exposed``, x0 of ``n_control``)
    under the alternative proportions for which Fisher's test rejects at ``alpha`` (scipy's
    ``fisher_exact``). Exact enumeration, (n1 + 1)(n0 + 1) tables; written here because
    statsmodels' power classes use the normal approximation, which is poor for a few dozen
    units. ``alternative="greater"``: H1 = the exposed proportion is higher.
    """
    alt = _alt(alternative)
    if alt == "two-sided":
        raise ValueError("fisher_power is one-sided: alternative 'greater' or 'less'")
    for name, p in (("p_control", p_control), ("p_exposed", p_exposed)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {p!r}")
    reject = _fisher_rejection(n_exposed, n_control, alpha, alt)
    pmf1 = stats.binom.pmf(np.arange(n_exposed + 1), n_exposed, p_exposed)
    pmf0 = stats.binom.pmf(np.arange(n_control + 1), n_control, p_control)
    return float(pmf1 @ reject @ pmf0)


def _fisher_rejection(n_exposed: int, n_control: int, alpha: float, alt: str) -> np.ndarray:
    """0/1 matrix: does Fisher's test reject for x1 exposed and x0 control events?"""
    out = np.zeros((n_exposed + 1, n_control + 1))
    for x1 in range(n_exposed + 1):
        for x0 in range(n_control + 1):
            table = [[x1, n_exposed - x1], [x0, n_control - x0]]
            out[x1, x0] = stats.fisher_exact(table, alternative=alt).pvalue < alpha
    return out


def detectable_difference(p_control: float, n_exposed: int, n_control: int, alpha: float = 0.05,
                          power: float = 0.8, alternative: str = "greater") -> pd.DataFrame:
    """The smallest effect a two-group comparison of proportions detects with ``power``.

    Two rows: (1) the exact one-sided Fisher test (:func:`fisher_power`, the smallest exposed
    proportion on a 0.001 grid whose power reaches ``power``); (2) the normal approximation
    for Cohen's h (statsmodels ``NormalIndPower.solve_power``; Cohen 1988, ch. 6), converted back
    to a proportion, h = 2 asin sqrt(p1) - 2 asin sqrt(p0). The control proportion is taken as
    known (the observed one). Effects: the detectable exposed proportion; the note gives the
    difference and the odds ratio.
    """
    from statsmodels.stats.power import NormalIndPower

    alt = _alt(alternative)
    grid = np.arange(p_control, 1.0005, 0.001) if alt == "greater" else np.arange(p_control, -0.0005, -0.001)
    reject = _fisher_rejection(n_exposed, n_control, alpha, alt)
    pmf0 = stats.binom.pmf(np.arange(n_control + 1), n_control, p_control)
    exact = next((float(p) for p in np.clip(grid, 0, 1)
                  if stats.binom.pmf(np.arange(n_exposed + 1), n_exposed, p) @ reject @ pmf0 >= power),
                 np.nan)
    h = NormalIndPower().solve_power(effect_size=None, nobs1=n_exposed, alpha=alpha, power=power,
                                     ratio=n_control / n_exposed,
                                     alternative="larger" if alt == "greater" else "smaller")
    sign = 1 if alt == "greater" else -1
    approx = float(np.sin(np.clip(np.arcsin(np.sqrt(p_control)) + sign * abs(h) / 2, 0, np.pi / 2)) ** 2)
    rows = []
    for label, p1, method, ref in (
            ("exact Fisher", exact, "exact power of the one-sided Fisher test by enumeration, grid 0.001",
             REF_FISHER),
            ("normal approximation", approx, f"NormalIndPower for Cohen's h = {abs(h):.3g}",
             "Cohen (1988) Statistical Power Analysis, 2nd ed., ch. 6")):
        odds = (p1 / (1 - p1)) / (p_control / (1 - p_control)) if 0 < p1 < 1 and 0 < p_control < 1 else np.nan
        rows.append(result_row(
            test=f"smallest detectable effect ({label})",
            method=f"{method}; n = {n_exposed} exposed vs {n_control} control; control proportion "
                   f"{p_control:.3g} taken as known; one-sided alpha {alpha:g}, power {power:g}",
            effect_name="smallest exposed proportion detectable", effect=p1, n=n_exposed + n_control,
            unit="share", reference=ref,
            note=(f"difference {p1 - p_control:+.3g}; odds ratio {odds:.3g}"),
            why_nan="no proportion reaches the power"))
    return result_frame(rows)
