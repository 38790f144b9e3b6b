"""H5 — a country's R&D intensity (GERD % of GDP) against the EU: trend and rank.

The guide (section "Number and types of technology transfers made in Bulgaria", p. 32 ff. by its table of contents; seed lines 492 and 499) says Bulgaria's R&D intensity is "relatively stable
through the years, with a slight upward trend after 2010" (claim C10), and that in 2016 it is
"well below the EU average and only four countries allocate less than Bulgaria" (C11).

* C10: a continuous broken-stick trend with a kink at ``break_year`` (2010) fitted by OLS with
  Newey–West errors (:func:`clusterstats.stats.trend.segmented_trend`), plus a data-chosen kink
  with a sup-F bootstrap test (:func:`~clusterstats.stats.trend.choose_break`) — does the data
  pick 2010 at all? Points flagged ``b`` (break in series) are handled three ways (kept, level
  dummy, excluded) as a sensitivity check; every flag is listed in the rows.
* C11: the gap to the reference (EU28) in ``end`` and the country's rank among the EU28 member
  states in that year (aggregates excluded, :func:`~clusterstats.stats.trend.rank_among`).

Data: Eurostat ``rd_e_gerdtot`` (bulk TSV of 2018-03-19), unit PC_GDP, sector TOTAL — the
vintage closest to what the guide used (its data end in 2016, provisional then).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..params import ParameterError, check_alpha, check_choice, check_year_range
from ..snapshot import load_snapshot
from ..stats.trend import EU28, FLAG_MEANING, choose_break, flag_years, rank_among, segmented_trend
from ._common import Analysis, finish_rows, snapshot_vintage

NOTEBOOK = "h5_bulgaria_vs_eu.ipynb"
DATASET = "rd_e_gerdtot"
C10 = "Bulgaria's R&D intensity (% of GDP) has been relatively stable, with a slight upward trend after 2010."
C11 = ("In 2016 Bulgaria's R&D intensity is well below the EU average and only four member states "
       "spend less.")
REF_GUIDE = ("Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), section "
             "'Number and types of technology transfers made in Bulgaria' (p. 32 ff.), seed lines 492-506")
UNIT = "% of GDP"


@lru_cache(maxsize=1)
def _raw() -> pd.DataFrame:
    return load_snapshot(DATASET)


def gerd_intensity() -> pd.DataFrame:
    """GERD % of GDP, all sectors: columns geo, year (int), value, flag ('' when none)."""
    d = _raw()
    s = d[(d["unit"].astype(str) == "PC_GDP") & (d["sectperf"].astype(str) == "TOTAL")].copy()
    s["geo"] = s["geo"].astype(str)
    s["year"] = s["time"].astype(str).astype(int)
    s["flag"] = s["flag"].astype(object).where(s["flag"].notna(), "").astype(str).str.strip()
    return s[["geo", "year", "value", "flag"]].dropna(subset=["value"]).sort_values(["geo", "year"]) \
        .reset_index(drop=True)


def check_parameters(country: str = "BG", reference: str = "EU28", start: int = 2000, end: int = 2016,
                     break_year: int = 2010, alpha: float = 0.05) -> dict:
    """Validate the notebook parameters (ParameterError names the valid choices)."""
    alpha = check_alpha(alpha)
    data = gerd_intensity()
    geos = sorted(data["geo"].unique())
    country = check_choice(str(country).upper(), geos, "country")
    reference = check_choice(str(reference).upper(), geos, "reference")
    start, end = check_year_range(start, end, data.loc[data["geo"] == country, "year"], name="start/end")
    try:
        break_year = int(break_year)
    except (TypeError, ValueError):
        raise ParameterError(f"break_year must be a year, got {break_year!r}") from None
    if not start + 1 <= break_year <= end - 1:
        raise ParameterError(f"break_year {break_year} must lie strictly inside {start}–{end}")
    return dict(country=country, reference=reference, start=start, end=end, break_year=break_year,
                alpha=alpha)


def _flags_text(flags: dict) -> str:
    return "; ".join(f"'{k}' ({FLAG_MEANING.get(k, '?')}) in {', '.join(map(str, v))}" for k, v in flags.items())


def run(country: str = "BG", reference: str = "EU28", start: int = 2000, end: int = 2016,
        break_year: int = 2010, alpha: float = 0.05) -> Analysis:
    """Trend (C10) and rank/gap (C11) of ``country``'s GERD % of GDP; see the module docstring."""
    params = check_parameters(country, reference, start, end, break_year, alpha)
    country, reference, start, end, break_year, alpha = params.values()
    level = 1 - alpha
    data = gerd_intensity()
    window = data[data["year"].between(start, end)]
    series = window[window["geo"] == country].reset_index(drop=True)
    ref = window[window["geo"] == reference].reset_index(drop=True)
    is_bg = country == "BG"
    rows, notes, models, tables = [], [], {}, {}
    flags = flag_years(series, "year", "flag")
    flag_note = _flags_text(flags) if flags else "no flags on the country's values in the window"
    missing_years = sorted(set(range(start, end + 1)) - set(series["year"]))
    if missing_years:
        notes.append(f"{country}: no value in {missing_years}")

    # ---- C10: broken-stick trend with kink at break_year, three treatments of 'b' flags
    for on_break in ("keep", "dummy", "exclude"):
        if on_break != "keep" and "b" not in flags:
            continue
        seg = segmented_trend(series, "year", "value", break_year, flag="flag", on_break=on_break,
                              hac_lags=2, ci_level=level)
        if on_break == "keep":
            models["segmented"] = seg.attrs["model"]
        for r in seg.to_dict("records"):
            r["method"] += f"; points flagged b: {on_break}"
            # the sensitivity variants get their own test name so they never hide the main fit
            r["test"] = {"keep": "segmented_trend", "dummy": "segmented_trend_b_dummy",
                         "exclude": "segmented_trend_b_excluded"}[on_break]
            rows.append(r)
    seg_rows = [r for r in rows if r.get("test") == "segmented_trend" and "b: keep" in r["method"]]
    before = next(r for r in seg_rows if r["effect_name"] == "slope_before")
    after = next(r for r in seg_rows if r["effect_name"] == "slope_after")
    change = next(r for r in seg_rows if r["effect_name"] == "slope_change")
    up_after = float(after["ci_low"]) > 0
    flat_before = float(before["ci_low"]) <= 0 <= float(before["ci_high"]) or abs(float(before["effect"])) < 0.01
    if up_after and flat_before:
        verdict = "supported"
    elif up_after or flat_before:
        verdict = "partly"
    else:
        verdict = "not supported"
    c10_text = (f"{country}'s intensity changed by {float(before['effect']):+.3f} pp/year up to {break_year} "
                f"(CI {float(before['ci_low']):+.3f} to {float(before['ci_high']):+.3f}) and "
                f"{float(after['effect']):+.3f} pp/year after (CI {float(after['ci_low']):+.3f} to "
                f"{float(after['ci_high']):+.3f})")
    rise = series.loc[series["year"] == end, "value"].iloc[0] / series.loc[series["year"] == break_year, "value"].iloc[0] \
        if {end, break_year} <= set(series["year"]) else np.nan
    if np.isfinite(rise):
        c10_text += f"; {end} is {rise:.2f} times {break_year}"
        if rise > 1.3:
            c10_text += ", more than a 'slight' rise"
            if verdict == "supported":
                verdict = "partly"
    caveat = (f"{len(series)} yearly points; Newey-West SE with 2 lags; {flag_note}; Eurostat "
              f"{DATASET} vintage {_raw().attrs.get('vintage')} (2016 was provisional then)")
    for r in rows:
        if str(r.get("test", "")).startswith("segmented_trend"):
            r.update(claim_id="C10", claim=C10, caveats=caveat, reference=r.get("reference"))
            r["h0"] = f"the {r['effect_name'].replace('_', ' ')} is 0"
            r["h1"] = f"the {r['effect_name'].replace('_', ' ')} is not 0"
            r["verdict"] = "inconclusive"
            r["verdict_text"] = (f"{r['effect_name'].replace('_', ' ')} = {float(r['effect']):+.4f} pp/year "
                                 f"(p = {float(r['p_value']):.3f}).")
    # the summary row: the claim's shape (flat before, rising after)
    rows.append(dict(
        claim_id="C10", claim=C10, h0=f"no upward kink at {break_year} (slope after <= 0 or no change)",
        h1=f"flat before {break_year} and rising after", test="segmented_trend_summary",
        method=f"broken-stick OLS, kink at {break_year}, {start}-{end}; slope after with its CI",
        statistic=change["statistic"], p_value=change["p_value"], effect_name="slope_after",
        effect=after["effect"], ci_low=after["ci_low"], ci_high=after["ci_high"], ci_level=level,
        n=len(series), unit=f"{UNIT} per year", verdict=verdict if is_bg else "inconclusive",
        verdict_text=c10_text + "." + ("" if is_bg else f" ({country}: for comparison; the claim is about BG.)"),
        caveats=caveat, reference=before["reference"]))
    chosen = choose_break(series, "year", "value", flag="flag", ci_level=level, n_boot=999)
    tables["break_candidates"] = chosen.attrs["candidates"]
    models["chosen"] = chosen.attrs["model"]
    cb = chosen.iloc[0].to_dict()
    near = str(cb.get("near_equivalent", ""))
    picked = int(float(cb["effect"]))
    cb.update(claim_id="C10", claim=C10, h0="a straight line fits (no kink)", h1="a kink at some year",
              verdict="inconclusive",
              verdict_text=(f"The data pick a kink at {picked} (sup-F p = {float(cb['p_value']):.3f}); "
                            + (f"{break_year} is " + ("" if str(break_year) in near.split(", ") else "not ")
                               + f"among the years fitting about as well ({near}).")),
              caveats=caveat)
    rows.append(cb)
    for r in chosen.iloc[1:].to_dict("records"):
        r.update(claim_id="C10", claim=C10, h0="slope is 0", h1="slope is not 0", verdict="inconclusive",
                 verdict_text=f"At the chosen kink {picked}: {r['effect_name'].replace('_', ' ')} = "
                              f"{float(r['effect']):+.4f} pp/year (CI ignores that the year was chosen).",
                 caveats=caveat)
        r["test"] = "segmented_trend_chosen_break"
        rows.append(r)

    # ---- C11: gap to the reference and rank among EU28 member states in `end`
    tv = series.loc[series["year"] == end, "value"]
    rv = ref.loc[ref["year"] == end, "value"]
    members = window[(window["year"] == end) & window["geo"].isin(EU28)]
    # the aggregate is GDP-weighted; a reader may mean the plain average of countries
    members_mean = float(members["value"].mean())
    if len(tv) and len(rv):
        ratio = float(tv.iloc[0] / rv.iloc[0])
        rflag = ref.loc[ref["year"] == end, "flag"].iloc[0]
        rows.append(dict(
            claim_id="C11", claim=C11, h0=f"{country} is not well below {reference}",
            h1=f"{country} is well below {reference} (less than half)", test="gap_to_reference",
            method=f"{country} / {reference} GERD % of GDP in {end}; difference in statistic",
            statistic=float(tv.iloc[0] - rv.iloc[0]), effect_name="ratio_to_reference", effect=ratio,
            n=2, unit="ratio of % of GDP",
            verdict=("supported" if ratio < 0.5 else "partly" if ratio < 0.8 else "not supported")
            if is_bg else "inconclusive",
            verdict_text=(f"In {end} {country} spent {float(tv.iloc[0]):.2f} % of GDP against {reference}'s "
                          f"{float(rv.iloc[0]):.2f} % ({ratio:.0%} of it; the unweighted mean of the EU28 "
                          f"member states was {members_mean:.2f} %)."),
            caveats=f"'well below' read as less than half; {reference} value flagged '{rflag}'" if rflag
            else "'well below' read as less than half", reference=REF_GUIDE))
    rk = rank_among(window, "geo", "value", target=country, year=end, among=EU28, flag="flag")
    r = rk.iloc[0].to_dict()
    n_below = int(r["effect"])
    r.update(claim_id="C11", claim=C11, h0="the number of EU28 member states below is not 4",
             h1="exactly four EU28 member states are below", unit="countries",
             verdict=("supported" if n_below == 4 else "not supported") if is_bg else "inconclusive",
             verdict_text=(f"In {end} {n_below} of the {int(r['n']) - 1} other EU28 member states had a lower "
                           f"GERD intensity than {country}: {r['below'] or 'none'}."),
             caveats=(f"EU28 membership of 2016; aggregates excluded; {r['note']}" if pd.notna(r.get("note"))
                      else "EU28 membership of 2016; aggregates excluded") +
             f"; 2016 values partly provisional (p) in vintage {_raw().attrs.get('vintage')}")
    rows.append(r)
    tables["rank"] = rk
    cross = data[(data["year"] == end) & (data["geo"].isin(list(EU28) + [reference]))]
    tables["countries_end"] = cross.sort_values("value").reset_index(drop=True)
    tables["series"] = pd.concat([series, ref], ignore_index=True)
    frames = [_raw()]
    vintage = snapshot_vintage(frames)
    sources = [f"Eurostat {DATASET} PC_GDP TOTAL (vintage {_raw().attrs.get('vintage')})"]
    rows_df = finish_rows(rows, hypothesis="H5", notebook=NOTEBOOK, parameters=params,
                          data_sources=sources[0], data_vintage=vintage)
    an = Analysis(rows=rows_df, tables=tables, models=models, notes=notes, sources=sources, vintage=vintage)
    an.params = params  # type: ignore[attr-defined]
    return an


def figure_series(analysis: Analysis):
    """The country and the reference, GERD % of GDP over the window, Eurostat flags marked."""
    from .. import figures as cf

    p = analysis.params  # type: ignore[attr-defined]
    data = analysis.tables["series"][["geo", "year", "value", "flag"]].copy()
    fig, ax = cf.new_figure("single")
    colors = list(cf.OKABE_ITO.values())
    for k, geo in enumerate([p["country"], p["reference"]]):
        d = data[data["geo"] == geo].replace({"flag": {"": None}})
        cf.plot_series_with_flags(ax, d, x="year", y="value", flag="flag", label=geo,
                                  color=colors[k + 1])
    ax.axvline(p["break_year"], color="#777777", lw=0.6, ls="--")
    ax.set_ylim(bottom=0)
    cf.set_ylabel(ax, "GERD", UNIT)
    cf.set_time_xlabel(ax)
    cf.add_source_note(fig, f"Source: {analysis.sources[0]}. Dashed line: the guide's {p['break_year']}.")
    return fig, data


def figure_countries(analysis: Analysis):
    """All EU28 member states in the end year (bar chart), the country highlighted, reference line."""
    from .. import figures as cf

    p = analysis.params  # type: ignore[attr-defined]
    t = analysis.tables["countries_end"]
    ref = t[t["geo"] == p["reference"]]
    data = t[t["geo"] != p["reference"]].sort_values("value").reset_index(drop=True)
    fig, ax = cf.new_figure("double", 85)
    colors = ["#D55E00" if g == p["country"] else "#0072B2" for g in data["geo"]]
    ax.bar(np.arange(len(data)), data["value"], color=colors)
    labels = [g + (f" ({f})" if f else "") for g, f in zip(data["geo"], data["flag"])]
    ax.set_xticks(np.arange(len(data)), labels, rotation=90)
    if len(ref):
        ax.axhline(float(ref["value"].iloc[0]), color="#333333", lw=0.8, ls="--",
                   label=f"{p['reference']} {float(ref['value'].iloc[0]):.2f}"
                         + (f" ({ref['flag'].iloc[0]})" if ref["flag"].iloc[0] else ""))
        ax.legend(loc="upper left")
    cf.set_ylabel(ax, f"GERD {p['end']}", UNIT)
    ax.set_xlabel("EU28 member state (flag letters in brackets: p provisional, e estimated, b break)")
    cf.add_source_note(fig, f"Source: {analysis.sources[0]}.")
    out = pd.concat([data, ref], ignore_index=True).assign(year=p["end"])
    return fig, out
