"""H1 project-driven cluster formation, and H2 sustainability of call-window clusters.

The guide (seed lines 187-191) says new clusters were about constant per year until a huge leap in
2016, plausibly driven by the OPIC 2014-2020 call BG16RFOP002-2.009, and that project-driven
clusters threaten sustainability. Three views of formation, one of survival:

* H1(a) founding years from the BSMEPA table: annual counts, event-window Poisson/NB GLMs, the
  exact conditional rate test, placebo windows; the 2013 call (BG161PO003-2.4.02) as a replication.
* H1(b) registration dating: BULSTAT codes of non-profit associations are issued in sequence, so
  the 243 registered codes order the clusters in time; the founding years known for some of them
  calibrate that order into years (isotonic fit), which dates all of them.
* H1(c) change points on the dated series (PELT with a Poisson cost; exact Bayesian switchpoint
  and pulse).
* H2: are clusters founded in the call window less often still functioning (BSMEPA's functioning
  status as of early 2018)? Fisher exact and logistic regression.

Every row states its selection caveat: the BSMEPA table lists the clusters that filed for
categorisation for the 2017 call, so clusters created for that call are all in it while older
clusters that had already dissolved are not (survivorship), and a cluster founded after January
2017 cannot be in it at all.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .. import registry
from ..calls import call_window
from ..params import check_alpha, check_choice, check_year_range
from ..stats import association, calibration, changepoint, counts
from ._common import Analysis, finish_rows

CALL_2016 = "BG16RFOP002-2.009"
CALL_2013 = "BG161PO003-2.4.02"
GUIDE_DATE = registry.GUIDE_DATA_DATE

SELECTION_CAVEAT = (
    "BSMEPA's table lists clusters that filed for categorisation for the 2017 call: clusters "
    "founded for that call are all in it, older clusters that had dissolved are not "
    "(survivorship), and none founded after January 2017 can appear; 19 of its 72 rows are "
    "missing from the guide's text")
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


def _spike_verdict(exact: pd.Series, placebo: pd.Series, alpha: float) -> tuple[str, str]:
    """Verdict for "the window stands out": exact test significant and top-ranked among placebos."""
    significant = bool(exact["p_value"] < alpha)
    top = bool(placebo["statistic"] == 1) if pd.notna(placebo.get("statistic")) else False
    if significant and top:
        return "supported", "stands out: significantly above the other years and the highest of all windows"
    if significant or top:
        return "partly", ("is significantly above the other years but is not the highest window" if significant
                          else "is the highest window, but not significantly above the other years")
    return "not supported", "does not stand out from the other years"


def _constant_before_text(year: int, finding: str, verdict: str) -> str:
    """Say whether an earlier window's result agrees with the guide's 'constant until 2016'."""
    agreement = {"supported": "consistent with", "not supported": "contradicting",
                 "partly": "partly contradicting"}[verdict]
    return f"the {year} call window {finding}, {agreement} the guide's 'about constant until 2016'"


def _window_rows(frame: pd.DataFrame, years: list[int], alpha: float, label: str,
                 models: dict, key: str) -> tuple[list[pd.DataFrame], str, str]:
    """GLMs, exact test, placebo windows and dispersion for one window; returns rows + verdict."""
    in_window = frame["year"].isin(years)
    exact = counts.exact_rate_test(int(frame.loc[in_window, "count"].sum()), float(in_window.sum()),
                                   int(frame.loc[~in_window, "count"].sum()), float((~in_window).sum()),
                                   alpha=alpha)
    poisson = counts.poisson_event_glm(frame, window_years=years, alpha=alpha)
    negbin = counts.negbin_event_glm(frame, window_years=years, alpha=alpha)
    placebo = counts.placebo_windows(frame, window_years=years)
    dispersion = counts.dispersion_test(frame, window_years=years)
    models[f"{key}_poisson"] = poisson.results
    models[f"{key}_negbin"] = negbin.results
    models[f"{key}_placebo"] = placebo.results
    verdict, text = _spike_verdict(exact.iloc[0], placebo.table.iloc[0], alpha)
    parts = []
    for frame_, test in [(exact, "exact rate test"), (poisson.table, "Poisson GLM"),
                         (negbin.table, "negative-binomial GLM"), (placebo.table, "placebo windows"),
                         (dispersion, "dispersion test")]:
        part = frame_.copy()
        part["test"] = f"{label}: " + part["test"].astype(str)
        parts.append(part)
    return parts, verdict, text


def run_h1(window_call: str = CALL_2016, window_kind: str = "incentive",
           replication_call: str = CALL_2013, replication_kind: str = "incentive",
           start_year: int | None = None, end_year: int = 2016, alpha: float = 0.05,
           n_boot: int = 999, seed: int = 0, rounding: str = "round", penalty: str = "bic",
           drop_inconsistent: bool = True, notebook: str = "h1_cluster_formation") -> Analysis:
    """H1(a-c): does cluster formation spike in the call windows (2016 and 2013)?"""
    alpha = check_alpha(alpha)
    check_choice(rounding, ["round", "floor"], "rounding")
    params = dict(window_call=window_call, window_kind=window_kind, replication_call=replication_call,
                  replication_kind=replication_kind, start_year=start_year, end_year=end_year,
                  alpha=alpha, n_boot=n_boot, seed=seed, rounding=rounding, penalty=penalty,
                  drop_inconsistent=drop_inconsistent)
    table = registry.clusters()
    founded = founding_years(table)
    known = founded["founding_year"].dropna().astype(int)
    lo = int(known.min()) if start_year is None else int(start_year)
    check_year_range(lo, end_year, range(int(known.min()), max(int(known.max()), end_year) + 1),
                     name="start_year/end_year")
    fcounts = founding_counts(founded["founding_year"], start=lo, end=end_year)
    available = fcounts["year"].tolist()
    win = window_years(window_call, window_kind, available)
    rep = window_years(replication_call, replication_kind, available)
    models: dict = {}
    notes = [SELECTION_CAVEAT,
             f"Founding years are known for {len(known)} of the {len(founded)} BSMEPA rows present "
             f"(the guide: 42 of 66 categorised clusters).",
             f"The {window_call} window ({call_window(window_call, window_kind).start.date()} to "
             f"{call_window(window_call, window_kind).end.date()}) is tested as the calendar year(s) "
             f"{win}; annual data cannot place it more finely."]
    rows = []

    # H1(a): founding years
    caveat_a = (f"{SELECTION_CAVEAT}; n = {len(known)} founding years over {len(available)} years "
                f"({lo}-{end_year}); small counts")
    for years_, call, label, claim_part in [(win, window_call, f"founding years, {win[0]} window", "leap"),
                                            (rep, replication_call, f"founding years, {rep[0]} window",
                                             "constant before")]:
        parts, verdict, text = _window_rows(fcounts, years_, alpha, label, models, f"a_{years_[0]}")
        if claim_part == "constant before":
            # The guide says formation was constant before 2016: a 2013 spike contradicts that.
            verdict = {"supported": "not supported", "not supported": "supported",
                       "partly": "partly"}[verdict]
            text = _constant_before_text(years_[0], text, verdict)
            h0 = f"the foundation rate in {years_[0]} equals that of the other years"
        else:
            text = f"the {years_[0]} call window {text}"
            h0 = f"the foundation rate in {years_[0]} equals that of the other years"
        for part in parts:
            rows.append(finish_rows(
                part, hypothesis="H1a", notebook=notebook, parameters=params, claim_id="C05",
                claim="new clusters about constant until a huge leap in 2016 (call BG16RFOP002-2.009)",
                h0=h0, h1=f"the foundation rate is higher in {years_[0]} ({call})", verdict=verdict,
                verdict_text=f"Founding years (BSMEPA): {text}.", caveats=caveat_a,
                data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE))

    # H1(b): registration dating of all 243 BULSTAT codes
    fit, dated = date_registrations(table, n_boot=n_boot, seed=seed, rounding=rounding,
                                    drop_inconsistent=drop_inconsistent)
    dropped = fit.points.attrs["dropped"]
    if len(dropped):
        notes.append("Calibration points dropped as inconsistent with any monotone code order: "
                     + "; ".join(f"code {b} (founding year {int(y)}: {n})" for b, y, n in
                                 zip(dropped["base"], dropped["year_obs"], dropped["inconsistency_note"])))
    rcounts = registration_counts(dated, after_range="exclude")
    rcounts_upper = registration_counts(dated, after_range="last_year")
    ravail = rcounts["year"].tolist()
    rwin = [y for y in win if y in ravail]
    rrep = [y for y in rep if y in ravail]
    caveat_b = (f"dates are predicted from code order calibrated on {len(fit.points)} clusters with a "
                f"known founding year ({len(dropped)} inconsistent points dropped; a founding year can "
                f"predate the registration); "
                f"{rcounts.attrs['after_range']} codes lie after the calibrated range (year >= "
                f"{ravail[-1]}; excluded here, counted in {ravail[-1]} in the upper-bound row), "
                f"{rcounts.attrs['before_range']} before it (year <= {ravail[0]}), "
                f"{rcounts.attrs['undated']} in numbering series without calibration")
    cal_rows = fit.summary.copy()
    rows.append(finish_rows(
        cal_rows, hypothesis="H1b", notebook=notebook, parameters=params, claim_id="C05",
        claim="registration order of BULSTAT codes dates the clusters",
        h0="code order carries no information about the founding year",
        h1="code order increases with founding year", verdict=None,
        verdict_text="Calibration quality of the code-to-year map (not a test of the claim).",
        caveats=caveat_b, data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE))
    for frame_, tag in [(rcounts, "dated registrations"), (rcounts_upper, "dated registrations, upper bound")]:
        for years_, call, which in [(rwin, window_call, "leap"), (rrep, replication_call, "constant before")]:
            if not years_:
                continue
            parts, verdict, text = _window_rows(frame_, years_, alpha, f"{tag}, {years_[0]} window",
                                                models, f"b_{tag}_{years_[0]}")
            if which == "constant before":
                verdict = {"supported": "not supported", "not supported": "supported",
                           "partly": "partly"}[verdict]
                text = _constant_before_text(years_[0], text, verdict)
            else:
                text = f"the {years_[0]} call window {text}"
            for part in parts:
                rows.append(finish_rows(
                    part, hypothesis="H1b", notebook=notebook, parameters=params, claim_id="C05",
                    claim="new clusters about constant until a huge leap in 2016",
                    h0=f"the registration rate in {years_[0]} equals that of the other years",
                    h1=f"the registration rate is higher in {years_[0]} ({call})", verdict=verdict,
                    verdict_text=f"BULSTAT registrations dated by code ({tag}): {text}.",
                    caveats=caveat_b, data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE))

    # H1(c): change points on the dated registration series
    pelt = changepoint.pelt_poisson(rcounts["count"].to_numpy(), penalty=penalty, years=ravail)
    switch = changepoint.poisson_switchpoint(rcounts)
    models["c_pelt_segments"] = pelt.detail
    models["c_switchpoint"] = switch.detail
    segments = pelt.detail
    seg_starts = [int(s) for s in segments["start"].iloc[1:]]
    stands = {y: (y in seg_starts) for y in (rwin + rrep)}
    verdict_c = ("not supported" if any(stands.get(y) for y in rrep) and not any(stands.get(y) for y in rwin)
                 else "supported" if any(stands.get(y) for y in rwin) and not any(stands.get(y) for y in rrep)
                 else "partly" if any(stands.values()) else "not supported")
    text_c = ("PELT segments start in " + (", ".join(map(str, seg_starts)) or "no year (one segment)")
              + f"; segment rates {', '.join(f'{r:.1f}' for r in segments['rate'])} per year")
    pulse_rows = []
    for focus in sorted(set(rwin + rrep)):
        try:
            pulse = changepoint.poisson_pulse(rcounts, focus_year=focus)
        except ValueError as exc:  # a pulse at the series' end is unobservable: say so
            notes.append(f"pulse model around {focus}: {exc}")
            continue
        models[f"c_pulse_{focus}"] = pulse.detail
        pulse_rows.append(pulse.table)
    for part in [pelt.table, switch.table] + pulse_rows:
        rows.append(finish_rows(
            part, hypothesis="H1c", notebook=notebook, parameters=params, claim_id="C05",
            claim="new clusters about constant until a huge leap in 2016",
            h0="one constant registration rate", h1="the rate changes (a step or a pulse)",
            verdict=verdict_c, verdict_text=f"Change points in dated registrations: {text_c}.",
            caveats=caveat_b, data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE))

    return Analysis(
        rows=pd.concat(rows, ignore_index=True),
        tables={"founding_counts": fcounts, "registration_counts": rcounts,
                "registration_counts_upper": rcounts_upper, "dated_codes": dated,
                "calibration_points": fit.points, "founded": founded,
                "pelt_segments": segments, "switchpoint_posterior": switch.detail},
        models=models | {"calibration": fit}, notes=notes,
        sources=[SOURCE_REGISTERS, "data/calls.yaml (call calendar)"], vintage=GUIDE_DATE)


def is_active(status: pd.Series) -> pd.Series:
    """True where BSMEPA's functioning status says the cluster operates; NA where unstated."""
    text = status.fillna("").astype(str).str.strip().str.lower()
    active = text.str.startswith(ACTIVE_PREFIXES)
    return active.where(text != "", pd.NA).astype("boolean")


def run_h2(window_call: str = CALL_2016, window_kind: str = "incentive", alpha: float = 0.05,
           notebook: str = "h2_sustainability") -> Analysis:
    """H2: are clusters founded in the call window less often functioning by 2018?"""
    alpha = check_alpha(alpha)
    params = dict(window_call=window_call, window_kind=window_kind, alpha=alpha)
    founded = founding_years()
    window = call_window(window_call, window_kind)
    data = founded.dropna(subset=["founding_year"]).copy()
    data["active"] = is_active(data["functioning_status"])
    unstated = int(data["active"].isna().sum())
    data = data.dropna(subset=["active"])
    data["in_window"] = data["founding_year"].astype(int).isin(window.years)
    data["inactive"] = ~data["active"].astype(bool)
    data["founding_year_c"] = data["founding_year"].astype(float) - data["founding_year"].astype(float).mean()
    table2 = [[int((data.in_window & data.inactive).sum()), int((data.in_window & ~data.inactive).sum())],
              [int((~data.in_window & data.inactive).sum()), int((~data.in_window & ~data.inactive).sum())]]
    fisher = association.fisher_exact_2x2(table=table2, alternative="greater", ci_level=1 - alpha)
    logit = association.logistic_association(data.assign(inactive=data["inactive"].astype(int)),
                                             outcome="inactive", predictors=["founding_year_c"],
                                             ci_level=1 - alpha)
    p = float(fisher.iloc[0]["p_value"])
    odds = fisher.iloc[0]["effect"]
    verdict = "supported" if p < alpha else "inconclusive"
    text = (f"{table2[0][0]} of {sum(table2[0])} clusters founded in the call window are not (or no longer "
            f"visibly) functioning vs {table2[1][0]} of {sum(table2[1])} founded earlier; odds ratio "
            f"{odds:.2g}, one-sided p = {p:.2g}")
    caveats = (f"{SELECTION_CAVEAT}; status as recorded by the guide's authors in early 2018, barely a "
               f"year after the call, too early to see post-project decline; n = {len(data)} with a founding "
               f"year and a stated status ({unstated} without a status dropped); Trade Register statuses "
               f"(liquidation/insolvency) exist for only 2 entries and cannot be tested")
    rows = []
    for part in (fisher, logit):
        rows.append(finish_rows(
            part, hypothesis="H2", notebook=notebook, parameters=params, claim_id="C06",
            claim="project-driven clusters threaten sustainability",
            h0="clusters founded in the call window are as often functioning as others",
            h1="clusters founded in the call window are less often functioning",
            verdict=verdict, verdict_text=f"Sustainability: {text}.", caveats=caveats,
            data_sources=SOURCE_REGISTERS, data_vintage=GUIDE_DATE))
    return Analysis(rows=pd.concat(rows, ignore_index=True),
                    tables={"status_by_window": data[["cluster_id", "name_latin", "founding_year",
                                                      "functioning_status", "active", "in_window"]],
                            "table2x2": pd.DataFrame(table2, index=["in window", "other years"],
                                                     columns=["inactive", "active"])},
                    notes=[caveats], sources=[SOURCE_REGISTERS], vintage=GUIDE_DATE)


# ------------------------------------------------------------------------------------ figures

def figure_formation(analysis: Analysis, width: str = "double"):
    """Founding years (BSMEPA) beside the registration-dated series (BULSTAT codes), windows shaded."""
    from .. import figures

    fig, axes = figures.new_figure(width, nrows=1, ncols=2, height_mm=78)
    f = analysis.tables["founding_counts"]
    r = analysis.tables["registration_counts"]
    ru = analysis.tables["registration_counts_upper"]
    colors = figures.PALETTE if hasattr(figures, "PALETTE") else None
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
    # One legend for both panels, above them, so it never covers a bar.
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside upper center", ncols=2, frameon=False)
    plotted = pd.concat([f.assign(series="founding year (BSMEPA)"),
                         r.assign(series="dated registrations"),
                         ru.assign(series="dated registrations, upper bound")], ignore_index=True)
    return fig, plotted


def figure_calibration(analysis: Analysis, width: str = "single"):
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
