"""H1 (claim C05): was cluster formation project-driven? The 2016 and 2013 call windows.

The guide (seed line 187) says new clusters were about constant per year until a huge leap in
2016, plausibly driven by the OPIC 2014-2020 call BG16RFOP002-2.009. This module is the declared
hypothesis :data:`hypothesis` (H1) of ``notebooks/h1_cluster_formation.ipynb``; H2 (claim C06,
sustainability) lives in :mod:`clusterstats.analysis.sustainability` (``run_h2`` here is a thin
wrapper kept as a contract).

Three views of formation:

* H1(a) founding years from the BSMEPA table (the guide's own data; no dating error).
* H1(b) registration dating: BULSTAT codes of non-profit associations are issued in sequence, so
  the registered codes order the clusters in time; the founding years known for some of them
  (anchors) calibrate that order into years (isotonic fit), which dates them all. The dating
  carries error, reported three ways: the leave-one-out accuracy of the map on all anchors and
  without the anchors no monotone map can fit (side by side), a bootstrap over anchors (each
  refit dates every code: one "draw" of the yearly counts), and the bounds that code order alone
  allows between anchors (:func:`clusterstats.stats.calibration.code_order_bounds`).
* H1(c) change points on the dated series (PELT with a Poisson cost; Bayesian switchpoint and
  pulse) — descriptive segmentations: their Poisson cost ignores the overdispersion.

Inference (issue 11). The yearly counts are overdispersed, so the window tests are NB2
regressions with the dispersion estimated (:func:`clusterstats.stats.counts.negbin_window_fit`),
one call-window dummy per call, fitted to every calibration draw and combined by Rubin's rules
(:func:`~clusterstats.stats.counts.pooled_window_test`), so the rate ratios and p-values carry
both the count-model and the dating error. Exact Poisson rate tests are kept only as sensitivity
rows of a series whose Poisson check (Pearson goodness of fit and Cameron-Trivedi) passes;
otherwise they are diagnostics labelled with the failed check. Placebo windows use the same rate
ratio for every window. Which years are "waves" is a Holm-adjusted scan over the years.

Every row states its selection caveat: the BSMEPA table lists the clusters that filed for
categorisation for the 2017 call, so clusters created for that call are all in it while older
clusters that had already dissolved are not (survivorship), and a cluster founded after January
2017 cannot be in it at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import claims, registry
from ..calls import call_window
from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..params import ParameterError, check_alpha, check_choice, check_year_range
from ..stats import calibration, changepoint, counts
from ..stats._tidy import result_frame, result_row
from ._common import finish_rows

CALL_2016 = "BG16RFOP002-2.009"
CALL_2013 = "BG161PO003-2.4.02"
GUIDE_DATE = registry.GUIDE_DATA_DATE

SELECTION_CAVEAT = (
    "BSMEPA's table lists clusters that filed for categorisation for the 2017 call: clusters "
    "founded for that call are all in it, older clusters that had dissolved are not "
    "(survivorship), and none founded after January 2017 can appear; "
    + registry.bsmepa_coverage()["text"])
SOURCE_REGISTERS = (f"guide annexes (BSMEPA table, BULSTAT list, Trade Register list), data date "
                    f"{GUIDE_DATE}; data/registry/")

#: BSMEPA functioning statuses that say the cluster was operating when the guide was written.
ACTIVE_PREFIXES = ("действащ", "работи по проекти")


def founding_years(cluster_table: pd.DataFrame | None = None) -> pd.DataFrame:
    """Clusters in the BSMEPA table with the founding year the guide gives (NA where none)."""
    table = registry.clusters() if cluster_table is None else cluster_table
    cols = ["cluster_id", "name_bg", "name_latin", "eik", "bsmepa_row", "founding_year", "stage",
            "functioning_status", "in_bulstat"]
    return table.loc[table["in_bsmepa"], cols].reset_index(drop=True)


def founding_counts(years: pd.Series, start: int | None = None, end: int = 2016) -> pd.DataFrame:
    """Annual counts of foundings, zero-filled; years after ``end`` are dropped with a note."""
    known = pd.to_numeric(years, errors="coerce").dropna().astype(int)
    later = int((known > end).sum())
    frame = counts.counts_from_events(known[known <= end], start=start, end=end)
    frame.attrs["dropped_after_end"] = later
    return frame


def window_years(code: str, kind: str, available: range | list[int]) -> list[int]:
    """Calendar years a call window touches that the data cover."""
    years = [y for y in call_window(code, kind).years if y in set(available)]
    if not years:
        raise ValueError(f"window {code}/{kind} ({call_window(code, kind).years}) lies outside the "
                         f"data ({min(available)}-{max(available)})")
    return years


def date_registrations(cluster_table: pd.DataFrame | None = None, n_boot: int = 999, seed: int = 0,
                       rounding: str = "round", drop_inconsistent: bool = True):
    """Calibrate BULSTAT code -> year on clusters with a known founding year; date all 243 codes.

    Returns ``(fit, dated)``: the :class:`~clusterstats.stats.calibration.CodeCalibration` and one
    row per registered association (branch codes dropped: a branch is not a new cluster), with
    the predicted year, its bootstrap band and ``position`` = ``in range``, ``before range``
    (older than the earliest calibration code of its series: year <= that point's year) or
    ``after range`` (newer than the latest: year >= that point's year), or ``undated``.

    With ``drop_inconsistent`` the map is refitted without the calibration points that no
    monotone map can fit (class "inconsistent"): a founding year of an older organisation that
    registered its cluster association later (e.g. Biosinergia, founded 2011 by the guide, code of
    a 2016 registration) would otherwise pull a whole block of codes a year early. The dropped
    points are in ``fit.points.attrs["dropped"]``.
    """
    table = registry.clusters() if cluster_table is None else cluster_table
    points = table.loc[table["in_bulstat"] & table["founding_year"].notna(), ["eik", "founding_year"]]
    fit = calibration.calibrate_code_to_year(points, code="eik", year="founding_year",
                                             n_boot=0 if drop_inconsistent else n_boot, seed=seed)
    dropped = fit.points.loc[fit.points["consistency"].eq("inconsistent"),
                             ["base", "year_obs", "loo_error", "inconsistency_note"]]
    if drop_inconsistent:
        keep = ~points["eik"].astype(str).map(calibration.base_code).isin(set(dropped["base"]))
        fit = calibration.calibrate_code_to_year(points[keep], code="eik", year="founding_year",
                                                 n_boot=n_boot, seed=seed)
    fit.points.attrs["dropped"] = dropped if drop_inconsistent else dropped.iloc[0:0]
    bulstat = registry.load_bulstat()
    bulstat = bulstat.loc[~bulstat["is_branch"], ["row", "code", "name", "name_latin"]]
    dated = calibration.date_codes(fit, bulstat["code"].tolist(), rounding=rounding)
    dated = pd.concat([bulstat.reset_index(drop=True), dated.drop(columns=["code"])], axis=1)
    ranges = fit.points.groupby("series")["base"].agg(["min", "max"])
    position = []
    for base, series, pred in zip(dated["base"], dated["series"], dated["predicted"]):
        if pd.isna(pred) or series not in ranges.index:
            position.append("undated")
        elif base < ranges.loc[series, "min"]:
            position.append("before range")
        elif base > ranges.loc[series, "max"]:
            position.append("after range")
        else:
            position.append("in range")
    dated["position"] = position
    rounder = np.floor if rounding == "floor" else np.round
    dated["year"] = pd.array(rounder(dated["predicted"]), dtype="Int64")
    return fit, dated


def registration_counts(dated: pd.DataFrame, after_range: str = "exclude") -> pd.DataFrame:
    """Annual counts of dated registrations over the calibrated years.

    Codes outside the calibrated range have only a bound on their year (clipped by the isotonic
    map). ``after_range="exclude"`` leaves them out (a lower bound for the last year);
    ``"last_year"`` counts them in the last calibrated year (an upper bound for it).
    """
    check_choice(after_range, ["exclude", "last_year"], "after_range")
    inside = dated[dated["position"] == "in range"]
    start, end = int(inside["year"].min()), int(inside["year"].max())
    years = inside["year"].astype(int).tolist()
    if after_range == "last_year":
        years += [end] * int((dated["position"] == "after range").sum())
    frame = counts.counts_from_events(years, start=start, end=end)
    frame.attrs.update({
        "before_range": int((dated["position"] == "before range").sum()),
        "after_range": int((dated["position"] == "after range").sum()),
        "undated": int((dated["position"] == "undated").sum()),
        "after_range_rule": after_range})
    return frame


NOTEBOOK = "h1_cluster_formation.ipynb"
CLAIM_ID = "C05"
CLAIM = claims.load()[CLAIM_ID].claim
DEFAULTS = dict(window_call=CALL_2016, window_kind="incentive", replication_call=CALL_2013,
                replication_kind="incentive", start_year=None, end_year=2016, alpha=0.05,
                n_boot=999, seed=0, rounding="round", penalty="bic", drop_inconsistent=True,
                n_draws=100)
#: parameters that are analysis choices: a run that changes one re-runs the default analysis
#: under another reasonable choice, so its judged rows are sensitivity rows, not primary ones
SENSITIVITY_CHOICES = ("rounding", "drop_inconsistent")
SERIES_DATED, SERIES_UPPER, SERIES_BOOT, SERIES_FOUNDED = (
    "dated registrations", "dated registrations, upper bound", "dated registrations, anchor bootstrap",
    "founding years (BSMEPA)")


def check_parameters(window_call=CALL_2016, window_kind="incentive", replication_call=CALL_2013,
                     replication_kind="incentive", start_year=None, end_year=2016, alpha=0.05,
                     n_boot=999, seed=0, rounding="round", penalty="bic", drop_inconsistent=True,
                     n_draws=100) -> dict:
    """Validate H1's parameters (clear :class:`ParameterError`/``ValueError`` messages)."""
    alpha = check_alpha(alpha)
    check_choice(rounding, ["round", "floor"], "rounding")
    if not isinstance(drop_inconsistent, bool):
        raise ParameterError(f"drop_inconsistent must be True or False, got {drop_inconsistent!r}")
    try:
        changepoint.penalty_value(penalty, 10)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"penalty: {exc}") from None
    known = founding_years()["founding_year"].dropna().astype(int)
    lo = int(known.min()) if start_year is None else int(start_year)
    check_year_range(lo, end_year, range(int(known.min()), max(int(known.max()), end_year) + 1),
                     name="start_year/end_year")
    available = list(range(lo, int(end_year) + 1))
    window_years(window_call, window_kind, available)
    window_years(replication_call, replication_kind, available)
    for name, value, least in (("seed", seed, 0), ("n_boot", n_boot, 19), ("n_draws", n_draws, 19)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ParameterError(f"{name} must be a whole number of at least {least}, got {value!r}")
    return dict(window_call=window_call, window_kind=window_kind, replication_call=replication_call,
                replication_kind=replication_kind, start_year=start_year, end_year=int(end_year),
                alpha=alpha, n_boot=int(n_boot), seed=int(seed), rounding=rounding, penalty=penalty,
                drop_inconsistent=drop_inconsistent, n_draws=int(n_draws))


def main_role(parameters: dict) -> str:
    """"primary" for the default analysis choices, "sensitivity" when a run changes one of
    :data:`SENSITIVITY_CHOICES` (e.g. the pipeline's ``rounding: floor`` run)."""
    changed = [k for k in SENSITIVITY_CHOICES if parameters.get(k, DEFAULTS[k]) != DEFAULTS[k]]
    return "sensitivity" if changed else "primary"


# ------------------------------------------------------------------------ dating with error
def calibration_both_ways(table: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Leave-one-out accuracy of the code -> year map on all anchors and without the anchors
    judged inconsistent (in no longest monotone subsequence), side by side.

    Returns ``(rows, dropped)``: the calibration summary rows with ``anchors`` = "all anchors" /
    "inconsistent anchors dropped" in the test name, and the dropped anchors with the reason.
    """
    table = registry.clusters() if table is None else table
    points = table.loc[table["in_bulstat"] & table["founding_year"].notna(), ["eik", "founding_year"]]
    every = calibration.calibrate_code_to_year(points, code="eik", year="founding_year", n_boot=0)
    dropped = every.points.loc[every.points["consistency"].eq("inconsistent"),
                               ["base", "year_obs", "loo_error", "inconsistency_note"]]
    keep = ~points["eik"].astype(str).map(calibration.base_code).isin(set(dropped["base"]))
    kept = calibration.calibrate_code_to_year(points[keep], code="eik", year="founding_year", n_boot=0)
    listed = "; ".join(f"code {b} (founding year {int(y)}: {n})" for b, y, n in
                       zip(dropped["base"], dropped["year_obs"], dropped["inconsistency_note"]))
    frames = []
    for fit, label in ((every, "all anchors"), (kept, "inconsistent anchors dropped")):
        rows = fit.summary.copy()
        rows["test"] = rows["test"] + f" ({label}, {len(fit.points.dropna(subset=['fitted']))} anchors)"
        if label != "all anchors":
            rows["note"] = rows["note"].fillna("").astype(str) + f"; dropped: {listed or 'none'}"
        frames.append(rows)
    return pd.concat(frames, ignore_index=True), dropped


def registration_draws(fit: calibration.CodeCalibration, dated: pd.DataFrame, years: list[int],
                       rounding: str = "round", n_draws: int | None = None) -> dict[str, np.ndarray]:
    """Yearly counts of the dated registrations under each bootstrap refit of the map.

    The codes in the calibrated range (as the full fit places them) are dated by each refit,
    turned into years by ``rounding`` and counted over ``years`` (a refit never dates an
    in-range code outside the anchors' years; values are clipped for safety). Returns
    ``{"exclude": draws x years, "last_year": the same with the codes after the calibrated
    range counted in the last year}`` (the two rules of :func:`registration_counts`).
    """
    inside = dated["position"].eq("in range").to_numpy()
    pred = calibration.draw_predictions(fit, dated["code"].tolist(), n_draws)[:, inside]
    rounder = np.floor if rounding == "floor" else np.round
    yrs = np.clip(rounder(pred), years[0], years[-1]).astype(int) - years[0]
    excl = np.stack([np.bincount(row, minlength=len(years)) for row in yrs])
    upper = excl.copy()
    upper[:, -1] += int(dated["position"].eq("after range").sum())
    return {"exclude": excl, "last_year": upper}


def code_order_draws(fit: calibration.CodeCalibration, dated: pd.DataFrame, years: list[int],
                     n_draws: int, seed: int = 0) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Yearly counts under :func:`clusterstats.stats.calibration.order_draws`: every draw
    respects code order and the anchors exactly (the imputation model of the primary rows).
    Returns the draws (rules "exclude" and "last_year", as :func:`registration_draws`) and the
    code-order bounds of every dated code."""
    bounds = calibration.code_order_bounds(fit, dated["code"].tolist())
    inside = dated["position"].eq("in range").to_numpy()
    yrs = calibration.order_draws(bounds[inside], n_draws, seed)
    yrs = np.clip(yrs, years[0], years[-1]) - years[0]
    excl = np.stack([np.bincount(row, minlength=len(years)) for row in yrs])
    upper = excl.copy()
    upper[:, -1] += int(dated["position"].eq("after range").sum())
    return {"exclude": excl, "last_year": upper}, bounds


def count_intervals(point: pd.DataFrame, upper: pd.DataFrame, draws: dict[str, np.ndarray],
                    bounds: pd.DataFrame, positions: pd.Series, level: float) -> pd.DataFrame:
    """Per year: the dated count; its percentile interval over the code-order draws
    (``order_low/high``) and over the bootstrap refits of the map (``boot_low/high``); and
    the code-order bounds (min: codes that can only be of that year; max: codes that can be,
    plus the codes after the calibrated range in the last year and before it in the first).
    """
    years = point["year"].tolist()
    q = [(1 - level) / 2, (1 + level) / 2]
    lo_o, hi_o = np.quantile(draws["order"], q, axis=0)
    lo_b, hi_b = np.quantile(draws["boot"], q, axis=0)
    inside = positions.eq("in range").to_numpy()
    lo, hi = bounds["lower"].to_numpy(float)[inside], bounds["upper"].to_numpy(float)[inside]
    after, before = int(positions.eq("after range").sum()), int(positions.eq("before range").sum())
    rows = []
    for i, y in enumerate(years):
        rows.append({"year": y, "count": int(point["count"].iloc[i]),
                     "count_upper_rule": int(upper["count"].iloc[i]),
                     "order_low": float(lo_o[i]), "order_high": float(hi_o[i]),
                     "boot_low": float(lo_b[i]), "boot_high": float(hi_b[i]),
                     "order_min": int(np.sum((lo == y) & (hi == y))),
                     "order_max": int(np.sum((lo <= y) & (hi >= y)) + (after if y == years[-1] else 0)
                                      + (before if y == years[0] else 0))})
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ test rows
def _windows(win: list[int], rep: list[int]) -> dict[str, list[int]]:
    return {name: yrs for name, yrs in ((f"{win[0]} window", win), (f"{rep[0]} window", rep)) if yrs}


def _parts(win: list[int], rep: list[int]) -> dict[str, str]:
    """Which claim part each window's row tests."""
    return {f"{win[0]} window": "C05.leap", f"{rep[0]} window": "C05.constant_before",
            f"{win[0]} vs all other years": "C05.leap", "call windows": "C05.driven"}


def window_model_rows(label: str, draws, years: list[int], win: list[int], rep: list[int],
                      alpha: float, role: str) -> tuple[pd.DataFrame, dict]:
    """The pooled NB2 window tests of one series (:func:`counts.pooled_window_test`):

    * one model with a dummy per call window (baseline: the years outside both): the later
      window's rate ratio tests the leap (H1: higher), the earlier one's tests "constant
      before" (two-sided: a wave or a trough both contradict constancy);
    * one model with a single dummy for both call windows (H1: formation is higher in call
      years): "driven by the call".
    Returns the rows (``part``, ``role`` set) and the per-draw fits.
    """
    parts = _parts(win, rep)
    wins = _windows(win, rep)
    fits, frames = {}, []
    if wins:
        alt = {name: ("two-sided" if parts[name] == "C05.constant_before" else "greater") for name in wins}
        res = counts.pooled_window_test(draws, years, wins, alternative=alt, alpha=alpha,
                                        label=f"{label}: ")
        frames.append(res.table.assign(part=[parts[n] for n in wins]))
        fits["windows"] = res.results
    if len(wins) == 2:
        joint = {"call windows": sorted(win + rep)}
        res = counts.pooled_window_test(draws, years, joint, alpha=alpha, label=f"{label}: ")
        frames.append(res.table.assign(part="C05.driven"))
        fits["joint"] = res.results
    return pd.concat(frames, ignore_index=True).assign(role=role), fits


def poisson_rows(label: str, frame: pd.DataFrame, win: list[int], rep: list[int],
                 alpha: float) -> pd.DataFrame:
    """The Poisson check of a series and, per call window, the exact conditional rate test
    against the years outside both windows: a sensitivity row when the check passes, a
    diagnostic labelled with the failed check otherwise."""
    years, y = frame["year"].tolist(), frame["count"].to_numpy()
    wins = _windows(win, rep)
    check, passed = counts.poisson_dispersion_check(y, years, wins, alpha=alpha)
    check["test"] = f"{label}: " + check["test"]
    check = check.assign(part=pd.NA, role="diagnostic")
    gof, ct = check.iloc[0], check.iloc[1]
    status = (f"Poisson check {'passed' if passed else 'FAILED'} (Pearson phi = {gof['effect']:.3g}, "
              f"goodness-of-fit p = {gof['p_value']:.2g}, Cameron-Trivedi p = {ct['p_value']:.2g})")
    baseline = ~frame["year"].isin([yr for w in wins.values() for yr in w])
    rows = [check]
    for name, yrs in wins.items():
        inside = frame["year"].isin(yrs)
        exact = counts.exact_rate_test(int(y[inside].sum()), float(inside.sum()),
                                       int(y[baseline].sum()), float(baseline.sum()), alpha=alpha).iloc[[0]]
        exact["test"] = f"{label}: {name}: exact Poisson rate test vs the years outside the call windows"
        exact["note"] = status + ("" if passed else "; the exact test assumes Poisson counts, so this "
                                  "row is a diagnostic, not evidence") + "; " + exact["note"].astype(str)
        rows.append(exact.assign(part=_parts(win, rep)[name],
                                 role="sensitivity" if passed else "diagnostic"))
    return pd.concat(rows, ignore_index=True)


def placebo_rows(label: str, draws, years: list[int], win: list[int], rep: list[int]) -> tuple[pd.DataFrame, dict]:
    """Placebo ranks of each call window (same rate ratio for every window; diagnostics)."""
    frames, tables = [], {}
    for name, yrs in _windows(win, rep).items():
        res = counts.placebo_draws(draws, years, yrs, label=f"{label}: {name}: ")
        frames.append(res.table)
        tables[name] = res.results
    return pd.concat(frames, ignore_index=True).assign(part="C05.driven", role="diagnostic"), tables


def count_rows(intervals: pd.DataFrame, waves: pd.DataFrame, level: float, m: dict) -> pd.DataFrame:
    """Three descriptive rows per year of the dated series: the count with its interval over
    the code-order draws, over the bootstrap refits of the map, and the code-order bounds."""
    rows = []
    for rec, wave in zip(intervals.itertuples(), waves.itertuples()):
        wave_text = (f"{'a wave' if wave.wave else 'not a wave'} (rate vs all other years, "
                     f"Holm p across years {wave.p_holm:.2g})")
        common = dict(effect_name="registrations dated to the year", effect=float(rec.count),
                      n=int(intervals["count"].sum()), unit="clusters", part=pd.NA, role="descriptive")
        rows.append(result_row(
            test=f"{SERIES_DATED}: count {rec.year}: code-order draws",
            method=f"percentile interval of the yearly count over {m['order']} draws that split each "
                   "bracket between anchors at uniformly placed year boundaries", ci_low=rec.order_low,
            ci_high=rec.order_high, ci_level=level, reference=calibration.REF_ISO, note=wave_text, **common))
        rows.append(result_row(
            test=f"{SERIES_DATED}: count {rec.year}: bootstrap over anchors",
            method=f"percentile interval of the yearly count over {m['boot']} bootstrap refits of the "
                   "code -> year map", ci_low=rec.boot_low, ci_high=rec.boot_high, ci_level=level,
            reference=calibration.REF_BOOT,
            note="a resample that misses every anchor of a year dates its codes by interpolation, so "
                 "this interval is wider than the code-order bounds allow", **common))
        rows.append(result_row(
            test=f"{SERIES_DATED}: count {rec.year}: code-order bounds",
            method="codes that can only be of this year given the anchors (min) and codes that can "
                   "be (max; codes after the calibrated range count in the last year's max, before "
                   "it in the first's)", ci_low=float(rec.order_min), ci_high=float(rec.order_max),
            reference=calibration.REF_ISO, note="bounds, not a confidence interval", **common))
    return result_frame(rows)


def changepoint_rows(frame: pd.DataFrame, years: list[int], win: list[int], rep: list[int],
                     penalty, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    """PELT, the Bayesian switchpoint and pulses on the dated series: descriptive (their Poisson
    cost ignores the overdispersion, so they segment, they do not test)."""
    pelt = changepoint.pelt_poisson(frame["count"].to_numpy(), penalty=penalty, years=years)
    switch = changepoint.poisson_switchpoint(frame)
    detail = {"pelt_segments": pelt.detail, "switchpoint_posterior": switch.detail}
    parts = [pelt.table, switch.table]
    for focus in sorted(set(win + rep)):
        try:
            pulse = changepoint.poisson_pulse(frame, focus_year=focus)
        except ValueError as exc:  # a pulse at the series' end is unobservable: say so
            notes.append(f"pulse model around {focus}: {exc}")
            continue
        detail[f"pulse_{focus}"] = pulse.detail
        parts.append(pulse.table)
    out = pd.concat(parts, ignore_index=True).assign(part=pd.NA, role="descriptive")
    out["note"] = out["note"].astype(str) + "; Poisson cost: a segmentation, not a test (overdispersed counts)"
    return out, detail


# ------------------------------------------------------------------------------ compute
_H0H1 = {
    "C05.leap": ("the registration rate in the later call window equals the baseline",
                 "the rate in the later call window is higher (a leap)"),
    "C05.constant_before": ("the rate in the earlier call window equals the baseline (constant)",
                            "the rate in the earlier call window differs from the baseline"),
    "C05.driven": ("the rate in the call windows equals that of the other years",
                   "formation is higher in the call windows (driven by the calls)"),
}


def _finish(rows: pd.DataFrame, hypothesis: str, p: dict, run_id: str, caveats: str) -> pd.DataFrame:
    rows = rows.copy()
    rows["h0"] = rows["part"].map(lambda x: _H0H1.get(x, ("-", "-"))[0])
    rows["h1"] = rows["part"].map(lambda x: _H0H1.get(x, ("-", "-"))[1])
    rows["claim_id"], rows["claim"], rows["caveats"] = CLAIM_ID, CLAIM, caveats
    return finish_rows(rows, hypothesis=hypothesis, notebook=NOTEBOOK, parameters=p,
                       data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE, run_id=run_id)


def _founding(p: dict, founded: pd.DataFrame) -> tuple[pd.DataFrame, list[int], list[int]]:
    known = founded["founding_year"].dropna().astype(int)
    lo = int(known.min()) if p["start_year"] is None else int(p["start_year"])
    fcounts = founding_counts(founded["founding_year"], start=lo, end=p["end_year"])
    available = fcounts["year"].tolist()
    return (fcounts, window_years(p["window_call"], p["window_kind"], available),
            window_years(p["replication_call"], p["replication_kind"], available))


def _founding_rows(p: dict, fcounts: pd.DataFrame, win: list[int], rep: list[int], run_id: str,
                   n_known: int) -> pd.DataFrame:
    """H1(a): the same window models on the guide's own founding years (no dating error, one
    'draw'); always sensitivity rows — the table is selected by the 2016 call itself."""
    years = fcounts["year"].tolist()
    model, _ = window_model_rows(SERIES_FOUNDED, fcounts["count"].to_numpy(), years, win, rep,
                                 p["alpha"], "sensitivity")
    place, _ = placebo_rows(SERIES_FOUNDED, fcounts["count"].to_numpy(), years, win, rep)
    rows = pd.concat([model, poisson_rows(SERIES_FOUNDED, fcounts, win, rep, p["alpha"]), place],
                     ignore_index=True)
    caveat = (f"{SELECTION_CAVEAT}; n = {n_known} founding years over {len(years)} years "
              f"({years[0]}-{years[-1]}); small counts")
    return _finish(rows, "H1a", p, run_id, caveat)


def _dated_caveat(fit, dropped, rcounts: pd.DataFrame, m: dict) -> str:
    years = rcounts["year"].tolist()
    a = rcounts.attrs
    return (f"dates are predicted from code order calibrated on {len(fit.points.dropna(subset=['fitted']))} "
            f"anchors with a known founding year ({len(dropped)} inconsistent anchors dropped; a founding "
            f"year can predate the registration); dating error from {m['order']} code-order draws "
            f"(primary), {m['boot']} bootstrap refits of the map (sensitivity) and the code-order bounds; "
            f"{a['after_range']} codes lie after the calibrated range (year >= {years[-1]}; excluded, "
            f"counted in {years[-1]} in the upper-bound rows), {a['before_range']} before it (year <= "
            f"{years[0]}), {a['undated']} in numbering series without calibration")


def _dating(p: dict, table: pd.DataFrame) -> dict:
    """Date every code; draw the yearly counts from code order (primary) and from the bootstrap
    refits of the map (sensitivity); bound them by code order; scan for waves."""
    fit, dated = date_registrations(table, n_boot=p["n_boot"], seed=p["seed"], rounding=p["rounding"],
                                    drop_inconsistent=p["drop_inconsistent"])
    rcounts = registration_counts(dated, after_range="exclude")
    rupper = registration_counts(dated, after_range="last_year")
    years = rcounts["year"].tolist()
    order, bounds = code_order_draws(fit, dated, years, p["n_draws"], p["seed"])
    boot = registration_draws(fit, dated, years, p["rounding"], p["n_draws"])
    draws = {"order": order["exclude"], "order_upper": order["last_year"], "boot": boot["exclude"]}
    level = 1 - p["alpha"]
    intervals = count_intervals(rcounts, rupper, draws, bounds, dated["position"], level)
    waves = counts.year_waves(draws["order"], years, alpha=p["alpha"])
    return dict(fit=fit, dated=dated, rcounts=rcounts, rupper=rupper, years=years, draws=draws,
                intervals=intervals.merge(waves, on="year"), waves=waves,
                m={"order": len(draws["order"]), "boot": len(draws["boot"])})


def _dated_rows(p: dict, d: dict, win: list[int], rep: list[int], role: str, run_id: str,
                caveat: str, notes: list[str]) -> tuple[pd.DataFrame, dict]:
    years, dr, alpha = d["years"], d["draws"], p["alpha"]
    rwin, rrep = [y for y in win if y in years], [y for y in rep if y in years]
    main, fits = window_model_rows(SERIES_DATED, dr["order"], years, rwin, rrep, alpha, role)
    frames = [main]
    for label, key in ((SERIES_UPPER, "order_upper"), (SERIES_BOOT, "boot")):
        frames.append(window_model_rows(label, dr[key], years, rwin, rrep, alpha, "sensitivity")[0])
    if rwin:
        single = counts.pooled_window_test(dr["order"], years, {f"{rwin[0]} vs all other years": rwin},
                                           alpha=alpha, label=f"{SERIES_DATED}: ").table
        frames.append(single.assign(part="C05.leap", role="sensitivity"))
    place, placebo_tables = placebo_rows(SERIES_DATED, dr["order"], years, rwin, rrep)
    frames += [poisson_rows(SERIES_DATED, d["rcounts"], rwin, rrep, alpha),
               poisson_rows(SERIES_UPPER, d["rupper"], rwin, rrep, alpha), place,
               count_rows(d["intervals"], d["waves"], 1 - alpha, d["m"])]
    b_rows = _finish(pd.concat(frames, ignore_index=True), "H1b", p, run_id, caveat)
    cp, detail = changepoint_rows(d["rcounts"], years, rwin, rrep, p["penalty"], notes)
    c_rows = _finish(cp, "H1c", p, run_id, caveat)
    return pd.concat([b_rows, c_rows], ignore_index=True), {"per_draw_fits": fits,
                                                           "placebo": placebo_tables, **detail}


def compute_h1(ctx: RunContext) -> Evidence:
    """H1: founding years, dated registrations with their error, window tests, change points."""
    p, run_id, role = ctx.parameters, ctx.name, main_role(ctx.parameters)
    table = registry.clusters()
    founded = founding_years(table)
    fcounts, win, rep = _founding(p, founded)
    n_known = int(founded["founding_year"].notna().sum())
    cal_rows, dropped = calibration_both_ways(table)
    d = _dating(p, table)
    caveat = _dated_caveat(d["fit"], dropped if p["drop_inconsistent"] else dropped.iloc[0:0],
                           d["rcounts"], d["m"])
    notes = [SELECTION_CAVEAT,
             f"Founding years are known for {n_known} of the {len(founded)} BSMEPA rows present.",
             f"The {p['window_call']} window ({call_window(p['window_call'], p['window_kind']).start.date()}"
             f" to {call_window(p['window_call'], p['window_kind']).end.date()}) is tested as the calendar "
             f"year(s) {win}; annual data cannot place it more finely."]
    if len(dropped):
        notes.append("Calibration anchors inconsistent with any monotone code order"
                     + (" (dropped from the map)" if p["drop_inconsistent"] else " (kept: drop_inconsistent=False)")
                     + ": " + "; ".join(f"code {b} (founding year {int(y)}: {n})" for b, y, n in
                                        zip(dropped["base"], dropped["year_obs"], dropped["inconsistency_note"])))
    cal = _finish(cal_rows.assign(part=pd.NA, role="diagnostic"), "H1b", p, run_id, caveat)
    dated_rows, detail = _dated_rows(p, d, win, rep, role, run_id, caveat, notes)
    rows = pd.concat([_founding_rows(p, fcounts, win, rep, run_id, n_known), cal, dated_rows],
                     ignore_index=True)
    values = {"main_role": role, "m": d["m"], "dropped": dropped, "win": win, "rep": rep,
              "waves": [int(y) for y in d["waves"].loc[d["waves"]["wave"], "year"]],
              "counts": d["intervals"].set_index("year").to_dict("index"),
              "n_known": n_known, "n_dated": int(d["rcounts"]["count"].sum())}
    tables = {"founding_counts": fcounts, "registration_counts": d["rcounts"],
              "registration_counts_upper": d["rupper"], "dated_codes": d["dated"],
              "calibration_points": d["fit"].points, "founded": founded,
              "dated_count_intervals": d["intervals"], "waves": d["waves"],
              "pelt_segments": detail["pelt_segments"],
              "switchpoint_posterior": detail["switchpoint_posterior"]}
    return Evidence(rows=rows, tables=tables, models={"calibration": d["fit"], **detail}, notes=notes,
                    sources=[SOURCE_REGISTERS, "data/calls.yaml (call calendar)"], vintage=GUIDE_DATE,
                    parameters=p, values=values)


NARRATIVE = """\
{% set v = evidence.values %}
{% set w = v.win[0] %}{% set r = v.rep[0] %}
{% set c16 = v.counts[w] %}{% set c13 = v.counts[r] %}
{% set leap = row(part="C05.leap", role=v.main_role, test="dated registrations: " ~ w ~ " window: event IRR*") %}
{% set const = row(part="C05.constant_before", role=v.main_role, test="dated registrations: " ~ r ~ " window: event IRR*") %}
{% set drv = row(part="C05.driven", role=v.main_role, test="dated registrations: call windows*") %}
{% set fleap = row(part="C05.leap", test="founding years (BSMEPA): " ~ w ~ " window: event IRR*") %}
{% set fconst = row(part="C05.constant_before", test="founding years (BSMEPA): " ~ r ~ " window: event IRR*") %}
{% set pl16 = row(test="dated registrations: " ~ w ~ " window: placebo*") %}
{% set pl13 = row(test="dated registrations: " ~ r ~ " window: placebo*") %}
{% set chk = row(test="dated registrations: Poisson check: Pearson*") %}
{% set fchk = row(test="founding years (BSMEPA): Poisson check: Pearson*") %}
{% set mae_all = row(test="code->year calibration, series 17 (all anchors*", effect_name="LOO mean absolute error") %}
{% set ex_all = row(test="code->year calibration, series 17 (all anchors*", effect_name="share predicted exactly") %}
{% set mae_kept = row(test="code->year calibration, series 17 (inconsistent*", effect_name="LOO mean absolute error") %}
{% set ex_kept = row(test="code->year calibration, series 17 (inconsistent*", effect_name="share predicted exactly") %}
{% if v.main_role != "primary" %}
*This run changes an analysis choice of the default run (rounding or the calibration anchors): its
rows are sensitivity rows of the default run's verdicts.*

{% endif %}
* **The dated counts carry their dating error.** {{ v.n_dated|num }} registrations fall inside the
  calibrated range. {{ r }}: {{ c13.count }} codes (interval over {{ v.m.order }} draws that respect code
  order and the anchors [{{ c13.order_low|num }}, {{ c13.order_high|num }}]; code order alone allows
  {{ c13.order_min }} to {{ c13.order_max }}; a bootstrap over the anchors gives
  [{{ c13.boot_low|num }}, {{ c13.boot_high|num }}], wider because a resample can miss every anchor of
  a year). {{ w }}: {{ c16.count }} codes ([{{ c16.order_low|num }}, {{ c16.order_high|num }}]; bounds
  {{ c16.order_min }} to {{ c16.order_max }}; bootstrap [{{ c16.boot_low|num }}, {{ c16.boot_high|num }}];
  {{ c16.count_upper_rule }} when the codes after the calibrated range are counted in {{ w }}). Years
  that are waves once both the count and the dating error are allowed for (rate above the other
  years', Holm across years): **{{ v.waves|join(", ") if v.waves else "none" }}**.
* **The counts are overdispersed**, so exact Poisson tests would overstate the evidence: Pearson
  dispersion of the dated series {{ chk.effect|num }} (goodness-of-fit p = {{ chk.p_value|p }});
  {{ chk.note }}. The window tests are NB2 regressions pooled over the calibration draws by Rubin's rules.
* **"A huge leap in {{ w }}": {{ leap.verdict }}.** Rate ratio of {{ w }} against the years outside
  both call windows {{ leap.effect|num }} {{ leap|ci }}, one-sided p = {{ leap.p_value|p }} (Holm within
  the claim {{ leap.p_holm|p }}). {{ leap.verdict_text }}. Under other readings of "huge":
  {{ leap.verdict_sensitivity }}. In the guide's own founding years the ratio is {{ fleap.effect|num }}
  {{ fleap|ci }} (a sensitivity row: {{ fleap.verdict }}), but that table is selected by the call itself.
* **"Roughly constant until {{ w }}": {{ const.verdict }}.** The {{ r }} call window has a rate ratio of
  {{ const.effect|num }} {{ const|ci }} against the same baseline; {{ const.verdict_text }}. Under other
  margins: {{ const.verdict_sensitivity }}.
  {% if const.verdict == "not supported" %}The {{ r }} wave contradicts the guide's "constant" and is
  reported as found, not tuned away.{% elif const.effect > 1 %}The point estimate is a {{ r }} wave,
  the opposite of constancy, but with the count and the dating error its interval still admits a
  roughly constant rate: the data neither confirm nor refute the guide here.{% endif %}
  In the guide's own founding years the {{ r }} ratio is {{ fconst.effect|num }} {{ fconst|ci }}.
* **"Driven by the call": {{ drv.verdict }}.** Formation in the call-window years against the other
  years: rate ratio {{ drv.effect|num }} {{ drv|ci }}, one-sided p = {{ drv.p_value|p }} (Holm
  {{ drv.p_holm|p }}); {{ drv.verdict_text }}. Placebo windows (the same ratio for every year): {{ w }}
  ranks {{ pl16.statistic|num }} and {{ r }} ranks {{ pl13.statistic|num }} (medians over the draws); with
  so few years the smallest attainable placebo p is {{ (1 / pl16.n)|num }}, so placebos are diagnostics.
* **Calibration, both ways.** Leave-one-out error on all {{ mae_all.n|num }} anchors:
  {{ mae_all.effect|num }} years, {{ ex_all.effect|pct }} dated exactly; without the inconsistent anchors
  ({{ v.dropped|length }}: {% for b in v.dropped.itertuples() %}code {{ b.base }}, founding year
  {{ b.year_obs|int }}, {{ b.inconsistency_note }}{{ "; " if not loop.last }}{% endfor %}):
  {{ mae_kept.effect|num }} years, {{ ex_kept.effect|pct }} exact. The lower error is measured after
  removing the anchors that fit worst, so it is optimistic; the bootstrap and the code-order bounds
  above carry the dating error into the counts.
"""


class FormationHypothesis(Hypothesis):
    """H1: was cluster formation project-driven? (claim C05)"""

    id, notebook, claims = "H1", NOTEBOOK, (CLAIM_ID,)
    defaults = DEFAULTS
    title = "Was cluster formation project-driven?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        return compute_h1(ctx)

    def figures(self, evidence: Evidence) -> dict:
        return {"h1_formation_founding_vs_registration": figure_formation(evidence),
                "h1_code_to_year_calibration": figure_calibration(evidence)}


#: the declared hypothesis of ``notebooks/h1_cluster_formation.ipynb`` (H2's is
#: :data:`clusterstats.analysis.sustainability.hypothesis`)
hypothesis = FormationHypothesis()


def run(**parameters) -> Evidence:
    """Run H1 (compute and judge, nothing written); parameters as :data:`DEFAULTS`."""
    return hypothesis.run(**parameters)


def run_h1(notebook: str | None = None, **parameters) -> Evidence:
    """H1(a-c), kept as a contract: :func:`run` (``notebook`` is ignored; the run is named by
    its context)."""
    return hypothesis.run(**parameters)


def is_active(status: pd.Series) -> pd.Series:
    """True where BSMEPA's functioning status says the cluster operates; NA where unstated."""
    text = status.fillna("").astype(str).str.strip().str.lower()
    active = text.str.startswith(ACTIVE_PREFIXES)
    return active.where(text != "", pd.NA).astype("boolean")


def run_h2(window_call: str = CALL_2016, window_kind: str = "incentive", alpha: float = 0.05,
           notebook: str | None = None, **parameters) -> Evidence:
    """H2, kept as a contract: :func:`clusterstats.analysis.sustainability.run`."""
    from . import sustainability

    return sustainability.run(window_call=window_call, window_kind=window_kind, alpha=alpha,
                              **parameters)


# ------------------------------------------------------------------------------------ figures

def figure_formation(analysis: Evidence, width: str = "double"):
    """Founding years (BSMEPA) beside the registration-dated series (BULSTAT codes), windows
    shaded; the dated counts carry their bootstrap interval (error bars) and the code-order
    bounds (open markers)."""
    from .. import figures

    fig, axes = figures.new_figure(width, nrows=1, ncols=2, height_mm=78)
    f = analysis.tables["founding_counts"]
    r = analysis.tables["registration_counts"]
    ru = analysis.tables["registration_counts_upper"]
    iv = analysis.tables["dated_count_intervals"]
    colors = getattr(figures, "PALETTE", None)
    for ax, frame, title in [(axes[0], f, "Founding year (BSMEPA table)"),
                             (axes[1], r, "Registration year dated from BULSTAT code")]:
        ax.bar(frame["year"], frame["count"], color=(colors[0] if colors else None), width=0.8,
               label="clusters")
        ax.set_title(title)
        figures.set_time_xlabel(ax)
        figures.set_ylabel(ax, "New clusters", "number per year")
        for call, colour in [(CALL_2016, "#E69F00"), (CALL_2013, "#56B4E9")]:
            w = call_window(call, "incentive")
            ax.axvspan(w.start.year + w.start.dayofyear / 366 - 0.5, w.end.year + w.end.dayofyear / 366 - 0.5,
                       color=colour, alpha=0.25, lw=0, label=f"{call} window")
    extra = ru["count"] - r["count"]
    axes[1].bar(ru["year"], extra, bottom=r["count"], color="none", edgecolor="0.3", hatch="///",
                width=0.8, label="codes after calibrated range (year ≥ last)")
    axes[1].errorbar(iv["year"] - 0.15, iv["count"], yerr=[iv["count"] - iv["boot_low"], iv["boot_high"] - iv["count"]],
                     fmt="none", ecolor="black", elinewidth=0.8, capsize=2, label="bootstrap interval over anchors")
    axes[1].vlines(iv["year"] + 0.15, iv["order_min"], iv["order_max"], color="0.45", lw=2.2, alpha=0.8,
                   label="bounds from code order alone")
    # One legend for both panels, above them, so it never covers a bar.
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    plotted = pd.concat([f.assign(series="founding year (BSMEPA)"),
                         iv.assign(series="dated registrations"),
                         ru.assign(series="dated registrations, upper bound")], ignore_index=True)
    return fig, plotted


def figure_calibration(analysis: Evidence, width: str = "single"):
    """BULSTAT code against founding year for the calibration points, with the isotonic map."""
    from .. import figures

    fig, ax = figures.new_figure(width, height_mm=75)
    pts = analysis.tables["calibration_points"]
    dated = analysis.tables["dated_codes"]
    ok = pts["consistency"].eq("consistent")
    ax.scatter(pts.loc[ok, "base"].astype("int64") / 1e6, pts.loc[ok, "year_obs"], s=14,
               label="founding year known (consistent)")
    ax.scatter(pts.loc[~ok, "base"].astype("int64") / 1e6, pts.loc[~ok, "year_obs"], s=18,
               marker="x", label="inconsistent / ambiguous point")
    line = dated.dropna(subset=["predicted"]).sort_values("base")
    ax.plot(line["base"].astype("int64") / 1e6, line["predicted"], lw=1, color="0.2",
            label="isotonic map (dates all codes)")
    ax.fill_between(line["base"].astype("int64") / 1e6, line["low"], line["high"], color="0.6",
                    alpha=0.3, lw=0, label="bootstrap band")
    figures.set_xlabel(ax, "BULSTAT code", "millions")
    figures.set_ylabel(ax, "Founding year", "calendar year")
    ax.legend(loc="lower right", frameon=False)
    plotted = pd.concat([pts[["base", "year_obs", "consistency"]].assign(kind="calibration point"),
                         line[["base", "predicted", "low", "high"]].assign(kind="isotonic map")],
                        ignore_index=True)
    return fig, plotted


def judge_by_role(rows: pd.DataFrame, claim_ids: tuple[str, ...]) -> pd.DataFrame:
    """Kept for callers of the earlier name: :func:`clusterstats.hypothesis.judge_rows` now gives
    diagnostic, descriptive and sensitivity rows Holm families of their own."""
    from ..hypothesis import judge_rows

    return judge_rows(rows, claim_ids)
