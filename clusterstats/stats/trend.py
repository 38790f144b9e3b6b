"""Trends in a yearly series: broken-stick trend, data-chosen break, and rank among countries.

Tests the guide's "R&D expenditure as % of GDP is relatively stable, with a slight upward trend
after 2010" (segmented trend with a kink at 2010, and whether the data would pick 2010 at all)
and "only four countries allocate less than Bulgaria" (:func:`rank_among`).

Eurostat flags. Pass the observation flag column as ``flag`` (strings such as ``"b"``,
``"e"``, ``"bp"``). Every function reports which years carry ``b`` (break in series), ``e``
(estimated), ``p`` (provisional), ``d`` (definition differs) and other letters. In
:func:`segmented_trend` ``on_break="dummy"`` adds a level-shift dummy 1[t >= b-year] for each
break year inside the fitted range (the usual treatment of a break in series);
``on_break="exclude"`` drops the flagged points as a sensitivity check.

References
----------
Segmented (broken-stick) regression: Muggeo, V. M. R. (2003). Estimating regression models
with unknown break-points. *Statistics in Medicine* 22(19), 3055-3071.
Testing a kink at an unknown year: Hansen, B. E. (2017). Regression kink with an unknown
threshold. *Journal of Business & Economic Statistics* 35(2), 228-240; sup-F: Andrews, D. W. K.
(1993). Tests for parameter instability and structural change with unknown change point.
*Econometrica* 61(4), 821-856; Davies, R. B. (1987). *Biometrika* 74(1), 33-43.
BIC: Schwarz, G. (1978). *Annals of Statistics* 6(2), 461-464.
"""
from __future__ import annotations

import re
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm

from ._tidy import result_frame, result_row

REF_SEGMENTED = "broken-stick OLS; Muggeo (2003) Statistics in Medicine 22(19)"
REF_SUPF = ("sup-F over candidate kinks, residual bootstrap p-value; Hansen (2017) JBES 35(2); "
            "Andrews (1993) Econometrica 61(4)")

FLAG_MEANING = {"b": "break in time series", "c": "confidential", "d": "definition differs",
                "e": "estimated", "f": "forecast", "n": "not significant", "p": "provisional",
                "r": "revised", "s": "Eurostat estimate", "u": "low reliability",
                "z": "not applicable"}

#: EU28 member states in Eurostat geo codes (the membership in 2016, the guide's year).
EU28 = ("BE", "BG", "CZ", "DK", "DE", "EE", "IE", "EL", "ES", "FR", "HR", "IT", "CY", "LV", "LT",
        "LU", "HU", "MT", "NL", "AT", "PL", "PT", "RO", "SI", "SK", "FI", "SE", "UK")

#: Eurostat aggregate geo codes that are not countries.
AGGREGATE_PATTERN = re.compile(r"^(EU|EA|EEA|EFTA)(\d+(_\d+)?)?$")


# ---------------------------------------------------------------- helpers
def _series(df: pd.DataFrame, year: str, value: str) -> pd.DataFrame:
    for col in (year, value):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    out = df.copy()
    out["_t"] = pd.to_numeric(out[year], errors="coerce")
    out["_y"] = pd.to_numeric(out[value], errors="coerce")
    bad = out["_t"].isna()
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"year column {year!r}, row {i!r}: {df.loc[i, year]!r} is not a year")
    if out["_t"].duplicated().any():
        raise ValueError(f"year {out.loc[out['_t'].duplicated(), year].iloc[0]} appears twice; "
                         "filter to one series first")
    dropped = out.loc[out["_y"].isna(), year].tolist()
    out = out[out["_y"].notna()].sort_values("_t")
    out.attrs["dropped_years"] = dropped
    return out


def flag_years(df: pd.DataFrame, year: str, flag: str | None) -> dict[str, list]:
    """Years per flag letter, e.g. ``{"b": [1996, 1998], "p": [2016]}``; {} without flags."""
    if flag is None or flag not in df.columns:
        return {}
    found: dict[str, list] = {}
    for yr, f in zip(df[year], df[flag]):
        if isinstance(f, str):
            for letter in f.strip().lower():
                if letter.isalpha():
                    found.setdefault(letter, []).append(yr)
    return {k: sorted(v) for k, v in sorted(found.items())}


def _flag_note(flags: dict[str, list]) -> str | None:
    if not flags:
        return None
    return "flags: " + "; ".join(f"{k} ({FLAG_MEANING.get(k, 'unknown flag')}) in "
                                 f"{', '.join(str(y) for y in v)}" for k, v in flags.items())


def _design(t: np.ndarray, tau: float, steps: Sequence[float] = ()) -> np.ndarray:
    # Centred at the break: the intercept is the level at tau and the first slope the one before.
    cols = [np.ones_like(t), t - tau, np.maximum(t - tau, 0.0)]
    cols += [(t >= s).astype(float) for s in steps]
    return np.column_stack(cols)


# ---------------------------------------------------------------- segmented trend
def segmented_trend(df: pd.DataFrame, year: str, value: str, break_year: float = 2010, *,
                    flag: str | None = None, on_break: str = "keep", hac_lags: int | None = None,
                    ci_level: float = 0.95) -> pd.DataFrame:
    """Continuous piecewise-linear (broken-stick) trend with a kink at ``break_year``.

    y_t = a + b1 (t - tau) + b2 max(t - tau, 0) + e_t, fitted by OLS. Rows: ``slope_before``
    (b1), ``slope_after`` (b1 + b2) and ``slope_change`` (b2), each with t statistic, p-value
    (H0: 0) and CI. ``hac_lags`` uses Newey-West errors (yearly series are autocorrelated).
    ``on_break`` in {"keep", "exclude", "dummy"} handles points flagged ``b`` (see module doc).
    Missing values are dropped and listed in the note. The statsmodels results object is in
    ``attrs["model"]``.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> rd = load_snapshot("rd_e_gerdtot")  # GERD by country, sector and unit (shipped snapshot)
    >>> rd = rd[(rd["sectperf"] == "TOTAL") & (rd["unit"] == "PC_GDP")]
    >>> from clusterstats.stats import segmented_trend
    >>> bg = rd[rd["geo"] == "BG"].assign(year=lambda d: d["time"].astype(int))
    >>> r = segmented_trend(bg, "year", "value", break_year=2010)
    >>> r["effect_name"].tolist()
    ['slope_before', 'slope_after', 'slope_change']
    """
    if on_break not in ("keep", "exclude", "dummy"):
        raise ValueError(f"on_break must be 'keep', 'exclude' or 'dummy', not {on_break!r}")
    data = _series(df, year, value)
    flags = flag_years(data, year, flag)
    notes = []
    if data.attrs["dropped_years"]:
        notes.append(f"missing values dropped: {data.attrs['dropped_years']}")
    steps: list[float] = []
    b_years = [float(y) for y in flags.get("b", [])]
    if on_break == "exclude" and b_years:
        data = data[~data["_t"].isin(b_years)]
        notes.append(f"points flagged b excluded: {sorted(b_years)}")
    elif on_break == "dummy":
        steps = [y for y in b_years if data["_t"].min() < y <= data["_t"].max()]
        if steps:
            notes.append(f"level-shift dummies at b-flag years {steps}")
    t, y = data["_t"].to_numpy(float), data["_y"].to_numpy(float)
    before, after = int((t <= break_year).sum()), int((t > break_year).sum())
    if before < 2 or after < 1:
        raise ValueError(f"break year {break_year}: need at least 2 years up to it and 1 after "
                         f"(have {before} and {after})")
    if len(t) - 3 - len(steps) < 1:
        raise ValueError(f"only {len(t)} years: too few for a broken-stick trend with errors")
    if before < 3 or after < 3:
        notes.append(f"only {before} points up to and {after} after {break_year}: slopes are fragile")
    flag_text = _flag_note(flags)
    if flag_text:
        notes.append(flag_text)
    x = _design(t, break_year, steps)
    ols = sm.OLS(y, x)
    model = ols.fit(cov_type="HAC", cov_kwds={"maxlags": hac_lags}) if hac_lags else ols.fit()
    alpha = 1 - ci_level
    contrasts = {"slope_before": [0, 1, 0], "slope_after": [0, 1, 1], "slope_change": [0, 0, 1]}
    method = (f"broken-stick OLS of {value!r} on year with a kink at {break_year}, "
              f"{int(t.min())}-{int(t.max())}; " + (f"Newey-West SE, {hac_lags} lags" if hac_lags
                                                    else "classical SE"))
    rows = []
    for name, c in contrasts.items():
        c = np.r_[c, np.zeros(len(steps))]
        tt = model.t_test(c)
        lo, hi = np.ravel(tt.conf_int(alpha=alpha))
        rows.append(result_row(
            test="segmented_trend", method=method, statistic=float(np.ravel(tt.tvalue)[0]),
            p_value=float(np.ravel(tt.pvalue)[0]), effect_name=name,
            effect=float(np.ravel(tt.effect)[0]), ci_low=lo, ci_high=hi, ci_level=ci_level,
            n=len(t), unit=f"{value} per year", reference=REF_SEGMENTED,
            note="; ".join(notes) if notes else pd.NA, break_year=break_year,
            n_before=before, n_after=after,
            why_nan="zero residual variance (the points lie exactly on the broken line)"))
    out = result_frame(rows)
    out.attrs["model"] = model
    out.attrs["flags"] = flags
    return out


# ---------------------------------------------------------------- data-chosen break
def choose_break(df: pd.DataFrame, year: str, value: str, candidates: Iterable[float] | None = None,
                 *, min_segment: int = 3, n_boot: int = 999, seed: int | None = 0,
                 flag: str | None = None, ci_level: float = 0.95) -> pd.DataFrame:
    """Pick the kink year that fits best and test whether any kink is needed.

    For each candidate year tau the broken-stick model of :func:`segmented_trend` is fitted;
    the chosen break minimises the residual sum of squares (equivalently BIC, since every
    candidate has the same number of parameters). The test of "no kink" uses
    sup-F = max_tau (SSR_0 - SSR_tau) / (SSR_tau / (n - 3)). Its null distribution is
    non-standard because tau does not exist under H0 (Davies 1987; Andrews 1993; Hansen 2017),
    so the p-value comes from a residual bootstrap under the linear-trend null (``n_boot``
    draws). Default candidates leave ``min_segment`` points on each side.

    The first row is the test (statistic sup-F, effect = chosen year, BIC of both models and
    the years whose BIC is within 2 of the best in ``near_equivalent``); the next rows are the
    slopes at the chosen year, whose CIs ignore that the year was chosen from the data (too
    narrow), as the note says. ``attrs["candidates"]`` holds the per-year SSR, BIC and F.
    Caveats: the bootstrap resamples residuals independently, so serial correlation makes the
    p-value too small; with ~17 yearly points the test has little power.
    """
    data = _series(df, year, value)
    t, y = data["_t"].to_numpy(float), data["_y"].to_numpy(float)
    n = len(t)
    if candidates is None:
        candidates = t[min_segment - 1: n - min_segment]
    candidates = [float(c) for c in candidates
                  if (t <= c).sum() >= 2 and (t > c).sum() >= 1]
    if not candidates:
        raise ValueError(f"no candidate break year leaves enough points on both sides (n = {n})")
    if n < 5:
        raise ValueError(f"only {n} years: too few to choose a break")
    x0 = np.column_stack([np.ones_like(t), t - t.mean()])

    def residual_maker(x):
        return np.eye(n) - x @ np.linalg.pinv(x)

    m0 = residual_maker(x0)
    makers = np.stack([residual_maker(_design(t, c)) for c in candidates])   # (k, n, n)
    ssr0 = float(y @ m0 @ y)
    ssr = np.einsum("i,kij,j->k", y, makers, y)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = (ssr0 - ssr) / (ssr / (n - 3))
    bic = n * np.log(ssr / n) + 4 * np.log(n)      # 3 coefficients + error variance
    bic0 = n * np.log(ssr0 / n) + 3 * np.log(n)
    best = int(np.argmin(ssr))
    sup_f = float(np.max(f))

    # Residual bootstrap under H0 (linear trend): rescale residuals for the 2 fitted df.
    rng = np.random.default_rng(seed)
    resid0 = (m0 @ y) * np.sqrt(n / (n - 2))
    fitted0 = y - m0 @ y
    ystar = fitted0[:, None] + rng.choice(resid0, size=(n, n_boot), replace=True)
    ssr0_star = np.einsum("ib,ij,jb->b", ystar, m0, ystar)
    ssr_star = np.einsum("ib,kij,jb->kb", ystar, makers, ystar)
    with np.errstate(divide="ignore", invalid="ignore"):
        supf_star = np.max((ssr0_star - ssr_star) / (ssr_star / (n - 3)), axis=0)
    p_boot = (1 + np.sum(supf_star >= sup_f)) / (n_boot + 1)

    table = pd.DataFrame({"break_year": candidates, "ssr": ssr, "bic": bic, "f": f})
    near = [c for c, b in zip(candidates, bic) if b - bic[best] <= 2]
    chosen = candidates[best]
    flags = flag_years(data, year, flag)
    caveat = ("bootstrap resamples residuals independently (serial correlation makes p too small); "
              f"{n} points give little power")
    flag_text = _flag_note(flags)
    test_row = result_row(
        test="choose_break", method=(f"kink year of {value!r} minimising SSR over "
                                     f"{len(candidates)} candidates {int(min(candidates))}-"
                                     f"{int(max(candidates))}; sup-F vs linear trend, "
                                     f"residual bootstrap ({n_boot} draws)"),
        statistic=sup_f, p_value=p_boot, effect_name="break_year", effect=chosen, n=n,
        unit="year", reference=REF_SUPF,
        note=caveat + (f"; {flag_text}" if flag_text else ""),
        bic_linear=bic0, bic_break=bic[best], delta_bic=bic[best] - bic0,
        near_equivalent=", ".join(str(int(c)) for c in near),
        why_nan="zero residual variance")
    slopes = segmented_trend(df, year, value, break_year=chosen, ci_level=ci_level)
    slopes["note"] = ("break year chosen from the same data: these CIs and p-values ignore the "
                      "selection and are too narrow" + slopes["note"].map(
                          lambda s: "" if pd.isna(s) else f"; {s}"))
    out = pd.concat([result_frame([test_row]), slopes], ignore_index=True)
    out.attrs["candidates"] = table
    out.attrs["model"] = slopes.attrs["model"]
    out.attrs["bootstrap_sup_f"] = supf_star
    return out


# ---------------------------------------------------------------- rank among countries
def rank_among(df: pd.DataFrame, geo: str, value: str, target: str = "BG", year=2016, *,
               time: str = "year", among: Iterable[str] | None = None,
               exclude: Iterable[str] = (), flag: str | None = None) -> pd.DataFrame:
    """Rank of ``target`` among countries in ``year`` and how many countries are below it.

    Tests claims like "only four countries allocate less than Bulgaria". Aggregates (EU28,
    EU27_2020, EA19, ...) are always excluded, and so are codes in ``exclude``. ``among``
    restricts the comparison to a list (e.g. :data:`EU28`, the guide's "all EU countries");
    countries in ``among`` with no value are listed in the note, not silently skipped, because
    a missing country changes the count. Ties with the target are neither below nor above.
    ``time=None`` means the frame already holds one year.
    Row: effect ``n_below``; extras ``rank_from_bottom`` (1 = lowest), ``n_above``, ``below``
    (the codes), ``missing``, ``target_value``.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> rd = load_snapshot("rd_e_gerdtot")  # GERD by country, sector and unit (shipped snapshot)
    >>> rd = rd[(rd["sectperf"] == "TOTAL") & (rd["unit"] == "PC_GDP")]
    >>> from clusterstats.stats import rank_among
    >>> row = rank_among(rd, "geo", "value", target="BG", year=2016, time="time").iloc[0]
    >>> int(row["statistic"]), int(row["n"])
    (5, 32)
    """
    for col in (geo, value) + ((time,) if time else ()):
        if col not in df.columns:
            raise KeyError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    sub = df if time is None or year is None else df[df[time].astype(str) == str(year)]
    if sub[geo].duplicated().any():
        raise ValueError(f"{geo!r} {sub.loc[sub[geo].duplicated(), geo].iloc[0]!r} appears twice "
                         f"in year {year}; filter to one unit/indicator first")
    excluded = set(exclude)
    keep = ~sub[geo].astype(str).str.match(AGGREGATE_PATTERN) & ~sub[geo].isin(excluded)
    sub = sub[keep]
    vals = pd.Series(pd.to_numeric(sub[value], errors="coerce").to_numpy(), index=sub[geo].to_numpy())
    missing = sorted(vals.index[vals.isna()])
    if among is not None:
        among = [g for g in among if g not in excluded]
        missing = sorted(set(missing) & set(among) | (set(among) - set(vals.index)))
        vals = vals.reindex([g for g in among if g in vals.index])
    vals = vals.dropna()
    if target not in vals.index:
        raise ValueError(f"target {target!r} has no value in year {year}")
    tv = vals[target]
    others = vals.drop(target)
    below = sorted(others.index[others < tv])
    n_above = int((others > tv).sum())
    ties = sorted(others.index[others == tv])
    notes = []
    if missing:
        notes.append(f"no value for {', '.join(missing)}: not ranked")
    if ties:
        notes.append(f"tied with {', '.join(ties)}")
    flag_text = None
    if flag is not None and flag in sub.columns:
        tf = sub.loc[sub[geo] == target, flag]
        if len(tf) and isinstance(tf.iloc[0], str) and tf.iloc[0].strip():
            flag_text = f"target value flagged {tf.iloc[0].strip()!r}"
            notes.append(flag_text)
    return result_frame([result_row(
        test="rank_among", method=(f"count of countries with {value!r} below {target} in {year} "
                                   f"among {len(vals)} countries with data"),
        statistic=len(below), effect_name="n_below", effect=len(below), n=len(vals),
        reference="descriptive rank; Eurostat aggregates excluded",
        note="; ".join(notes) if notes else pd.NA, rank_from_bottom=len(below) + 1,
        n_above=n_above, below=", ".join(below), missing=", ".join(missing), target=target,
        target_value=float(tv), year=year)])
