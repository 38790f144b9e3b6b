"""H4 across the EU: Bulgaria's regional R&D disparity among the member states' (issue 12, item 4).

The guide's claim C12 (the South-west spends 7–14 times each other region) describes one
country. A reader's next question is whether that is unusual: this module runs H4's pure
functions (:mod:`clusterstats.analysis.rd_regional`) for every EU member state with at least two
comparable NUTS 2 regions, in every unit H4 knows, and places Bulgaria among them. It makes no
claim of its own: every row is *descriptive* (claim C12, no part, no verdict), so the verdict
report lists them in C12's section under "Other tests, diagnostics and descriptive numbers".

Per country and unit
--------------------
* **Year.** The requested year (default 2016, the guide's last data year) when every one of the
  country's (harmonised) regions has every input then; else the nearest such year
  (:func:`rd_regional.nearest_complete_year`, ties to the earlier year); else the nearest year
  H4 accepts with a minority of regions excluded by name (France: the outermost regions FRY1–FRY5
  have no recorded NUTS 2024 boundary). Every row says which, and why.
* **Regions.** H4's harmonised panel (:func:`rd_regional.regional_panel`): every input on the
  coarsest common partition of its NUTS versions, so HU10 = HU11 + HU12 and Lisbon PT17 =
  PT1A + PT1B. A country whose leader or majority of regions cannot be made comparable is left
  out with H4's reason (``Evidence.tables["skipped"]``).
* **Leader ratio.** The leading region (Bulgaria: BG41, the claim's region, as in H4; elsewhere
  the highest value) over the other regions *pooled* (H4's C13 rule, one rule for every unit:
  their sum for million EUR, their GERD over their GDP for % of GDP, over their population per
  inhabitant), with the bounds that the rounding of the published values allows as its interval
  (the regions are the whole population: no sampling interval); the smallest and largest ratio
  to each other region (C12's "7–14 times each other region") ride along as ``ratio_min`` and
  ``ratio_max``.
* **Theil T**, population-weighted, of the level H4 uses (% of GDP, or EUR per inhabitant):
  a population statistic of all regions, no interval.
* **NUTS version named.** The version of the country's R&D data in that year, as
  ``data/nuts/series_nuts_versions.csv`` records it: the newest version whose code set holds the
  codes (Bulgaria's codes are the same in every version, so they read "NUTS 2024"), and the units
  that had to be harmonised with their members.
* **Placement.** Bulgaria's rank among the countries in each unit and measure (1 = most unequal),
  with the EU median and range.

References: Theil, H. (1967). Economics and Information Theory. North-Holland. Eurostat,
NUTS – history (https://ec.europa.eu/eurostat/web/nuts/history). EU member states: Eurostat
glossary "EU27_2020".
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..context import RunContext
from ..hypothesis import Evidence, Hypothesis
from ..nuts import NotComparableError
from ..params import ParameterError, check_choice, check_subset
from ..stats.inequality import leader_ratios, theil_t
from . import rd_regional as h4
from ._common import finish_rows, snapshot_vintage

NOTEBOOK = "h4_europe.ipynb"
#: the notebook's parameters cell, exactly
DEFAULTS = dict(year=2016, countries=None, highlight="BG")
#: EU member states since 1 February 2020 (Eurostat's EU27_2020), Greece as EL
EU_MEMBERS = ("AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "EL", "ES", "FI", "FR", "HR", "HU",
              "IE", "IT", "LT", "LU", "LV", "MT", "NL", "PL", "PT", "RO", "SE", "SI", "SK")
MEASURES = {"leader_to_others_together": "leader / the others pooled",
            "theil_t": "Theil T, population-weighted"}


def eu_countries() -> list[str]:
    """EU member states with NUTS 2 rows in tgs00042."""
    return [c for c in h4.countries() if c in EU_MEMBERS]


def check_parameters(year=2016, countries=None, highlight: str = "BG") -> dict:
    """Validate the notebook parameters (ParameterError with the valid choices)."""
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError(f"year must be a whole year such as 2016, got {year!r}") from None
    if not 2000 <= year <= 2030:
        raise ParameterError(f"year={year} is outside the data (2013-2024)")
    valid = eu_countries()
    if countries is not None:
        if isinstance(countries, str):
            countries = [countries]
        countries = check_subset([str(c).upper() for c in countries], valid, "countries")
    highlight = str(highlight).upper()
    check_choice(highlight, countries or valid, "highlight")
    return dict(year=year, countries=list(countries) if countries else None, highlight=highlight)


# --------------------------------------------------------------------------------------------
# one country, one unit
# --------------------------------------------------------------------------------------------
def choose_year(country: str, unit: str, target: int) -> tuple[int, str]:
    """The year the panel uses for ``country`` in ``unit`` and why (see the module docstring)."""
    if target in h4.complete_years(country, unit, target):
        return target, "the requested year, complete"
    try:
        y = h4.nearest_complete_year(country, unit, target)
        return y, f"the complete year nearest to {target} (no complete harmonised data in {target})"
    except ParameterError:
        pass
    panel = h4.regional_panel(country, unit, year=target)
    for y in sorted(set(panel.data["year"]), key=lambda y: (abs(y - target), y)):
        try:
            h4.check_year(country, unit, int(y))
        except ParameterError:
            continue
        gone = ", ".join(h4.excluded_units(h4.regional_panel(country, unit, year=int(y)), int(y)))
        return int(y), (f"the year nearest to {target} that H4 accepts; no year is complete: "
                        f"excluded by name: {gone}")
    raise ParameterError(f"{country}, {unit}: no year with two or more comparable regions")


def _leader(country: str, sub: pd.DataFrame) -> str:
    # H4's rule: BG41 for Bulgaria (the claim's region), else the region with the highest value
    if country == "BG" and h4.CLAIM_REGION in set(sub["geo"]):
        return h4.CLAIM_REGION
    return str(sub.loc[sub["value"].astype(float).idxmax(), "geo"])


def together_per_inhabitant(sub: pd.DataFrame, leader: str, shift: tuple[float, float] = (0, 0)) -> float:
    """Leader over the others pooled, for a published per-inhabitant value (the BES/GOV extracts):
    the leader's value over the others' population-weighted mean (their R&D over their
    population). ``shift`` = (leader, others) moves the published values (rounding bounds)."""
    lead = (sub["geo"] == leader).to_numpy()
    v = sub["value"].to_numpy(dtype=float) + np.where(lead, shift[0], shift[1])
    pop = sub["population"].to_numpy(dtype=float)
    return float(v[lead].sum() / (np.sum(v[~lead] * pop[~lead]) / pop[~lead].sum()))


def _together(panel_sub: pd.DataFrame, leader: str, unit: str, h: float) -> tuple[float, float, float]:
    """(ratio, lower bound, upper bound) of the leader over the others pooled."""
    if unit in h4.TOTAL_UNITS:
        f = lambda shift: h4.together_ratio(panel_sub, leader, unit, shift)  # noqa: E731
    elif panel_sub["population"].notna().all():
        f = lambda shift: together_per_inhabitant(panel_sub, leader, shift)  # noqa: E731
    else:
        return np.nan, np.nan, np.nan
    return f((0, 0)), f((-h, h)), f((h, -h))


def _nuts_text(panel_sub: pd.DataFrame) -> str:
    """'NUTS 2013, harmonised: HU10 = HU11+HU12' — the version of the compared regions' R&D data
    and the units that had to be harmonised."""
    versions = ", ".join(str(int(v)) for v in sorted(set(panel_sub["nuts_version"])))
    merged = [str(lab) for lab in panel_sub["label"] if "|" in str(lab)]
    return f"NUTS {versions}" + (f", harmonised: {'; '.join(merged)}" if merged else "")


def country_unit(country: str, unit: str, target: int) -> tuple[list[dict], pd.DataFrame]:
    """The two rows (leader ratio, Theil T) of one country in one unit, and the panel rows used.

    Raises ParameterError or :class:`clusterstats.nuts.NotComparableError` (with H4's reason)
    when the country cannot be compared in this unit."""
    year, how = choose_year(country, unit, target)
    panel = h4.regional_panel(country, unit, year=year)
    sub = panel.data[panel.data["year"] == year].reset_index(drop=True)
    leader = _leader(country, sub)
    h4.check_coverage(panel, year, leader)
    lr = leader_ratios(sub, "geo", "value", leader=leader).set_index("effect_name")["effect"]
    pc = h4.regional_panel(country, "PC_GDP", year=year).data if unit in h4.TOTAL_UNITS else panel.data
    h = h4.half_step(pc["pc_gdp"] if unit in h4.TOTAL_UNITS else pc["value"])
    ratio, lo, hi = _together(sub, leader, unit, h)
    nuts_text = _nuts_text(sub)
    base = dict(claim_id="C12", claim=h4.C12, part=pd.NA, role="descriptive", country=country,
                unit_code=unit, year=year, year_choice=how, leader=leader, n=len(sub),
                nuts_used=nuts_text, nuts_versions=sub["nuts_versions"].iloc[0],
                h0="descriptive measure (no test)", h1="descriptive measure (no test)",
                caveats=f"year {year}: {how}; {nuts_text}; " + h4.caveat_text(panel, year),
                reference=h4.REF_GUIDE)
    weighted = sub["population"].notna().all()
    theil = float(theil_t(sub, "level", "population")["effect"].iloc[0]) if weighted else np.nan
    rows = [dict(base, test="leader_to_others_together",
                 method=(f"{country} {year} ({nuts_text}): {leader} / the other {len(sub) - 1} "
                         f"regions pooled, {unit}; {leader} / each other region "
                         f"{lr['ratio_min']:.2f}-{lr['ratio_max']:.2f}"),
                 effect_name="ratio_to_others_together", effect=ratio, ci_low=lo, ci_high=hi,
                 ratio_min=float(lr["ratio_min"]), ratio_max=float(lr["ratio_max"]),
                 unit=f"ratio ({h4.UNIT_TEXT[unit]})",
                 note=(f"interval = bounds from the rounding of the published values (± {h:g}); "
                       "not a sampling interval: the regions are the whole population")),
            dict(base, test="theil_t",
                 method=(f"{country} {year} ({nuts_text}): Theil T of {h4.LEVEL_TEXT[unit]} over "
                         f"{len(sub)} regions, population-weighted"),
                 effect_name="theil_t", effect=theil, unit=f"index (level: {h4.LEVEL_TEXT[unit]})",
                 note=("population statistic of all regions: no interval" if weighted else
                       "not computed: a region has no 1 January population"))]
    return rows, sub.assign(country=country, unit=unit, year_choice=how, nuts_used=nuts_text)


# --------------------------------------------------------------------------------------------
# every country
# --------------------------------------------------------------------------------------------
def panel_rows(countries: list[str], target: int) -> tuple[list[dict], pd.DataFrame, pd.DataFrame, list]:
    """Rows for every country and unit; the regional values used; what was skipped and why;
    the snapshot frames read."""
    rows, used, skipped, frames = [], [], [], []
    for c in countries:
        for u in h4.UNITS:
            try:
                r, sub = country_unit(c, u, target)
            except (ParameterError, NotComparableError) as exc:
                skipped.append(dict(country=c, unit=u, reason=str(exc)))
                continue
            rows += r
            used.append(sub)
            frames += h4.regional_panel(c, u, year=int(sub["year"].iloc[0])).frames
    used_df = pd.concat(used, ignore_index=True) if used else pd.DataFrame()
    return rows, used_df, pd.DataFrame(skipped, columns=["country", "unit", "reason"]), frames


def placement_rows(table: pd.DataFrame, highlight: str) -> list[dict]:
    """``highlight``'s rank among the countries, per unit and measure (1 = the most unequal),
    with the median and range of the others (descriptive; ranks ignore the rounding bounds)."""
    out = []
    for (u, test), g in table.groupby(["unit_code", "test"], sort=False):
        vals = g.set_index("country")["effect"].astype(float).dropna()
        if highlight not in vals.index or len(vals) < 2:
            continue
        me = float(vals[highlight])
        rank = int((vals > me).sum()) + 1
        out.append(dict(
            claim_id="C12", claim=h4.C12, part=pd.NA, role="descriptive", unit_code=u,
            test=f"{test}_rank_in_eu", effect_name=f"rank_of_{highlight}", effect=float(rank),
            statistic=me, n=len(vals), unit="rank among EU countries (1 = most unequal)",
            method=(f"{highlight}'s {MEASURES[test]} in {u} ({me:.3g}) ranks {rank} of {len(vals)} "
                    f"EU countries; median {vals.median():.3g}, range {vals.min():.3g}-{vals.max():.3g}"),
            value=me, eu_median=float(vals.median()), eu_min=float(vals.min()),
            eu_max=float(vals.max()), countries=" ".join(vals.sort_values(ascending=False).index),
            h0="descriptive placement (no test)", h1="descriptive placement (no test)",
            caveats=("each country in its own year and NUTS version (see its row); "
                     "statistic = the value ranked"),
            reference=h4.REF_GUIDE))
    return out


def map_values(used: pd.DataFrame, countries: list[str], target: int) -> pd.DataFrame:
    """R&D intensity (% of GDP) per (harmonised) region for the map: the panel's PC_GDP regions,
    and for a country with one NUTS 2 region its value in the year nearest to ``target``."""
    parts = [used[used["unit"] == "PC_GDP"]] if len(used) else []
    have = set(parts[0]["country"]) if parts else set()
    for c in (c for c in countries if c not in have):
        try:
            d = h4.regional_panel(c, "PC_GDP", year=target).data
        except ParameterError:
            continue
        if d.empty or d.groupby("year")["geo"].nunique().max() != 1:
            continue   # several regions but not comparable: skipped, not drawn
        y = min(d["year"], key=lambda y: (abs(y - target), y))
        parts.append(d[d["year"] == y].assign(country=c, unit="PC_GDP", nuts_used=_nuts_text(d[d["year"] == y]),
                                              year_choice="one NUTS 2 region"))
    cols = ["country", "geo", "label", "members", "nuts_version", "year", "value", "flag", "nuts_used",
            "year_choice"]
    return pd.concat(parts, ignore_index=True)[cols] if parts else pd.DataFrame(columns=cols)


def compute_evidence(p: dict, run_id: str | None = None) -> Evidence:
    """The evidence for validated parameters ``p``: no verdicts (descriptive rows only)."""
    countries = p["countries"] or eu_countries()
    rows, used, skipped, frames = panel_rows(countries, p["year"])
    table = pd.DataFrame(rows)
    # the placement first: the verdict report lists C12's descriptive rows in table order
    rows = (placement_rows(table, p["highlight"]) if len(table) else []) + rows
    vintage = snapshot_vintage(frames)
    sources = h4.source_list(frames)
    rows_df = finish_rows(rows, hypothesis="H4", notebook=NOTEBOOK, parameters=p,
                          data_sources="; ".join(sources), data_vintage=vintage, run_id=run_id)
    notes = [f"{len(set(table['country'])) if len(table) else 0} countries compared; "
             f"{len(skipped)} country-units skipped (see the 'skipped' table)"]
    tables = {"panel": table, "regions": used, "skipped": skipped,
              "map": map_values(used, countries, p["year"])}
    return Evidence(rows=rows_df, tables=tables, notes=notes, sources=sources, vintage=vintage,
                    parameters=dict(p), values=_summary_values(rows_df, p))


def _summary_values(rows: pd.DataFrame, p: dict) -> dict:
    ranks = rows[rows["test"].astype(str).str.endswith("_rank_in_eu")]
    return dict(highlight=p["highlight"], year=p["year"],
                placements=[dict(unit=r.unit_code, measure=MEASURES[r.test.removesuffix("_rank_in_eu")],
                                 value=r.value, rank=r.effect, n=r.n, median=r.eu_median,
                                 low=r.eu_min, high=r.eu_max) for r in ranks.itertuples()],
                n_countries=int(rows.loc[rows["test"] == "theil_t", "country"].nunique()))


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def _dot_panel(ax, g: pd.DataFrame, highlight: str, measure: str, cf) -> None:
    # undefined values (no population for the weights, no pooled ratio) are not drawn; the
    # figure's data keep them with the reason in the rows
    g = g[g["effect"].notna()].sort_values("effect", ascending=True).reset_index(drop=True)
    y = np.arange(len(g))
    hot = (g["country"] == highlight).to_numpy()
    colour = np.where(hot, cf.OKABE_ITO["vermillion"], "#555555")
    if measure == "leader_to_others_together":
        ax.hlines(y, g["ratio_min"], g["ratio_max"], color="#cccccc", lw=3, label="leader / each other region")
        err = np.vstack([g["effect"] - g["ci_low"], g["ci_high"] - g["effect"]]).astype(float)
        ax.errorbar(g["effect"], y, xerr=np.nan_to_num(err), fmt="none", ecolor=colour, lw=0.8)
        ax.set_xscale("log")
    ax.scatter(g["effect"], y, c=list(colour), s=np.where(hot, 22, 10), zorder=3)
    ax.set_yticks(y, [f"{r.country} {r.year}, {r.nuts_used.split(',')[0]}" for r in g.itertuples()],
                  fontsize=5)
    for t, h in zip(ax.get_yticklabels(), hot):
        if h:
            t.set_color(colour[hot][0])
            t.set_fontweight("bold")


def figure_disparity(evidence):
    """(a) The leader over the others pooled (its rounding bounds as the interval, the range of
    leader / each other region in grey) and the population-weighted Theil T, per country, one
    column per unit; the highlighted country in colour. Each label names the year and the NUTS
    version of the country's R&D data."""
    from .. import figures as cf

    p = evidence.parameters
    t = evidence.tables["panel"]
    units = [u for u in h4.UNITS if u in set(t["unit_code"])]
    # landscape: five units side by side, each with country labels that name year and NUTS version
    fig, axes = cf.new_figure(250, 235, nrows=2, ncols=len(units), squeeze=False)
    for j, u in enumerate(units):
        for i, m in enumerate(MEASURES):
            ax = axes[i][j]
            _dot_panel(ax, t[(t["unit_code"] == u) & (t["test"] == m)], p["highlight"], m, cf)
            ax.set_title(f"{u}" + (" (derived)" if u in ("MIO_EUR", "EUR_HAB") else ""), fontsize=6)
            ax.tick_params(axis="x", labelsize=5)
            cf.set_xlabel(ax, "Leader / others" if i == 0 else "Theil T",
                          "ratio, log" if i == 0 else ("index; % of GDP" if u == "PC_GDP"
                                                       else "index; EUR/inhabitant"), fontsize=5)
    fig.suptitle(f"Regional R&D disparity across the EU, NUTS 2, near {p['year']}: "
                 f"{p['highlight']} highlighted", fontsize=8)
    src = evidence.sources
    # two sources a line: the line-wrapping estimate of add_source_note undercounts long
    # dataset names with underscores
    lines = ["; ".join(src[i:i + 2]) for i in range(0, len(src), 2)]
    cf.add_source_note(fig, "Source: " + ";\n".join(lines) + ".\nHarmonised NUTS 2 units "
                       "(clusterstats.nuts). Interval: rounding bounds of the published values; grey: "
                       "leader / each other region. Each country in the year named on its label, with the newest NUTS "
                       "version whose codes hold its R&D data.")
    data = t[["country", "unit_code", "test", "year", "year_choice", "leader", "n", "effect", "ci_low",
              "ci_high", "ratio_min", "ratio_max", "nuts_used", "nuts_versions"]].reset_index(drop=True)
    return fig, data


#: the European frame of the map, EPSG:3035 metres (mainland, islands and Cyprus; the outermost
#: regions overseas are left out of the frame and named in the source line)
EUROPE_FRAME = (2.5e6, 1.3e6, 6.6e6, 5.5e6)


def figure_map(evidence, nuts_year: int = 2021):
    """(b) R&D intensity (% of GDP) by NUTS 2 region across the EU, each country in its year;
    harmonised units drawn as their members' dissolved NUTS 2021 polygons."""
    from .. import maps

    vals = evidence.tables["map"]
    gdf = maps.load_nuts(2, None, nuts_year)
    gdf = gdf[gdf["CNTR_CODE"].isin(EU_MEMBERS)]
    gdf, notes = h4.harmonised_map(vals, gdf, nuts_year=nuts_year)
    pts = gdf.to_crs(maps.MAP_CRS).representative_point()
    x0, y0, x1, y1 = EUROPE_FRAME
    inside = (pts.x.between(x0, x1) & pts.y.between(y0, y1)).to_numpy()
    overseas = sorted(gdf.loc[~inside, "NUTS_ID"])
    gdf = gdf[inside].reset_index(drop=True)
    shown = vals[vals["geo"].isin(gdf["NUTS_ID"])].reset_index(drop=True)
    fig, ax = maps.new_map_figure(gdf, "double")
    years = ", ".join(f"{c} {y}" for c, y in shown.groupby("country")["year"].first().items())
    src = (f"Source: Eurostat tgs00042 harmonised (clusterstats.nuts); years: {years}. "
           f"Not in the frame: {', '.join(overseas)}. ") + " ".join(n[0].upper() + n[1:] + "." for n in notes)
    maps.choropleth(ax, gdf, shown.assign(flag=shown["flag"].replace("", None)), unit="% of GDP",
                    label="GERD", source=src, flag="flag", labels=None, edgecolor="white")
    ax.set_title(f"R&D intensity by NUTS 2 region, EU, near {evidence.parameters['year']}", fontsize=8)
    return fig, shown


# --------------------------------------------------------------------------------------------
# the declared hypothesis
# --------------------------------------------------------------------------------------------
NARRATIVE = """\
{% set v = evidence.values %}
{{ v.n_countries }} EU countries have two or more comparable NUTS 2 regions in some unit. Where
{{ v.highlight }} stands (1 = the most unequal; each country in its own year and NUTS version,
named in its row):
{% for r in v.placements %}
* {{ r.unit }}, {{ r.measure }}: {{ v.highlight }} {{ r.value|num }}, rank {{ r.rank|int }} of {{ r.n|int }}
  (EU median {{ r.median|num }}, range {{ r.low|num }}–{{ r.high|num }}).
{% endfor %}

These are descriptive numbers for claim C12 (no verdict): the guide says nothing about other
countries.
"""


class EuropeanDisparity(Hypothesis):
    """H4 for every EU country: Bulgaria's regional R&D disparity among its peers (C12, descriptive)."""

    id, notebook, claims = "H4", NOTEBOOK, ("C12",)
    defaults = DEFAULTS
    title = "Regional R&D disparity across the EU: where does Bulgaria stand?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        """Leader ratios and Theil T per country and unit, Bulgaria's placement; no verdicts."""
        return compute_evidence(ctx.parameters, run_id=ctx.name)

    def figures(self, evidence: Evidence) -> dict:
        return {"h4_europe_disparity": figure_disparity(evidence),
                "h4_europe_map": figure_map(evidence)}


#: the declared hypothesis: this module's one entry point (notebooks/h4_europe.ipynb)
hypothesis = EuropeanDisparity()


def run(year: int = 2016, countries: list[str] | None = None, highlight: str = "BG") -> Evidence:
    """Compute and judge (no verdicts: descriptive rows), nothing written."""
    return hypothesis.run(year=year, countries=countries, highlight=highlight)
