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
from typing import Mapping, NamedTuple, Sequence

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
                    exclude_true: bool = False) -> FitResult:
    """Exact rate test of the true window and of every other window of the same length.

    Each window of consecutive periods (the true one and every placebo) is compared with all
    periods outside it, so every window's rate ratio is the same statistic computed the same
    way and the ranking compares like with like (issue 11: with ``exclude_true=True``, the old
    default, placebos were compared with a baseline that left out the true window while the
    true window's baseline held every other period, so their ratios were not comparable; the
    option stays for callers who want it). Placebos overlapping the true window are skipped. Returns the summary row (rank of the true window's rate ratio among all
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


# ---------------------------------------------------------------------------------------------
# Overdispersion-aware window tests over calibration draws (issue 11)
# ---------------------------------------------------------------------------------------------
REF_RUBIN = ("Rubin (1987) Multiple Imputation for Nonresponse in Surveys, Wiley, ch. 3; "
             "Barnard & Rubin (1999) Biometrika 86(4):948-955")
REF_GOF = "McCullagh & Nelder (1989) Generalized Linear Models, 2nd ed., sec. 4.4.3-4.5"


class WindowFit(NamedTuple):
    """A complete-data fit of the window model: log rate ratios, their standard errors and how
    the dispersion was handled."""

    log_irr: pd.Series          # window name -> estimated log incidence-rate ratio
    se: pd.Series               # window name -> standard error
    nb_alpha: float             # NB2 dispersion (0 at the Poisson boundary)
    model: str                  # "NB2" or "quasi-Poisson (NB2 at its boundary)"
    df_com: int                 # complete-data residual degrees of freedom, n - k


def window_design(years: Sequence[int], windows: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """Design matrix ``const`` + one 0/1 column per named window (a window's periods get 1).

    Windows must not overlap and must leave at least one baseline period, otherwise the rate
    ratios are not identified."""
    years = list(years)
    cols = {"const": np.ones(len(years))}
    taken: set = set()
    for name, wy in windows.items():
        wy = set(wy)
        if not wy or not wy <= set(years):
            raise ValueError(f"window {name!r} {sorted(wy)} is empty or outside the data "
                             f"({min(years)}-{max(years)})")
        if wy & taken:
            raise ValueError(f"window {name!r} overlaps another window")
        taken |= wy
        cols[name] = np.array([float(y in wy) for y in years])
    if taken >= set(years):
        raise ValueError("the windows cover every period: no baseline left")
    return pd.DataFrame(cols)


def _quasi_poisson(y: np.ndarray, X: pd.DataFrame, names: list[str], df_com: int,
                   reason: str) -> WindowFit:
    res = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    phi = float(res.pearson_chi2 / res.df_resid) if res.df_resid > 0 else 1.0
    se = pd.Series(np.asarray(res.bse), index=X.columns) * np.sqrt(max(phi, 1.0))
    return WindowFit(pd.Series(np.asarray(res.params), index=X.columns)[names], se[names], 0.0,
                     f"quasi-Poisson, phi = max(1, {phi:.3g}) ({reason})", df_com)


def negbin_window_fit(counts, years: Sequence[int],
                      windows: Mapping[str, Sequence[int]]) -> WindowFit:
    """NB2 regression ``log E[y_t] = a + sum_w d_w 1[t in window w]`` with the dispersion
    ``alpha`` (Var = mu + alpha mu^2) estimated by maximum likelihood (statsmodels
    ``NegativeBinomial``, ``loglike_method="nb2"``; Cameron & Trivedi 2013, ch. 3).

    No time trend: the guide's claim is a constant baseline with a leap, and a trend plus a
    last-period dummy are nearly collinear. When the ML alpha sits on its boundary (alpha -> 0:
    the counts look Poisson once the windows are fitted), the fit did not converge or the
    standard errors are not finite, the NB2 ML is the Poisson fit; its standard errors are then
    scaled by max(1, Pearson phi) (quasi-Poisson, never narrower than Poisson) and ``model``
    says so.
    """
    y = _counts_array(counts)
    X = window_design(years, windows)
    if len(y) != len(X):
        raise ValueError(f"{len(y)} counts for {len(X)} years")
    names, df_com = list(windows), int(len(y) - X.shape[1])
    empty = [n for n in names if y[X[n].to_numpy() > 0].sum() == 0]
    if empty:
        raise ValueError(f"window(s) {empty} hold no events: the rate ratio is 0 and its log "
                         "has no finite estimate")
    if df_com < 1:
        raise ValueError("no residual degrees of freedom: too many windows for the periods")
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            res = sm.NegativeBinomial(y, X, loglike_method="nb2").fit(disp=0, maxiter=200)
        except (np.linalg.LinAlgError, ValueError) as exc:
            return _quasi_poisson(y, X, names, df_com, f"NB2 fit failed: {exc}")
    alpha = float(np.asarray(res.params)[-1])
    bse = pd.Series(np.asarray(res.bse)[:-1], index=X.columns)
    converged = bool(res.mle_retvals.get("converged", True))
    if alpha < NB_ALPHA_BOUNDARY or not converged or not np.isfinite(bse[names]).all():
        reason = ("NB2 alpha at the Poisson boundary" if alpha < NB_ALPHA_BOUNDARY else
                  "NB2 did not converge" if not converged else "NB2 standard errors not finite")
        return _quasi_poisson(y, X, names, df_com, reason)
    params = pd.Series(np.asarray(res.params)[:-1], index=X.columns)
    return WindowFit(params[names], bse[names], alpha, "NB2", df_com)


def _counts_array(counts) -> np.ndarray:
    y = np.asarray(counts, dtype=float)
    if y.ndim != 1 or y.size == 0 or not np.isfinite(y).all() or (y < 0).any() \
            or not np.allclose(y, np.round(y)):
        raise ValueError("counts must be a non-empty 1-D sequence of non-negative integers")
    if y.sum() == 0:
        raise ValueError("all counts are zero: no events to model")
    return y


def rubin_pool(estimates, variances, df_com: float = np.inf) -> dict:
    """Combine m completed-data estimates by Rubin's rules (Rubin 1987, ch. 3).

    Q = mean of the estimates, W = mean within-draw variance, B = between-draw variance,
    T = W + (1 + 1/m) B. Degrees of freedom: Barnard & Rubin (1999), which reduce to the
    complete-data ``df_com`` when B = 0 and to Rubin's (m - 1)(1 + 1/r)^2 as df_com -> inf;
    for m = 1 or B = 0 the complete-data inference is returned (T = W, df = df_com).

    Written here because statsmodels offers Rubin's rules only inside its MICE driver
    (``statsmodels.imputation.mice``), not for estimates computed elsewhere.

    Returns a dict with ``estimate``, ``se`` (sqrt T), ``df``, ``within``, ``between``,
    ``m`` and ``fmi`` (the fraction of missing information, (1 + 1/m) B / T).
    """
    q = np.asarray(estimates, float)
    u = np.asarray(variances, float)
    if q.ndim != 1 or q.shape != u.shape or q.size == 0:
        raise ValueError("estimates and variances must be equal-length non-empty 1-D sequences")
    if not (np.isfinite(q).all() and np.isfinite(u).all()) or (u < 0).any():
        raise ValueError("estimates and variances must be finite, variances non-negative")
    m = q.size
    w = float(u.mean())
    b = float(q.var(ddof=1)) if m > 1 else 0.0
    t = w + (1 + 1 / m) * b
    gamma = (1 + 1 / m) * b / t if t > 0 else 0.0
    if m == 1 or b == 0:  # no between-draw variance: the complete-data inference
        df = float(df_com)
    else:
        df_m = (m - 1) / gamma ** 2
        if np.isfinite(df_com):
            df_obs = (df_com + 1) / (df_com + 3) * df_com * (1 - gamma)
            df = 1 / (1 / df_m + 1 / df_obs)
        else:
            df = df_m
    return {"estimate": float(q.mean()), "se": float(np.sqrt(t)), "df": float(df),
            "within": w, "between": b, "m": m, "fmi": float(gamma)}


def _as_draws(draws) -> np.ndarray:
    d = np.asarray(draws, dtype=float)
    if d.ndim == 1:
        d = d[None, :]
    if d.ndim != 2 or d.shape[0] == 0:
        raise ValueError("draws must be a 2-D array: one row of yearly counts per draw")
    return d


def fit_draws(draws, years: Sequence[int], windows: Mapping[str, Sequence[int]]) -> pd.DataFrame:
    """:func:`negbin_window_fit` on every draw (row) of yearly counts; one row per draw and
    window with ``log_irr``, ``se``, ``nb_alpha``, ``model``, ``df_com``. Identical draws are
    fitted once."""
    d = _as_draws(draws)
    cache: dict[tuple, WindowFit] = {}
    out = []
    for i, row in enumerate(d):
        key = tuple(row)
        if key not in cache:
            cache[key] = negbin_window_fit(row, years, windows)
        fit = cache[key]
        for name in windows:
            out.append({"draw": i, "window": name, "log_irr": float(fit.log_irr[name]),
                        "se": float(fit.se[name]), "nb_alpha": fit.nb_alpha, "model": fit.model,
                        "df_com": fit.df_com})
    return pd.DataFrame(out)


def _p_value(t: float, df: float, alternative: str) -> float:
    if alternative == "greater":
        return float(stats.t.sf(t, df))
    if alternative == "less":
        return float(stats.t.cdf(t, df))
    return float(2 * stats.t.sf(abs(t), df))


def pooled_window_test(draws, years: Sequence[int], windows: Mapping[str, Sequence[int]],
                       alternative: str | Mapping[str, str] = "greater", alpha: float = 0.05,
                       label: str = "") -> FitResult:
    """Window rate ratios that carry both calibration and count (overdispersion) error.

    ``draws`` holds one row of yearly counts per calibration draw (for counts without
    calibration error, a single row). Each draw is fitted with :func:`negbin_window_fit`
    (NB2, dispersion estimated) and the per-draw log rate ratios are combined by Rubin's rules
    (:func:`rubin_pool`), treating the calibration draws as multiple imputations of the unknown
    registration years (Rubin 1987): the pooled variance T = W + (1 + 1/m) B adds the between-
    draw (calibration) variance B to the mean within-draw (count-model) variance W, and the
    t reference uses the Barnard & Rubin (1999) degrees of freedom with the complete-data
    df = n - k (conservative next to the usual z for so few periods). The CI is exp(Q +/- t
    sqrt(T)); the p-value is for H1 "the window's rate is higher" (``alternative="greater"``)
    unless ``alternative`` says otherwise (per window via a mapping).

    Caveat: bootstrap refits of a calibration map are approximately, not exactly, "proper"
    imputations (Rubin 1987, sec. 4.2); the per-draw percentile interval of the rate ratio is
    given in the note as a second view.

    Returns one row per window and, as ``results``, the per-draw fits (:func:`fit_draws`).
    """
    _check_alpha(alpha)
    d = _as_draws(draws)
    per_draw = fit_draws(d, years, windows)
    rows = []
    for name, wy in windows.items():
        alt = alternative.get(name, "greater") if isinstance(alternative, Mapping) else alternative
        if alt not in ("greater", "less", "two-sided"):
            raise ValueError(f"alternative must be 'greater', 'less' or 'two-sided', got {alt!r}")
        sub = per_draw[per_draw["window"] == name]
        pool = rubin_pool(sub["log_irr"], sub["se"] ** 2, df_com=float(sub["df_com"].iloc[0]))
        t = pool["estimate"] / pool["se"]
        crit = stats.t.ppf(1 - alpha / 2, pool["df"])
        pct = np.exp(np.percentile(sub["log_irr"], [2.5, 97.5]))
        nb = sub["model"].eq("NB2")
        alphas = sub.loc[nb, "nb_alpha"]
        disp = (f"NB2 alpha median {alphas.median():.3g} (range {alphas.min():.3g}-"
                f"{alphas.max():.3g})" if nb.any() else "no draw with NB2 alpha > 0")
        rows.append(result_row(
            test=f"{label}{name}: event IRR (NB2{', pooled over calibration draws' if len(d) > 1 else ''})",
            method=(f"NB2 regression (ML dispersion), log E[y] = a + sum d_w 1[window w], windows "
                    f"{ {k: sorted(v) for k, v in windows.items()} }; window {sorted(wy)}; "
                    + (f"{len(d)} calibration draws combined by Rubin's rules, Barnard-Rubin df"
                       if len(d) > 1 else "t reference with n - k df")
                    + f"; H1: {alt}"),
            statistic=float(t), p_value=_p_value(t, pool["df"], alt),
            effect_name="incidence rate ratio window/baseline", effect=float(np.exp(pool["estimate"])),
            ci_low=float(np.exp(pool["estimate"] - crit * pool["se"])),
            ci_high=float(np.exp(pool["estimate"] + crit * pool["se"])), ci_level=1 - alpha,
            n=len(years), unit="ratio", reference=f"{REF_ITS}; {REF_RUBIN}",
            note=(f"statistic = t on {pool['df']:.3g} df; {disp}; {int((~nb).sum())} of {len(sub)} "
                  f"draws at the Poisson boundary (quasi-Poisson)"
                  + (f"; fraction of missing information {pool['fmi']:.2f}; per-draw IRR 95 % "
                     f"percentile range {pct[0]:.3g}-{pct[1]:.3g}" if len(d) > 1 else ""))))
    return FitResult(result_frame(rows), per_draw)


def poisson_dispersion_check(counts, years: Sequence[int], windows: Mapping[str, Sequence[int]],
                             alpha: float = 0.05) -> tuple[pd.DataFrame, bool]:
    """Is the Poisson assumption of the exact rate tests tenable for this series?

    Fits the Poisson window model (:func:`window_design`) and runs two checks: the Pearson
    chi-square goodness of fit (X^2 = sum (y - mu)^2 / mu against chi-square on n - k df;
    McCullagh & Nelder 1989) and the Cameron & Trivedi (1990) regression test against NB2
    (one-sided). The check passes only when neither rejects at ``alpha``. Returns the two rows
    (effect = Pearson dispersion phi = X^2 / (n - k)) and whether it passed.
    """
    _check_alpha(alpha)
    y = _counts_array(counts)
    X = window_design(years, windows)
    res = sm.GLM(y, X, family=sm.families.Poisson()).fit()
    df = int(res.df_resid)
    if df < 1:
        raise ValueError("no residual degrees of freedom for a dispersion check")
    x2 = float(res.pearson_chi2)
    p_gof = float(stats.chi2.sf(x2, df))
    diag = PoissonDiagnostic(res).test_dispersion()
    k = list(diag.method).index("CT nb2")
    z = float(np.asarray(diag.statistic)[k])
    p_ct = float(stats.norm.sf(z))
    passed = bool(p_gof >= alpha and p_ct >= alpha)
    verdict = "passed" if passed else "failed"
    model = f"Poisson window model, windows { {k_: sorted(v) for k_, v in windows.items()} }"
    common = dict(effect_name="Pearson dispersion phi", effect=x2 / df, n=len(y), unit="ratio")
    rows = [result_row(test="Poisson check: Pearson chi-square goodness of fit",
                       method=f"{model}; X^2 on {df} df; H1: extra-Poisson variation",
                       statistic=x2, p_value=p_gof, reference=REF_GOF,
                       note=f"Poisson check {verdict} at {alpha:g}", **common),
            result_row(test="Poisson check: overdispersion (Cameron-Trivedi)",
                       method=f"{model}; auxiliary OLS ((y-mu)^2 - y)/mu = alpha*mu + e; "
                              "one-sided H1: alpha > 0",
                       statistic=z, p_value=p_ct, reference=REF_CT,
                       note=f"Poisson check {verdict} at {alpha:g}", **common)]
    return result_frame(rows), passed


def _window_ratios(counts: np.ndarray, length: int, true_start: int) -> tuple[np.ndarray, int]:
    """Rate ratio (window mean / mean of every other period) for every window of ``length``
    consecutive periods that does not overlap the true window, the true one first."""
    n, total = counts.size, counts.sum()
    starts = [true_start] + [s for s in range(n - length + 1)
                             if s + length <= true_start or s >= true_start + length]
    inside = np.array([counts[s:s + length].sum() for s in starts])
    rest = (total - inside) / (n - length)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratios = np.where(rest > 0, (inside / length) / rest, np.inf)
    return ratios, len(starts)


def placebo_draws(draws, years: Sequence[int], window_years: Sequence[int],
                  label: str = "") -> FitResult:
    """Placebo windows with the same statistic for every window, over calibration draws.

    In each draw, every window of the true window's length (consecutive periods not overlapping
    it) gets the rate ratio "window mean / mean of all other periods", computed the same way for
    the true window and each placebo. The true window's rank (1 = largest) and the empirical
    p = share of windows with a ratio at least as large (the true window counted) are taken
    per draw; the row reports the median rank, the share of draws where it ranks first, and
    the mean empirical p over draws. The smallest attainable p is 1 / (number of windows), so
    with a short annual series this is a diagnostic, not a test that can reach 0.05.
    (Placebo logic: Abadie, Diamond & Hainmueller 2010, JASA 105: 493-505.)
    """
    d = _as_draws(draws)
    years = list(years)
    window = sorted(set(window_years))
    if not set(window) <= set(years) or window != list(range(window[0], window[-1] + 1)):
        raise ValueError(f"window {window} must be consecutive periods inside the data")
    start, length = years.index(window[0]), len(window)
    ranks, emp, true_ratio = [], [], []
    for row in d:
        ratios, n_windows = _window_ratios(row, length, start)
        ranks.append(1 + int(np.sum(ratios[1:] > ratios[0])))
        emp.append(float(np.mean(ratios >= ratios[0])))
        true_ratio.append(float(ratios[0]))
    if n_windows < 2:
        raise ValueError("no placebo window fits in the data outside the true window")
    per_draw = pd.DataFrame({"rank": ranks, "empirical_p": emp, "rate_ratio": true_ratio})
    row = result_row(
        test=f"{label}placebo windows (same rate ratio for every window)",
        method=(f"rate ratio window mean / mean of all other periods, for window {window} and every "
                f"other {length}-period window ({n_windows - 1} placebos)"
                + (f", in each of {len(d)} calibration draws" if len(d) > 1 else "")),
        statistic=float(np.median(ranks)), p_value=float(np.mean(emp)),
        effect_name="rate ratio of the true window (median over draws)",
        effect=float(np.median(true_ratio)), n=n_windows, unit="ratio",
        reference="Abadie, Diamond & Hainmueller (2010) JASA 105:493-505",
        note=(f"statistic = rank of the true window (1 = largest, median over draws); ranked first "
              f"in {np.mean(np.array(ranks) == 1):.0%} of draws; p = mean empirical p; smallest "
              f"attainable p = 1/{n_windows} = {1 / n_windows:.3g}"))
    return FitResult(result_frame(row), per_draw)


def year_waves(draws, years: Sequence[int], alpha: float = 0.05) -> pd.DataFrame:
    """Which years are "waves"? Each year against all other years (:func:`pooled_window_test`
    with that year as the only window, one-sided H1: higher), Holm-adjusted across the years
    scanned (Holm 1979). A year is a wave when its Holm-adjusted p < ``alpha``. Years at or
    below the others in the median draw are not fitted (p = 1, irr = median per-draw ratio of
    the year to the mean of the others, no interval), which saves the fits that could not
    reject and avoids years with no event in some draw. Returns one row per year: ``year``, ``irr``, ``ci_low``, ``ci_high``, ``p_value``, ``p_holm``, ``wave``."""
    from .multiplicity import holm

    d = _as_draws(draws)
    years = list(years)
    out = []
    for i, y in enumerate(years):
        others = np.delete(d, i, axis=1).mean(axis=1)
        if np.median(d[:, i]) <= np.median(others) or (d[:, i] == 0).any():
            # at or below the other years in the median draw (or empty in some draw): the
            # one-sided test cannot reject; counted with p = 1 so Holm still counts the year
            out.append({"year": y, "irr": float(np.median(d[:, i] / np.where(others > 0, others, np.nan))),
                        "ci_low": np.nan, "ci_high": np.nan, "p_value": 1.0})
            continue
        row = pooled_window_test(d, years, {str(y): [y]}, alpha=alpha).table.iloc[0]
        # a year with no event in some draw has no finite rate ratio there; its NA (with the
        # reason in the row's note) is never a wave
        out.append({"year": y, **{k: float(row[c]) if pd.notna(row[c]) else np.nan for k, c in
                                  (("irr", "effect"), ("ci_low", "ci_low"), ("ci_high", "ci_high"),
                                   ("p_value", "p_value"))}})
    table = pd.DataFrame(out)
    table["p_holm"] = holm(table["p_value"])
    table["wave"] = (table["p_holm"] < alpha) & (table["irr"] > 1)
    return table
