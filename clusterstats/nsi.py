"""Readers for the Bulgarian National Statistical Institute (NSI) files, and the GBARD check.

The NSI files in the shared mirror (``mirror/nsi/``, see its PROVENANCE.md) are Infostat
exports: ``;``-separated, UTF-8 with a byte-order mark, CRLF, multi-row headers, a trailing
``;``. Each reader returns a tidy frame with the district's 3-letter NSI code (``VRC``) and its
NUTS 3 code (``BG313``) from ``data/geography/districts.csv`` (built from NSI's EKATTE
``ek_obl.json``).

**Two population vintages.** NSI's figures here predate the revision after the 2021 census;
Eurostat's ``demo_r_pjanaggr3`` carries the revised series (BG on 1 January 2016: 6,938,759 in
Eurostat, 7,153,784 on 31 December 2015 in NSI's report). Every population row keeps its
``vintage``; :func:`combine_population` refuses to run without an explicit choice and never
splices the two into one series.

:func:`reconcile_gbard_table2` puts the guide's Table 2 (GBARD 2016 by socio-economic
objective, thousand BGN) beside Eurostat's ``gba_nabsfin07`` for Bulgaria.
"""
from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ._paths import data_dir, mirror_dir

__all__ = ["NSIFileError", "district_table", "read_population_report", "read_district_indicators",
           "read_working_age_population", "combine_population", "reconcile_gbard_table2",
           "BGN_PER_EUR", "POPULATION_VINTAGE_NSI", "POPULATION_VINTAGE_EUROSTAT"]

#: The lev's fixed conversion rate to the euro (currency board, 1999; Council Regulation (EC) No 2866/98 for DEM).
BGN_PER_EUR = 1.95583
POPULATION_VINTAGE_NSI = "nsi_2018_pre_census_revision"
POPULATION_VINTAGE_EUROSTAT = "eurostat_post_2021_census_revision"

POPULATION_REPORT = "nsi/population/raw-nsi-population-report-02.06.2018.csv"
DISTRICT_INDICATORS = "nsi/districts/oblasti-annual.csv"
WORKING_AGE = "nsi/districts/nasNUTS3trudosposobna.csv"


class NSIFileError(ValueError):
    """A malformed NSI file; the message names the file, line and reason."""

    def __init__(self, path, line: int | None, reason: str):
        super().__init__(f"{path}" + (f", line {line}" if line is not None else "") + f": {reason}")


def _rows(path: Path) -> list[list[str]]:
    try:
        text = Path(path).read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NSIFileError(path, None, f"not UTF-8 ({exc.reason})") from exc
    rows = list(csv.reader(io.StringIO(text, newline=""), delimiter=";"))
    # Infostat ends every row with ';', which csv reads as one extra empty field.
    return [r[:-1] if r and r[-1] == "" else r for r in rows]


def _number(path, line: int, cell: str) -> float:
    s = cell.strip().replace(" ", "")
    if s == "":
        return np.nan
    try:
        return float(s)
    except ValueError:
        raise NSIFileError(path, line, f"{cell!r} is not a number") from None


def _cell(path, line: int, cell: str) -> tuple[float, str | None]:
    """(value, flag): NSI's ``-`` ("none", no case) is 0 with flag ``-``; empty is NaN."""
    if cell.strip() == "-":
        return 0.0, "-"
    return _number(path, line, cell), None


def district_table() -> pd.DataFrame:
    """The 28 districts: ``district`` (NSI code), ``nuts3``, ``nuts2``, names.

    From ``data/geography/districts.csv``; if that table is absent, from the mirror's EKATTE
    ``ek_obl.json`` (whose last element is a metadata object, not a district).
    """
    path = data_dir() / "geography" / "districts.csv"
    if path.exists():
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    records = json.loads((mirror_dir() / "nsi" / "ekatte" / "ek_obl.json").read_text(encoding="utf-8"))
    records = [r for r in records if "oblast" in r]
    return pd.DataFrame({"district": [r["oblast"] for r in records], "nuts3": [r["nuts3"] for r in records],
                         "nuts2": [r["nuts2"] for r in records], "name": [r["name"] for r in records],
                         "name_latin": [r["name_en"] for r in records]})


def _nuts3(path, districts: pd.Series, lines: list[int] | None = None) -> pd.Series:
    table = district_table().set_index("district")["nuts3"]
    unknown = sorted(set(districts.dropna()) - set(table.index))
    if unknown:
        raise NSIFileError(path, None, f"unknown district codes {unknown} (not in the 28 NSI districts)")
    return districts.map(table)


# --------------------------------------------------------------------------------------------
# population report by district / municipality / settlement
# --------------------------------------------------------------------------------------------

def read_population_report(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """NSI's population report 2002-2017 (report of 02.06.2018), every row level, long.

    Columns: ``level`` (country, district, municipality, settlement), ``code`` (``BG``, ``VRC``,
    ``VRC10`` or the settlement's EKATTE code), ``name``, ``district``, ``nuts3``,
    ``municipality``, ``year``, ``reference_date`` (31 December of ``year``), ``value``
    (persons), ``flag`` (``-`` where NSI wrote "none"; value 0), ``vintage``. Settlements
    belong to the municipality row above them (report order). An EKATTE code can appear twice
    (a village that became a town, or moved municipality), each row holding part of the years,
    so a settlement's key is (code, name, municipality), not the code alone.
    """
    path = Path(path) if path else mirror_dir() / POPULATION_REPORT
    rows = _rows(path)
    if len(rows) < 4:
        raise NSIFileError(path, None, "fewer than 3 header rows and one data row")
    years = rows[1][1:]
    if not years or not all(re.fullmatch(r"\d{4}", y) for y in years):
        raise NSIFileError(path, 2, f"expected years in header row 2, got {years[:5]}")
    records = []
    district = municipality = None
    for line, r in enumerate(rows[3:], start=4):
        if not r or all(c == "" for c in r):
            continue
        if len(r) != len(years) + 1:
            raise NSIFileError(path, line, f"{len(r)} fields, expected {len(years) + 1}")
        m = re.fullmatch(r"(\S+) (.+)", r[0].strip())
        if not m:
            raise NSIFileError(path, line, f"first field {r[0]!r} is not 'CODE Name'")
        code, name = m.groups()
        if code == "BG":
            level, district, municipality = "country", None, None
        elif re.fullmatch(r"[A-Z]{3}", code):
            level, district, municipality = "district", code, None
        elif re.fullmatch(r"[A-Z]{3}\d{2}", code):
            level, district, municipality = "municipality", code[:3], code
        elif re.fullmatch(r"\d{5}", code):
            level = "settlement"
            if municipality is None:
                raise NSIFileError(path, line, f"settlement {code} before any municipality row")
        else:
            raise NSIFileError(path, line, f"code {code!r} is none of BG, district, municipality, EKATTE")
        for y, cell in zip(years, r[1:]):
            records.append((level, code, name, district, municipality, int(y), *_cell(path, line, cell)))
    df = pd.DataFrame(records, columns=["level", "code", "name", "district", "municipality", "year", "value",
                                        "flag"])
    df["nuts3"] = _nuts3(path, df["district"])
    df["reference_date"] = df["year"].astype(str) + "-12-31"
    df["vintage"] = POPULATION_VINTAGE_NSI
    df = df[["level", "code", "name", "district", "nuts3", "municipality", "year", "reference_date",
             "vintage", "value", "flag"]]
    df.attrs.update(path=str(path), source="NSI population report 02.06.2018", unit="persons",
                    population_vintage=POPULATION_VINTAGE_NSI)
    return df


def population_by_district(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Country and district rows of :func:`read_population_report` (the snapshot table)."""
    df = read_population_report(path)
    out = df[df["level"].isin(["country", "district"])].drop(columns=["municipality"]).reset_index(drop=True)
    out.attrs.update(df.attrs)
    return out


# --------------------------------------------------------------------------------------------
# district indicators (oblasti-annual.csv)
# --------------------------------------------------------------------------------------------

def indicator_table() -> pd.DataFrame:
    """Reviewed short ids / English names for the indicators in ``oblasti-annual.csv``."""
    return pd.read_csv(data_dir() / "nsi" / "district_indicators.csv", dtype=str, keep_default_na=False)


def read_district_indicators(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """NSI district indicators 2005-2018, long: ``district``, ``nuts3``, ``year``, ``indicator``, ``unit``, ``value``, ``flag``.

    ``indicator`` is a short id from ``data/nsi/district_indicators.csv`` (its ``name_bg`` is
    the header text, matched exactly). NSI's ``-`` ("none", no case) becomes value 0 with
    ``flag`` ``-`` so it stays distinguishable from a real reported zero; an empty cell is NaN.
    """
    path = Path(path) if path else mirror_dir() / DISTRICT_INDICATORS
    rows = _rows(path)
    if len(rows) < 3:
        raise NSIFileError(path, None, "needs 2 header rows (units, names) and data")
    units, names = rows[0], rows[1]
    if len(units) != len(names):
        raise NSIFileError(path, 2, "unit and name header rows differ in length")
    table = indicator_table().set_index("name_bg")
    unknown = [n for n in names[2:] if n and n not in table.index]
    if unknown:
        raise NSIFileError(path, 2, f"indicators not in data/nsi/district_indicators.csv: {unknown}")
    cols = [(j, table.loc[n, "indicator"], units[j]) for j, n in enumerate(names) if j >= 2 and n]
    records = []
    for line, r in enumerate(rows[2:], start=3):
        if not any(r):
            continue
        if len(r) < len(names) or not re.fullmatch(r"[A-Z]{3}", r[0]) or not re.fullmatch(r"\d{4}", r[1]):
            raise NSIFileError(path, line, f"expected 'DISTRICT;YEAR;values' with {len(names)} fields, got {r[:3]}")
        for j, ind, unit in cols:
            records.append((r[0], int(r[1]), ind, unit, *_cell(path, line, r[j])))
    df = pd.DataFrame(records, columns=["district", "year", "indicator", "unit", "value", "flag"])
    df.insert(1, "nuts3", _nuts3(path, df["district"]))
    df.attrs.update(path=str(path), source="NSI multi-domain statistics, main indicators by district")
    return df


# --------------------------------------------------------------------------------------------
# population by working-age group (nasNUTS3trudosposobna.csv)
# --------------------------------------------------------------------------------------------

#: NSI's labels -> codes (translations; the labels are the exact cell text).
AGE_GROUPS = {"Общо": "TOTAL", "Под трудоспособна възраст": "BELOW_WORKING_AGE",
              "В трудоспособна възраст": "WORKING_AGE", "Над трудоспособна възраст": "ABOVE_WORKING_AGE"}
RESIDENCE = {"Общо": "TOTAL", "В градовете": "URBAN"}
SEX = {"Общо": "T", "Мъже": "M", "Жени": "F"}


def read_working_age_population(path: str | os.PathLike | None = None) -> pd.DataFrame:
    """Population by working-age group, residence and sex, 28 districts, 2000-2018 (31 December).

    Columns ``district``, ``nuts3``, ``age_group``, ``residence``, ``sex``, ``year``,
    ``reference_date``, ``value`` (persons), ``vintage`` (NSI, pre-2021-census revision).
    """
    path = Path(path) if path else mirror_dir() / WORKING_AGE
    records = []
    for line, r in enumerate(_rows(path), start=1):
        if not any(r):
            continue
        if len(r) != 7:
            raise NSIFileError(path, line, f"{len(r)} fields, expected 7 (district;age;unit;residence;sex;year;value)")
        district, age, unit, residence, sex, year, value = r
        for label, table, what in ((age, AGE_GROUPS, "age group"), (residence, RESIDENCE, "residence"),
                                   (sex, SEX, "sex")):
            if label not in table:
                raise NSIFileError(path, line, f"unknown {what} {label!r}")
        if unit != "брой":
            raise NSIFileError(path, line, f"unit {unit!r}, expected 'брой' (number)")
        if not re.fullmatch(r"\d{4}", year):
            raise NSIFileError(path, line, f"year {year!r}")
        records.append((district, AGE_GROUPS[age], RESIDENCE[residence], SEX[sex], int(year),
                        *_cell(path, line, value)))
    df = pd.DataFrame(records, columns=["district", "age_group", "residence", "sex", "year", "value", "flag"])
    df.insert(1, "nuts3", _nuts3(path, df["district"]))
    df.insert(6, "reference_date", df["year"].astype(str) + "-12-31")
    df.insert(7, "vintage", POPULATION_VINTAGE_NSI)
    df.attrs.update(path=str(path), source="NSI population by working-age group", unit="persons")
    return df


# --------------------------------------------------------------------------------------------
# the two population vintages
# --------------------------------------------------------------------------------------------

def combine_population(nsi: pd.DataFrame, eurostat: pd.DataFrame, *, choice: str | None = None) -> pd.DataFrame:
    """Put NSI's and Eurostat's district population side by side, by an explicit ``choice``.

    ``nsi``: district/country rows of :func:`read_population_report` (31 December of ``year``).
    ``eurostat``: ``demo_r_pjanaggr3`` rows (sex T, age TOTAL) for BG and BG NUTS 3 (1 January).
    Both are aligned on the reference date (1 January t = 31 December t-1) and NUTS 3 code.

    ``choice`` must be given:

    * ``"nsi"`` or ``"eurostat"``: only that vintage, every row labelled with it;
    * ``"both"``: both stacked, one row per vintage and date, with a ``vintage`` column (long);
    * ``"compare"``: one row per region and date where both exist, with both values and the
      difference, for showing the census revision.

    There is deliberately no option that fills one vintage's gaps with the other's values.
    """
    choices = ("nsi", "eurostat", "both", "compare")
    if choice not in choices:
        raise ValueError("combine_population needs an explicit choice of vintage, one of "
                         f"{choices}: NSI's pre-2021-census figures and Eurostat's revised ones "
                         "disagree and are never spliced into one series")
    a = nsi[nsi["level"].isin(["country", "district"])].copy() if "level" in nsi else nsi.copy()
    a = pd.DataFrame({"geo": np.where(a["level"] == "country", "BG", a["nuts3"]),
                      "reference_date": pd.to_datetime(a["reference_date"]), "value": a["value"].to_numpy(),
                      "vintage": POPULATION_VINTAGE_NSI})
    e = eurostat
    for dim, code in (("sex", "T"), ("age", "TOTAL")):
        if dim in e:
            e = e[e[dim].astype(str) == code]
    e = e[e["geo"].astype(str).str.fullmatch(r"BG(\d{3})?")]
    b = pd.DataFrame({"geo": e["geo"].astype(str).to_numpy(),
                      # Eurostat's 1 January t is NSI's 31 December t-1
                      "reference_date": pd.to_datetime(e["time"].astype(str) + "-01-01") - pd.Timedelta(days=1),
                      "value": e["value"].to_numpy(dtype=float), "vintage": POPULATION_VINTAGE_EUROSTAT})
    if choice == "nsi":
        out = a
    elif choice == "eurostat":
        out = b
    elif choice == "both":
        out = pd.concat([a, b], ignore_index=True)
    else:
        out = a.merge(b, on=["geo", "reference_date"], suffixes=("_nsi", "_eurostat"))
        out = out.drop(columns=["vintage_nsi", "vintage_eurostat"])
        out["difference"] = out["value_eurostat"] - out["value_nsi"]
        out["relative_difference"] = out["difference"] / out["value_nsi"]
    out = out.sort_values([c for c in ("geo", "reference_date", "vintage") if c in out]).reset_index(drop=True)
    out.attrs["choice"] = choice
    return out


# --------------------------------------------------------------------------------------------
# GBARD: the guide's Table 2 against Eurostat gba_nabsfin07
# --------------------------------------------------------------------------------------------

def gbard_objective_map() -> pd.DataFrame:
    """Reviewed mapping of Table 2's objective names to NABS 2007 codes (``data/nsi/gbard_table2_nabs07.csv``)."""
    return pd.read_csv(data_dir() / "nsi" / "gbard_table2_nabs07.csv", dtype=str, keep_default_na=False)


def reconcile_gbard_table2(table2: pd.DataFrame, gbard: pd.DataFrame, *, year: int = 2016, geo: str = "BG",
                           rate: float = BGN_PER_EUR, mapping: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per Table 2 objective with the guide's and Eurostat's GBARD, in thousand BGN.

    ``table2``: columns ``objective``, ``thousand_bgn``, ``percent`` (e.g. ``data/registry/
    gbard_2016_table2.csv``). ``gbard``: tidy ``gba_nabsfin07`` (``nabs07``, ``unit``, ``geo``,
    ``time``, ``value``). Eurostat's MIO_EUR is converted at the fixed ``rate`` BGN/EUR
    (``eurostat_thousand_bgn``); its MIO_NAC (national currency, i.e. BGN) is shown too as
    ``eurostat_nac_thousand_bgn``. ``difference`` and ``relative_difference`` compare the guide
    with the converted euro figure; ``percent_recomputed`` is the guide's value as a share of its
    own total, to check the printed percentages.
    """
    mapping = gbard_objective_map() if mapping is None else mapping
    for col in ("objective", "thousand_bgn", "percent"):
        if col not in table2:
            raise KeyError(f"table2 needs a column {col!r}; it has {list(table2.columns)}")
    unmapped = sorted(set(table2["objective"]) - set(mapping["objective"]))
    if unmapped:
        raise KeyError(f"Table 2 objectives with no NABS 2007 code in the mapping: {unmapped}")
    g = gbard[(gbard["geo"].astype(str) == geo) & (gbard["time"].astype(str) == str(year))]
    by_unit = {u: g[g["unit"].astype(str) == u].set_index(g[g["unit"].astype(str) == u]["nabs07"].astype(str))["value"]
               for u in ("MIO_EUR", "MIO_NAC")}
    if by_unit["MIO_EUR"].empty:
        raise ValueError(f"gba_nabsfin07 has no MIO_EUR rows for {geo} {year}")
    t = table2.merge(mapping[["objective", "nabs07"]], on="objective", how="left")
    out = pd.DataFrame({
        "objective": t["objective"].to_numpy(),
        "nabs07": t["nabs07"].to_numpy(),
        "guide_thousand_bgn": t["thousand_bgn"].astype(float).to_numpy(),
        "guide_percent": t["percent"].astype(float).to_numpy(),
    })
    out["eurostat_mio_eur"] = out["nabs07"].map(by_unit["MIO_EUR"]).astype(float)
    out["eurostat_thousand_bgn"] = out["eurostat_mio_eur"] * rate * 1000.0
    out["eurostat_nac_thousand_bgn"] = out["nabs07"].map(by_unit["MIO_NAC"]).astype(float) * 1000.0
    out["difference"] = out["guide_thousand_bgn"] - out["eurostat_thousand_bgn"]
    out["relative_difference"] = out["difference"] / out["eurostat_thousand_bgn"]
    total = out.loc[out["nabs07"] == "TOTAL", "guide_thousand_bgn"]
    out["percent_recomputed"] = (100.0 * out["guide_thousand_bgn"] / total.iloc[0]) if len(total) else np.nan
    out.attrs.update(year=year, geo=geo, rate=rate)
    return out


# --------------------------------------------------------------------------------------------
# snapshot readers (used by clusterstats.snapshot through data/nsi/snapshot.yaml)
# --------------------------------------------------------------------------------------------

SNAPSHOT_READERS = {
    "nsi_population_by_district": population_by_district,
    "nsi_district_indicators": read_district_indicators,
    "nsi_working_age_population": read_working_age_population,
}
