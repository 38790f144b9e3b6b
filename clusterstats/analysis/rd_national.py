"""H5 — a country's R&D intensity (GERD % of GDP) against the EU: trend and rank.

The guide (section "Number and types of technology transfers made in Bulgaria", p. 32 ff. by its table of contents; seed lines 492 and 499) says Bulgaria's R&D intensity is "relatively stable
through the years, with a slight upward trend after 2010" (claim C10), and that in 2016 it is
"well below the EU average and only four countries allocate less than Bulgaria" (C11).

* C10: a continuous broken-stick trend with a kink at ``break_year`` (2010) fitted by OLS with
  Newey–West errors (:func:`clusterstats.stats.trend.segmented_trend`). The slope before the
  kink tests "relatively stable" (part ``C10.stable``), the slope after it "a slight upward
  trend" (``C10.slight_rise``); what "stable" and "slight" mean, in pp of GDP per year, is
  declared with its justification in ``data/claims.yaml``. A data-chosen kink with a sup-F
  bootstrap test (:func:`~clusterstats.stats.trend.choose_break`) is a diagnostic: does the
  data pick 2010 at all? Points flagged ``b`` (break in series) are handled three ways (kept,
  level dummy, excluded); the last two are sensitivity rows.
* C11: the ratio to the reference (EU28) in ``end`` (``C11.well_below``; the unweighted mean of
  the member states as a sensitivity row) and the number of EU28 member states below the
  country in that year (``C11.rank``; aggregates excluded,
  :func:`~clusterstats.stats.trend.rank_among`).

Only the guide's own setting (Bulgaria against the EU28, 2000–2016, kink at 2010) gives primary
rows; other windows or kinks for Bulgaria give sensitivity rows, other countries descriptive
rows (the claims are about Bulgaria). The module's entry point is :data:`hypothesis`.

Data: Eurostat ``rd_e_gerdtot`` (bulk TSV of 2018-03-19), unit PC_GDP, sector TOTAL — the
vintage closest to what the guide used (its data end in 2016, provisional then).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..params import ParameterError, check_alpha, check_choice, check_year_range
from ..snapshot import load_snapshot
from ..stats.trend import EU28, FLAG_MEANING, choose_break, flag_years, rank_among, segmented_trend
from ._common import finish_rows, snapshot_vintage

NOTEBOOK = "h5_bulgaria_vs_eu.ipynb"
HYPOTHESIS = "H5"
DEFAULTS = dict(country="BG", reference="EU28", start=2000, end=2016, break_year=2010, alpha=0.05)
#: the setting the guide's claims are about: rows from it are primary, other settings sensitivity
GUIDE_SETTING = dict(country="BG", reference="EU28", start=2000, end=2016, break_year=2010)
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


def role_of(p: dict) -> str:
    """``primary`` for the guide's setting, ``sensitivity`` for Bulgaria under another window,
    kink or reference, ``descriptive`` for another country (the claims are about Bulgaria)."""
    if p["country"] != GUIDE_SETTING["country"]:
        return "descriptive"
    same = all(p[k] == v for k, v in GUIDE_SETTING.items())
    return "primary" if same else "sensitivity"


def _tag(row: dict, part: str | None, role: str) -> dict:
    """Set a row's claim part and role; rows of another country test no part."""
    row["part"] = part if role in ("primary", "sensitivity") else pd.NA
    row["role"] = role
    return row


_TREND_TEST = {"keep": "segmented_trend", "dummy": "segmented_trend_b_dummy",
               "exclude": "segmented_trend_b_excluded"}
_TREND_PART = {"slope_before": "C10.stable", "slope_after": "C10.slight_rise"}


def trend_rows(series: pd.DataFrame, p: dict, flags: dict) -> tuple[list[dict], object]:
    """Broken-stick slopes (before, after, change) with ``b`` points kept, and — when the
    country has ``b`` flags — with a level dummy and excluded (sensitivity rows)."""
    base, rows, model = role_of(p), [], None
    for on_break in ("keep", "dummy", "exclude"):
        if on_break != "keep" and "b" not in flags:
            continue
        seg = segmented_trend(series, "year", "value", p["break_year"], flag="flag",
                              on_break=on_break, hac_lags=2, ci_level=1 - p["alpha"])
        if on_break == "keep":
            model = seg.attrs["model"]
        role = base if on_break == "keep" or base == "descriptive" else "sensitivity"
        for r in seg.to_dict("records"):
            r["method"] += f"; points flagged b: {on_break}"
            r["test"] = _TREND_TEST[on_break]
            name = r["effect_name"].replace("_", " ")
            r["h0"], r["h1"] = f"the {name} is 0", f"the {name} is not 0"
            part = _TREND_PART.get(r["effect_name"])
            rows.append(_tag(r, part, role if part else "descriptive"))
    return rows, model


def break_rows(series: pd.DataFrame, p: dict) -> tuple[list[dict], pd.DataFrame, object]:
    """The data-chosen kink (sup-F, residual bootstrap) and the slopes at it: diagnostics."""
    chosen = choose_break(series, "year", "value", flag="flag", ci_level=1 - p["alpha"], n_boot=999)
    rows = []
    for i, r in enumerate(chosen.to_dict("records")):
        if i == 0:
            r.update(h0="a straight line fits (no kink)", h1="a kink at some year")
        else:
            r.update(test="segmented_trend_chosen_break", h0="slope is 0", h1="slope is not 0")
        rows.append(_tag(r, None, "diagnostic"))
    return rows, chosen.attrs["candidates"], chosen.attrs["model"]


def rise_row(series: pd.DataFrame, p: dict) -> dict | None:
    """``end`` value / ``break_year`` value: the old reading of "slight" (descriptive only: two
    single years, no interval)."""
    v = series.set_index("year")["value"]
    if not {p["end"], p["break_year"]} <= set(v.index):
        return None
    return _tag(dict(test="ratio_end_to_break", h0="-", h1="-",
                     method=f"{p['country']} GERD % of GDP, {p['end']} / {p['break_year']}",
                     effect_name="ratio", effect=float(v[p["end"]] / v[p["break_year"]]), n=2,
                     unit="ratio of % of GDP", reference="descriptive ratio of two published values",
                     note="two single years: no interval; shown for the earlier reading of 'slight'"),
                None, "descriptive")


def gap_rows(window: pd.DataFrame, p: dict) -> list[dict]:
    """Ratio of the country to the reference in ``end`` (primary for the EU28) and to the plain
    mean of the EU28 member states (sensitivity: another reading of "EU average")."""
    end, country, reference = p["end"], p["country"], p["reference"]
    year = window[window["year"] == end].set_index("geo")
    if country not in year.index:
        return []
    own = float(year.loc[country, "value"])
    members = year[year.index.isin(EU28)]["value"]
    refs = []
    if reference in year.index:
        flag = year.loc[reference, "flag"]
        refs.append((reference, float(year.loc[reference, "value"]), role_of(p),
                     f"{reference} aggregate" + (f" (flagged '{flag}')" if flag else "")))
    refs.append(("EU28 member-state mean", float(members.mean()),
                 "sensitivity" if role_of(p) != "descriptive" else "descriptive",
                 f"unweighted mean of the {len(members)} EU28 member states with a value"))
    rows = []
    for name, value, role, what in refs:
        rows.append(_tag(dict(
            test="gap_to_reference" if name == reference else "gap_to_member_mean",
            h0=f"{country} is at least half of {name}", h1=f"{country} is below half of {name}",
            method=f"{country} / {what}, GERD % of GDP in {end}; statistic = difference in pp",
            statistic=own - value, effect_name="ratio_to_reference", effect=own / value, n=len(members),
            unit="ratio of % of GDP", reference=REF_GUIDE,
            note=(f"{country} {own:.2f} % vs {what} {value:.2f} %; published values of a complete set, "
                  "no interval")),
            "C11.well_below", role))
    return rows


def rank_rows(window: pd.DataFrame, p: dict) -> tuple[list[dict], pd.DataFrame]:
    """How many EU28 member states are below the country in ``end`` (exact count)."""
    rk = rank_among(window, "geo", "value", target=p["country"], year=p["end"], among=EU28, flag="flag")
    r = rk.iloc[0].to_dict()
    r.update(h0="the number of EU28 member states below is not 4",
             h1="exactly four EU28 member states are below", unit="countries")
    if r.get("missing"):
        r["note"] = f"{r.get('note')}; the count is a lower bound"
    return [_tag(r, "C11.rank", "primary" if role_of(p) == "primary" else
                 "sensitivity" if role_of(p) == "sensitivity" else "descriptive")], rk


def _caveats(rows: list[dict], series: pd.DataFrame, flags: dict, p: dict) -> None:
    flag_note = _flags_text(flags) if flags else "no flags on the country's values in the window"
    vintage = _raw().attrs.get("vintage")
    c10 = (f"{len(series)} yearly points; Newey-West SE with 2 lags; {flag_note}; Eurostat {DATASET} "
           f"vintage {vintage} ({p['end']} values partly provisional then)")
    c11 = (f"EU28 membership of 2016; aggregates excluded; {p['end']} values partly provisional (p) "
           f"in vintage {vintage}")
    for r in rows:
        is_c11 = r["test"] in ("gap_to_reference", "gap_to_member_mean", "rank_among")
        r["claim_id"], r["claim"] = ("C11", C11) if is_c11 else ("C10", C10)
        r["caveats"] = c11 if is_c11 else c10


NARRATIVE = """\
{% set before = row(test="segmented_trend", effect_name="slope_before") %}
{% set after = row(test="segmented_trend", effect_name="slope_after") %}
{% set chosen = row(test="choose_break") %}
{% set gap = row(test="gap_to_reference") %}
{% set mean = row(test="gap_to_member_mean") %}
{% set rank = row(test="rank_among") %}
{% set p = evidence.parameters %}
{% macro verdict(r) %}{{ r.verdict if r.verdict is string else "no verdict (descriptive)" }}{% endmacro %}
{% macro rule(r, what) %}{% if r.verdict is string %} Rule: {{ r.verdict_text }}. {{ what }}: {{ r.verdict_sensitivity }}.{% endif %}{% endmacro %}
{% if p.country != "BG" %}
*{{ p.country }} is shown for comparison: the guide's claims are about Bulgaria, so no row carries a verdict.*

{% endif %}
* **"Relatively stable" up to {{ p.break_year }}: {{ verdict(before) }}.** The slope before the kink is
  {{ before.effect|num }} pp of GDP a year (interval {{ before|ci }}).{{ rule(before, "Under other bands") }}
* **"A slight upward trend" after {{ p.break_year }}: {{ verdict(after) }}.** The slope after the kink is
  {{ after.effect|num }} pp a year (interval {{ after|ci }}).{{ rule(after, 'Under other readings of "slight"') }}
  For comparison, {{ p.end }} is {{ evidence.values.rise|num }} times {{ p.break_year }} (the earlier reading of "slight").
  The data alone put the kink at {{ chosen.effect|int }} (sup-F bootstrap p = {{ chosen.p_value|p }}; years fitting
  about as well: {{ chosen.near_equivalent }}): a diagnostic, not a verdict.
* **"Well below the EU average": {{ verdict(gap) }}.** {{ p.country }} spends {{ gap.effect|pct }} of the
  {{ p.reference }} level ({{ gap.statistic|num }} pp).{{ rule(gap, "Other margins") }} Against the plain
  mean of the member states it is {{ mean.effect|pct }}{% if mean.verdict is string %} ({{ mean.verdict }}, a sensitivity row){% endif %}.
* **"Only four countries spend less": {{ verdict(rank) }}.** {{ rank.effect|num }} EU28 member states
  are below: {{ rank.below }}.
"""


class RdNationalHypothesis(Hypothesis):
    """H5: Bulgaria's R&D intensity against the EU, trend (C10) and rank (C11)."""

    id, notebook, claims = HYPOTHESIS, NOTEBOOK, ("C10", "C11")
    defaults = DEFAULTS
    title = "Bulgaria's R&D intensity against the EU: trend and rank"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        p = ctx.parameters
        data = gerd_intensity()
        window = data[data["year"].between(p["start"], p["end"])]
        series = window[window["geo"] == p["country"]].reset_index(drop=True)
        ref = window[window["geo"] == p["reference"]].reset_index(drop=True)
        flags = flag_years(series, "year", "flag")
        rows, seg_model = trend_rows(series, p, flags)
        brk, candidates, chosen_model = break_rows(series, p)
        rise = rise_row(series, p)
        rank, rank_table = rank_rows(window, p)
        rows += brk + ([rise] if rise else []) + gap_rows(window, p) + rank
        _caveats(rows, series, flags, p)
        vintage = snapshot_vintage([_raw()])
        sources = [f"Eurostat {DATASET} PC_GDP TOTAL (vintage {_raw().attrs.get('vintage')})"]
        rows_df = finish_rows(rows, hypothesis=HYPOTHESIS, notebook=NOTEBOOK, parameters=p,
                              data_sources=sources[0], data_vintage=vintage, run_id=ctx.name)
        missing = sorted(set(range(p["start"], p["end"] + 1)) - set(series["year"]))
        cross = data[(data["year"] == p["end"]) & data["geo"].isin(list(EU28) + [p["reference"]])]
        return Evidence(
            rows=rows_df, sources=sources, vintage=vintage, parameters=p,
            tables={"series": pd.concat([series, ref], ignore_index=True), "rank": rank_table,
                    "countries_end": cross.sort_values("value").reset_index(drop=True),
                    "break_candidates": candidates},
            models={"segmented": seg_model, "chosen": chosen_model},
            notes=[f"{p['country']}: no value in {missing}"] if missing else [],
            values={"rise": None if rise is None else rise["effect"], "flags": flags})

    def figures(self, evidence: Evidence) -> dict:
        return {"h5_gerd_series": figure_series(evidence),
                "h5_gerd_eu_countries": figure_countries(evidence)}


#: the declared hypothesis: this module's one entry point
hypothesis = RdNationalHypothesis()


def run(country: str = "BG", reference: str = "EU28", start: int = 2000, end: int = 2016,
        break_year: int = 2010, alpha: float = 0.05) -> Evidence:
    """Run H5 (compute and judge, nothing written); see the module docstring."""
    return hypothesis.run(country=country, reference=reference, start=start, end=end,
                          break_year=break_year, alpha=alpha)


def figure_series(analysis: Evidence):
    """The country and the reference, GERD % of GDP over the window, Eurostat flags marked."""
    from .. import figures as cf

    p = analysis.parameters
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


def figure_countries(analysis: Evidence):
    """All EU28 member states in the end year (bar chart), the country highlighted, reference line."""
    from .. import figures as cf

    p = analysis.parameters
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
