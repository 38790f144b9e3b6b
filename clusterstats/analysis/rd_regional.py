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
from functools import lru_cache, wraps

import numpy as np
import pandas as pd

from .. import nuts
from ..context import RunContext, run_name
from ..hypothesis import Evidence, Hypothesis
from ..params import ParameterError, check_alpha, check_choice, check_subset, check_year_range
from ..snapshot import load_snapshot
from ..stats.convergence import beta_convergence, sigma_convergence
from ..stats.inequality import (cv, gini, inequality_table, leader_ratios, summarise_years, theil_l,
                                theil_t, williamson_cv)
from ._common import finish_rows, snapshot_vintage

NOTEBOOK = "h4_regional_rd_disparity.ipynb"
UNITS = ("PC_GDP", "MIO_EUR", "EUR_HAB", "BES_EUR_HAB", "GOV_EUR_HAB")
WEIGHTS = ("population", "gdp", None)
GDP_VINTAGES = ("nama_10r_2gdp_2026", "nama_10r_2gdp_2017", "tgs00003")   # preference on ties

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
#: the guide's range, drawn as a band in the ratio figure (the verdict rule and its reading of
#: the range are in data/claims.yaml, part C12.range)
GUIDE_RANGE = (7.0, 14.0)
#: the level the inequality measures use in each unit (they need levels, not totals)
LEVEL_TEXT = {"PC_GDP": "% of GDP", "MIO_EUR": "EUR per inhabitant", "EUR_HAB": "EUR per inhabitant",
              "BES_EUR_HAB": "EUR per inhabitant", "GOV_EUR_HAB": "EUR per inhabitant"}
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


def _data_key() -> tuple:
    """Which shipped data the caches below hold: the data folder and its Eurostat manifest's
    identity, so a run against another snapshot (``CLUSTERSTATS_DATA``) never reuses them."""
    from .._paths import data_dir

    folder = data_dir()
    try:
        st = (folder / "eurostat" / "manifest.json").stat()
    except OSError:
        return (str(folder),)
    return (str(folder), st.st_mtime_ns, st.st_size)


def _data_cached(maxsize: int | None):
    """``lru_cache`` whose key includes :func:`_data_key` (the panels are costly to rebuild, and
    a process may analyse two snapshots, e.g. ``clusterstats verdicts diff`` tests)."""
    def decorate(func):
        cached = lru_cache(maxsize=maxsize)(lambda key, *args: func(*args))

        @wraps(func)
        def wrapper(*args):
            return cached(_data_key(), *args)

        wrapper.cache_clear = cached.cache_clear
        return wrapper
    return decorate


@_data_cached(maxsize=None)
def _load(name: str) -> pd.DataFrame:
    # cached: one run reads the same snapshot for several units; callers never modify it
    return load_snapshot(name)


def countries() -> list[str]:
    """Countries with NUTS 2 rows in tgs00042 (the codes ``country=`` accepts)."""
    geo = _load("tgs00042")["geo"].astype(str)
    return sorted(set(geo[geo.str.fullmatch(r"[A-Z]{2}[0-9A-Z]{2}")].str[:2]))


@dataclass
class Panel:
    """A regional series in one unit with everything needed for the measures."""
    data: pd.DataFrame          # geo, year, value, level, pc_gdp, gdp_mio_eur, population, flag
    unit: str
    dropped: pd.DataFrame       # year, geo, reason
    frames: list                # the snapshot frames used (for vintages)
    notes: list


def _gdp_frame(name: str) -> pd.DataFrame:
    raw = _load("tgs00096_tgs00003_nuts2" if name == "tgs00003" else name)
    if name == "tgs00003":
        out = raw[raw["dataset"].astype(str) == "tgs00003"].copy()
        out.attrs.update(raw.attrs)
        return out
    return raw


def _gdp_vintage(years: list[int], country: str | None = None, year: int | None = None) -> str:
    return _gdp_vintage_cached(tuple(int(y) for y in years), country, year)


@_data_cached(maxsize=1024)
def _gdp_vintage_cached(years: tuple[int, ...], country: str | None, year: int | None) -> str:
    """The one GDP source for the whole series (never two at once): the one with the most of the
    country's regions in ``year``, then the most region-years in ``years``; ties go to the
    earlier entry of :data:`GDP_VINTAGES` (the newest Eurostat vintage first, the 2020 extract of
    tgs00003 last). Without ``country``, the source covering most years."""
    best, score = None, None
    for k, name in enumerate(GDP_VINTAGES):
        g = _gdp_frame(name)
        g = g[g["unit"].astype(str) == "MIO_EUR"]
        if country is not None:
            g = _nuts2(g, country)
            g = g[g["year"].isin(years)]
            now = g.loc[g["year"] == year, "geo"].nunique() if year is not None else 0
            s = (now, len(g), -k)
        else:
            s = (0, len(set(g["time"].astype(str).astype(int)) & set(years)), -k)
        if score is None or s > score:
            best, score = name, s
    return best


def _total_inputs(country: str, base: pd.DataFrame, year: int | None, vintage: str | None = None):
    """GDP (one vintage) and population rows of ``country``, and the notes/frames they add."""
    vintage = vintage or _gdp_vintage(sorted(base["year"].unique()), country, year)
    graw = _gdp_frame(vintage)
    gdp = _nuts2(graw[graw["unit"].astype(str) == "MIO_EUR"], country)[["geo", "year", "value"]]
    pop_raw = _load("demo_r_pjanaggr3")
    pop = _nuts2(pop_raw, country)[["geo", "year", "value"]]
    note = (f"regional GDP from {vintage} (vintage {graw.attrs.get('vintage')}), one vintage for "
            "the whole series")
    return vintage, gdp, pop, [graw, pop_raw], note


def _total_panel(country: str, unit: str, base: pd.DataFrame, year: int | None,
                 vintage: str | None = None):
    """tgs00042 with GDP and population on the coarsest common partition of their NUTS versions.

    The partition is built per set of versions met in a year: a ratio or index in one year
    compares the versions of that year only (Ireland's IE04-IE06 from 2019 on, while 2013-2015
    are in IE01/IE02), and a trend across years keeps the years that share one region set
    (:func:`balanced`). Returns (data, dropped, frames, notes); ``geo`` is the harmonised unit's
    id (an unchanged region keeps its code; HU10 stands for HU10 = HU11 + HU12)."""
    vintage, gdp, pop, frames, note = _total_inputs(country, base, year, vintage)
    v_rd = _series_versions("tgs00042", country)
    v_gdp = _series_versions(vintage, country)
    v_pop = _series_versions("demo_r_pjanaggr3", country)
    groups: dict[tuple, set] = {}
    for y in sorted(set(base["year"])):
        groups.setdefault(tuple(sorted({d[y][0] for d in (v_rd, v_gdp, v_pop) if y in d})), set()).add(y)
    outs, dropped, texts = [], [], []
    for used, ys in groups.items():
        if not used:
            dropped.append(base[base["year"].isin(ys)][["year", "geo"]].assign(
                reason="tgs00042: NUTS version of this year not recorded"))
            continue
        versions = ", ".join(f"{k} NUTS {v}" for k, v in (
            ("tgs00042", sorted({v for y, (v, _) in v_rd.items() if y in ys})),
            (vintage, sorted({v for y, (v, _) in v_gdp.items() if y in ys})),
            ("population", sorted({v for y, (v, _) in v_pop.items() if y in ys}))))
        texts.append(f"{_spans(sorted(ys))}: {versions}")
        outs.append(_harmonised_years(country, [d[d["year"].isin(ys)] for d in (base, gdp, pop)],
                                      (v_rd, v_gdp, v_pop), used, dropped).assign(nuts_versions=versions))
    out = pd.concat(outs, ignore_index=True) if outs else pd.DataFrame()
    if out.empty:
        raise ParameterError(f"country={country!r}: no tgs00042 region could be placed on a NUTS "
                             "partition; see data/nuts/series_nuts_versions.csv")
    notes = [note, "NUTS versions harmonised onto their coarsest common partition, year by year: "
             + "; ".join(texts)]
    gone = pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=["year", "geo", "reason"])
    return out, gone, frames, notes


def _harmonised_years(country: str, frames: list[pd.DataFrame], versions: tuple, used: tuple,
                      dropped: list) -> pd.DataFrame:
    """tgs00042, GDP and population of some years, all in the NUTS versions ``used``, on their
    coarsest common partition: GERD per unit, GDP and population summed over its members."""
    base, gdp, pop = frames
    v_rd, v_gdp, v_pop = versions
    part = nuts.common_partition(list(used), country)
    gdp_u = _harmonise_additive(gdp, v_gdp, part, "GDP", dropped).set_index(["unit_id", "year"])["value"]
    pop_u = _harmonise_additive(pop, v_pop, part, "population", dropped).set_index(["unit_id", "year"])["value"]
    yrs = set(base["year"])
    same = {y for y in yrs if y in v_gdp and y in v_rd and v_gdp[y][0] == v_rd[y][0]}
    gdp_codes = gdp[gdp["year"].isin(same)].set_index(["geo", "year"])["value"]
    out = _unit_intensity(base, gdp_codes, gdp_u, v_rd, part, dropped)
    if out.empty:
        return out
    dropped += _missing_rd(out, gdp_u, pop_u)
    key = list(zip(out["geo"], out["year"]))
    out["gdp_mio_eur"] = [gdp_u.get(k, np.nan) for k in key]
    out["population"] = [pop_u.get(k, np.nan) for k in key]
    out["pc_gdp"] = out["pc_published"].where(out["pc_published"].notna(),
                                              100.0 * out["gerd"] / out["gdp_mio_eur"])
    return out


_TOTAL_CACHE: dict = {}


def _total_parts(country: str, years, year, base: pd.DataFrame):
    """:func:`_total_panel` once per (country, years, year) and process; returns copies."""
    # the analysis year only chooses the GDP vintage: years that choose the same one share it
    vintage = _gdp_vintage(sorted(base["year"].unique()), country, year)
    key = (_data_key(), country, years, vintage)
    if key not in _TOTAL_CACHE:
        _TOTAL_CACHE[key] = _total_panel(country, "total", base, year, vintage)
    data, dropped, frames, notes = _TOTAL_CACHE[key]
    return data.copy(), dropped.copy(), list(frames), list(notes)


def _missing_rd(out: pd.DataFrame, gdp_u: pd.Series, pop_u: pd.Series) -> list[pd.DataFrame]:
    """Units with GDP or population in a year but no tgs00042 value: excluded by name, so the
    regions compared are never silently fewer than the country's regions in the data."""
    have = set(zip(out["geo"], out["year"]))
    seen = sorted(set(gdp_u.index) | set(pop_u.index))
    gone = [(int(y), g) for g, y in seen if (g, y) not in have]
    if not gone:
        return []
    return [pd.DataFrame({"year": [y for y, _ in gone], "geo": [g for _, g in gone],
                          "reason": "no tgs00042 value for this unit/year (GDP or population present)"})]


def _extract_panel(country: str, unit: str, base: pd.DataFrame):
    """A published per-inhabitant extract (BES/GOV): matched by code, population joined by code."""
    pop_raw = _load("demo_r_pjanaggr3")
    pop = _nuts2(pop_raw, country).set_index(["geo", "year"])["value"].rename("population")
    out = base.join(pop, on=["geo", "year"])
    out = out.assign(label=out["geo"], kind="by code", exact=True, members=out["geo"],
                     nuts_version=2016, gdp_mio_eur=np.nan, pc_gdp=np.nan,
                     nuts_versions="NUTS 2016 codes (extract), matched by code only")
    return out, pd.DataFrame(columns=["year", "geo", "reason"]), [pop_raw], [
        "sector extract: NUTS 2016 codes, not harmonised (per-inhabitant values have no numerator "
        "to add over a unit)"]


PANEL_COLUMNS = ["geo", "year", "unit", "value", "level", "pc_gdp", "gdp_mio_eur", "population",
                 "flag", "derived", "formula", "label", "kind", "exact", "members", "nuts_versions",
                 "nuts_version"]


def regional_panel(country: str = "BG", unit: str = "MIO_EUR", regions: list[str] | None = None,
                   years: tuple[int, int] | None = None, year: int | None = None) -> Panel:
    """NUTS 2 regions of ``country`` in ``unit``, one row per (harmonised) region and year.

    Columns: ``geo`` (the region, or the harmonised unit's id where NUTS versions differ: HU10
    stands for HU10 = HU11 + HU12), ``year, value`` (in ``unit``), ``level`` (% of GDP for
    PC_GDP, EUR per inhabitant otherwise), ``pc_gdp``, ``gdp_mio_eur``, ``population`` (1
    January), ``flag``, ``derived``, ``formula``, ``label`` (the unit's members per version),
    ``kind``, ``exact`` (False for a non-additive boundary change merged into one unit),
    ``members`` and ``nuts_versions``. Every input is harmonised onto the coarsest common
    partition of the NUTS versions involved (:mod:`clusterstats.nuts`) before any ratio or index;
    a unit-year lacking an input is dropped and listed in ``Panel.dropped`` with the reason.
    ``year`` (the analysis year) guides the choice of the one GDP vintage.

    Built once per process for each argument set (the parameter check, the run and the European
    panel share it); every call returns a copy, so a caller may modify what it gets.
    """
    check_choice(unit, UNITS, "unit")
    key = (str(country), unit, tuple(regions) if regions is not None else None,
           tuple(int(y) for y in years) if years is not None else None,
           int(year) if year is not None else None)
    panel = _regional_panel(*key)
    return Panel(panel.data.copy(), panel.unit, panel.dropped.copy(), list(panel.frames), list(panel.notes))


@_data_cached(maxsize=512)
def _regional_panel(country: str, unit: str, regions: tuple[str, ...] | None,
                    years: tuple[int, int] | None, year: int | None) -> Panel:
    extract = unit in ("BES_EUR_HAB", "GOV_EUR_HAB")
    raw = _load(("rd_e_gerdreg_bes_eur_hab" if unit == "BES_EUR_HAB" else "rd_e_gerdreg_gov_eur_hab")
                if extract else "tgs00042")
    base = _nuts2(raw, country)
    if base.empty:
        raise ParameterError(f"country={country!r}: no NUTS 2 rows in {raw.attrs.get('name')}; "
                             f"valid countries: {', '.join(countries())}")
    if regions is not None:
        regions = check_subset(regions, sorted(set(base["geo"])), "regions")
    if years is not None:
        start, end = check_year_range(years[0], years[1], base["year"].unique(), name="years")
        base = base[base["year"].between(start, end)]
    base = base[["geo", "year", "value", "flag"]].assign(flag=lambda d: _flag_text(d["flag"]))
    if extract:
        data, dropped, frames, notes = _extract_panel(country, unit, base)
    else:
        # the three total-GERD units share one harmonisation of tgs00042, GDP and population
        data, dropped, frames, notes = _total_parts(country, years, year, base)
    if regions is not None:
        data = data[data["members"].str.split().map(lambda ms: bool(set(ms) & set(regions)))]
    return _finish_panel(data, dropped, unit, [raw] + frames, notes, country)


def _finish_panel(data, dropped, unit, frames, notes, country) -> Panel:
    needed = {"MIO_EUR": ["gdp_mio_eur"], "EUR_HAB": ["gdp_mio_eur", "population"]}.get(unit, [])
    needed = needed + (["pc_gdp"] if unit in TOTAL_UNITS else ["value"])
    what = {"gdp_mio_eur": "no regional GDP", "population": "no 1 January population",
            "pc_gdp": "no R&D intensity", "value": "no value"}
    missing = pd.Series("", index=data.index)
    for col in needed:
        missing = missing.where(data[col].notna(), missing + what[col] + " for this unit/year; ")
    gone = data.loc[missing != "", ["year", "geo"]].assign(reason=missing[missing != ""].str.rstrip("; "))
    data = data[missing == ""].copy()
    if unit in TOTAL_UNITS:
        data["value"] = {"PC_GDP": data["pc_gdp"], "MIO_EUR": data["pc_gdp"] / 100.0 * data["gdp_mio_eur"],
                         "EUR_HAB": data["pc_gdp"] / 100.0 * data["gdp_mio_eur"] * 1e6 / data["population"]}[unit]
    # Inequality measures need a level, not a total: MIO_EUR is measured per inhabitant
    data["level"] = (data["value"] * 1e6 / data["population"]) if unit == "MIO_EUR" else data["value"]
    data = data.assign(derived=unit in ("MIO_EUR", "EUR_HAB"), formula=FORMULA[unit], unit=unit)
    if data.empty:
        raise ParameterError(f"country={country!r}, unit={unit}: no region-year has every input "
                             f"({', '.join(needed)}); try another unit or years")
    dropped = pd.concat([dropped, gone], ignore_index=True).drop_duplicates(["year", "geo"])
    return Panel(data.sort_values(["year", "geo"]).reset_index(drop=True)[PANEL_COLUMNS], unit,
                 dropped.sort_values(["year", "geo"]).reset_index(drop=True), frames, notes)


# --------------------------------------------------------------------------------------------
# NUTS versions: every input is brought onto the coarsest common partition before comparing
# --------------------------------------------------------------------------------------------
#: series names in data/nuts/series_nuts_versions.csv for each snapshot frame
SERIES_NAME = {"tgs00003": "tgs00096_tgs00003_nuts2:tgs00003"}


def _series_versions(series: str, country: str) -> dict[int, tuple[int, str]]:
    """Year -> (NUTS version, match) of one series for one country (data/nuts, reviewed table).

    The version is the newest whose code set holds the series' codes (all versions listed share
    them); a "mixed" year keeps the listed version and leaves the other version's codes out."""
    sv = nuts.series_versions(SERIES_NAME.get(series, series))
    out = {}
    for r in sv[sv["country"] == country].itertuples():
        if not r.versions:
            continue
        a, _, b = r.years.partition("-")
        version = int(r.versions.split()[-1])
        for y in range(int(a), int(b or a) + 1):
            out[y] = (version, r.match)
    return out


def _by_version(frame: pd.DataFrame, versions: dict[int, tuple[int, str]], what: str,
                dropped: list) -> dict[int, pd.DataFrame]:
    """Split a country's rows (geo, year, value) by the NUTS version of their year."""
    out: dict[int, list] = {}
    for yr, sub in frame.groupby("year"):
        if int(yr) not in versions:
            dropped.append(sub[["year", "geo"]].assign(reason=f"{what}: NUTS version of {yr} not recorded"))
            continue
        out.setdefault(versions[int(yr)][0], []).append(sub)
    return {v: pd.concat(parts) for v, parts in out.items()}


def _harmonise_additive(frame: pd.DataFrame, versions, part, what: str, dropped: list) -> pd.DataFrame:
    """Sum an additive input (GDP, population) over each unit's members, year by year."""
    parts = []
    for v, sub in _by_version(frame, versions, what, dropped).items():
        h = nuts.harmonise(sub[["geo", "year", "value"]], v, part, other_versions="drop")
        parts.append(h.data[["unit_id", "year", "value"]])
        if len(h.dropped):
            dropped.append(h.dropped.rename(columns={"label": "geo"})[["year", "geo", "reason"]]
                           .assign(reason=lambda d: what + ": " + d["reason"]))
    if not parts:
        return pd.DataFrame(columns=["unit_id", "year", "value"])
    return pd.concat(parts, ignore_index=True)


def _unit_intensity(rd: pd.DataFrame, gdp_codes: pd.Series, gdp_units: pd.Series, versions, part,
                    dropped: list) -> pd.DataFrame:
    """GERD % of GDP per unit: the ratio of the unit's GERD to its GDP (never a sum of ratios).

    A unit with one member in the R&D series' version takes the member's published intensity
    (its territory is the unit's). A unit with several members needs each member's GDP in that
    version (GERD = sum of intensity x GDP); without it the unit is excluded, by name."""
    rows = []
    for v, sub in _by_version(rd, versions, "tgs00042", dropped).items():
        members = part[part["version"] == v][["unit_id", "label", "kind", "exact", "code"]]
        m = sub.merge(members, left_on="geo", right_on="code", how="inner")
        need = members.groupby("unit_id")["code"].agg(list)
        for (uid, yr), g in m.groupby(["unit_id", "year"]):
            codes, label = need[uid], g["label"].iloc[0]
            if len(g) < len(codes):
                dropped.append(pd.DataFrame({"year": [yr], "geo": [uid], "reason": [
                    f"tgs00042: unit {label} lacks {sorted(set(codes) - set(g['geo']))}"]}))
                continue
            total = gdp_units.get((uid, yr), np.nan)
            if len(codes) == 1:
                gerd = g["value"].iloc[0] / 100.0 * total
            else:
                parts_gdp = [gdp_codes.get((c, yr), np.nan) for c in g["geo"]]
                gerd = float(np.sum(g["value"].to_numpy() / 100.0 * np.array(parts_gdp)))
            rows.append(dict(geo=uid, year=int(yr), label=label, kind=g["kind"].iloc[0],
                             exact=bool(g["exact"].iloc[0]), members=" ".join(sorted(g["geo"])),
                             nuts_version=v, pc_published=g["value"].iloc[0] if len(codes) == 1 else np.nan,
                             gerd=gerd, flag=";".join(sorted({f for f in g["flag"] if f}))))
    return pd.DataFrame(rows)


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


def source_list(frames) -> list[str]:
    """'Eurostat <dataset> (vintage ...)' for each snapshot frame, once each, in order."""
    return _sources(frames)


def _sources(frames) -> list[str]:
    seen = []
    for f in frames:
        text = f"Eurostat {f.attrs.get('name')} (vintage {f.attrs.get('vintage')})"
        if f.attrs.get("derived_extract") == "True":
            text += " [Nesta extract]"
        if text not in seen:
            seen.append(text)
    return seen

# --------------------------------------------------------------------------------------------
# parameters
# --------------------------------------------------------------------------------------------
#: the notebook's parameters cell, exactly
DEFAULTS = dict(country="BG", regions=None, years=None, unit="MIO_EUR", year=2016, leader=None,
                alpha=0.05, weight="population", groups="nuts1")
#: units that measure total GERD (the guide's "R&D spending"); BES/GOV are one sector each
TOTAL_UNITS = ("MIO_EUR", "PC_GDP", "EUR_HAB")
#: the regions the guide's claims name
CLAIM_REGION, SECOND_REGION = "BG41", "BG42"


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
    groups = None if isinstance(groups, str) and groups.lower() == "none" else groups
    check_choice(groups, ("nuts1", None), "groups")
    raw = _nuts2(_load("tgs00042"), country)
    if regions is not None:
        regions = check_subset(regions, sorted(set(raw["geo"])), "regions")
    if years is not None:
        if not isinstance(years, (list, tuple)) or len(years) != 2:
            raise ParameterError(f"years must be [start, end] or None, got {years!r}")
        years = check_year_range(years[0], years[1], raw["year"].unique(), name="years")
    if leader is not None:
        leader = check_choice(str(leader), sorted(set(raw["geo"])), "leader")
    year = check_year(country, unit, year, leader)
    return dict(country=country, regions=regions, years=list(years) if years else None, unit=unit,
                year=year, leader=leader, alpha=alpha, weight=weight, groups=groups)


#: ``year="nearest"`` means the year nearest to this one with complete harmonised data
NEAREST_TARGET = 2016


def _years_hint(country: str, unit: str) -> str:
    years = complete_years(country, unit)
    if not years:
        return f"no year has complete harmonised {unit} data for {country}; try another unit"
    return (f"years with complete harmonised {unit} data for {country}: {_spans(years)}; "
            f"or year='nearest'")


def _spans(years: list[int]) -> str:
    """2014-2017, 2019 for [2014, 2015, 2016, 2017, 2019]."""
    out, start = [], None
    for i, y in enumerate(years):
        start = y if start is None else start
        if i + 1 == len(years) or years[i + 1] != y + 1:
            out.append(str(y) if y == start else f"{start}-{y}")
            start = None
    return ", ".join(out)


def check_year(country: str, unit: str, year, leader: str | None = None) -> int | str:
    """Validate ``year`` for ``country`` in the run's ``unit`` before anything is computed.

    ``"nearest"`` is kept as given (the run resolves it to :func:`nearest_complete_year`; here
    only its existence is checked). A whole year must have at least two (harmonised) regions in
    ``unit``, and the regions that could not be made comparable must not include the leader or a
    majority (:func:`check_coverage`); otherwise ParameterError, with the years that have
    complete harmonised data. Cheap: the panel it builds is cached and reused by the run.
    """
    if isinstance(year, str) and year.strip().lower() == "nearest":
        nearest_complete_year(country, unit, NEAREST_TARGET)
        return "nearest"
    try:
        year = int(year)
    except (TypeError, ValueError):
        raise ParameterError(f"year must be a whole year such as 2016 or 'nearest', got {year!r}") from None
    try:
        panel = regional_panel(country, unit, year=year)
    except ParameterError as exc:
        raise ParameterError(f"year={year}: {exc}") from None
    sub = panel.data[panel.data["year"] == year]
    if len(sub) < 2:
        what = "no" if sub.empty else "only one region with"
        raise ParameterError(f"year={year}: {what} {unit} data for {country}; "
                             + _years_hint(country, unit))
    lead = leader if leader in set(sub["geo"]) else _claim_leader(
        {"leader": None, "country": country}, sub) or sub.loc[sub["value"].idxmax(), "geo"]
    try:
        check_coverage(panel, year, lead)
    except nuts.NotComparableError as exc:
        raise ParameterError(f"year={year}: {exc}. " + _years_hint(country, unit)) from None
    return year


def resolve_year(p: dict) -> dict:
    """``p`` with ``year="nearest"`` replaced by the year it stands for (``year_requested`` keeps
    what was asked); other parameter sets are returned unchanged."""
    if p.get("year") != "nearest":
        return p
    year = nearest_complete_year(p["country"], p["unit"], NEAREST_TARGET)
    return dict(p, year=year, year_requested="nearest")


def year_caveat(p: dict) -> str:
    """The sentence every row of a ``year="nearest"`` run carries ('' otherwise)."""
    if p.get("year_requested") != "nearest":
        return ""
    return (f"year {p['year']}: the year nearest to {NEAREST_TARGET} with complete harmonised "
            f"{p['unit']} data for {p['country']} (year='nearest')")


def output_name(parameters: dict, stem: str = NOTEBOOK.removesuffix(".ipynb")) -> str:
    """The run's name for these parameters (:func:`clusterstats.context.run_name`)."""
    return run_name(stem, parameters, DEFAULTS)


# --------------------------------------------------------------------------------------------
# computation (no verdicts)
# --------------------------------------------------------------------------------------------
def row_role(unit_code: str, p: dict) -> str:
    """The role of a C12/C13 row in ``unit_code`` for a run with parameters ``p``.

    The guide's claims are about Bulgaria's six regions and name no unit. One rule per claim:
    the default unit (million EUR, a total, what "spending" means) in the guide's year is
    *primary*; the same test in the run's own unit when that is another total-GERD unit or year
    is *sensitivity* (the pipeline's ``unit=PC_GDP`` and ``unit=EUR_HAB`` runs); everything else
    (the other units shown for context within a run, sector extracts, other countries, a subset
    of regions or another leader) is *descriptive* and carries no verdict.
    """
    claim_setting = (p["country"] == "BG" and p["regions"] is None
                     and p["leader"] in (None, CLAIM_REGION)
                     and unit_code == p["unit"] and unit_code in TOTAL_UNITS)
    if not claim_setting:
        return "descriptive"
    asked = p.get("year_requested", p["year"])
    default = unit_code == DEFAULTS["unit"] and asked == DEFAULTS["year"]
    return "primary" if default else "sensitivity"


def unit_panels(p: dict) -> tuple[dict[str, Panel], list[str]]:
    """The regional panel in every unit the data allow (the run's unit must exist)."""
    by_unit, notes = {}, []
    for u in UNITS:
        try:
            by_unit[u] = regional_panel(p["country"], u, p["regions"], year=p["year"])
        except ParameterError as exc:
            if u == p["unit"]:
                raise
            notes.append(f"{u}: not available ({exc})")
    return by_unit, notes


def _claim_leader(p: dict, sub: pd.DataFrame) -> str | None:
    """The region whose ratios are reported: ``leader``, else BG41 for Bulgaria (the region the
    claim names, even where it would not lead), else the region with the highest value."""
    if p["leader"] is not None:
        return p["leader"]
    if p["country"] == "BG" and CLAIM_REGION in set(sub["geo"]):
        return CLAIM_REGION
    return None


def _pairs(lr: pd.DataFrame) -> pd.DataFrame:
    return lr[lr["effect_name"].str.startswith("ratio_to_") &
              ~lr["effect_name"].isin(["ratio_to_mean_of_others", "ratio_to_total_of_others"])]


def ratio_table(by_unit: dict[str, Panel], p: dict, notes: list[str]) -> pd.DataFrame:
    """Leader / each other region (and the others' mean and total) in ``year``, per unit."""
    parts, year = [], p["year"]
    for u, panel in by_unit.items():
        sub = panel.data[panel.data["year"] == year]
        if u == p["unit"] and sub.empty:
            raise ParameterError(f"year={year}: no {u} data for {p['country']}; years with data: "
                                 f"{sorted(int(y) for y in panel.data['year'].unique())}")
        if len(sub) < 2:
            notes.append(f"{u}: fewer than two regions in {year}, no ratios")
            continue
        leader = _claim_leader(p, sub)
        try:
            check_coverage(panel, year, leader or sub.loc[sub["value"].idxmax(), "geo"])
        except nuts.NotComparableError as exc:
            if u == p["unit"]:
                raise
            notes.append(f"{u}: {exc}")
            continue
        if leader is not None and leader not in set(sub["geo"]):
            if u == p["unit"]:
                raise ParameterError(f"leader={leader!r} has no {u} value in {year}; regions: "
                                     f"{sorted(sub['geo'])}")
            notes.append(f"{u}: leader {leader} has no value in {year}")
            continue
        lr = leader_ratios(sub, "geo", "value", leader=leader)
        lr.insert(0, "unit_code", u)
        parts.append(lr)
    if not parts:
        raise ParameterError(f"no unit has two or more regions with data in {year} for {p['country']}")
    return pd.concat(parts, ignore_index=True)


def check_coverage(panel: Panel, year: int, leader: str) -> list[str]:
    """The units of ``year`` that could not be made comparable, by name; refuses (raises
    :class:`clusterstats.nuts.NotComparableError`) when the leader or a majority of the units is
    among them, or when an excluded unit's published R&D intensity is at least the leader's (it
    could be the real leader)."""
    have = set(panel.data.loc[panel.data["year"] == year, "geo"])
    gone = excluded_units(panel, year)
    excluded = sorted(gone)
    why = "; ".join(f"{g}: {gone[g]}" for g in excluded)
    what = f"{panel.unit} in {year}"
    if leader in excluded:
        raise nuts.NotComparableError(f"{what} refused: the leading region {leader} cannot be made "
                                      f"comparable. Excluded: {why}")
    if 2 * len(excluded) > len(excluded) + len(have):
        raise nuts.NotComparableError(f"{what} refused: {len(excluded)} of "
                                      f"{len(excluded) + len(have)} regions cannot be made comparable. "
                                      f"Excluded: {why}")
    rd = _nuts2(_load("tgs00042"), str(leader)[:2])
    rd = rd[rd["year"] == year].set_index("geo")["value"]
    lead_pc = panel.data.loc[(panel.data["year"] == year) & (panel.data["geo"] == leader), "pc_gdp"]
    rivals = [g for g in excluded if g in rd.index and len(lead_pc) and rd[g] >= float(lead_pc.iloc[0])]
    if rivals:
        raise nuts.NotComparableError(f"{what} refused: {', '.join(rivals)} cannot be made comparable "
                                      f"and its R&D intensity is at least the leader's. Excluded: {why}")
    return excluded


def _codes(text: str) -> set[str]:
    """Every NUTS code in a unit id or label (``PT16+PT18 | PT19+PT1C+PT1D``)."""
    return {c for part in str(text).split("|") for c in part.strip().split("+") if c}


def excluded_units(panel: Panel, year: int) -> dict[str, str]:
    """The country's regions (or harmonised units) with data in ``year`` that are not compared,
    with the reason: ``{geo: reason}``.

    A dropped code that belongs to a unit that is compared (population rows still under HR04
    while the unit HR04 = HR02 + HR05 + HR06 is compared), or to another excluded unit (NO01 in
    NO01+NO03+NO04+NO05), is covered by that unit and not counted again."""
    sub = panel.data[panel.data["year"] == year]
    have = set(sub["geo"])
    covered = set().union(*(_codes(t) for t in sub["label"])) if len(sub) else set()
    gone = panel.dropped[(panel.dropped["year"] == year) & ~panel.dropped["geo"].isin(have)]
    gone = gone[gone["geo"].astype(str) != ""]
    merged = {g for g in gone["geo"] if "+" in str(g)}
    inside = set().union(*(_codes(g) for g in merged)) if merged else set()
    out = {}
    for g, reason in zip(gone["geo"], gone["reason"]):
        if g in covered or (g in inside and g not in merged) or g in out:
            continue
        out[g] = reason
    return out


def year_coverage(panel: Panel) -> pd.DataFrame:
    """Per year: how many (harmonised) regions are compared, how many are excluded, and whether
    the year is *complete* (at least two regions, none excluded)."""
    years = sorted(set(panel.data["year"]) | set(panel.dropped["year"].astype(int)))
    rows = []
    for y in years:
        n = int((panel.data["year"] == y).sum())
        gone = excluded_units(panel, y)
        rows.append(dict(year=int(y), compared=n, excluded=len(gone),
                         complete=n >= 2 and not gone))
    return pd.DataFrame(rows, columns=["year", "compared", "excluded", "complete"])


def complete_years(country: str, unit: str, year: int | None = None) -> list[int]:
    """Years in which every (harmonised) region of ``country`` with data has every input of
    ``unit`` (:func:`year_coverage`); ``year`` guides the GDP vintage as in :func:`regional_panel`."""
    return list(_complete_years(country, unit, year))


@_data_cached(maxsize=1024)
def _complete_years(country: str, unit: str, year: int | None) -> tuple[int, ...]:
    try:
        cov = year_coverage(regional_panel(country, unit, year=year))
    except ParameterError:
        return ()
    return tuple(int(y) for y in cov.loc[cov["complete"], "year"])


def nearest_complete_year(country: str, unit: str, target: int = 2016) -> int:
    """The year nearest to ``target`` with complete harmonised data in ``unit`` (ties: the
    earlier year, nearer the guide's data). Each candidate is checked with the GDP vintage that
    an explicit run of that year would use, so the run finds the same year complete."""
    candidates = sorted(set(complete_years(country, unit)) | set(complete_years(country, unit, target)),
                        key=lambda y: (abs(y - target), y))
    for y in candidates:
        if y in complete_years(country, unit, y):
            return y
    raise ParameterError(f"year='nearest': {country} has no year with complete harmonised {unit} "
                         "data (every region with every input); try another unit")


def c12_rows(ratios: pd.DataFrame, by_unit: dict[str, Panel], p: dict) -> list[dict]:
    """C12: one row per unit with the smallest and largest leader / other-region ratio.

    The ratios are exact values over all the country's regions (a population, no sampling):
    ``range_min``/``range_max`` hold them for the rule ``values_inside``."""
    rows, year = [], p["year"]
    for u, lr in ratios.groupby("unit_code", sort=False):
        pair = _pairs(lr)
        lo, hi = float(pair["effect"].min()), float(pair["effect"].max())
        lead = lr["leader"].iloc[0]
        rows.append(dict(
            claim_id="C12", claim=C12, part="C12.range", role=row_role(u, p),
            h0=f"in {year} some {lead} / other-region ratio in {u} lies outside 7–14",
            h1=f"in {year} every {lead} / other-region ratio in {u} lies within 7–14",
            test="leader_ratio_range", method=(f"{lead} / each other NUTS 2 region, {u} in {year}: "
                                               f"min {lo:.2f}, max {hi:.2f} over {len(pair)} regions"),
            effect_name="ratio_min", effect=lo, statistic=hi, n=len(pair) + 1,
            unit=f"ratio ({UNIT_TEXT[u]})", caveats=_caveat(by_unit[u], year), reference=REF_GUIDE,
            ratio_min=lo, ratio_max=hi, range_min=lo, range_max=hi, leader=lead, unit_code=u,
            year=year, note="statistic = the largest ratio; exact values over all regions, no sampling"))
    return rows


def caveat_text(panel: Panel, year: int | None = None) -> str:
    """The caveats of a row about ``panel`` in ``year``: derived series, dropped region-years
    with reasons, flags, the number of regions (as the H4 rows carry them)."""
    return _caveat(panel, year)


def half_step(values: pd.Series) -> float:
    """Half a unit of the last decimal the published values carry (0.005 for two decimals):
    the rounding bound used for the C13 'together' ratio."""
    return _half_step(values)


def _half_step(values: pd.Series) -> float:
    """Half a unit of the last decimal the published values carry (0.005 for two decimals)."""
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=float)
    for d in range(6):
        if np.all(np.abs(v * 10 ** d - np.round(v * 10 ** d)) < 1e-6):
            return 0.5 * 10 ** -d
    return 0.0


def together_ratio(sub: pd.DataFrame, leader: str, unit: str, shift: tuple[float, float] = (0, 0)) -> float:
    """The leader over the other regions taken *together*, in ``unit`` — one rule for all units.

    Together means pooled as one region: for million EUR the others' sum; for % of GDP the
    others' GERD over their GDP; for EUR per inhabitant their GERD over their population.
    ``shift`` = (leader, others) moves the published % of GDP (for rounding bounds).
    """
    is_lead = (sub["geo"] == leader).to_numpy()
    pc = sub["pc_gdp"].to_numpy(dtype=float) + np.where(is_lead, shift[0], shift[1])
    gdp = sub["gdp_mio_eur"].to_numpy(dtype=float)
    gerd = pc / 100.0 * gdp
    if unit == "MIO_EUR":
        return float(gerd[is_lead].sum() / gerd[~is_lead].sum())
    if unit == "PC_GDP":
        return float(pc[is_lead].sum() / (100.0 * gerd[~is_lead].sum() / gdp[~is_lead].sum()))
    pop = sub["population"].to_numpy(dtype=float)
    return float((gerd[is_lead].sum() / pop[is_lead].sum()) / (gerd[~is_lead].sum() / pop[~is_lead].sum()))


def c13_rows(by_unit: dict[str, Panel], p: dict) -> list[dict]:
    """C13: the leader over the others together (with the bounds the rounding of the published
    % of GDP allows) and the rank of South central (BG42), per total-GERD unit."""
    rows, year = [], p["year"]
    for u in (u for u in TOTAL_UNITS if u in by_unit):
        sub = by_unit[u].data[by_unit[u].data["year"] == year].sort_values("value", ascending=False)
        lead = _claim_leader(p, sub) or (sub["geo"].iloc[0] if len(sub) else None)
        if len(sub) < 2 or lead not in set(sub["geo"]):
            continue
        base = dict(claim_id="C13", claim=C13, role=row_role(u, p), n=len(sub), unit_code=u,
                    year=year, leader=lead, caveats=_caveat(by_unit[u], year), reference=REF_GUIDE)
        needs = ["pc_gdp", "gdp_mio_eur"] + (["population"] if u == "EUR_HAB" else [])
        if sub[needs].notna().all().all():
            h = _half_step(by_unit["PC_GDP"].data["pc_gdp"] if "PC_GDP" in by_unit else sub["pc_gdp"])
            est = together_ratio(sub, lead, u)
            lo, hi = together_ratio(sub, lead, u, (-h, h)), together_ratio(sub, lead, u, (h, -h))
            rows.append(dict(base, part="C13.half", test="leader_to_total_of_others",
                             h0=f"{lead} / the others together is not about 2",
                             h1=f"{lead} / the others together is about 2 ('2 times less')",
                             method=(f"{lead} / the other {len(sub) - 1} regions pooled, {u} in {year}; "
                                     f"bounds: published % of GDP ± {h:g}"),
                             effect_name="ratio_to_others_together", effect=est, ci_low=lo, ci_high=hi,
                             unit=f"ratio ({UNIT_TEXT[u]})",
                             note=("interval = bounds from the rounding of the published % of GDP "
                                   "(not a sampling interval: the regions are the whole population)")))
        rank = {g: i + 1 for i, g in enumerate(sub["geo"])}
        second = sub["geo"].iloc[1]
        named = SECOND_REGION if p["country"] == "BG" and SECOND_REGION in rank else second
        rows.append(dict(base, part="C13.second", test="second_region",
                         h0=f"{named} is not the second region", h1=f"{named} is the second region",
                         method=f"rank of the regions by {u} in {year}", effect_name=f"rank_of_{named}",
                         effect=float(rank[named]), unit="rank", second=second,
                         second_to_leader=float(sub["value"].iloc[1] / sub["value"].iloc[0]),
                         note=f"second region: {second}"))
    return rows


def stability_rows(panel: Panel, p: dict, tables: dict) -> list[dict]:
    """How the leader ratios move from year to year in the run's unit (descriptive)."""
    data = panel.data if p["years"] is None else panel.data[panel.data["year"].between(*p["years"])]
    multi = data.groupby("year").filter(lambda s: len(s) >= 2)
    leader = p["leader"] or (CLAIM_REGION if p["country"] == "BG" else None)
    if multi["year"].nunique() < 2 or (leader is not None and leader not in set(multi["geo"])):
        return []
    if leader is not None:
        multi = multi.groupby("year").filter(lambda s: leader in set(s["geo"]))
    per_year = leader_ratios(multi, "geo", "value", leader=leader, year="year")
    tables["ratios_by_year"] = per_year
    rows = []
    for measure in ("ratio_min", "ratio_max"):
        s = summarise_years(per_year, "year", measure, ci_level=1 - p["alpha"])
        s = s.assign(claim_id="C12", claim=C12, part=pd.NA, role="descriptive",
                     unit=f"ratio ({UNIT_TEXT[p['unit']]})", unit_code=p["unit"],
                     h0="descriptive: how the ratio moves from year to year (no test)",
                     h1="descriptive: how the ratio moves from year to year (no test)",
                     caveats=_caveat(panel) + "; leader chosen per year when leader=None")
        rows += s.to_dict("records")
    return rows


def _weight_column(weight: str | None) -> str | None:
    return {"population": "population", "gdp": "gdp_mio_eur", None: None}[weight]


def inequality_rows(panel: Panel, p: dict, tables: dict, notes: list[str]) -> list[dict]:
    """Theil T and L (NUTS 1 decomposition), Gini and Williamson of the level in ``year``.

    The regions are the country's whole population of regions: population statistics, reported
    without a small-sample correction and without a sampling interval (issue 11, item 5)."""
    year, wcol = p["year"], _weight_column(p["weight"])
    sub = panel.data[panel.data["year"] == year].copy()
    sub["nuts1"] = sub["geo"].str[:3]
    if wcol is not None and sub[wcol].isna().any():
        notes.append(f"{year}: no {p['weight']} weight for {sub[sub[wcol].isna()]['geo'].tolist()}; "
                     "dropped from the inequality measures")
        sub = sub[sub[wcol].notna()]
    sub = sub[sub["level"].notna()]
    if len(sub) < 2:
        return []
    grp = "nuts1" if p["groups"] == "nuts1" and sub["nuts1"].nunique() > 1 else None
    parts = [theil_t(sub, "level", wcol, grp)]
    if (sub["level"] > 0).all():
        parts.append(theil_l(sub, "level", wcol, grp))
    parts.append(gini(sub, "level", wcol))
    if wcol is not None:
        parts.append(williamson_cv(sub, "level", wcol))
    ineq = pd.concat(parts, ignore_index=True)
    tables["inequality"] = ineq
    level_unit = LEVEL_TEXT[p["unit"]]
    ineq = ineq.assign(claim_id="C12", claim=C12, part=pd.NA, role="descriptive",
                       h0="descriptive measure (no test)", h1="descriptive measure (no test)",
                       unit=f"index (level: {level_unit})", unit_code=p["unit"], year=year,
                       caveats=_caveat(panel, year) + f"; level = {level_unit}; weights = "
                       f"{p['weight'] or 'none'}; population statistic: no small-sample correction")
    return ineq.to_dict("records")


def _dispersion_series(bal: pd.DataFrame, wcol: str | None) -> pd.DataFrame:
    if bal["geo"].nunique() < 2 or bal["year"].nunique() < 1:
        return pd.DataFrame()
    if wcol is not None:
        return inequality_table(bal, "geo", "level", wcol, year="year")
    # unweighted: Williamson's V_w needs weights, so Theil T, Gini and CV only
    return pd.concat([pd.concat([theil_t(s, "level"), gini(s, "level"), cv(s, "level")],
                                ignore_index=True).assign(year=yr)
                      for yr, s in bal.groupby("year", sort=True)], ignore_index=True)


def convergence_rows(panel: Panel, p: dict, tables: dict, models: dict, notes: list[str]) -> list[dict]:
    """sigma- and beta-convergence of the level on the balanced panel (descriptive)."""
    data = panel.data if p["years"] is None else panel.data[panel.data["year"].between(*p["years"])]
    wcol, level_unit = _weight_column(p["weight"]), LEVEL_TEXT[p["unit"]]
    bal, out_regions, out_years = balanced(data)
    if out_regions or out_years:
        notes.append(f"dispersion trend on a balanced panel: regions dropped {out_regions}, years "
                     f"dropped {out_years} (their region set differs, e.g. a NUTS revision)")
    if wcol is not None:
        bal = bal[bal[wcol].notna()]
        counts = bal.groupby("year")["geo"].nunique()
        bal = bal[bal["year"].isin(counts.index[counts == counts.max()])]
    tables["dispersion_by_year"] = _dispersion_series(bal, wcol)
    if not (bal["year"].nunique() >= 3 and bal["geo"].nunique() >= 2 and (bal["level"] > 0).all()):
        notes.append("dispersion trend not computed: fewer than 3 balanced years or a non-positive level")
        return []
    # Newey-West needs a longer series than the 8-10 years here; below 12 years use classical
    # t-based errors and say so.
    n_years = bal["year"].nunique()
    hac = 1 if n_years >= 12 else None
    common = dict(claim_id="C12", claim=C12, part=pd.NA, role="descriptive", unit_code=p["unit"],
                  caveats=_caveat(panel) + "; balanced panel" + (
                      "" if hac else f"; {n_years} years: classical SE, serial correlation not modelled"))
    sig = sigma_convergence(bal, "geo", "year", "level", weight=wcol,
                            measure="williamson" if wcol else "sd_log", hac_lags=hac,
                            ci_level=1 - p["alpha"])
    models["sigma"], tables["sigma"] = sig.attrs["model"], sig.attrs["data"]
    rows = [dict(sig.iloc[0].to_dict(), **common, h0="regional dispersion has no linear trend",
                 h1=f"the dispersion of {level_unit} across regions changes over the years")]
    if bal["geo"].nunique() >= 3:
        yrs = sorted(bal["year"].unique())
        beta = beta_convergence(bal, "geo", "year", "level", start=yrs[0], end=yrs[-1],
                                ci_level=1 - p["alpha"])
        models["beta"] = beta.attrs["model"]
        rows.append(dict(beta.iloc[0].to_dict(), **common, h0="beta = 0 (no convergence)",
                         h1=f"beta != 0 for {level_unit}, {yrs[0]}–{yrs[-1]}"))
    return rows


def _summary_values(rows: pd.DataFrame, p: dict) -> dict:
    """Named values for the narrative: the ratio range per unit, the run's judged role."""
    c12 = rows[rows["test"] == "leader_ratio_range"]
    ranges = [dict(unit=r.unit_code, leader=r.leader, low=r.ratio_min, high=r.ratio_max, role=r.role)
              for r in c12.itertuples()]
    judged = rows[rows["role"].isin(["primary", "sensitivity"])]["role"]
    return dict(ranges=ranges, judged_role=judged.iloc[0] if len(judged) else None,
                country=p["country"], unit=p["unit"], year=p["year"],
                level_unit=LEVEL_TEXT[p["unit"]])


# --------------------------------------------------------------------------------------------
# the declared hypothesis
# --------------------------------------------------------------------------------------------
NARRATIVE = """\
{% set v = evidence.values %}
{% if v.judged_role %}
{% set c12 = row(part="C12.range", role=v.judged_role) %}
* **C12, "7–14 times each other region" ({{ v.unit }}, {{ v.year }}, {{ v.judged_role }} run): {{ c12.verdict }}.**
  {{ c12.leader }} is {{ c12.ratio_min|num }} to {{ c12.ratio_max|num }} times each other region.
  Rule: {{ c12.verdict_text }}. Under other readings of "7–14": {{ c12.verdict_sensitivity }}.
{% if (rows.part == "C13.half").any() %}
{% set half = row(part="C13.half", role=v.judged_role) %}
* **C13, "the five others together 2 times less": {{ half.verdict }}.** {{ half.leader }} is
  {{ half.effect|num }} times the other regions taken together (rounding bounds {{ half|ci }}).
  Rule: {{ half.verdict_text }}. Under other readings of "2 times": {{ half.verdict_sensitivity }}.
{% endif %}
{% set second = row(part="C13.second", role=v.judged_role) %}
* **C13, "South central ranks second": {{ second.verdict }}.** In {{ v.unit }} the second region is
  {{ second.second }}; {{ second.verdict_text }}.
{% else %}
* **{{ v.country }}, {{ v.unit }}, {{ v.year }}: for comparison only.** The guide's claims are about
  Bulgaria's six regions in its default reading, so this run's rows carry no verdict.
{% endif %}
* Leader over each other region in every unit (the verdict of a unit other than this run's comes
  from that unit's own run):
{% for r in v.ranges %}
  {{ r.unit }}: {{ r.leader }} is {{ r.low|num }}–{{ r.high|num }} times each other region{{ " (" ~ r.role ~ ")" if r.role != "descriptive" else "" }}.
{% endfor %}
{% if (rows.test == "theil_t").any() %}
{% set t = row(test="theil_t") %}
* Inequality of {{ v.level_unit }} across the regions in {{ v.year }} (population statistics, no
  small-sample correction, no sampling interval): Theil T = {{ t.effect|num }}{% if t.between_share == t.between_share %},
  of which {{ t.between_share|pct }} between NUTS 1 groups{% endif %}; Gini = {{ row(test="gini").effect|num }}.
{% endif %}
"""


class RegionalRDHypothesis(Hypothesis):
    """H4: how far the leading NUTS 2 region is ahead of the others (claims C12, C13)."""

    id, notebook, claims = "H4", NOTEBOOK, ("C12", "C13")
    defaults = DEFAULTS
    title = "Regional R&D disparity: is the leading region 7–14 times ahead?"
    narrative_template = NARRATIVE

    _check = staticmethod(check_parameters)

    def compute(self, ctx: RunContext) -> Evidence:
        """Ratios per unit, inequality and convergence in the run's unit; no verdicts."""
        return compute_evidence(ctx.parameters, run_id=ctx.name)

    def figures(self, evidence: Evidence) -> dict:
        out = {"h4_leader_ratios": figure_ratios(evidence)}
        if not evidence.tables.get("dispersion_by_year", pd.DataFrame()).empty:
            out["h4_dispersion"] = figure_dispersion(evidence)
        out["h4_map"] = figure_map(evidence)
        return out


def compute_evidence(p: dict, run_id: str | None = None) -> Evidence:
    """The evidence for validated parameters ``p`` (see :meth:`RegionalRDHypothesis.compute`)."""
    asked, p = p, resolve_year(p)
    by_unit, notes = unit_panels(p)
    if year_caveat(p):
        notes.insert(0, year_caveat(p))
    tables: dict[str, pd.DataFrame] = {}
    models: dict = {}
    ratios = ratio_table(by_unit, p, notes)
    tables["ratios_by_unit"] = ratios
    panel = by_unit[p["unit"]]
    rows = (c12_rows(ratios, by_unit, p) + c13_rows(by_unit, p) + stability_rows(panel, p, tables)
            + inequality_rows(panel, p, tables, notes)
            + convergence_rows(panel, p, tables, models, notes))
    tables["panel"], tables["dropped"] = panel.data, panel.dropped
    notes += panel.notes
    frames = [f for u in by_unit for f in by_unit[u].frames]
    vintage, sources = snapshot_vintage(frames), _sources(frames)
    rows_df = finish_rows(rows, hypothesis="H4", notebook=NOTEBOOK, parameters=asked,
                          data_sources="; ".join(sources), data_vintage=vintage, run_id=run_id)
    if year_caveat(p):
        rows_df["caveats"] = rows_df["caveats"].fillna("").astype(str) + "; " + year_caveat(p)
    return Evidence(rows=rows_df, tables=tables, models=models, notes=notes, sources=sources,
                    vintage=vintage, parameters=dict(p), values=_summary_values(rows_df, p))


#: the declared hypothesis: this module's one entry point
hypothesis = RegionalRDHypothesis()


def run(country: str = "BG", regions: list[str] | None = None, years: tuple[int, int] | None = None,
        unit: str = "MIO_EUR", year: int | str = 2016, leader: str | None = None, alpha: float = 0.05,
        weight: str | None = "population", groups: str | None = "nuts1") -> Evidence:
    """Run H4 (compute and judge, nothing written): leader ratios per unit in ``year``,
    inequality and convergence in ``unit``.

    ``year`` a whole year with data (else ParameterError listing the years with complete
    harmonised data) or ``"nearest"``: the year nearest to 2016 with complete harmonised data in
    ``unit``, named in every row's caveats.

    ``country`` any country with NUTS 2 rows in tgs00042; ``regions`` restricts to some NUTS 2
    codes; ``years`` = (start, end) for the dispersion trend; ``leader`` = None takes BG41 for
    Bulgaria (the claim's region) and the region with the highest value elsewhere; ``weight`` in
    {"population", "gdp", None}; ``groups`` = "nuts1" decomposes Theil between/within NUTS 1.
    """
    return hypothesis.run(country=country, regions=regions, years=years, unit=unit, year=year,
                          leader=leader, alpha=alpha, weight=weight, groups=groups)


def _params(analysis) -> dict:
    return getattr(analysis, "parameters", None) or analysis.params


# --------------------------------------------------------------------------------------------
# figures
# --------------------------------------------------------------------------------------------
def figure_ratios(analysis):
    """Leader / each other region, one bar group per unit, in the analysis year (7–14 band shaded)."""
    from .. import figures as cf

    params = _params(analysis)
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


def figure_dispersion(analysis):
    """Theil T and Williamson V_w of the level across regions, per year (balanced panel)."""
    from .. import figures as cf

    params = _params(analysis)
    t = analysis.tables.get("dispersion_by_year", pd.DataFrame())
    if t.empty:
        raise ValueError("no dispersion series (no weights or fewer than two balanced regions)")
    data = t[t["effect_name"].isin(["theil_t", "williamson_vw", "gini", "cv"])][
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


def map_units(rows: pd.DataFrame, country: str, nuts_year: int = 2021) -> tuple[pd.DataFrame, list[str]]:
    """Which NUTS ``nuts_year`` regions draw each harmonised unit of one country.

    ``rows`` are panel rows (``geo, label, members, nuts_version``). A unit whose members are
    not simply its own code in ``nuts_year`` (HU10 = HU11 + HU12; PT16+PT18; a region of an
    older version) is matched through the coarsest common partition of its version and
    ``nuts_year`` (:func:`clusterstats.nuts.common_partition`). Returns (pairs ``unit_id, code,
    label`` for :func:`clusterstats.maps.dissolve_units`, notes naming the units that cannot be
    drawn: their regions in ``nuts_year`` are shared with another unit).
    """
    pairs, notes = [], []
    for v, sub in rows.groupby("nuts_version"):
        v = int(v)
        part = nuts.common_partition([v, nuts_year], country) if v != nuts_year else None
        for r in sub.itertuples():
            members = str(r.members).split()
            if part is None:
                codes = members
            else:
                comps = set(part.loc[(part["version"] == v) & part["code"].isin(members), "unit_id"])
                codes = sorted(part.loc[(part["version"] == nuts_year) & part["unit_id"].isin(comps), "code"])
            if codes != [r.geo]:
                joined = "+".join(codes)
                text = r.geo if joined == r.geo else f"{r.geo} = {joined}"
                pairs += [dict(unit_id=r.geo, code=c, label=text) for c in codes]
    out = pd.DataFrame(pairs, columns=["unit_id", "code", "label"])
    shared = out[out["code"].duplicated(keep=False)]
    if len(shared):
        gone = sorted(set(shared["unit_id"]))
        notes.append(f"not drawn: {', '.join(gone)} (their NUTS {nuts_year} regions "
                     f"{', '.join(sorted(set(shared['code'])))} cover several harmonised units)")
        out = out[~out["unit_id"].isin(gone)]
    return out.reset_index(drop=True), notes


def harmonised_map(vals: pd.DataFrame, gdf, country_of=lambda g: g[:2], nuts_year: int = 2021):
    """``gdf`` with the harmonised units of ``vals`` (panel rows of one year) dissolved from their
    NUTS ``nuts_year`` members, and the notes on what could not be drawn (one list)."""
    from .. import maps

    pairs, notes = [], []
    for c, sub in vals.groupby(vals["geo"].map(country_of)):
        p, n = map_units(sub, c, nuts_year)
        pairs.append(p)
        notes += n
    pairs = pd.concat(pairs, ignore_index=True) if pairs else pd.DataFrame(columns=["unit_id", "code", "label"])
    missing = sorted(set(pairs["code"]) - set(gdf["NUTS_ID"]))
    if missing:
        bad = sorted(set(pairs.loc[pairs["code"].isin(missing), "unit_id"]))
        notes.append(f"not drawn: {', '.join(bad)} (regions {', '.join(missing)} not in the map file)")
        pairs = pairs[~pairs["unit_id"].isin(bad)]
    return (maps.dissolve_units(gdf, pairs) if len(pairs) else gdf), notes


def figure_map(analysis, nuts_year: int = 2021):
    """Choropleth of R&D intensity (% of GDP, tgs00042 harmonised) by NUTS 2 in the analysis year;
    a harmonised unit (HU10 = HU11 + HU12, PT16+PT18) is drawn as its members' dissolved
    NUTS ``nuts_year`` polygons, labelled with its members."""
    from .. import maps

    params = _params(analysis)
    gdf = maps.load_nuts(2, params["country"], nuts_year)
    p = regional_panel(params["country"], "PC_GDP", params["regions"], year=params["year"]).data
    vals = p[p["year"] == params["year"]]
    gdf, notes = harmonised_map(vals, gdf, nuts_year=nuts_year)
    outside = sorted(set(vals["geo"]) - set(gdf["NUTS_ID"]))
    vals = vals[vals["geo"].isin(gdf["NUTS_ID"])][["geo", "value", "flag", "label", "members",
                                                    "nuts_version", "nuts_versions"]]
    vals = vals.reset_index(drop=True)
    fig, ax = maps.new_map_figure(gdf)
    src = f"Source: Eurostat tgs00042, {params['year']} ({vals['nuts_versions'].iloc[0] if len(vals) else ''}); NUTS {nuts_year} boundaries."
    if len(gdf) != len(maps.load_nuts(2, params["country"], nuts_year)):
        src += " Harmonised units drawn as their members' merged polygons."
    if outside:
        src += f" Not shown: {', '.join(outside)}."
    for n in notes:
        src += f" {n[0].upper() + n[1:]}."
    maps.choropleth(ax, gdf, vals.assign(flag=vals["flag"].replace("", None)), unit="% of GDP",
                    label="GERD", source=src, flag="flag")
    ax.set_title(f"{params['country']} {params['year']}: R&D intensity by NUTS 2", fontsize=8)
    return fig, vals.assign(year=params["year"], unit="PC_GDP")
