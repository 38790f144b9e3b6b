"""H4 — regional R&D disparity: how far the leading NUTS 2 region is ahead of the others.

The guide (section "Number and types of technology transfers made in Bulgaria", p. 32 ff. by its table of contents; seed line 549) says the South-west (BG41) spends 7–14 times more on R&D than
each other region (claim C12), that the five others together spend about half as much as the
South-west, and that South central (BG42) ranks second (C13). It does not say in which unit.
The ratio depends heavily on the unit, so this module computes it in every unit the data allow
and says which unit reproduces the guide's range:

=============  ===================================================================  ==========
unit           how it is obtained                                                   derived?
=============  ===================================================================  ==========
PC_GDP         GERD % of GDP, Eurostat ``tgs00042``                                 no
MIO_EUR        PC_GDP / 100 × regional GDP MIO_EUR (``nama_10r_2gdp``, one vintage) yes
EUR_HAB        MIO_EUR × 1e6 / population on 1 January (``demo_r_pjanaggr3``)       yes
BES_EUR_HAB    business-enterprise R&D EUR per inhabitant (Nesta extract of         no (extract)
               ``rd_e_gerdreg``)
GOV_EUR_HAB    government-sector R&D EUR per inhabitant (same extract)              no (extract)
=============  ===================================================================  ==========

Eurostat's own EUR_HAB divides by the *annual average* population; ours uses 1 January, so it
differs slightly and is labelled derived. The GDP series is never spliced across vintages: the
vintage covering most of the requested years is used for all of them and the other years are
dropped (and listed).

NUTS versions. Region codes change between NUTS 2013/2016/2021/2024 (e.g. HU10 → HU11+HU12,
PT16–18 → PT19/PT1A–1D, IE01/02 → IE04–06, HR04 → HR02/05/06). For each year the analysis keeps
the regions that have every input in that year and lists the dropped ones with the reason; the
dispersion trend uses only regions present in every year (a balanced panel), again listed.

Inequality measures are computed on a *level* (Theil, Gini and Williamson need levels, not
totals): R&D intensity (% of GDP) for PC_GDP, EUR per inhabitant for MIO_EUR/EUR_HAB and the
two sector extracts, weighted by population (default), by GDP, or unweighted.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd

from ..params import ParameterError, check_alpha, check_choice, check_subset, check_year_range
from ..snapshot import load_snapshot
from ..stats.convergence import beta_convergence, sigma_convergence
from ..stats.inequality import (cv, gini, inequality_table, leader_ratios, summarise_years, theil_l,
                                theil_t, williamson_cv)
from ._common import Analysis, finish_rows, snapshot_vintage

NOTEBOOK = "h4_regional_rd_disparity.ipynb"
UNITS = ("PC_GDP", "MIO_EUR", "EUR_HAB", "BES_EUR_HAB", "GOV_EUR_HAB")
WEIGHTS = ("population", "gdp", None)
GDP_VINTAGES = ("nama_10r_2gdp_2026", "nama_10r_2gdp_2017")   # newest first: wins ties

UNIT_TEXT = {
    "PC_GDP": "% of GDP",
    "MIO_EUR": "million EUR (derived)",
    "EUR_HAB": "EUR per inhabitant (derived, 1 Jan population)",
    "BES_EUR_HAB": "business R&D, EUR per inhabitant",
    "GOV_EUR_HAB": "government R&D, EUR per inhabitant",
}
FORMULA = {
    "PC_GDP": "tgs00042 GERD % of GDP, all sectors (published)",
    "MIO_EUR": "derived: GERD_MIO_EUR = PC_GDP / 100 × GDP_MIO_EUR (nama_10r_2gdp)",
    "EUR_HAB": ("derived: GERD_EUR_HAB = PC_GDP / 100 × GDP_MIO_EUR × 1e6 / population on 1 January "
                "(demo_r_pjanaggr3; Eurostat uses the annual average population)"),
    "BES_EUR_HAB": "rd_e_gerdreg BES EUR_HAB as published (Nesta extract, NUTS 2016 codes)",
    "GOV_EUR_HAB": "rd_e_gerdreg GOV EUR_HAB as published (Nesta extract, NUTS 2016 codes)",
}
#: the guide's claims this notebook tests (data/claims.yaml)
C12 = "R&D spending in the South-west region (BG41) is 7-14 times that of each other region."
C13 = ("The five other regions together spend about half as much on R&D as the South-west; "
       "South central ranks second.")
GUIDE_RANGE = (7.0, 14.0)
#: "2 times less": we read "about half" as a leader / total-of-others ratio in [1.5, 2.5]
ABOUT_TWO = (1.5, 2.5)
REF_GUIDE = ("Good Practices Guide on Clusters and Technology Transfers - Bulgaria (2018), section "
             "'Number and types of technology transfers made in Bulgaria' (p. 32 ff.), seed line 549")


# --------------------------------------------------------------------------------------------
# data
# --------------------------------------------------------------------------------------------
def _nuts2(df: pd.DataFrame, country: str) -> pd.DataFrame:
    geo = df["geo"].astype(str)
    out = df[geo.str.fullmatch(rf"{country}[0-9A-Z]{{2}}")].copy()
    out["geo"] = out["geo"].astype(str)
    out["year"] = out["time"].astype(str).astype(int)
    return out[out["value"].notna()]


def _flag_text(series: pd.Series) -> pd.Series:
    return series.astype(object).where(series.notna(), "").astype(str).str.strip()


@lru_cache(maxsize=None)
def _load(name: str) -> pd.DataFrame:
    # cached: one run reads the same snapshot for several units; callers never modify it
    return load_snapshot(name)


def countries() -> list[str]:
    """Countries with NUTS 2 rows in tgs00042 (the codes ``country=`` accepts)."""
    geo = _load("tgs00042")["geo"].astype(str)
    return sorted(set(geo[geo.str.fullmatch(r"[A-Z]{2}[0-9A-Z]{2}")].str[:2]))


def _gdp_vintage(years: list[int]) -> str:
    """The GDP vintage covering most of ``years`` (ties: the newer one). Never two at once."""
    best, cover = None, -1
    for name in GDP_VINTAGES:
        have = set(_load(name)["time"].astype(str).astype(int))
        n = len(have & set(years))
        if n > cover:
            best, cover = name, n
    return best


@dataclass
class Panel:
    """A regional series in one unit with everything needed for the measures."""
    data: pd.DataFrame          # geo, year, value, level, pc_gdp, gdp_mio_eur, population, flag
    unit: str
    dropped: pd.DataFrame       # year, geo, reason
    frames: list                # the snapshot frames used (for vintages)
    notes: list


def regional_panel(country: str = "BG", unit: str = "MIO_EUR", regions: list[str] | None = None,
                   years: tuple[int, int] | None = None) -> Panel:
    """NUTS 2 regions of ``country`` in ``unit``, one row per region and year.

    Columns: ``geo, year, value`` (in ``unit``), ``level`` (the level inequality measures use:
    % of GDP for PC_GDP, EUR per inhabitant otherwise), ``pc_gdp``, ``gdp_mio_eur``,
    ``population`` (1 January; NA where not available), ``flag`` (the tgs00042 or extract flag),
    ``derived`` (bool) and ``formula``. Region-years lacking an input are dropped and listed in
    ``Panel.dropped`` with the reason (NUTS version changes show up here).
    """
    check_choice(unit, UNITS, "unit")
    notes: list[str] = []
    frames = []
    pop_raw = _load("demo_r_pjanaggr3")
    pop = _nuts2(pop_raw, country).set_index(["geo", "year"])["value"].rename("population")
    if unit in ("BES_EUR_HAB", "GOV_EUR_HAB"):
        raw = _load("rd_e_gerdreg_bes_eur_hab" if unit == "BES_EUR_HAB" else "rd_e_gerdreg_gov_eur_hab")
        frames.append(raw)
        base = _nuts2(raw, country)
        needed = []     # published per-inhabitant values: nothing to derive
    else:
        raw = _load("tgs00042")
        frames.append(raw)
        base = _nuts2(raw, country)
        needed = ["gdp"] if unit == "MIO_EUR" else ["gdp", "population"] if unit == "EUR_HAB" else []
    if base.empty:
        raise ParameterError(f"country={country!r}: no NUTS 2 rows in {raw.attrs.get('name')}; "
                             f"valid countries: {', '.join(countries())}")
    if regions is not None:
        regions = check_subset(regions, sorted(set(base["geo"])), "regions")
        base = base[base["geo"].isin(regions)]
    if years is not None:
        start, end = check_year_range(years[0], years[1], base["year"].unique(), name="years")
        base = base[base["year"].between(start, end)]
    base = base[["geo", "year", "value", "flag"]].copy()
    base["flag"] = _flag_text(base["flag"])
    gdp = pd.Series(dtype=float, name="gdp_mio_eur",
                    index=pd.MultiIndex.from_arrays([[], []], names=["geo", "year"]))
    if unit in ("PC_GDP", "MIO_EUR", "EUR_HAB"):
        vintage = _gdp_vintage(sorted(base["year"].unique()))
        graw = _load(vintage)
        frames.append(graw)
        g = _nuts2(graw[graw["unit"].astype(str) == "MIO_EUR"], country)
        gdp = g.set_index(["geo", "year"])["value"].rename("gdp_mio_eur")
        notes.append(f"regional GDP from {vintage} (vintage {graw.attrs.get('vintage')}), one "
                     "vintage for the whole series")
    frames.append(pop_raw)
    base = base.join(gdp, on=["geo", "year"]).join(pop, on=["geo", "year"])
    base["pc_gdp"] = base["value"] if unit in ("PC_GDP", "MIO_EUR", "EUR_HAB") else np.nan
    missing = pd.Series("", index=base.index)
    if "gdp" in needed:
        missing = missing.where(base["gdp_mio_eur"].notna(), missing + "no regional GDP for this code/year; ")
    if "population" in needed:
        missing = missing.where(base["population"].notna(), missing + "no 1 January population for this code/year; ")
    dropped = base.loc[missing != "", ["year", "geo"]].assign(reason=missing[missing != ""].str.rstrip("; "))
    base = base[missing == ""].copy()
    if unit == "MIO_EUR":
        base["value"] = base["pc_gdp"] / 100.0 * base["gdp_mio_eur"]
    elif unit == "EUR_HAB":
        base["value"] = base["pc_gdp"] / 100.0 * base["gdp_mio_eur"] * 1e6 / base["population"]
    # Inequality measures need a level, not a total: MIO_EUR is measured per inhabitant
    # (NA where the 1 January population is missing); every other unit is a level already.
    base["level"] = (base["value"] * 1e6 / base["population"]) if unit == "MIO_EUR" else base["value"]
    base["derived"] = unit in ("MIO_EUR", "EUR_HAB")
    base["formula"] = FORMULA[unit]
    base["unit"] = unit
    if base.empty:
        raise ParameterError(f"country={country!r}, unit={unit}: no region-year has every input "
                             f"({', '.join(needed) or 'value'}); try another unit or years")
    out = base.sort_values(["year", "geo"]).reset_index(drop=True)
    return Panel(out[["geo", "year", "unit", "value", "level", "pc_gdp", "gdp_mio_eur", "population",
                      "flag", "derived", "formula"]], unit,
                 dropped.sort_values(["year", "geo"]).reset_index(drop=True), frames, notes)


def balanced(data: pd.DataFrame, column: str = "level") -> tuple[pd.DataFrame, list[str], list[int]]:
    """A balanced panel: the years that share the most common region set, and only those regions.

    A NUTS revision changes the region set (IE01/IE02 -> IE04-IE06); keeping only regions present
    in *every* year would then keep none. Instead the years are grouped by their region set and
    the set covering most years wins (ties: the later years). Returns (panel, dropped regions,
    dropped years).
    """
    ok = data[np.isfinite(data[column].astype(float))]
    sets = ok.groupby("year")["geo"].agg(frozenset)
    if sets.empty:
        return ok, [], []
    years_by_set: dict = {}
    for yr, regs in sets.items():
        years_by_set.setdefault(regs, []).append(yr)
    best = max(years_by_set, key=lambda k: (len(years_by_set[k]), max(years_by_set[k]), len(k)))
    keep_years = years_by_set[best]
    panel = ok[ok["year"].isin(keep_years) & ok["geo"].isin(best)]
    return (panel, sorted(set(ok["geo"]) - set(best)),
            sorted(int(y) for y in set(ok["year"]) - set(keep_years)))


# --------------------------------------------------------------------------------------------
# rows
# --------------------------------------------------------------------------------------------
def _ratio_verdict(lo: float, hi: float) -> tuple[str, str]:
    a, b = GUIDE_RANGE
    if lo >= a - 0.5 and hi <= b + 0.5:
        return "supported", f"ratios {lo:.1f}–{hi:.1f} lie within the guide's 7–14"
    if hi >= a - 0.5 and lo <= b + 0.5:
        return "partly", f"ratios {lo:.1f}–{hi:.1f} overlap the guide's 7–14 but do not lie within it"
    return "not supported", f"ratios {lo:.1f}–{hi:.1f} do not overlap the guide's 7–14"


def _caveat(panel: Panel, year: int | None = None) -> str:
    parts = []
    if panel.data["derived"].any():
        parts.append(f"derived series: {FORMULA[panel.unit]}")
    if panel.unit in ("BES_EUR_HAB", "GOV_EUR_HAB"):
        parts.append("Nesta-derived extract of rd_e_gerdreg (one sector only)")
    d = panel.dropped if year is None else panel.dropped[panel.dropped["year"] == year]
    if len(d):
        parts.append("dropped region-years: " + "; ".join(
            f"{g} {', '.join(str(y) for y in sub['year'])} ({sub['reason'].iloc[0]})"
            for g, sub in d.groupby("geo")))
    sub = panel.data if year is None else panel.data[panel.data["year"] == year]
    flagged = sub[sub["flag"] != ""]
    if len(flagged):
        parts.append("flags: " + ", ".join(f"{r.geo} {r.year} '{r.flag}'" for r in flagged.itertuples()))
    n = sub["geo"].nunique()
    parts.append(f"{n} regions: descriptive, the regions are the whole population")
    return "; ".join(parts)


def _sources(frames) -> list[str]:
    seen = []
    for f in frames:
        text = f"Eurostat {f.attrs.get('name')} (vintage {f.attrs.get('vintage')})"
        if f.attrs.get("derived_extract") == "True":
            text += " [Nesta extract]"
        if text not in seen:
            seen.append(text)
    return seen


def check_parameters(country: str = "BG", regions=None, years=None, unit: str = "MIO_EUR",
                     year: int = 2016, leader: str | None = None, alpha: float = 0.05,
                     weight: str | None = "population", groups: str | None = "nuts1") -> dict:
    """Validate the notebook parameters (raises ParameterError with the valid choices)."""
    alpha = check_alpha(alpha)
    country = str(country).upper()
    check_choice(country, countries(), "country")
    check_choice(unit, UNITS, "unit")
    # "none" spelled as text too: the pipeline's parameter check types `weight` as a string
    weight = None if isinstance(weight, str) and weight.lower() == "none" else weight
    check_choice(weight, WEIGHTS, "weight")
    check_choice(groups, ("nuts1", None), "groups")
    raw = _nuts2(_load("tgs00042"), country)
    if regions is not None:
        regions = check_subset(regions, sorted(set(raw["geo"])), "regions")
    if years is not None:
        if not isinstance(years, (list, tuple)) or len(years) != 2:
            raise ParameterError(f"years must be [start, end] or None, got {years!r}")
        years = check_year_range(years[0], years[1], raw["year"].unique(), name="years")
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError(f"year must be a whole year such as 2016, got {year!r}") from None
    if leader is not None:
        leader = check_choice(str(leader), sorted(set(raw["geo"])), "leader")
    return dict(country=country, regions=regions, years=list(years) if years else None, unit=unit,
                year=year, leader=leader, alpha=alpha, weight=weight, groups=groups)


def run(country: str = "BG", regions: list[str] | None = None, years: tuple[int, int] | None = None,
        unit: str = "MIO_EUR", year: int = 2016, leader: str | None = None, alpha: float = 0.05,
        weight: str | None = "population", groups: str | None = "nuts1") -> Analysis:
    """Leader-to-others ratios per unit in ``year``, inequality and convergence in ``unit``.

    ``country`` any country with NUTS 2 rows in tgs00042; ``regions`` restricts to some NUTS 2
    codes; ``years`` = (start, end) for the dispersion trend; ``leader`` = None picks the region
    with the highest value in ``year`` (per unit); ``weight`` in {"population", "gdp", None};
    ``groups`` = "nuts1" decomposes Theil between/within NUTS 1 (or None).
    """
    params = check_parameters(country=country, regions=regions, years=years, unit=unit, year=year,
                              leader=leader, alpha=alpha, weight=weight, groups=groups)
    country, regions, years, unit, year, leader, alpha, weight, groups = (
        params[k] for k in ("country", "regions", "years", "unit", "year", "leader", "alpha",
                            "weight", "groups"))
    level_unit = {"PC_GDP": "% of GDP"}.get(unit, "EUR per inhabitant")
    is_bg = country == "BG"
    rows: list[dict] = []
    tables: dict[str, pd.DataFrame] = {}
    models: dict = {}
    notes: list[str] = []
    frames: list = []

    # ---- C12/C13: ratios in every unit, in `year`
    ratio_parts, by_unit = [], {}
    for u in UNITS:
        try:
            p = regional_panel(country, u, regions)
        except ParameterError as exc:
            if u == unit:
                raise
            notes.append(f"{u}: not available ({exc})")
            continue
        frames += p.frames
        by_unit[u] = p
        sub = p.data[p.data["year"] == year]
        if u == unit and sub.empty:
            raise ParameterError(f"year={year}: no {unit} data for {country}; years with data: "
                                 f"{sorted(int(y) for y in p.data['year'].unique())}")
        if len(sub) < 2:
            notes.append(f"{u}: fewer than two regions in {year}, no ratios")
            continue
        if leader is not None and leader not in set(sub["geo"]):
            if u == unit:
                raise ParameterError(f"leader={leader!r} has no {unit} value in {year}; regions: "
                                     f"{sorted(sub['geo'])}")
            notes.append(f"{u}: leader {leader} has no value in {year}")
            continue
        lr = leader_ratios(sub, "geo", "value", leader=leader)
        lr.insert(0, "unit_code", u)
        ratio_parts.append(lr)
        pair = lr[lr["effect_name"].str.startswith("ratio_to_") &
                  ~lr["effect_name"].isin(["ratio_to_mean_of_others", "ratio_to_total_of_others"])]
        lo, hi = float(pair["effect"].min()), float(pair["effect"].max())
        lead = lr["leader"].iloc[0]
        verdict, text = _ratio_verdict(lo, hi)
        if not is_bg:
            verdict, text = "inconclusive", f"{country} for comparison (the guide's claim is about Bulgaria): " + text
        rows.append(dict(
            claim_id="C12", claim=C12,
            h0=f"in {year} the leader/other ratios in {u} lie outside 7–14",
            h1=f"in {year} the leader/other ratios in {u} lie within 7–14",
            test="leader_ratio_range", method=(f"{lead} / each other NUTS 2 region, {u} in {year}: "
                                               f"min {lo:.2f}, max {hi:.2f} over {len(pair)} regions"),
            effect_name="ratio_min", effect=lo, n=len(sub), unit=f"ratio ({UNIT_TEXT[u]})",
            verdict=verdict, verdict_text=f"In {u}, {text}.", caveats=_caveat(p, year),
            reference=REF_GUIDE, ratio_min=lo, ratio_max=hi, leader=lead, unit_code=u, year=year))
    if not ratio_parts:
        raise ParameterError(f"no unit has two or more regions with data in {year} for {country}")
    ratios = pd.concat(ratio_parts, ignore_index=True)
    tables["ratios_by_unit"] = ratios
    judged = {r["unit_code"]: _ratio_verdict(r["ratio_min"], r["ratio_max"])[0] for r in rows}
    reproduces = [u for u, v in judged.items() if v == "supported"]
    overlaps = [u for u, v in judged.items() if v == "partly"]
    notes.append(f"units whose {year} ratios lie within 7–14: {reproduces or 'none'}; overlapping "
                 f"only: {overlaps or 'none'}")

    # ---- C13: total of others and second region, in the chosen unit and in MIO_EUR (totals)
    panel = by_unit[unit]
    for u in dict.fromkeys([unit, "MIO_EUR"]):
        if u not in by_unit:
            continue
        sub = by_unit[u].data[by_unit[u].data["year"] == year].sort_values("value", ascending=False)
        if len(sub) < 2:
            continue
        r = ratios[(ratios["unit_code"] == u) & (ratios["effect_name"] == "ratio_to_total_of_others")]
        if r.empty:
            continue
        val = float(r["effect"].iloc[0])
        lead = r["leader"].iloc[0]
        ok = ABOUT_TWO[0] <= val <= ABOUT_TWO[1]
        meaningful = u == "MIO_EUR"
        verdict = ("supported" if ok else "not supported") if meaningful else "inconclusive"
        text = (f"In {u}, {lead} is {val:.2f} times the sum of the other {len(sub) - 1} regions "
                f"(the guide: about 2).")
        if not meaningful:
            text += " Summing regions is meaningful only for totals (MIO_EUR), so this is context."
        if not is_bg:
            verdict = "inconclusive"
            text = f"{country} for comparison: " + text
        rows.append(dict(
            claim_id="C13", claim=C13, h0=f"{lead} / sum of others is outside {ABOUT_TWO[0]}–{ABOUT_TWO[1]}",
            h1=f"{lead} / sum of others is about 2 ({ABOUT_TWO[0]}–{ABOUT_TWO[1]})",
            test="leader_to_total_of_others", method=f"{lead} / sum of the others, {u} in {year}",
            effect_name="ratio_to_total_of_others", effect=val, n=len(sub), unit=f"ratio ({UNIT_TEXT[u]})",
            verdict=verdict, verdict_text=text, caveats=_caveat(by_unit[u], year), reference=REF_GUIDE,
            unit_code=u, year=year, leader=lead))
        second = sub["geo"].iloc[1]
        if is_bg:
            verdict = "supported" if second == "BG42" else "not supported"
            text = (f"In {u} the second region in {year} is {second}"
                    + (" (South central), as the guide says." if second == "BG42"
                       else ", not South central (BG42) as the guide says."))
        else:
            verdict, text = "inconclusive", f"{country} for comparison: the second region in {u} is {second}."
        rows.append(dict(
            claim_id="C13", claim=C13, h0="South central (BG42) is not the second region",
            h1="South central (BG42) is the second region", test="second_region",
            method=f"rank of regions by {u} in {year}; effect = second / leader",
            effect_name="second_to_leader", effect=float(sub["value"].iloc[1] / sub["value"].iloc[0]),
            n=len(sub), unit=f"ratio ({UNIT_TEXT[u]})", verdict=verdict, verdict_text=text,
            caveats=_caveat(by_unit[u], year), reference=REF_GUIDE, unit_code=u, year=year,
            second=second, leader=sub["geo"].iloc[0]))

    # ---- ratio stability across years (chosen unit)
    data = panel.data if years is None else panel.data[panel.data["year"].between(*years)]
    multi = data.groupby("year").filter(lambda s: len(s) >= 2)
    if multi["year"].nunique() >= 2 and (leader is None or leader in set(multi["geo"])):
        per_year = leader_ratios(multi, "geo", "value", leader=leader, year="year")
        tables["ratios_by_year"] = per_year
        for measure in ("ratio_min", "ratio_max"):
            s = summarise_years(per_year, "year", measure, ci_level=1 - alpha)
            s = s.assign(claim_id="C12", claim=C12, unit=f"ratio ({UNIT_TEXT[unit]})",
                         h0="-", h1="-", verdict="inconclusive",
                         verdict_text=(f"Across {int(s['n'].iloc[0])} years the {measure.replace('_', ' ')} "
                                       f"of the leader in {unit} averages {float(s['effect'].iloc[0]):.2f} "
                                       f"(range {float(s['min'].iloc[0]):.2f}–{float(s['max'].iloc[0]):.2f})."),
                         caveats=_caveat(panel) + "; leader chosen per year when leader=None")
            s["h0"] = "descriptive: how the ratio moves from year to year (no test)"
            s["h1"] = "descriptive: how the ratio moves from year to year (no test)"
            rows += s.to_dict("records")

    # ---- inequality in the chosen year (levels, weighted)
    wcol = {"population": "population", "gdp": "gdp_mio_eur", None: None}[weight]
    sub = panel.data[panel.data["year"] == year].copy()
    sub["nuts1"] = sub["geo"].str[:3]
    if wcol is not None:
        missing_w = sub[sub[wcol].isna()]["geo"].tolist()
        if missing_w:
            notes.append(f"{year}: no {weight} weight for {missing_w}; dropped from the inequality measures")
            sub = sub[sub[wcol].notna()]
    grp = "nuts1" if groups == "nuts1" and sub["nuts1"].nunique() > 1 else None
    ineq_caveat = _caveat(panel, year) + f"; level = {level_unit}; weights = {weight or 'none'}"
    if len(sub) >= 2:
        parts = [theil_t(sub, "level", wcol, grp)]
        if (sub["level"] > 0).all():
            parts.append(theil_l(sub, "level", wcol, grp))
        parts.append(gini(sub, "level", wcol))
        if wcol is not None:
            parts.append(williamson_cv(sub, "level", wcol))
        ineq = pd.concat(parts, ignore_index=True)
        tables["inequality"] = ineq
        for rec in ineq.to_dict("records"):
            extra = ""
            if grp and pd.notna(rec.get("between_share")):
                extra = f"; between NUTS 1 groups {float(rec['between_share']):.0%} of the total"
            rec.update(claim_id="C12", claim=C12, h0="-", h1="-", unit=f"index (level: {level_unit})",
                       verdict="inconclusive",
                       verdict_text=(f"Descriptive: {rec['effect_name']} = {float(rec['effect']):.3f} "
                                     f"in {year}{extra}; the guide gives no figure for it."),
                       caveats=ineq_caveat)
            rec["h0"] = "descriptive measure (no test)"
            rec["h1"] = "descriptive measure (no test)"
            rows.append(rec)

    # ---- dispersion over years: sigma- and beta-convergence on the balanced panel
    bal, out_regions, out_years = balanced(data)
    if out_regions or out_years:
        notes.append(f"dispersion trend on a balanced panel: regions dropped {out_regions}, years "
                     f"dropped {out_years} (their region set differs, e.g. a NUTS revision)")
    if wcol is not None:
        bal = bal[bal[wcol].notna()]
        counts = bal.groupby("year")["geo"].nunique()
        bal = bal[bal["year"].isin(counts.index[counts == counts.max()])]
    per_year = pd.DataFrame()
    if bal["geo"].nunique() >= 2 and bal["year"].nunique() >= 1:
        if wcol is not None:
            per_year = inequality_table(bal, "geo", "level", wcol, year="year")
        else:   # unweighted: Williamson's V_w needs weights, so Theil T, Gini and CV only
            per_year = pd.concat(
                [pd.concat([theil_t(sub, "level"), gini(sub, "level"), cv(sub, "level")],
                           ignore_index=True).assign(year=yr)
                 for yr, sub in bal.groupby("year", sort=True)], ignore_index=True)
    tables["dispersion_by_year"] = per_year
    if bal["year"].nunique() >= 3 and bal["geo"].nunique() >= 2 and (bal["level"] > 0).all():
        # Newey-West needs a longer series than the 8-10 years here (its normal approximation
        # would make p far too small); below 12 years use classical t-based errors and say so.
        n_years = bal["year"].nunique()
        hac = 1 if n_years >= 12 else None
        sig = sigma_convergence(bal, "geo", "year", "level", weight=wcol,
                                measure="williamson" if wcol else "sd_log", hac_lags=hac,
                                ci_level=1 - alpha)
        models["sigma"] = sig.attrs["model"]
        tables["sigma"] = sig.attrs["data"]
        r = sig.iloc[0].to_dict()
        lo, hi = float(r["ci_low"]), float(r["ci_high"])
        direction = ("falls (sigma-convergence)" if hi < 0 else "rises (divergence)" if lo > 0
                     else "shows no clear trend")
        r.update(claim_id="C12", claim=C12, h0="regional dispersion has no linear trend",
                 h1="regional dispersion changes over the years",
                 verdict="inconclusive",
                 verdict_text=(f"The dispersion of {level_unit} across {int(r['n_regions'])} regions "
                               f"{direction} over {int(r['n'])} years; "
                               "the guide makes no claim about the trend."),
                 caveats=_caveat(panel) + "; balanced panel" + (
                     "" if hac else f"; {n_years} years: classical SE, serial correlation not modelled"))
        rows.append(r)
        yrs = sorted(bal["year"].unique())
        if bal["geo"].nunique() >= 3:
            beta = beta_convergence(bal, "geo", "year", "level", start=yrs[0], end=yrs[-1],
                                    ci_level=1 - alpha)
            models["beta"] = beta.attrs["model"]
            r = beta.iloc[0].to_dict()
            r.update(claim_id="C12", claim=C12, h0="beta = 0 (no convergence)",
                     h1="beta != 0", verdict="inconclusive",
                     verdict_text=(f"beta = {float(r['effect']):.4f} (p = {float(r['p_value']):.2f}) "
                                   f"for {level_unit}, {yrs[0]}–{yrs[-1]}: "
                                   + ("lagging regions grew faster." if float(r['effect']) < 0 and float(r['p_value']) < alpha
                                      else "no significant catching-up.")),
                     caveats=_caveat(panel) + "; balanced panel")
            rows.append(r)
    else:
        notes.append("dispersion trend not computed: fewer than 3 balanced years or a non-positive level")

    tables["panel"] = panel.data
    tables["dropped"] = panel.dropped
    notes += panel.notes
    vintage = snapshot_vintage(frames)
    sources = _sources(frames)
    rows_df = finish_rows(rows, hypothesis="H4", notebook=NOTEBOOK, parameters=params,
                          data_sources="; ".join(sources), data_vintage=vintage)
    an = Analysis(rows=rows_df, tables=tables, models=models, notes=notes, sources=sources,
                  vintage=vintage)
    an.params = params  # type: ignore[attr-defined]
    return an


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def figure_ratios(analysis: Analysis):
    """Leader / each other region, one bar group per unit, in the analysis year (7–14 band shaded)."""
    from .. import figures as cf

    params = analysis.params  # type: ignore[attr-defined]
    r = analysis.tables["ratios_by_unit"]
    pair = r[r["effect_name"].str.startswith("ratio_to_") &
             ~r["effect_name"].isin(["ratio_to_mean_of_others", "ratio_to_total_of_others"])]
    data = pair[["unit_code", "leader", "other", "effect"]].rename(columns={"effect": "ratio"})
    # an undefined ratio (the other region's value is 0) is NA: plot it as a gap
    data["ratio"] = pd.to_numeric(data["ratio"], errors="coerce").astype(float)
    data = data.assign(year=params["year"], derived=data["unit_code"].isin(["MIO_EUR", "EUR_HAB"]),
                       formula=data["unit_code"].map(FORMULA)).reset_index(drop=True)
    fig, ax = cf.new_figure("double", 95)
    units = list(dict.fromkeys(data["unit_code"]))
    others = sorted(data["other"].unique())
    width = 0.8 / max(len(units), 1)
    for k, u in enumerate(units):
        d = data[data["unit_code"] == u].set_index("other").reindex(others)
        x = np.arange(len(others)) + (k - (len(units) - 1) / 2) * width
        label = u + (" (derived)" if u in ("MIO_EUR", "EUR_HAB") else "")
        ax.bar(x, d["ratio"], width, label=label, color=list(cf.OKABE_ITO.values())[k % len(cf.OKABE_ITO)])
    ax.axhspan(*GUIDE_RANGE, color="#bbbbbb", alpha=0.35, lw=0, label="guide: 7–14×")
    ax.axhline(1, color="#333333", lw=0.6)
    ax.set_yscale("log")   # one sector's ratios reach >100; a log axis keeps 7–14 readable
    ax.set_xticks(np.arange(len(others)), others)
    leaders = ", ".join(sorted(data["leader"].unique()))
    cf.set_ylabel(ax, f"Leader ({leaders}) / region", "ratio, log scale")
    ax.set_xlabel("Other NUTS 2 region")
    ax.set_title(f"{params['country']} {params['year']}: leader over each other region, by unit", fontsize=8)
    # Above the axes: inside, the legend covered the tallest bars (GOV_EUR_HAB reaches >100x).
    fig.legend(*ax.get_legend_handles_labels(), ncols=3, fontsize=7, loc="outside upper center",
               frameon=False)
    cf.add_source_note(fig, "Source: " + "; ".join(analysis.sources) + ". Derived units: "
                       + "; ".join(f"{u}: {FORMULA[u]}" for u in units if u in ("MIO_EUR", "EUR_HAB")) + ".")
    return fig, data


def figure_dispersion(analysis: Analysis):
    """Theil T and Williamson V_w of the level across regions, per year (balanced panel)."""
    from .. import figures as cf

    params = analysis.params  # type: ignore[attr-defined]
    t = analysis.tables.get("dispersion_by_year", pd.DataFrame())
    if t.empty:
        raise ValueError("no dispersion series (no weights or fewer than two balanced regions)")
    data = t[t["effect_name"].isin(["theil_t", "williamson_vw", "gini_corrected", "cv"])][
        ["year", "effect_name", "effect", "n"]].rename(columns={"effect": "value", "effect_name": "measure"})
    data = data.assign(unit_code=params["unit"], weight=params["weight"] or "none").reset_index(drop=True)
    fig, ax = cf.new_figure("single")
    for k, (m, d) in enumerate(data.groupby("measure")):
        ax.plot(d["year"], d["value"].astype(float), marker="o", label=m,
                color=list(cf.OKABE_ITO.values())[k])
    level = "% of GDP" if params["unit"] == "PC_GDP" else "EUR per inhabitant"
    cf.set_ylabel(ax, "Inequality index", f"index; level {level}")
    cf.set_time_xlabel(ax)
    ax.legend(fontsize=7)
    ax.set_title(f"{params['country']}: R&D dispersion across NUTS 2 ({params['unit']})", fontsize=8)
    cf.add_source_note(fig, "Source: " + "; ".join(analysis.sources) + f". {FORMULA[params['unit']]}; "
                       f"weights: {params['weight'] or 'none'}.")
    return fig, data


def figure_map(analysis: Analysis, nuts_year: int = 2021):
    """Choropleth of R&D intensity (% of GDP, tgs00042) by NUTS 2 in the analysis year."""
    from .. import maps

    params = analysis.params  # type: ignore[attr-defined]
    gdf = maps.load_nuts(2, params["country"], nuts_year)
    p = regional_panel(params["country"], "PC_GDP", params["regions"]).data
    vals = p[p["year"] == params["year"]][["geo", "value", "flag"]]
    outside = sorted(set(vals["geo"]) - set(gdf["NUTS_ID"]))
    vals = vals[vals["geo"].isin(gdf["NUTS_ID"])].reset_index(drop=True)
    fig, ax = maps.new_map_figure(gdf)
    src = f"Source: Eurostat tgs00042, {params['year']}; NUTS {nuts_year} boundaries."
    if outside:
        src += f" Codes not in NUTS {nuts_year}, not shown: {', '.join(outside)}."
    maps.choropleth(ax, gdf, vals.assign(flag=vals["flag"].replace("", None)), unit="% of GDP",
                    label="GERD", source=src, flag="flag")
    ax.set_title(f"{params['country']} {params['year']}: R&D intensity by NUTS 2", fontsize=8)
    return fig, vals.assign(year=params["year"], unit="PC_GDP")
