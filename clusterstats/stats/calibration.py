"""Date the 243 BULSTAT-registered clusters from their codes, for H1(b).

BULSTAT issues codes in sequence, so within one numbering series a larger code means a later
registration. The guide gives founding years for only a few clusters (the BSMEPA table); those
with a BULSTAT code are calibration points for a monotone map code -> year, which then dates
every registered cluster and so gives annual counts of new registrations for H1.

- The map is an isotonic regression (pool-adjacent-violators; Barlow et al. 1972, *Statistical
  Inference under Order Restrictions*; de Leeuw, Hornik & Mair 2009, *J Stat Softw* 32(5)),
  fitted by scikit-learn's ``IsotonicRegression`` on the 9-digit base code (a 13-digit branch
  code maps to its parent's 9 digits). Between calibration codes it interpolates linearly;
  outside their range it clips to the end values, and the output says so.
- Series: codes with different leading digits belong to different numbering series (e.g. the
  17... series versus older codes), where order says nothing across series. By default the
  series is the first two digits and each is fitted separately (a judgement; see
  ``series_digits``).
- Accuracy: leave-one-out prediction error (MAE in years, share predicted exactly after
  rounding) and Spearman's rank correlation of code and year.
- Bands: a nonparametric bootstrap over calibration points (Efron & Tibshirani 1993, ch. 6),
  refitting the isotonic map each time; percentile bands per predicted code.
- Inconsistent points: those in no longest non-decreasing subsequence of years in code order
  (the fewest points whose removal makes the data monotone); "ambiguous" points are in some
  such subsequences but not all (one of a conflicting pair must go, the data cannot say which). A founding year *earlier*
  than the code suggests is possible and not an error: an older organisation may have
  registered a cluster association later, and the guide reports the organisation's year.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.isotonic import IsotonicRegression
from statsmodels.stats.proportion import proportion_confint

from ..progress import progress_bar
from ._tidy import result_frame, result_row

REF_ISO = ("Barlow, Bartholomew, Bremner & Brunk (1972) Statistical Inference under Order "
           "Restrictions; de Leeuw, Hornik & Mair (2009) J Stat Softw 32(5)")
REF_BOOT = "Efron & Tibshirani (1993) An Introduction to the Bootstrap, ch. 6"


def base_code(code) -> str:
    """The 9-digit base of a BULSTAT/EIK code (13-digit branch codes map to their parent).

    Spaces inside the code (a PDF-to-text split such as "17648835 0") are removed.

    Examples
    --------
    >>> from clusterstats.stats import base_code
    >>> base_code("1750000221234")
    '175000022'
    """
    text = "".join(str(code).split())
    if text.endswith(".0"):  # a code read as a float by a CSV reader
        text = text[:-2]
    if not text.isdigit() or len(text) not in (9, 13):
        raise ValueError(f"{code!r} is not a 9- or 13-digit BULSTAT code")
    return text[:9]


def monotone_consistency(years) -> pd.Series:
    """Classify points (in code order) against the longest non-decreasing subsequences (LNDS).

    An LNDS is a largest set of points whose years never decrease with the code: the fewest
    points to drop to make the data monotone. Returns, per point, "consistent" (in every
    LNDS), "ambiguous" (in some but not all: one of several conflicting points must go, and
    the data cannot say which) or "inconsistent" (in none). O(n^2) dynamic programming, fine
    for tens of calibration points.
    """
    y = np.asarray(years, float)
    n = len(y)
    if n == 0:
        return pd.Series([], dtype=object)
    end = np.ones(n, int)    # length of the longest chain ending at i
    start = np.ones(n, int)  # length of the longest chain starting at i
    for i in range(n):
        for j in range(i):
            if y[j] <= y[i]:
                end[i] = max(end[i], end[j] + 1)
    for i in range(n - 1, -1, -1):
        for j in range(i + 1, n):
            if y[j] >= y[i]:
                start[i] = max(start[i], start[j] + 1)
    best = end.max()
    on_some = end + start - 1 == best
    # A point is in every LNDS iff it is the only on-some point at its chain position.
    level_count = pd.Series(end[on_some]).value_counts()
    out = np.where(~on_some, "inconsistent",
                   np.where(pd.Series(end).map(level_count).to_numpy() == 1, "consistent",
                            "ambiguous"))
    return pd.Series(out)


@dataclass
class CodeCalibration:
    """A fitted code -> year calibration: per-series isotonic fits, bootstrap refits, tables."""

    points: pd.DataFrame                     # one row per calibration point, with LOO results
    summary: pd.DataFrame                    # tidy result rows (accuracy, rank correlation)
    fits: dict = field(default_factory=dict)            # series -> IsotonicRegression
    boot: dict = field(default_factory=dict)            # series -> list of (x, y) refits
    series_digits: int = 2
    ci_level: float = 0.9


def _iso(x: np.ndarray, y: np.ndarray) -> IsotonicRegression:
    return IsotonicRegression(increasing=True, out_of_bounds="clip").fit(x, y)


def calibrate_code_to_year(df: pd.DataFrame, code: str = "code", year: str = "year",
                           series_digits: int = 2, n_boot: int = 999, seed: int = 0,
                           ci_level: float = 0.9, min_points: int = 3,
                           progress: bool | None = None) -> CodeCalibration:
    """Fit a monotone map BULSTAT code -> founding year on calibration points.

    ``df`` has one row per calibration point with a BULSTAT ``code`` (9 or 13 digits, string
    or integer) and a founding ``year``. Series with fewer than ``min_points`` points are not
    fitted (their codes get no date). Returns a :class:`CodeCalibration`; its ``summary``
    has one row per series and measure, its ``points`` the LOO prediction and the
    ``consistency`` class per point ("consistent", "ambiguous", "inconsistent"; NA for
    series not fitted) with a note on the likely reason. ``progress``: a progress bar over the
    bootstrap refits (None: only for long runs watched in JupyterLab or a terminal; see
    :mod:`clusterstats.progress`); the results never depend on it.
    """
    if df is None or len(df) == 0:
        raise ValueError("no calibration points")
    for col in (code, year):
        if col not in df.columns:
            raise ValueError(f"column {col!r} not in frame (columns: {list(df.columns)})")
    if not (0 < ci_level < 1):
        raise ValueError(f"ci_level must be in (0, 1), got {ci_level!r}")
    if not 1 <= series_digits <= 9:
        raise ValueError(f"series_digits must be in 1..9, got {series_digits}")
    if n_boot < 0:
        raise ValueError(f"n_boot must be non-negative, got {n_boot}")
    pts = df[[code, year]].copy()
    if pts[year].isna().any() or pts[code].isna().any():
        raise ValueError(f"missing code or year in rows {pts.index[pts.isna().any(axis=1)].tolist()}")
    bases = []
    for idx, value in pts[code].items():
        try:
            bases.append(base_code(value))
        except ValueError as exc:
            raise ValueError(f"row {idx}: {exc}") from None
    pts["base"] = bases
    pts["series"] = pts["base"].str[:series_digits]
    pts["x"] = pts["base"].astype("int64").astype(float)
    pts["year_obs"] = pts[year].astype(float)
    pts = pts.sort_values(["series", "x"]).reset_index()
    pts["fitted"] = np.nan
    pts["loo_pred"] = np.nan
    pts["consistency"] = pd.NA
    rng = np.random.default_rng(seed)
    fits, boot, rows = {}, {}, []
    for series, grp in pts.groupby("series", sort=True):
        x, y = grp["x"].to_numpy(), grp["year_obs"].to_numpy()
        if len(grp) < min_points:
            continue
        iso = _iso(x, y)
        fits[series] = iso
        pts.loc[grp.index, "fitted"] = iso.predict(x)
        loo = np.array([_iso(np.delete(x, i), np.delete(y, i)).predict([x[i]])[0]
                        for i in range(len(x))])
        pts.loc[grp.index, "loo_pred"] = loo
        pts.loc[grp.index, "consistency"] = monotone_consistency(y).to_numpy()
        refits = []
        for _ in progress_bar(range(n_boot), progress=progress,
                              desc=f"bootstrap refits, series {series}"):
            take = rng.integers(0, len(x), len(x))
            if np.unique(x[take]).size < 2:
                continue
            refits.append(_iso(x[take], y[take]))
        boot[series] = refits
        err = np.abs(loo - y)
        exact = int(np.sum(np.round(loo) == y))
        lo, hi = proportion_confint(exact, len(y), alpha=0.05, method="wilson")
        rho = stats.spearmanr(x, y)
        n_bad = int((pts.loc[grp.index, "consistency"] == "inconsistent").sum())
        n_amb = int((pts.loc[grp.index, "consistency"] == "ambiguous").sum())
        common = dict(n=len(y), reference=REF_ISO)
        rows += [
            result_row(test=f"code->year calibration, series {series}",
                       method="isotonic regression on the 9-digit code; leave-one-out",
                       effect_name="LOO mean absolute error", effect=float(err.mean()),
                       unit="years", note=f"median abs error {np.median(err):.3g}; "
                       f"{n_bad} inconsistent and {n_amb} ambiguous calibration "
                       "points", **common),
            result_row(test=f"code->year calibration, series {series}",
                       method="isotonic regression; LOO prediction rounded to a year",
                       statistic=float(exact), effect_name="share predicted exactly",
                       effect=exact / len(y), ci_low=lo, ci_high=hi, ci_level=0.95,
                       unit="share", note="statistic = points predicted exactly; Wilson CI",
                       **common),
            result_row(test=f"code-year rank correlation, series {series}",
                       method="Spearman rank correlation of code and founding year",
                       statistic=float(rho.statistic), p_value=float(rho.pvalue),
                       effect_name="Spearman rho", effect=float(rho.statistic), unit="rho",
                       n=len(y), reference="Spearman (1904) Am J Psychol 15:72-101",
                       why_nan="all years or all codes equal in this series"),
        ]
    if not fits:
        raise ValueError(f"no code series has at least {min_points} calibration points "
                         f"(series sizes: {pts['series'].value_counts().to_dict()})")
    pts = pts.drop(columns=["x"]).rename(columns={"index": "source_index"})
    pts["loo_error"] = pts["loo_pred"] - pts["year_obs"]
    flagged = pts["consistency"].isin(["inconsistent", "ambiguous"]).to_numpy()
    pts["inconsistency_note"] = np.where(
        flagged,
        np.where(pts["loo_error"] > 0,
                 "founding year earlier than its code suggests (possibly an older organisation "
                 "that registered a cluster later)",
                 "founding year later than its code suggests (check the year or the code)"),
        "")
    return CodeCalibration(pts, result_frame(rows), fits, boot, series_digits, ci_level)


def date_codes(fit: CodeCalibration, codes, rounding: str = "round") -> pd.DataFrame:
    """Predicted registration year (with bootstrap band) for each code.

    Columns: code, base, series, predicted (continuous), predicted_year (rounded), low, high
    (percentile band at ``fit.ci_level``), in_range, note. Codes of a series without a fit,
    or that are not valid codes, get NA and a note saying why; codes outside the calibrated
    range of their series are clipped to its end value and flagged (``in_range`` False).

    ``rounding`` turns the continuous prediction into a year: "round" (nearest) or "floor".
    The map interpolates linearly between calibration codes, so codes between a 2013 and a 2014
    anchor get 2013.x; which year they count in depends on this choice. Run both as a
    sensitivity check when counting registrations per year.
    """
    if rounding not in ("round", "floor"):
        raise ValueError(f"rounding must be 'round' or 'floor', got {rounding!r}")
    q = [(1 - fit.ci_level) / 2, (1 + fit.ci_level) / 2]
    rows = []
    for value in codes:
        row = {"code": value, "base": pd.NA, "series": pd.NA, "predicted": np.nan,
               "low": np.nan, "high": np.nan, "in_range": False, "note": ""}
        try:
            row["base"] = base_code(value)
            row["series"] = row["base"][:fit.series_digits]
            if row["series"] not in fit.fits:
                row["note"] = f"no calibration for code series {row['series']}"
        except ValueError as exc:
            row["note"] = str(exc)
        rows.append(row)
    out = pd.DataFrame(rows, columns=["code", "base", "series", "predicted", "low", "high",
                                      "in_range", "note"])
    # Predict each series in one call per refit (hundreds of refits x hundreds of codes).
    for series, iso in fit.fits.items():
        hit = out.index[out["series"] == series]
        if len(hit) == 0:
            continue
        x = out.loc[hit, "base"].astype("int64").to_numpy(float)
        out.loc[hit, "predicted"] = iso.predict(x)
        inside = (x >= iso.X_min_) & (x <= iso.X_max_)
        out.loc[hit, "in_range"] = inside
        notes = np.where(x > iso.X_max_,
                         f"code after the calibrated range of series {series}: year clipped to "
                         "the last calibrated value",
                         np.where(x < iso.X_min_,
                                  f"code before the calibrated range of series {series}: year "
                                  "clipped to the first calibrated value", ""))
        out.loc[hit, "note"] = notes
        refits = fit.boot.get(series) or []
        if refits:
            draws = np.vstack([r.predict(x) for r in refits])
            out.loc[hit, "low"], out.loc[hit, "high"] = np.quantile(draws, q, axis=0)
    to_year = np.round if rounding == "round" else np.floor
    out["predicted_year"] = to_year(out["predicted"]).astype("Int64")
    out["in_range"] = out["in_range"].astype(bool)
    return out[["code", "base", "series", "predicted", "predicted_year", "low", "high",
                "in_range", "note"]]


def draw_predictions(fit: CodeCalibration, codes, n_draws: int | None = None) -> np.ndarray:
    """Continuous predicted years of ``codes`` under each bootstrap refit of the map.

    Returns an array of shape (draws, codes): row b holds every code's year under refit b (the
    same refit for every code, so the draws keep the dependence between codes that a
    per-code band loses). Codes of series without a fit, or invalid codes, are NaN. Uses the
    first ``n_draws`` refits (all when None); with several fitted series, as many draws as the
    series with the fewest refits.

    The refits are the nonparametric bootstrap over calibration points of
    :func:`calibrate_code_to_year` (Efron & Tibshirani 1993, ch. 6). Known limitation: the
    bootstrap of an isotonic fit is not consistent at a point (Abrevaya & Huang 2005,
    *Econometrica* 73: 1175-1204), and a resample that misses every anchor of a year dates that
    year's codes by interpolation, so the draws are wider than the code-order bounds
    (:func:`code_order_bounds`); report both.
    """
    bases = []
    for value in codes:
        try:
            bases.append(base_code(value))
        except ValueError:
            bases.append(None)
    available = [len(fit.boot.get(s) or []) for s in fit.fits]
    m = min(available) if available else 0
    if m == 0:
        raise ValueError("the calibration has no bootstrap refits (fit it with n_boot > 0)")
    m = m if n_draws is None else min(m, int(n_draws))
    out = np.full((m, len(bases)), np.nan)
    for series in fit.fits:
        idx = [i for i, b in enumerate(bases) if b is not None and b[:fit.series_digits] == series]
        if not idx:
            continue
        x = np.array([int(bases[i]) for i in idx], float)
        for b, refit in enumerate(fit.boot[series][:m]):
            out[b, idx] = refit.predict(x)
    return out


def code_order_bounds(fit: CodeCalibration, codes) -> pd.DataFrame:
    """The registration year each code can have from code order alone, given the anchors.

    Within a series codes increase with registration time, so a code registered after an
    anchor of year y cannot be older than y: ``lower`` = the largest anchor year at or below
    the code, ``upper`` = the smallest anchor year at or above it (-inf / +inf beyond the
    first / last anchor). Where anchors conflict (an earlier code with a later year) the two
    are swapped so the bound stays an interval. No interpolation, no bootstrap: these are the
    widest and narrowest counts the anchors allow, whatever the map between them.
    Columns: code, base, series, lower, upper, and the nearest anchor codes at or below and at
    or above the code (``lower_code``, ``upper_code``). Codes of series without a fit get NaN.
    """
    pts = fit.points.dropna(subset=["fitted"])
    rows = []
    for value in codes:
        row = {"code": value, "base": pd.NA, "series": pd.NA, "lower": np.nan, "upper": np.nan,
               "lower_code": np.nan, "upper_code": np.nan}
        try:
            base = base_code(value)
        except ValueError:
            rows.append(row)
            continue
        series = base[:fit.series_digits]
        row.update(base=base, series=series)
        anchors = pts[pts["series"] == series]
        if len(anchors):
            ax = anchors["base"].astype("int64").to_numpy()
            ay = anchors["year_obs"].to_numpy(float)
            below, above = ax <= int(base), ax >= int(base)
            lo = ay[below].max() if below.any() else -np.inf
            hi = ay[above].min() if above.any() else np.inf
            row.update(lower=min(lo, hi), upper=max(lo, hi),
                       lower_code=float(ax[below].max()) if below.any() else np.nan,
                       upper_code=float(ax[above].min()) if above.any() else np.nan)
        rows.append(row)
    return pd.DataFrame(rows, columns=["code", "base", "series", "lower", "upper", "lower_code",
                                       "upper_code"])


def order_draws(bounds: pd.DataFrame, n_draws: int, seed: int = 0) -> np.ndarray:
    """Registration years drawn from what code order allows (one row per draw).

    ``bounds`` is :func:`code_order_bounds` for codes inside the anchors' range (finite
    ``lower``/``upper``). A code whose bounds agree has that year in every draw. Between two
    neighbouring anchors of years y1 < y2 (codes c1 < c2), the y2 - y1 year boundaries are
    placed independently and uniformly on the code scale in [c1, c2] and each code gets y1 plus
    the number of boundaries below it. BULSTAT issues codes in sequence to every registrant, so
    code distance stands for elapsed time, and uniform boundaries on the code scale are centred
    where the isotonic map's linear interpolation puts them; every draw respects code order and
    the anchors exactly, and together the draws span the code-order bounds. This is the
    imputation model of the dated counts (written here: no library draws monotone assignments
    within brackets); it assumes the anchors' years are their registration years, which the
    consistency classes of :func:`calibrate_code_to_year` and the bootstrap over anchors
    (:func:`draw_predictions`) check.

    Returns an int array (n_draws, len(bounds)) in the order of ``bounds``.
    """
    bounds = bounds.reset_index(drop=True)
    lo, hi = bounds["lower"].to_numpy(float), bounds["upper"].to_numpy(float)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise ValueError("order_draws needs finite bounds (codes inside the anchors' range)")
    if n_draws < 1:
        raise ValueError(f"n_draws must be at least 1, got {n_draws}")
    rng = np.random.default_rng(seed)
    x = bounds["base"].astype("int64").to_numpy(float)
    c1, c2 = bounds["lower_code"].to_numpy(float), bounds["upper_code"].to_numpy(float)
    out = np.repeat(lo.astype(int)[None, :], n_draws, axis=0)
    brackets = pd.DataFrame({"c1": c1, "c2": c2})[lo < hi]
    for (a, b), grp in brackets.groupby(["c1", "c2"]):
        idx = grp.index.to_numpy()
        k = int(hi[idx[0]] - lo[idx[0]])
        cuts = rng.uniform(a, b, size=(n_draws, k))
        out[:, idx] = lo[idx[0]].astype(int) + (cuts[:, :, None] < x[None, None, idx]).sum(axis=1)
    return out
