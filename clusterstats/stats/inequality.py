"""Regional inequality measures: weighted Theil T/L with decomposition, Gini, Williamson, CV.

Notation (as in the reference notes, section A6): regions i = 1..n with a level ``y_i``
(e.g. GERD per inhabitant, the ``value`` column) and a weight ``P_i`` (e.g. population, the
``weight`` column). Weight shares are ``p_i = P_i / sum(P)``, the weighted mean is
``ybar = sum(p_i * y_i)`` and the shares of the total are ``s_i = p_i * y_i / ybar``.
If you hold totals (GERD in euros) rather than levels, pass ``value = total / weight``.

Every function returns a tidy frame (one row per measure, see :mod:`._tidy`).

Why no sampling CI and no small-sample correction by default: the six Bulgarian NUTS 2 regions
are the whole population, not a sample, so a measure for one year is a descriptive number (a
population statistic). A bootstrap over regions is
offered (``n_boot``) but with n = 6 it is weak (few distinct resamples, biased downward) and
the note says so; :func:`summarise_years` gives the more useful uncertainty across years.

References
----------
Theil, H. (1967). *Economics and Information Theory*. North-Holland.
Shorrocks, A. F. (1980). The class of additively decomposable inequality measures.
*Econometrica* 48(3), 613-625.
Williamson, J. G. (1965). Regional inequality and the process of national development.
*Economic Development and Cultural Change* 13(4), 1-84.
Gini, C. (1912). *Variabilità e mutabilità*; weighted form and small-sample correction as in
Deltas, G. (2003). The small-sample bias of the Gini coefficient. *Review of Economics and
Statistics* 85(1), 226-234.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from ._tidy import result_frame, result_row

REF_THEIL = "Theil (1967) Economics and Information Theory; decomposition Shorrocks (1980) Econometrica 48(3)"
REF_GINI = "Gini (1912); small-sample correction Deltas (2003) REStat 85(1)"
REF_WILLIAMSON = "Williamson (1965) Economic Development and Cultural Change 13(4)"
REF_BOOT = "Efron & Tibshirani (1993) An Introduction to the Bootstrap, percentile interval"

SMALL_N_BOOT_NOTE = ("bootstrap over {n} regions: regions are the whole population, not a sample, "
                     "and with so few units the interval is weak and biased toward zero")


# ---------------------------------------------------------------- input checks
def _column(df: pd.DataFrame, col: str, *, what: str) -> np.ndarray:
    if col not in df.columns:
        raise KeyError(f"{what} column {col!r} not in frame (columns: {list(df.columns)})")
    values = pd.to_numeric(df[col], errors="coerce")
    bad = values.isna() & df[col].notna()
    if bad.any():
        i = bad.idxmax()
        raise ValueError(f"{what} column {col!r}, row {i!r}: {df.loc[i, col]!r} is not a number")
    if values.isna().any():
        i = values.isna().idxmax()
        raise ValueError(f"{what} column {col!r}, row {i!r}: missing value")
    return values.to_numpy(dtype=float)


def _level_and_shares(df: pd.DataFrame, value: str, weight: str | None,
                      *, positive: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Return (y, p): levels and weight shares summing to 1, after checking them."""
    if len(df) == 0:
        raise ValueError("no rows: an inequality measure needs at least one region")
    y = _column(df, value, what="value")
    if (y < 0).any():
        i = df.index[np.argmax(y < 0)]
        raise ValueError(f"value column {value!r}, row {i!r}: negative level {y[y < 0][0]}")
    if positive and (y <= 0).any():
        i = df.index[np.argmax(y <= 0)]
        raise ValueError(f"value column {value!r}, row {i!r}: Theil L (mean log deviation) "
                         "needs strictly positive levels (ln 0 is undefined)")
    if weight is None:
        p = np.full(len(y), 1.0 / len(y))
    else:
        w = _column(df, weight, what="weight")
        if (w <= 0).any():
            i = df.index[np.argmax(w <= 0)]
            raise ValueError(f"weight column {weight!r}, row {i!r}: weights must be positive")
        p = w / w.sum()
    if np.dot(p, y) == 0:
        raise ValueError(f"value column {value!r}: all levels are zero, inequality undefined")
    return y, p


# ---------------------------------------------------------------- core formulas (arrays)
def _theil_t(y: np.ndarray, p: np.ndarray) -> float:
    ybar = np.dot(p, y)
    r = y / ybar
    # 0 * ln 0 = 0 by continuity, so regions with zero level contribute nothing.
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(r > 0, p * r * np.log(r), 0.0)
    return float(terms.sum())


def _theil_l(y: np.ndarray, p: np.ndarray) -> float:
    ybar = np.dot(p, y)
    return float(np.sum(p * np.log(ybar / y)))


def _gini(y: np.ndarray, p: np.ndarray) -> float:
    ybar = np.dot(p, y)
    return float(np.sum(np.outer(p, p) * np.abs(y[:, None] - y[None, :])) / (2 * ybar))


def _williamson(y: np.ndarray, p: np.ndarray) -> float:
    ybar = np.dot(p, y)
    return float(np.sqrt(np.sum(p * (y - ybar) ** 2)) / ybar)


def _boot_ci(stat: Callable[[np.ndarray, np.ndarray], float], y: np.ndarray, p: np.ndarray,
             n_boot: int, level: float, seed: int | None) -> tuple[float, float]:
    """Percentile bootstrap over regions (resample regions with their weights)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(y), size=(n_boot, len(y)))
    draws = np.array([stat(y[i], p[i] / p[i].sum()) for i in idx])
    a = (1 - level) / 2
    return float(np.quantile(draws, a)), float(np.quantile(draws, 1 - a))


def _boot_fields(stat, y, p, n_boot, level, seed) -> dict:
    if not n_boot:
        return {}
    lo, hi = _boot_ci(stat, y, p, n_boot, level, seed)
    note = SMALL_N_BOOT_NOTE.format(n=len(y)) if len(y) < 30 else f"bootstrap over {len(y)} regions"
    return {"ci_low": lo, "ci_high": hi, "ci_level": level, "note": note,
            "reference_ci": REF_BOOT}


# ---------------------------------------------------------------- public measures
def _theil(df, value, weight, group, *, kind: str, n_boot, ci_level, seed) -> pd.DataFrame:
    positive = kind == "L"
    y, p = _level_and_shares(df, value, weight, positive=positive)
    index = _theil_t if kind == "T" else _theil_l
    total = index(y, p)
    fields = dict(
        test=f"theil_{kind.lower()}",
        method=(f"Theil {kind} ({'GE(1)' if kind == 'T' else 'GE(0), mean log deviation'}) of "
                f"{value!r}, {'weighted by ' + repr(weight) if weight else 'unweighted'}"),
        statistic=total, effect_name=f"theil_{kind.lower()}", effect=total,
        n=len(y), reference=REF_THEIL,
    )
    fields.update(_boot_fields(index, y, p, n_boot, ci_level, seed))
    if group is not None:
        g = df[group].to_numpy()
        s = p * y / np.dot(p, y)
        between = within = 0.0
        for label in pd.unique(g):
            m = g == label
            p_g, s_g = p[m].sum(), s[m].sum()
            inner = index(y[m], p[m] / p_g)
            if kind == "T":   # T: within weighted by income shares s_g
                within += s_g * inner
                between += s_g * np.log(s_g / p_g) if s_g > 0 else 0.0
            else:             # L: within weighted by population shares p_g
                within += p_g * inner
                between += p_g * np.log(p_g / s_g)
        fields.update(between=between, within=within,
                      between_share=between / total if total > 0 else np.nan,
                      n_groups=len(pd.unique(g)))
        fields["method"] += f"; decomposed by {group!r} into between + within"
    return result_frame([result_row(why_nan="perfect equality (total 0), share undefined", **fields)])


def theil_t(df: pd.DataFrame, value: str, weight: str | None = None, group: str | None = None,
            *, n_boot: int = 0, ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """Weighted Theil T index (GE(1)) of ``value`` with weight ``weight``.

    T = sum_i p_i (y_i/ybar) ln(y_i/ybar) = sum_i s_i ln(s_i/p_i) (Theil 1967). With ``group``
    the exact decomposition T = sum_g s_g T_g (within) + sum_g s_g ln(s_g/p_g) (between)
    of Shorrocks (1980) is added as columns ``between``, ``within``, ``between_share``.
    ``weight=None`` gives the unweighted index (p_i = 1/n), the one pysal ``inequality`` computes.
    ``n_boot > 0`` adds a percentile bootstrap CI over regions (weak for few regions; see note).

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")  # GERD, % of GDP, by NUTS 2 region (shipped snapshot)
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> from clusterstats.stats import theil_t
    >>> row = theil_t(bg, "value").iloc[0]
    >>> row["test"], round(float(row["statistic"]), 4)
    ('theil_t', 0.1092)
    """
    return _theil(df, value, weight, group, kind="T", n_boot=n_boot, ci_level=ci_level, seed=seed)


def theil_l(df: pd.DataFrame, value: str, weight: str | None = None, group: str | None = None,
            *, n_boot: int = 0, ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """Weighted Theil L index (GE(0), mean log deviation): L = sum_i p_i ln(ybar/y_i).

    Decomposition (Shorrocks 1980): L = sum_g p_g L_g (within) + sum_g p_g ln(p_g/s_g) (between).
    Levels must be strictly positive. Other arguments as :func:`theil_t`.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")  # GERD, % of GDP, by NUTS 2 region (shipped snapshot)
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> from clusterstats.stats import theil_l
    >>> round(float(theil_l(bg, "value")["statistic"].iloc[0]), 4)
    0.1011
    """
    return _theil(df, value, weight, group, kind="L", n_boot=n_boot, ci_level=ci_level, seed=seed)


def gini(df: pd.DataFrame, value: str, weight: str | None = None, small_n_correction: bool = False,
         *, n_boot: int = 0, ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """(Weighted) Gini coefficient G = sum_i sum_j p_i p_j |y_i - y_j| / (2 ybar).

    By default the population Gini: the regions of a country are the whole population, not a
    sample, so no small-sample correction applies (issue 11, item 5). ``small_n_correction=True``
    is a labelled option (``effect_name`` "gini_corrected"): G / (1 - sum p_i^2), the usual
    n/(n-1) factor for equal weights (Deltas 2003) and its effective-n analogue for unequal
    weights — a sample estimator's bias correction, which inflates G by 1.2 for six regions and by
    2-3 for two or three. The uncorrected value is always in ``gini_raw`` and the factor in
    ``correction``.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")  # GERD, % of GDP, by NUTS 2 region (shipped snapshot)
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> from clusterstats.stats import gini
    >>> row = gini(bg, "value").iloc[0]
    >>> row["effect_name"], round(float(row["effect"]), 4)
    ('gini', 0.2366)
    """
    y, p = _level_and_shares(df, value, weight)
    raw = _gini(y, p)
    factor = 1.0 / (1.0 - np.sum(p ** 2)) if len(y) > 1 else np.nan
    effect = raw * factor if small_n_correction else raw

    def stat(yy, pp):
        g = _gini(yy, pp)
        return g / (1.0 - np.sum(pp ** 2)) if small_n_correction and len(yy) > 1 else g

    fields = dict(
        test="gini", method=(f"Gini of {value!r}, {'weighted by ' + repr(weight) if weight else 'unweighted'}"
                             + ("; small-n corrected by 1/(1 - sum p_i^2) = n/(n-1) for equal weights"
                                if small_n_correction else "")),
        statistic=effect, effect_name="gini_corrected" if small_n_correction else "gini",
        effect=effect, n=len(y), reference=REF_GINI, gini_raw=raw, correction=factor,
    )
    fields.update(_boot_fields(stat, y, p, n_boot, ci_level, seed))
    return result_frame([result_row(why_nan="one region: no dispersion to correct", **fields)])


def williamson_cv(df: pd.DataFrame, value: str, weight: str,
                  *, n_boot: int = 0, ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """Williamson (1965) weighted coefficient of variation V_w = sqrt(sum p_i (y_i - ybar)^2) / ybar."""
    y, p = _level_and_shares(df, value, weight)
    vw = _williamson(y, p)
    fields = dict(test="williamson_cv", method=f"Williamson V_w of {value!r} weighted by {weight!r}",
                  statistic=vw, effect_name="williamson_vw", effect=vw, n=len(y),
                  reference=REF_WILLIAMSON)
    fields.update(_boot_fields(_williamson, y, p, n_boot, ci_level, seed))
    return result_frame([result_row(**fields)])


def cv(df: pd.DataFrame, value: str, ddof: int = 0) -> pd.DataFrame:
    """Unweighted coefficient of variation sd/mean across regions.

    ``ddof=0`` (default) treats the regions as the whole population, matching V_w with equal
    weights; ``ddof=1`` gives the sample version.

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")  # GERD, % of GDP, by NUTS 2 region (shipped snapshot)
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> from clusterstats.stats import cv
    >>> round(float(cv(bg, "value")["statistic"].iloc[0]), 4)
    0.5037
    """
    y, _ = _level_and_shares(df, value, None)
    value_cv = float(np.std(y, ddof=ddof) / np.mean(y)) if len(y) > ddof else np.nan
    return result_frame([result_row(
        test="cv", method=f"coefficient of variation of {value!r}, unweighted, ddof={ddof}",
        statistic=value_cv, effect_name="cv", effect=value_cv, n=len(y),
        reference="Pearson (1896); see Williamson (1965) for the weighted form",
        why_nan=f"fewer than {ddof + 1} regions")])


# ---------------------------------------------------------------- leader ratios
def leader_ratios(df: pd.DataFrame, region: str, value: str, leader: str | None = None,
                  year: str | None = None) -> pd.DataFrame:
    """How many times the leading region's ``value`` exceeds the others'.

    Rows: the leader over each other region (``ratio_to_<region>``), the min and max of those
    ratios, the leader over the mean of the others and over the others' total. These test
    claims like "the South-west spends 7-14 times more than each other region" and "all 5 others
    together spend about half". The unit of ``value`` matters (EUR, PPS, % of GDP, per capita):
    state it in the results row. ``leader=None`` takes the region with the highest value.
    With ``year`` the ratios are computed per year (a ``year`` column is added).

    Examples
    --------
    >>> from clusterstats.snapshot import load_snapshot
    >>> gerd = load_snapshot("tgs00042")  # GERD, % of GDP, by NUTS 2 region (shipped snapshot)
    >>> bg = gerd[gerd["geo"].astype(str).str.fullmatch("BG[0-9][0-9]") & (gerd["time"] == "2016")]
    >>> from clusterstats.stats import leader_ratios
    >>> r = leader_ratios(bg, "geo", "value")
    >>> r[["other", "effect"]].round(2).values.tolist()
    [['BG31', 2.43], ['BG32', 2.78], ['BG33', 2.24], ['BG34', 4.22], ['BG42', 2.33], ['BG33', 2.24], ['BG34', 4.22], ['mean of others', 2.65], ['total of others', 0.53]]
    """
    if year is not None:
        parts = []
        for yr, sub in df.groupby(year, sort=True):
            part = leader_ratios(sub, region, value, leader=leader)
            part.insert(0, year, yr)
            parts.append(part)
        return pd.concat(parts, ignore_index=True)
    if region not in df.columns:
        raise KeyError(f"region column {region!r} not in frame")
    if df[region].duplicated().any():
        dup = df.loc[df[region].duplicated(), region].iloc[0]
        raise ValueError(f"region {dup!r} appears more than once; pass year= or filter first")
    y = pd.Series(_column(df, value, what="value"), index=df[region].to_numpy())
    if len(y) < 2:
        raise ValueError("leader ratios need at least two regions")
    lead = y.idxmax() if leader is None else leader
    if lead not in y.index:
        raise ValueError(f"leader {lead!r} not among regions {list(y.index)}")
    others = y.drop(lead)
    ratios = y[lead] / others
    ref = "descriptive ratio; guide claim 'SW spends 7-14x each other region'"
    zero = "the other region's value is 0, so the ratio is undefined"
    rows = [result_row(test="leader_ratio", method=f"{value!r}: {lead} / {other}",
                       statistic=r, effect_name=f"ratio_to_{other}", effect=r, n=len(y),
                       reference=ref, leader=lead, other=other, why_nan=zero)
            for other, r in ratios.items()]
    finite = ratios[np.isfinite(ratios)]
    rows += [
        result_row(test="leader_ratio", method=f"{value!r}: smallest of {lead} / each other region",
                   statistic=finite.min() if len(finite) else np.nan, effect_name="ratio_min",
                   effect=finite.min() if len(finite) else np.nan, n=len(y), reference=ref,
                   leader=lead, other=finite.idxmin() if len(finite) else pd.NA, why_nan=zero),
        result_row(test="leader_ratio", method=f"{value!r}: largest of {lead} / each other region",
                   statistic=finite.max() if len(finite) else np.nan, effect_name="ratio_max",
                   effect=finite.max() if len(finite) else np.nan, n=len(y), reference=ref,
                   leader=lead, other=finite.idxmax() if len(finite) else pd.NA, why_nan=zero),
        result_row(test="leader_ratio", method=f"{value!r}: {lead} / mean of the {len(others)} others",
                   statistic=y[lead] / others.mean(), effect_name="ratio_to_mean_of_others",
                   effect=y[lead] / others.mean(), n=len(y), reference=ref, leader=lead,
                   other="mean of others", why_nan="the others' mean is 0"),
        result_row(test="leader_ratio", method=f"{value!r}: {lead} / sum of the {len(others)} others",
                   statistic=y[lead] / others.sum(), effect_name="ratio_to_total_of_others",
                   effect=y[lead] / others.sum(), n=len(y), reference=ref, leader=lead,
                   other="total of others", why_nan="the others' total is 0"),
    ]
    with np.errstate(divide="ignore"):
        return result_frame(rows)


# ---------------------------------------------------------------- all measures per year
def inequality_table(df: pd.DataFrame, region: str, value: str, weight: str,
                     year: str | None = None) -> pd.DataFrame:
    """All inequality measures (Theil T and L, Gini, Williamson, CV, max/min ratio) per year.

    One row per measure and year (``year`` column). Theil L is skipped with a note in a year
    where some region has a zero level. Bad input rows raise an error naming the year.
    """
    if year is None:
        groups = [(pd.NA, df)]
    else:
        groups = list(df.groupby(year, sort=True))
    parts = []
    for yr, sub in groups:
        try:
            rows = [theil_t(sub, value, weight), gini(sub, value, weight),
                    williamson_cv(sub, value, weight), cv(sub, value)]
            y = _column(sub, value, what="value")
            if (y > 0).all():
                rows.insert(1, theil_l(sub, value, weight))
            else:
                rows.insert(1, result_frame([result_row(
                    test="theil_l", effect_name="theil_l", n=len(sub), reference=REF_THEIL,
                    note="not computed: a region has a zero level and ln 0 is undefined")]))
            ratios = leader_ratios(sub, region, value)
            rows.append(ratios[ratios["effect_name"].isin(["ratio_max", "ratio_min"])])
        except (ValueError, KeyError) as exc:
            raise type(exc)(f"year {yr}: {exc}") from exc
        part = pd.concat(rows, ignore_index=True)
        if year is not None:
            part.insert(0, year, yr)
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def summarise_years(table: pd.DataFrame, year: str, measure: str, *, start=None, end=None,
                    n_boot: int = 2000, ci_level: float = 0.95, seed: int | None = 0) -> pd.DataFrame:
    """Mean of one measure (an ``effect_name`` of :func:`inequality_table`) across years, with a
    percentile bootstrap CI over years.

    This is the uncertainty that matters for claims like "7-14 times": how much the number moves
    from year to year. Years are serially correlated, so the interval is too narrow if read as
    a sampling interval; the note says so.
    """
    sel = table[table["effect_name"] == measure]
    if start is not None:
        sel = sel[sel[year] >= start]
    if end is not None:
        sel = sel[sel[year] <= end]
    vals = pd.to_numeric(sel["effect"], errors="coerce").dropna().to_numpy(dtype=float)
    if len(vals) == 0:
        raise ValueError(f"no finite values of measure {measure!r} in the chosen years")
    rng = np.random.default_rng(seed)
    means = vals[rng.integers(0, len(vals), size=(n_boot, len(vals)))].mean(axis=1)
    a = (1 - ci_level) / 2
    years = sel.loc[pd.to_numeric(sel["effect"], errors="coerce").notna(), year]
    return result_frame([result_row(
        test=f"{measure}_across_years", method=f"mean of {measure} over {len(vals)} years "
        f"({years.min()}-{years.max()}), percentile bootstrap over years",
        statistic=vals.mean(), effect_name=f"mean_{measure}", effect=vals.mean(),
        ci_low=np.quantile(means, a), ci_high=np.quantile(means, 1 - a), ci_level=ci_level,
        n=len(vals), reference=REF_BOOT, min=vals.min(), max=vals.max(),
        note="years are serially correlated: read the interval as year-to-year spread, "
             "not as a sampling interval")])
