"""Event-count tests for H1(a): did new clusters spike in a funding-call window?

Input is a tidy frame of annual (or monthly) counts of new clusters, one row per period, with
optional exposure (e.g. active NGOs). Each function returns a tidy frame (one row per test,
columns of :data:`clusterstats.stats._tidy.STAT_COLUMNS`); fitted models also hand back the
statsmodels results object.

Methods
- Poisson / negative-binomial GLM with an event dummy, log E[y_t] = a + b t + d 1[t in window]
  (+ log exposure); the incidence-rate ratio is exp(d). Bernal, Cummins & Gasparrini (2017),
  *Int J Epidemiol* 46(1): 348-355; Cameron & Trivedi (2013), *Regression Analysis of Count
  Data*, 2nd ed.
- Overdispersion: Cameron & Trivedi (1990), "Regression-based tests for overdispersion in the
  Poisson model", *J Econometrics* 46: 347-364 (via statsmodels' PoissonDiagnostic).
- Exact conditional rate test (Przyborowski & Wilenski 1940) and the E-test (Krishnamoorthy &
  Thomson 2004), via ``statsmodels.stats.rates.test_poisson_2indep``.
- Placebo windows: the same test for every other window of the same length; the rank of the
  true window among them is an empirical p-value (Abadie, Diamond & Hainmueller 2010 use the
  same logic for synthetic controls).
"""
from __future__ import annotations

import warnings
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats
from statsmodels.discrete.diagnostic import PoissonDiagnostic
from statsmodels.stats.rates import test_poisson_2indep

from ._tidy import result_frame, result_row

REF_ITS = ("Bernal, Cummins & Gasparrini (2017) Int J Epidemiol 46(1):348-355; "
           "Cameron & Trivedi (2013) Regression Analysis of Count Data")
REF_CT = "Cameron & Trivedi (1990) J Econometrics 46:347-364"
REF_EXACT = ("Przyborowski & Wilenski (1940) Biometrika 31:313-323 (exact conditional); "
             "Krishnamoorthy & Thomson (2004) J Stat Plan Inference 119:23-35 (E-test)")
#: Below this NB2 alpha the fit sits on the Poisson boundary (alpha = 0).
NB_ALPHA_BOUNDARY = 1e-4


class FitResult(NamedTuple):
    """A tidy result frame plus the fitted statsmodels results object."""

    table: pd.DataFrame
    results: object


def counts_from_events(periods, start=None, end=None, name: str = "year",
                       count: str = "count") -> pd.DataFrame:
    """Annual counts from one value per event (e.g. founding years), zero-filled.

    Years with no event are kept as explicit zeros: dropping them would inflate the baseline
    rate. ``start``/``end`` default to the range of the data; events outside it raise.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import counts_from_events
    >>> years = clusters["founding_year"].dropna().astype(int)
    >>> counts = counts_from_events(years)  # one row per year, zeros included
    >>> int(counts["year"].min()), int(counts["year"].max()), int(counts["count"].sum()) == len(years)
    (1999, 2016, True)
    """
    values = pd.to_numeric(pd.Series(periods, dtype=object), errors="coerce").dropna()
    if values.empty:
        raise ValueError("no event periods given")
    if not np.allclose(values, np.round(values)):
        raise ValueError("event periods must be whole years")
    values = values.round().astype(int)
    start = int(values.min()) if start is None else int(start)
    end = int(values.max()) if end is None else int(end)
    outside = sorted(set(values[(values < start) | (values > end)]))
    if outside:
        raise ValueError(f"events in {outside} are outside {start}-{end}")
    years = np.arange(start, end + 1)
    return pd.DataFrame({name: years, count: values.value_counts().reindex(years, fill_value=0)
                         .to_numpy()})


def _check_alpha(alpha: float) -> None:
    if not (0 < alpha < 1):
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")


def _prepare(df: pd.DataFrame, year: str, count: str, window_years: Sequence[int],
             exposure: str | None) -> pd.DataFrame:
    """Validate and sort the count frame; add the event dummy."""
    if df is None or len(df) == 0:
        raise ValueError("empty count frame: need one row per period")
    for col in [year, count] + ([exposure] if exposure else []):
        if col not in df.columns:
            raise ValueError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    data = df[[year, count] + ([exposure] if exposure else [])].copy()
    if data[[year, count]].isna().any().any():
        bad = data.index[data[[year, count]].isna().any(axis=1)].tolist()
        raise ValueError(f"missing {year!r}/{count!r} in rows {bad}")
    y = data[count].to_numpy(float)
    if (y < 0).any() or not np.allclose(y, np.round(y)):
        bad = data.index[(y < 0) | ~np.isclose(y, np.round(y))].tolist()
        raise ValueError(f"column {count!r} must hold non-negative integer counts; bad rows {bad}")
    if data[year].duplicated().any():
        raise ValueError(f"duplicate periods in {year!r}: "
                         f"{sorted(data.loc[data[year].duplicated(), year].tolist())}")
    window = sorted(set(window_years))
    if not window:
        raise ValueError("window_years is empty")
    outside = [w for w in window if w not in set(data[year])]
    if outside:
        raise ValueError(f"window periods {outside} are outside the data "
                         f"({data[year].min()}-{data[year].max()})")
    if y.sum() == 0:
        raise ValueError(f"column {count!r} is all zero: no events to model")
    data = data.sort_values(year).reset_index(drop=True)
    data["event"] = data[year].isin(window).astype(float)
    if data["event"].all():
        raise ValueError("the window covers every period: nothing to compare it with")
    if exposure and (data[exposure] <= 0).any():
        raise ValueError(f"exposure {exposure!r} must be positive")
    return data


def _design(data: pd.DataFrame, year: str, trend: bool) -> pd.DataFrame:
    cols = {"const": np.ones(len(data))}
    if trend:
        # Numeric periods (years) keep gaps in the trend; other labels (months as Periods or
        # Timestamps) are sorted and used by position. Centred, so the intercept is the rate
        # in the middle of the series.
        t = (data[year].to_numpy(float) if pd.api.types.is_numeric_dtype(data[year])
             else np.arange(len(data), dtype=float))
        cols["trend"] = t - t.mean()
    cols["event"] = data["event"].to_numpy()
    return pd.DataFrame(cols)


def _irr_row(res, test: str, method: str, alpha: float, n: int, note: str | None = None,
             why_nan: str | None = None) -> dict:
    ci = np.asarray(res.conf_int(alpha=alpha))
    names = list(res.model.exog_names)
    k = names.index("event")
    return result_row(
        test=test, method=method, statistic=float(np.asarray(res.tvalues)[k]),
        p_value=float(np.asarray(res.pvalues)[k]), effect_name="incidence rate ratio exp(delta)",
        effect=float(np.exp(np.asarray(res.params)[k])), ci_low=float(np.exp(ci[k, 0])),
        ci_high=float(np.exp(ci[k, 1])), ci_level=1 - alpha, n=n, unit="ratio",
        reference=REF_ITS, note=note, why_nan=why_nan)


def poisson_event_glm(df: pd.DataFrame, year: str = "year", count: str = "count",
                      window_years: Sequence[int] = (2016,), trend: bool = True,
                      exposure: str | None = None, scale: str | None = "X2",
                      alpha: float = 0.05) -> FitResult:
    """Poisson GLM with an event dummy: the IRR of the window against the (trend) baseline.

    ``scale="X2"`` (default) scales the covariance by the Pearson chi2/df (quasi-Poisson), so
    CIs widen under overdispersion; ``scale=None`` gives the plain Poisson fit. The row's
    statistic is the z (or t-like, when scaled) value of the event coefficient.

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import counts_from_events, poisson_event_glm
    >>> c = counts_from_events(clusters["founding_year"].dropna().astype(int))
    >>> fit = poisson_event_glm(c, window_years=(2016,))
    >>> round(float(fit.table.iloc[0]["effect"]), 2)
    4.13
    """
    _check_alpha(alpha)
    data = _prepare(df, year, count, window_years, exposure)
    X = _design(data, year, trend)
    offset = np.log(data[exposure].to_numpy(float)) if exposure else None
    res = sm.GLM(data[count].to_numpy(float), X, family=sm.families.Poisson(),
                 offset=offset).fit(scale=scale)
    phi = float(res.pearson_chi2 / res.df_resid) if res.df_resid > 0 else float("nan")
    method = (f"Poisson GLM, log E[y] = a{' + b*t' if trend else ''} + d*1[window]"
              f"{' + log(exposure)' if exposure else ''}; window {sorted(set(window_years))}; "
              + ("Pearson-scaled dispersion" if scale == "X2" else "dispersion fixed at 1"))
    note = f"Pearson dispersion phi = {phi:.3g}" if np.isfinite(phi) else "no residual df"
    return FitResult(result_frame(_irr_row(res, "event IRR (Poisson)", method, alpha, len(data),
                                           note)), res)


def negbin_event_glm(df: pd.DataFrame, year: str = "year", count: str = "count",
                     window_years: Sequence[int] = (2016,), trend: bool = True,
                     exposure: str | None = None, alpha: float = 0.05) -> FitResult:
    """NB2 model (Var = mu + alpha mu^2) with an event dummy; alpha estimated by ML.

    Pitfall handled: with a one-period dummy the spike is fitted exactly, the remaining counts
    look Poisson, and the ML estimate of alpha goes to its boundary 0, where its standard error
    (and sometimes every p-value) is NaN. Then NB adds nothing over Poisson, so the function
    falls back to :func:`poisson_event_glm` with Pearson-scaled dispersion and says so in
    ``note``; the results object returned is that Poisson fit.
    """
    _check_alpha(alpha)
    data = _prepare(df, year, count, window_years, exposure)
    X = _design(data, year, trend)
    offset = np.log(data[exposure].to_numpy(float)) if exposure else None
    model = sm.NegativeBinomial(data[count].to_numpy(float), X, loglike_method="nb2",
                                offset=offset)
    # Warnings at the boundary (singular Hessian, no convergence) are caught and turned into
    # the explained fallback below rather than printed.
    with np.errstate(all="ignore"), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = model.fit(disp=0, maxiter=200)
    hessian_failed = any("hessian" in str(w.message).lower() for w in caught)
    nb_alpha = float(res.params.iloc[-1] if hasattr(res.params, "iloc") else res.params[-1])
    converged = bool(res.mle_retvals.get("converged", True))
    p_event = float(np.asarray(res.pvalues)[list(model.exog_names).index("event")])
    if (nb_alpha < NB_ALPHA_BOUNDARY or not converged or not np.isfinite(p_event)
            or hessian_failed):
        reason = (f"NB2 alpha = {nb_alpha:.2g} is at the Poisson boundary (alpha -> 0)"
                  if nb_alpha < NB_ALPHA_BOUNDARY else
                  "NB2 fit did not converge" if not converged else
                  "NB2 Hessian is singular (no standard errors)" if hessian_failed else
                  "NB2 p-value is NaN")
        fallback = poisson_event_glm(df, year, count, window_years, trend, exposure, "X2", alpha)
        row = fallback.table.iloc[0].to_dict()
        row["test"] = "event IRR (NB2 -> Poisson fallback)"
        row["note"] = (f"{reason}, so its standard errors are unreliable; fell back to Poisson "
                       f"with Pearson-scaled dispersion; {row['note']}")
        return FitResult(result_frame(row), fallback.results)
    method = (f"NB2 regression (ML alpha), log E[y] = a{' + b*t' if trend else ''} + "
              f"d*1[window]; window {sorted(set(window_years))}")
    return FitResult(result_frame(_irr_row(res, "event IRR (NB2)", method, alpha, len(data),
                                           f"NB2 alpha = {nb_alpha:.3g}")), res)


def dispersion_test(df: pd.DataFrame, year: str = "year", count: str = "count",
                    window_years: Sequence[int] = (2016,), trend: bool = True,
                    exposure: str | None = None) -> pd.DataFrame:
    """Cameron & Trivedi (1990) regression test of Poisson equidispersion (NB2 alternative).

    Fits the Poisson event model, then regresses ((y - mu)^2 - y) / mu on mu without a
    constant; the t statistic of the slope tests alpha = 0. Reported one-sided (alpha > 0,
    overdispersion), as in Cameron & Trivedi (2013, sec. 3.4).
    """
    fit = poisson_event_glm(df, year, count, window_years, trend, exposure, scale=None)
    diag = PoissonDiagnostic(fit.results).test_dispersion()
    k = list(diag.method).index("CT nb2")
    z = float(np.asarray(diag.statistic)[k])
    return result_frame(result_row(
        test="overdispersion (Cameron-Trivedi)",
        method="auxiliary OLS ((y-mu)^2 - y)/mu = alpha*mu + e on the Poisson event model; "
               "one-sided H1: alpha > 0",
        statistic=z, p_value=float(stats.norm.sf(z)), effect_name="Pearson dispersion phi",
        effect=float(fit.results.pearson_chi2 / fit.results.df_resid), n=len(fit.results.mu),
        unit="ratio", reference=REF_CT))


def exact_rate_test(count_window: int, exposure_window: float, count_rest: int,
                    exposure_rest: float, alternative: str = "larger",
                    alpha: float = 0.05) -> pd.DataFrame:
    """Exact conditional test (+ E-test) that the window's rate exceeds the rest's.

    Conditional on N = y1 + y0, y1 ~ Bin(N, E1/(E1+E0)) under H0. The rate-ratio CI is the
    exact one obtained from the Clopper-Pearson interval of that binomial proportion.
    ``test_poisson_2indep(method="exact-cond")`` returns ``statistic=nan`` with a valid
    p-value (the binomial test has no scalar statistic); the row says so instead of
    printing NaN. ``alternative``: "larger", "smaller" or "two-sided".

    Examples
    --------
    >>> from clusterstats import registry
    >>> clusters = registry.clusters()  # the guide's registers, one row per cluster
    >>> from clusterstats.stats import counts_from_events, exact_rate_test
    >>> c = counts_from_events(clusters["founding_year"].dropna().astype(int))
    >>> c = c[c.year >= 2010]
    >>> in_2016 = int(c.loc[c.year == 2016, "count"].sum())
    >>> before = int(c.loc[c.year < 2016, "count"].sum())
    >>> row = exact_rate_test(in_2016, 1, before, 6).iloc[0]  # 2016 vs 2010-2015, per year
    >>> round(float(row["effect"]), 2), float(row["p_value"]) < 0.001
    (7.38, True)
    """
    _check_alpha(alpha)
    for name, val in [("count_window", count_window), ("count_rest", count_rest)]:
        if val < 0 or int(val) != val:
            raise ValueError(f"{name} must be a non-negative integer count, got {val!r}")
    for name, val in [("exposure_window", exposure_window), ("exposure_rest", exposure_rest)]:
        if not val > 0:
            raise ValueError(f"{name} must be positive, got {val!r}")
    if alternative not in ("larger", "smaller", "two-sided"):
        raise ValueError(f"alternative must be 'larger', 'smaller' or 'two-sided', "
                         f"got {alternative!r}")
    n_total = int(count_window + count_rest)
    if n_total == 0:
        raise ValueError("no events in window or rest: the rate ratio is undefined")
    ratio = (count_window / exposure_window) / (count_rest / exposure_rest) \
        if count_rest > 0 else float("inf")
    # Exact CI: map the Clopper-Pearson CI for p = y1/N onto ratio = p/(1-p) * E0/E1.
    cp = stats.binomtest(int(count_window), n_total).proportion_ci(1 - alpha, "exact")
    to_ratio = lambda p: (p / (1 - p)) * exposure_rest / exposure_window if p < 1 else np.inf
    rows = []
    for method, label in [("exact-cond", "exact conditional (binomial) test"),
                          ("etest", "E-test (Krishnamoorthy & Thomson 2004)")]:
        res = test_poisson_2indep(count_window, exposure_window, count_rest, exposure_rest,
                                  method=method, compare="ratio", alternative=alternative)
        why = {"statistic": ("the exact conditional test is a binomial tail probability and "
                             "has no scalar test statistic (statsmodels returns NaN); the "
                             "p-value is valid") if method == "exact-cond" else
                            "the E-test statistic is undefined for these counts",
               "effect": "no events outside the window", "ci_high": "p at its upper bound 1"}
        rows.append(result_row(
            test=f"rate ratio, window vs rest ({method})",
            method=f"{label}, H1: ratio {'>' if alternative == 'larger' else '<' if alternative == 'smaller' else '!='} 1; "
                   f"window {count_window}/{exposure_window:g}, rest {count_rest}/{exposure_rest:g}",
            statistic=float(res.statistic), p_value=float(res.pvalue),
            effect_name="rate ratio window/rest", effect=ratio, ci_low=to_ratio(cp.low),
            ci_high=to_ratio(cp.high), ci_level=1 - alpha, n=n_total, unit="ratio",
            reference=REF_EXACT,
            note="CI: exact (Clopper-Pearson on the conditional binomial), two-sided",
            why_nan=why))
    return result_frame(rows)


def _window_test(data: pd.DataFrame, year: str, count: str, exposure: str | None,
                 window: Sequence[int], exclude: Sequence[int]) -> tuple[float, float]:
    inside = data[year].isin(window)
    rest = ~inside & ~data[year].isin(exclude)
    expo = data[exposure] if exposure else pd.Series(1.0, index=data.index)
    c1, e1 = data.loc[inside, count].sum(), expo[inside].sum()
    c0, e0 = data.loc[rest, count].sum(), expo[rest].sum()
    if e0 == 0 or c0 + c1 == 0:
        return float("nan"), float("nan")
    res = test_poisson_2indep(int(c1), float(e1), int(c0), float(e0), method="exact-cond",
                              compare="ratio", alternative="larger")
    ratio = (c1 / e1) / (c0 / e0) if c0 > 0 else float("inf")
    return float(ratio), float(res.pvalue)


def placebo_windows(df: pd.DataFrame, year: str = "year", count: str = "count",
                    window_years: Sequence[int] = (2016,), exposure: str | None = None,
                    exclude_true: bool = True) -> FitResult:
    """Exact rate test of the true window and of every other window of the same length.

    Each placebo window of consecutive periods is compared with the periods outside it; with
    ``exclude_true`` the true window's periods are left out of every placebo's comparison
    group (so the real spike does not inflate the baseline) and placebos overlapping the true
    window are skipped. Returns the summary row (rank of the true window's rate ratio among all
    windows, empirical p = share of windows with a ratio at least as large, counting the true
    window itself) and, as ``results``, the per-window table.
    """
    data = _prepare(df, year, count, window_years, exposure)
    window = sorted(set(window_years))
    length = len(window)
    periods = data[year].tolist()
    true_ratio, true_p = _window_test(data, year, count, exposure, window, [])
    rows = [{"window": tuple(window), "is_true": True, "rate_ratio": true_ratio,
             "p_value": true_p}]
    for i in range(len(periods) - length + 1):
        cand = periods[i:i + length]
        if set(cand) & set(window):
            continue
        ratio, p = _window_test(data, year, count, exposure, cand,
                                window if exclude_true else [])
        rows.append({"window": tuple(cand), "is_true": False, "rate_ratio": ratio, "p_value": p})
    table = pd.DataFrame(rows)
    if len(table) < 2:
        raise ValueError("no placebo window fits in the data outside the true window")
    ratios = table["rate_ratio"].to_numpy(float)
    rank = int(1 + np.sum(ratios[1:] > true_ratio))
    emp_p = float(np.mean(ratios >= true_ratio))
    table["rank"] = table["rate_ratio"].rank(ascending=False, method="min").astype(int)
    row = result_row(
        test="placebo windows (exact rate test)",
        method=f"rate ratio of window {window} vs other periods, compared with every other "
               f"{length}-period window ({len(table) - 1} placebos"
               f"{', true window excluded from their baselines' if exclude_true else ''})",
        statistic=float(rank), p_value=emp_p, effect_name="rate ratio of the true window",
        effect=true_ratio, n=len(table), unit="ratio", reference=REF_EXACT,
        note=f"statistic = rank of the true window (1 = largest); smallest attainable "
             f"empirical p = 1/{len(table)} = {1 / len(table):.3g}")
    return FitResult(result_frame(row), table)
