"""sigma- and beta-convergence of regional levels (e.g. GERD per inhabitant by NUTS 2).

sigma-convergence: the cross-regional dispersion falls over time. We compute a dispersion per
year (sd of ln y, or Williamson's V_w) and fit its OLS trend on the year; a negative slope
whose CI excludes 0 is sigma-convergence. With fewer than ~10 years the note warns.

beta-convergence: regions that start lower grow faster. Barro & Sala-i-Martin (1992):
(1/T) ln(y_iT / y_i0) = a + beta ln y_i0 + e_i. beta < 0 means convergence; the implied speed
is lambda = -ln(1 + T beta) / T and the half-life ln 2 / lambda (both only where defined).
With the six Bulgarian NUTS 2 regions the cross-section has n = 6 and 4 residual degrees of
freedom: the CI is wide by construction, which the note states.

The fitted statsmodels results object is kept in ``result.attrs["model"]`` and the per-year
dispersion series (sigma) or the regional growth table (beta) in ``result.attrs["data"]``.

References
----------
Barro, R. J. & Sala-i-Martin, X. (1992). Convergence. *Journal of Political Economy* 100(2),
223-251.
Sala-i-Martin, X. (1996). The classical approach to convergence analysis. *Economic Journal*
106(437), 1019-1036 (sigma vs beta convergence).
Williamson, J. G. (1965). *Economic Development and Cultural Change* 13(4), 1-84.
Newey, W. K. & West, K. D. (1987). *Econometrica* 55(3), 703-708 (HAC standard errors).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ._tidy import result_frame, result_row
from .inequality import _column, _williamson

REF_SIGMA = ("Sala-i-Martin (1996) Economic Journal 106(437); Barro & Sala-i-Martin (1992) "
             "JPE 100(2); trend by OLS (HAC: Newey & West 1987)")
REF_BETA = "Barro & Sala-i-Martin (1992) Convergence, Journal of Political Economy 100(2)"


def _require(df: pd.DataFrame, *cols: str | None) -> None:
    missing = [c for c in cols if c is not None and c not in df.columns]
    if missing:
        raise KeyError(f"column(s) {missing} not in frame (columns: {list(df.columns)})")


def _dispersion(sub: pd.DataFrame, value: str, weight: str | None, measure: str) -> float:
    y = _column(sub, value, what="value")
    if measure == "sd_log":
        if (y <= 0).any():
            i = sub.index[np.argmax(y <= 0)]
            raise ValueError(f"value column {value!r}, row {i!r}: sd of ln y needs positive levels")
        ly = np.log(y)
        if weight is None:
            return float(np.std(ly))
        p = _column(sub, weight, what="weight")
        p = p / p.sum()
        return float(np.sqrt(np.sum(p * (ly - np.dot(p, ly)) ** 2)))
    if measure == "williamson":
        if weight is None:
            raise ValueError("measure='williamson' needs a weight column (e.g. population)")
        p = _column(sub, weight, what="weight")
        return _williamson(y, p / p.sum())
    raise ValueError(f"measure must be 'sd_log' or 'williamson', not {measure!r}")


def sigma_convergence(df: pd.DataFrame, region: str, year: str, value: str,
                      weight: str | None = None, measure: str = "sd_log", *,
                      hac_lags: int | None = None, ci_level: float = 0.95) -> pd.DataFrame:
    """Dispersion of ``value`` across regions per year and its linear trend over the years.

    ``measure="sd_log"``: standard deviation of ln y across regions (population-weighted when
    ``weight`` is given); ``"williamson"``: V_w (needs ``weight``). The row reports the OLS slope
    of dispersion on year (per year), its CI and p-value; ``hac_lags`` switches to Newey-West
    standard errors, advisable because dispersion is serially correlated. Every year must have
    the same regions (a changing set of regions would fake a trend); otherwise an error names
    the year.
    """
    _require(df, region, year, value, weight)
    regions_by_year = df.groupby(year)[region].apply(lambda s: frozenset(s))
    common = regions_by_year.iloc[0]
    for yr, regs in regions_by_year.items():
        if regs != common:
            raise ValueError(f"year {yr}: regions {sorted(regs ^ common)} differ from year "
                             f"{regions_by_year.index[0]}; use a balanced panel")
    series = []
    for yr, sub in df.groupby(year, sort=True):
        try:
            series.append((yr, _dispersion(sub, value, weight, measure)))
        except (ValueError, KeyError) as exc:
            raise type(exc)(f"year {yr}: {exc}") from exc
    data = pd.DataFrame(series, columns=[year, "dispersion"])
    n = len(data)
    notes = []
    if n < 10:
        notes.append(f"only {n} years: a trend test needs about 10 or more")
    if n < 3:
        raise ValueError(f"only {n} years: cannot fit a trend with its standard error")
    x = sm.add_constant(data[year].astype(float).to_numpy())
    ols = sm.OLS(data["dispersion"].to_numpy(), x)
    model = ols.fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags}) if hac_lags else ols.fit()
    lo, hi = model.conf_int(alpha=1 - ci_level)[1]
    first, last = data["dispersion"].iloc[0], data["dispersion"].iloc[-1]
    label = {"sd_log": "sd of ln " + value, "williamson": "Williamson V_w of " + value}[measure]
    row = result_row(
        test="sigma_convergence",
        method=(f"OLS of yearly {label}{' (weighted by ' + weight + ')' if weight and measure == 'sd_log' else ''} "
                f"on year, {data[year].min()}-{data[year].max()}; "
                + (f"Newey-West SE, {hac_lags} lags" if hac_lags else "classical SE")),
        statistic=model.tvalues[1], p_value=model.pvalues[1],
        effect_name="dispersion_slope_per_year", effect=model.params[1], ci_low=lo, ci_high=hi,
        ci_level=ci_level, n=n, unit=f"{measure} per year", reference=REF_SIGMA,
        note="; ".join(notes) if notes else pd.NA,
        dispersion_first=first, dispersion_last=last, n_regions=len(common),
        why_nan="zero residual variance (dispersion exactly linear or constant)")
    out = result_frame([row])
    out.attrs["model"] = model
    out.attrs["data"] = data
    return out


def beta_convergence(df: pd.DataFrame, region: str, year: str, value: str,
                     start=None, end=None, *, ci_level: float = 0.95) -> pd.DataFrame:
    """Absolute beta-convergence between years ``start`` and ``end`` (Barro & Sala-i-Martin 1992).

    Fits (1/T) ln(y_end/y_start) = a + beta ln y_start by OLS across regions (T = end - start).
    Rows: ``beta`` (statistic t, p-value, CI), ``speed_lambda`` = -ln(1 + T beta)/T and
    ``half_life`` = ln 2/lambda, with CIs mapped from beta's CI endpoints (the maps are
    monotone). lambda is undefined when 1 + T beta <= 0 and the half-life when lambda <= 0
    (divergence); the note then says why. Defaults: the first and last year in the data.
    Regions missing either year raise an error naming them.
    """
    _require(df, region, year, value)
    years = df[year]
    start = years.min() if start is None else start
    end = years.max() if end is None else end
    if not end > start:
        raise ValueError(f"end year {end} must be after start year {start}")
    wide = df[df[year].isin([start, end])].pivot_table(index=region, columns=year, values=value,
                                                       aggfunc="first")
    for yr in (start, end):
        if yr not in wide.columns:
            raise ValueError(f"no observations for year {yr}")
    missing = wide.index[wide[[start, end]].isna().any(axis=1)].tolist()
    missing += sorted(set(df[region]) - set(wide.index))
    if missing:
        raise ValueError(f"region(s) {missing} lack a value in {start} or {end}")
    y0, y1 = wide[start].astype(float), wide[end].astype(float)
    bad = wide.index[(y0 <= 0) | (y1 <= 0)].tolist()
    if bad:
        raise ValueError(f"region(s) {bad}: levels must be positive to take logs")
    horizon = float(end - start)
    data = pd.DataFrame({"log_initial": np.log(y0), "growth": np.log(y1 / y0) / horizon})
    if len(data) < 3:
        raise ValueError(f"only {len(data)} regions: beta needs at least 3 for a standard error")
    model = sm.OLS(data["growth"], sm.add_constant(data["log_initial"])).fit()
    beta = model.params["log_initial"]
    lo, hi = model.conf_int(alpha=1 - ci_level).loc["log_initial"]

    def speed(b: float) -> float:
        return -math.log(1 + horizon * b) / horizon if 1 + horizon * b > 0 else np.nan

    def half(b: float) -> float:
        lam = speed(b)
        return math.log(2) / lam if np.isfinite(lam) and lam > 0 else np.nan

    n = len(data)
    small = (f"only {n} regions ({n - 2} residual df): the CI is wide by construction; "
             "consider NUTS 3 or a panel" if n < 10 else pd.NA)
    common = dict(n=n, ci_level=ci_level, reference=REF_BETA, start=start, end=end)
    why_speed = "1 + T*beta <= 0 at this value: the implied speed is undefined"
    why_half = "lambda <= 0 (no convergence) or undefined: the half-life is undefined"
    rows = [
        result_row(test="beta_convergence",
                   method=f"OLS across regions of (1/T) ln(y_{end}/y_{start}) on ln y_{start}, T={horizon:g}",
                   statistic=model.tvalues["log_initial"], p_value=model.pvalues["log_initial"],
                   effect_name="beta", effect=beta, ci_low=lo, ci_high=hi,
                   unit="growth per year per unit of log initial level", note=small,
                   why_nan="perfect fit: residual variance 0", **common),
        # lambda decreases in beta, so the CI swaps ends.
        result_row(test="beta_convergence", method="implied speed lambda = -ln(1 + T beta)/T",
                   effect_name="speed_lambda", effect=speed(beta), ci_low=speed(hi),
                   ci_high=speed(lo), unit="per year", why_nan=why_speed, **common),
        result_row(test="beta_convergence", method="half-life ln 2 / lambda",
                   effect_name="half_life", effect=half(beta), ci_low=half(lo), ci_high=half(hi),
                   unit="years", why_nan=why_half, **common),
    ]
    out = result_frame(rows)
    out.attrs["model"] = model
    out.attrs["data"] = data
    return out
