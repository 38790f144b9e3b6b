"""NUTS 2 regions across NUTS versions: correspondences and harmonisation.

Region codes change between NUTS versions (Eurostat's NUTS history pages list the amendments:
https://ec.europa.eu/eurostat/web/nuts/history). Hungary's capital region HU10 (NUTS 2013) is
HU11 + HU12 from NUTS 2016; Portugal's Lisbon region PT17 (NUTS 2021) is PT1A + PT1B in NUTS
2024, while PT16 and PT18 were redrawn into PT19, PT1C and PT1D. A comparison of series published
under different versions must first bring them onto one set of regions.

Data
----
``data/nuts/nuts2_correspondence.csv`` (built by ``tools/build_nuts_correspondence.py`` from the
recorded boundaries of NUTS 2010, 2013, 2016, 2021 and 2024; see ``data/nuts/README.md``): for each
pair of versions, which region of one overlaps which region of the other and by what share of
each one's area, with the relation (``unchanged``, ``recoded``, ``split``, ``merged``,
``boundary change``, ``unchanged (by code)``, ``absent``) and a reason for every non-trivial line.
``data/nuts/series_nuts_versions.csv``: which NUTS version each shipped regional series uses, per
country, found by matching its codes against the versions' code sets (:func:`match_version`).

Method
------
The coarsest common partition of several versions is the set of connected components of the
overlap graph whose nodes are (version, code) and whose edges are the correspondences of the
table (:func:`common_partition`). Each component covers the same territory in every version, so
an additive quantity (GDP, population, expenditure in euro) summed over its members is comparable
across versions (:func:`harmonise`); this is areal interpolation restricted to whole regions, with
no share-weighted splitting of values, so no number is apportioned by area (Goodchild & Lam 1980;
for change-of-support problems in general, Gotway & Young 2002). Intensities (per cent of GDP,
per inhabitant) are never summed: they are recomputed from harmonised numerators and denominators
(:func:`harmonise_ratio`). The graph computation is scipy's ``connected_components``; the
bookkeeping around it is written here because no kept library handles NUTS versions.

References
----------
Eurostat, NUTS - history: https://ec.europa.eu/eurostat/web/nuts/history
Eurostat, NUTS - background: https://ec.europa.eu/eurostat/web/nuts/background
Goodchild, M. F. & Lam, N. S.-N. (1980). Areal interpolation: a variant of the traditional spatial
problem. Geo-Processing 1, 297-312.
Gotway, C. A. & Young, L. J. (2002). Combining incompatible spatial data. JASA 97(458), 632-648.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Iterable, Mapping, NamedTuple

import numpy as np
import pandas as pd

from ._paths import data_dir

__all__ = ["VERSIONS", "EDGE_TOLERANCE", "NotComparableError", "Harmonised", "correspondence",
           "version_codes", "match_version", "series_versions", "common_partition", "harmonise",
           "harmonise_ratio", "comparability", "check_comparable", "AlignedInputs", "nuts2_parent",
           "align_inputs", "describe_versions", "check_map_join"]

#: NUTS versions with recorded level-2 boundaries (mirror/gisco/nuts2json).
VERSIONS = (2010, 2013, 2016, 2021, 2024)
#: An overlap involving a code that exists in only one of two versions is a correspondence when
#: it covers at least this share of either region's area. On the 1:60M generalised boundaries the
#: largest such overlap that is only a generalisation sliver covers 0.156 of a region (UKI2/UKI3,
#: London, 2010 against 2016), the smallest real one 0.351 (data/nuts/README.md); 0.2 lies in that gap.
EDGE_TOLERANCE = 0.2
CORRESPONDENCE_FILE = "nuts2_correspondence.csv"
SERIES_FILE = "series_nuts_versions.csv"
CORRESPONDENCE_COLUMNS = ("from_version", "to_version", "country", "from_code", "from_name",
                          "to_code", "to_name", "share_of_from", "share_of_to", "relation", "reason")
SERIES_COLUMNS = ("series", "dataset", "vintage", "country", "years", "n_codes", "match",
                  "versions", "missing_codes", "unrecorded_codes")
PARTITION_COLUMNS = ("unit_id", "label", "kind", "exact", "version", "code", "name")
_SWAP = {"split": "merged", "merged": "split"}
_TRIVIAL = ("unchanged", "unchanged (by code)")


class NotComparableError(ValueError):
    """The regions of a comparison cannot be made comparable (leader or majority excluded)."""


class Harmonised(NamedTuple):
    """Result of :func:`harmonise` / :func:`harmonise_ratio`: the data on the partition's units and
    the unit-years (or codes) that were dropped, each with the reason."""

    data: pd.DataFrame
    dropped: pd.DataFrame


# ------------------------------------------------------------------------------------------------
# Tables
# ------------------------------------------------------------------------------------------------
def nuts_dir() -> Path:
    """The folder of the shipped NUTS tables (``data/nuts``)."""
    return data_dir() / "nuts"


@lru_cache(maxsize=4)
def _read_table(path: str) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _table(correspondence: pd.DataFrame | None = None) -> pd.DataFrame:
    if correspondence is not None:
        return correspondence
    path = nuts_dir() / CORRESPONDENCE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing; rebuild it with tools/build_nuts_correspondence.py")
    df = _read_table(str(path)).copy()
    for col in ("from_version", "to_version"):
        df[col] = df[col].astype(int)
    for col in ("share_of_from", "share_of_to"):
        df[col] = pd.to_numeric(df[col].replace("", np.nan))
    return df


def _check_version(version: int) -> int:
    if int(version) not in VERSIONS:
        raise ValueError(f"NUTS version {version!r} is not recorded; choose one of {VERSIONS}")
    return int(version)


def correspondence(from_version: int, to_version: int, country: str | None = None, *,
                   correspondence: pd.DataFrame | None = None) -> pd.DataFrame:
    """Rows of the NUTS 2 correspondence from ``from_version`` to ``to_version``.

    The table stores each pair of versions once, older to newer; asking newer to older swaps the
    from/to columns and turns ``split`` into ``merged`` and back. ``country`` (two letters, Greece
    ``EL``) keeps one country. Columns: :data:`CORRESPONDENCE_COLUMNS`.

    References: Eurostat, NUTS - history (https://ec.europa.eu/eurostat/web/nuts/history).
    """
    a, b = _check_version(from_version), _check_version(to_version)
    if a == b:
        raise ValueError("from_version and to_version are the same")
    tab = _table(correspondence)
    lo, hi = min(a, b), max(a, b)
    out = tab[(tab["from_version"] == lo) & (tab["to_version"] == hi)]
    if country is not None:
        out = out[out["country"] == country.upper()]
    if a > b:
        out = out.rename(columns={"from_version": "to_version", "to_version": "from_version",
                                  "from_code": "to_code", "to_code": "from_code",
                                  "from_name": "to_name", "to_name": "from_name",
                                  "share_of_from": "share_of_to", "share_of_to": "share_of_from"})
        out = out.assign(relation=out["relation"].replace(_SWAP))
    return out[list(CORRESPONDENCE_COLUMNS)].reset_index(drop=True)


def version_codes(version: int, country: str | None = None, *, boundary_only: bool = False,
                  correspondence: pd.DataFrame | None = None) -> list[str]:
    """The NUTS 2 codes of ``version`` (of ``country`` if given), sorted.

    With ``boundary_only`` only codes with a recorded boundary (not those matched by code only,
    such as PT20/PT30 in 2016 and 2021).
    """
    v = _check_version(version)
    tab = _table(correspondence)
    if boundary_only:
        tab = tab[tab["relation"] != "unchanged (by code)"]
    codes = set(tab.loc[tab["from_version"] == v, "from_code"]) | set(
        tab.loc[tab["to_version"] == v, "to_code"])
    codes.discard("")
    if country is not None:
        codes = {c for c in codes if c[:2] == country.upper()}
    return sorted(codes)


def _names(correspondence: pd.DataFrame | None = None) -> dict[tuple[int, str], str]:
    tab = _table(correspondence)
    a = dict(zip(zip(tab["from_version"], tab["from_code"]), tab["from_name"]))
    a.update(zip(zip(tab["to_version"], tab["to_code"]), tab["to_name"]))
    return a


def match_version(codes: Iterable[str], country: str, *,
                  correspondence: pd.DataFrame | None = None) -> dict[str, str]:
    """Which NUTS version a set of one country's NUTS 2 codes belongs to.

    Compared on codes with a recorded boundary: ``match`` is ``exact`` when the codes equal a
    version's code set (``versions`` lists every such version; consecutive versions often share
    a country's codes), ``subset`` when they are a proper subset of one or more versions' sets
    (``missing_codes`` says which of the first such version's codes are absent), ``mixed`` when
    no single version holds them all (``versions`` then lists each version holding the most),
    ``none`` when no code is recorded. ``unrecorded_codes`` are codes with no boundary in any
    version (e.g. PT20, PT30, FRY1-FRY5 outside the map frame); they are not compared.
    """
    tab = _table(correspondence)
    country = country.upper()
    codes = set(codes)
    by_version = {v: set(version_codes(v, country, boundary_only=True, correspondence=tab))
                  for v in VERSIONS}
    known = set().union(*by_version.values())
    seen, unrecorded = codes & known, sorted(codes - known)
    out = {"match": "none", "versions": "", "missing_codes": "", "unrecorded_codes": " ".join(unrecorded)}
    if not seen:
        return out
    exact = [v for v, s in by_version.items() if s and s == seen]
    subset = [v for v, s in by_version.items() if seen < s]
    if exact:
        return {**out, "match": "exact", "versions": " ".join(map(str, exact))}
    if subset:
        missing = sorted(by_version[subset[0]] - seen)
        return {**out, "match": "subset", "versions": " ".join(map(str, subset)),
                "missing_codes": " ".join(missing)}
    best = max(len(seen & s) for s in by_version.values())
    versions = [v for v, s in by_version.items() if len(seen & s) == best]
    return {**out, "match": "mixed", "versions": " ".join(map(str, versions)),
            "missing_codes": " ".join(sorted(seen - by_version[versions[0]]))}


def series_versions(series: str | None = None) -> pd.DataFrame:
    """The shipped table of NUTS versions per series, country and run of years
    (``data/nuts/series_nuts_versions.csv``; columns :data:`SERIES_COLUMNS`)."""
    df = _read_table(str(nuts_dir() / SERIES_FILE)).copy()
    df["n_codes"] = df["n_codes"].astype(int)
    return df if series is None else df[df["series"] == series].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# The coarsest common partition
# ------------------------------------------------------------------------------------------------
def _versions(versions_by_input: Mapping[str, int] | Iterable[int]) -> list[int]:
    vals = versions_by_input.values() if isinstance(versions_by_input, Mapping) else versions_by_input
    versions = sorted({_check_version(v) for v in vals})
    if not versions:
        raise ValueError("no NUTS versions given")
    return versions


def _graph(versions: list[int], country: str, tab: pd.DataFrame):
    """Nodes (version, code) and edges of the overlap graph of one country."""
    nodes = [(v, c) for v in versions for c in version_codes(v, country, correspondence=tab)]
    edges, relations = [], []
    for i, a in enumerate(versions):
        for b in versions[i + 1:]:
            rows = correspondence(a, b, country, correspondence=tab)
            rows = rows[rows["relation"] != "absent"]
            edges += [((a, f), (b, t)) for f, t in zip(rows["from_code"], rows["to_code"])]
            relations += list(rows["relation"])
    return nodes, edges, relations


def _components(nodes, edges) -> np.ndarray:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    index = {n: i for i, n in enumerate(nodes)}
    i = [index[a] for a, _ in edges]
    j = [index[b] for _, b in edges]
    graph = coo_matrix((np.ones(len(edges)), (i, j)), shape=(len(nodes), len(nodes)))
    return connected_components(graph, directed=False)[1]


def _unit_kind(relations: set[str], members: dict[int, list[str]], versions: list[int]) -> str:
    if any(not members.get(v) for v in versions):
        return "not in every version"
    if "boundary change" in relations:
        return "boundary change"
    if relations & {"split", "merged"}:
        return "split/merge"
    if "recoded" in relations:
        return "recoded"
    return "unchanged"


def _label(members: dict[int, list[str]], versions: list[int]) -> str:
    parts: list[str] = []
    for v in versions:
        text = "+".join(members.get(v, [])) or f"(none in {v})"
        if not parts or parts[-1] != text:
            parts.append(text)
    return " | ".join(parts)


def common_partition(versions_by_input: Mapping[str, int] | Iterable[int], country: str, *,
                     correspondence: pd.DataFrame | None = None) -> pd.DataFrame:
    """The coarsest common partition of one country's NUTS 2 regions over several NUTS versions.

    Parameters
    ----------
    versions_by_input : mapping input name -> NUTS version (or an iterable of versions)
        The versions of the series to be compared, e.g. ``{"tgs00042": 2021, "gdp": 2024}``.
    country : str
        Two-letter code (Greece ``EL``, United Kingdom ``UK``).

    Returns
    -------
    DataFrame, one row per unit, version and member code (:data:`PARTITION_COLUMNS`):
    ``unit_id`` (the members in the oldest version, joined by ``+``: an unchanged region keeps its
    code), ``label`` (the member sets per version, e.g. ``PT16+PT18 | PT19+PT1C+PT1D``), ``kind``
    (``unchanged``, ``recoded``, ``split/merge``, ``boundary change``, ``not in every version``),
    ``exact`` (True for unchanged, recoded and split/merge units, whose members are the version's
    own regions added up; False for a non-additive boundary change that had to be merged, and for
    units missing from a version), ``version``, ``code``, ``name``. ``attrs`` hold the country and
    the versions.

    Notes
    -----
    Units are the connected components of the overlap graph whose edges are the correspondences in
    ``data/nuts/nuts2_correspondence.csv`` between every pair of the versions (areas overlapping by
    at least :data:`EDGE_TOLERANCE` of a region whose code exists in only one version, and every
    kept code to itself). Each unit covers the same territory in every version, so additive
    quantities summed over its members compare across versions (areal interpolation restricted to
    whole regions; Goodchild & Lam 1980; Eurostat, NUTS - history).
    """
    tab = _table(correspondence)
    versions, country = _versions(versions_by_input), country.upper()
    nodes, edges, relations = _graph(versions, country, tab)
    absent = [v for v in versions if not any(n[0] == v for n in nodes)]
    if absent:
        raise ValueError(f"country {country!r} has no NUTS 2 regions in NUTS {absent} "
                         f"(recorded: {', '.join(sorted(tab['country'].unique()))})")
    comp = _components(nodes, edges)
    comp_of = dict(zip(nodes, comp))
    rels: dict[int, set[str]] = {}
    for (a, _), rel in zip(edges, relations):
        rels.setdefault(comp_of[a], set()).add(rel)
    names = _names(tab)
    rows = []
    for k in sorted(set(comp)):
        members: dict[int, list[str]] = {}
        for v, c in (n for n in nodes if comp_of[n] == k):
            members.setdefault(v, []).append(c)
        kind = _unit_kind(rels.get(k, set()), members, versions)
        uid = "+".join(members[min(members)])
        label = _label(members, versions)
        rows += [{"unit_id": uid, "label": label, "kind": kind,
                  "exact": kind in ("unchanged", "recoded", "split/merge"), "version": v, "code": c,
                  "name": names.get((v, c), "")} for v in sorted(members) for c in members[v]]
    out = pd.DataFrame(rows, columns=list(PARTITION_COLUMNS)).sort_values(["unit_id", "version", "code"])
    out = out.reset_index(drop=True)
    out.attrs.update(country=country, versions=versions,
                     versions_by_input=dict(versions_by_input) if isinstance(versions_by_input, Mapping) else {})
    return out


# ------------------------------------------------------------------------------------------------
# Harmonising data onto a partition
# ------------------------------------------------------------------------------------------------
_INTENSITY_REFUSAL = (
    "harmonise: kind='intensity' is refused: a ratio (per cent of GDP, per inhabitant) cannot be "
    "added over the regions of a unit. Harmonise its numerator and its denominator with "
    "kind='additive' and recompute it with harmonise_ratio(numerator, denominator)")


def _country_rows(frame: pd.DataFrame, country: str, geo: str) -> pd.DataFrame:
    g = frame[geo].astype(str)
    keep = (g.str.len() == 4) & (g.str[:2] == country) & ~g.str.endswith(("ZZ", "XX"))
    out = frame[keep].assign(**{geo: g[keep]})
    cats = [c for c in out.columns if isinstance(out[c].dtype, pd.CategoricalDtype)]
    return out.astype({c: object for c in cats}) if cats else out


def _foreign_codes(codes: set[str], version: int, partition: pd.DataFrame, tab) -> list[str]:
    """Codes of the frame that belong to another recorded version but not to ``version``."""
    mine = set(partition.loc[partition["version"] == version, "code"])
    others = set().union(*(version_codes(v, partition.attrs["country"], boundary_only=True,
                                         correspondence=tab) for v in VERSIONS if v != version))
    return sorted((codes - mine) & others)


def _unit_frame(partition: pd.DataFrame, version: int) -> pd.DataFrame:
    sub = partition[partition["version"] == version]
    size = sub.groupby("unit_id")["code"].transform("size").rename("n_members")
    return sub.assign(n_members=size)[["unit_id", "label", "kind", "exact", "code", "n_members"]]


def _keys(frame: pd.DataFrame, geo: str, value: str) -> list[str]:
    return [c for c in frame.columns if c not in (geo, value, "flag")]


def _sum_units(df: pd.DataFrame, keys: list[str], value: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Sum over members where all are present; the rest dropped with the missing members."""
    grp = df.groupby(keys + ["unit_id"], observed=True, sort=True, dropna=False)
    agg = grp.agg(value=(value, "sum"), n_present=(value, "count"), n_members=("n_members", "first"),
                  label=("label", "first"), kind=("kind", "first"), exact=("exact", "first"),
                  members=("code", lambda s: "+".join(sorted(s))))
    if "flag" in df.columns:
        agg["flag"] = grp["flag"].agg(lambda s: ";".join(sorted({str(f) for f in s.dropna() if str(f)})))
    agg = agg.reset_index()
    full = agg["n_present"] == agg["n_members"]
    data = agg[full].drop(columns=["n_present", "n_members"])
    gone = agg[~full]
    return data.reset_index(drop=True), gone


def _missing_reason(gone: pd.DataFrame, present: pd.DataFrame, units: pd.DataFrame,
                    keys: list[str], version: int, value: str) -> pd.DataFrame:
    """Dropped unit-years with the names of the members that have no value."""
    need_of = units.groupby("unit_id")["code"].agg(set).to_dict()
    have = present.dropna(subset=[value]).groupby(keys + ["unit_id"], observed=True, dropna=False)[
        "code"].agg(set)
    rows = []
    for r in gone.itertuples(index=False):
        rec = r._asdict()
        key = tuple(rec[k] for k in keys + ["unit_id"])
        missing = sorted(need_of[rec["unit_id"]] - have.get(key, set()))
        rows.append({**{k: rec[k] for k in keys}, "unit_id": rec["unit_id"], "label": rec["label"],
                     "reason": (f"unit {rec['label']} needs every NUTS {version} member; no value "
                                f"for {', '.join(missing)} (never a partial sum)")})
    return pd.DataFrame(rows, columns=keys + ["unit_id", "label", "reason"])


def harmonise(frame: pd.DataFrame, version: int, partition: pd.DataFrame, kind: str = "additive", *,
              geo: str = "geo", value: str = "value", other_versions: str = "raise") -> Harmonised:
    """Map a tidy frame of one NUTS version onto the units of a :func:`common_partition`.

    Parameters
    ----------
    frame : DataFrame
        Tidy, one row per observation: ``geo`` (NUTS 2 code), ``value`` and any key columns
        (``time``, ``unit``, ...). Rows of other countries, of other NUTS levels and extra-regio
        ``..ZZ`` and not-regionalised ``..XX`` codes are ignored. A ``flag`` column is carried as the members' flags joined by
        ``;``.
    version : int
        The NUTS version of ``frame``'s codes (see :func:`series_versions`).
    partition : DataFrame
        From :func:`common_partition`, which must include ``version``.
    kind : {"additive", "intensity"}
        ``additive`` quantities (GDP, population, expenditure in euro) are summed over a unit's
        members. ``intensity`` is refused with a message: recompute a ratio from harmonised
        numerator and denominator with :func:`harmonise_ratio`.
    other_versions : {"raise", "drop"}
        What to do with codes that belong to another NUTS version only. Some series mix versions
        (demo_r_pjanaggr3 carries PT16-PT18 and PT19-PT1D for 2021-2023): ``drop`` leaves those
        rows out and reports them in ``dropped``.

    Returns
    -------
    Harmonised
        ``data``: key columns, ``unit_id``, ``value`` (the sum), ``label``, ``kind``, ``exact``,
        ``members`` and ``flag``. ``dropped``: key columns, ``unit_id``, ``label``, ``reason`` for
        every unit whose members were not all present for that key (never a partial sum), and
        for codes with no recorded boundary (``unit_id`` empty).

    Raises
    ------
    ValueError
        ``kind`` is not additive, ``version`` is not in the partition, or the frame has codes of
        another NUTS version (it is not in ``version``).

    Notes
    -----
    Areal interpolation restricted to whole regions (Goodchild & Lam 1980): a unit covers the same
    territory in every version of the partition, so its sum compares across versions. Eurostat,
    NUTS - history: https://ec.europa.eu/eurostat/web/nuts/history.
    """
    if kind == "intensity":
        raise ValueError(_INTENSITY_REFUSAL)
    if kind != "additive":
        raise ValueError(f"harmonise: kind must be 'additive' or 'intensity', not {kind!r}")
    version = _check_version(version)
    if version not in set(partition["version"]):
        raise ValueError(f"harmonise: NUTS {version} is not one of the partition's versions "
                         f"{sorted(set(partition['version']))}")
    country = partition.attrs["country"]
    df = _country_rows(frame, country, geo)
    tab = _table()
    foreign = _foreign_codes(set(df[geo]), version, partition, tab)
    if foreign and other_versions == "drop":
        foreign_rows = df[df[geo].isin(foreign)]
        df = df[~df[geo].isin(foreign)]
    elif foreign:
        raise ValueError(f"harmonise: codes {', '.join(foreign)} are not NUTS {version} codes of "
                         f"{country} (they belong to another NUTS version); check the series' "
                         "version in data/nuts/series_nuts_versions.csv")
    else:
        foreign_rows = df.iloc[:0]
    units = _unit_frame(partition, version)
    keys = _keys(df, geo, value)
    merged = df.merge(units, left_on=geo, right_on="code", how="left")
    unrecorded = merged[merged["unit_id"].isna()]
    merged = merged.dropna(subset=["unit_id"])
    present = merged.dropna(subset=[value])
    # every (key, unit) that occurs gets all its members listed, so a missing member is seen
    data, gone = _sum_units(present, keys, value)
    absent_units = _absent_units(present, units, keys)
    dropped = pd.concat([_missing_reason(pd.concat([gone, absent_units]), present, units, keys,
                                         version, value), _unrecorded(unrecorded, keys, geo, version),
                         _other_version(foreign_rows, keys, geo, version)], ignore_index=True)
    data = data.assign(version=version)
    return Harmonised(data, dropped)


def _absent_units(present: pd.DataFrame, units: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """(key, unit) pairs where none of the unit's members has a value though the key has data."""
    if present.empty:
        return pd.DataFrame(columns=keys + ["unit_id", "label", "members"])
    combos = present[keys].drop_duplicates()
    u = units.groupby("unit_id").agg(label=("label", "first"),
                                     members=("code", lambda s: "+".join(sorted(s)))).reset_index()
    full = combos.merge(u, how="cross")
    seen = present[keys + ["unit_id"]].drop_duplicates()
    out = full.merge(seen, on=keys + ["unit_id"], how="left", indicator=True)
    return out[out["_merge"] == "left_only"].drop(columns="_merge")


def _unrecorded(rows: pd.DataFrame, keys: list[str], geo: str, version: int) -> pd.DataFrame:
    codes = rows[[geo] + keys].drop_duplicates()
    return pd.DataFrame({**{k: codes[k].values for k in keys}, "unit_id": "", "label": codes[geo].values,
                         "reason": [f"{c}: no boundary recorded for it in NUTS {version} (outside "
                                    "the map frame of the recorded files), so it cannot be matched "
                                    "across versions" for c in codes[geo]]})


def _other_version(rows: pd.DataFrame, keys: list[str], geo: str, version: int) -> pd.DataFrame:
    codes = rows[[geo] + keys].drop_duplicates()
    return pd.DataFrame({**{k: codes[k].values for k in keys}, "unit_id": "", "label": codes[geo].values,
                         "reason": [f"{c}: a code of another NUTS version than {version}; left out"
                                    for c in codes[geo]]})


def harmonise_ratio(numerator: Harmonised | pd.DataFrame, denominator: Harmonised | pd.DataFrame, *,
                    scale: float = 1.0, on: tuple[str, ...] = ("unit_id", "time")) -> Harmonised:
    """An intensity recomputed from a harmonised numerator and denominator.

    ``value = scale * numerator / denominator`` per unit and ``on`` key (e.g. GERD in MIO_EUR over
    GDP in MIO_EUR with ``scale=100`` gives per cent of GDP; population as denominator gives per
    inhabitant). Both must come from :func:`harmonise` on the same partition and be unique on
    ``on`` (filter units such as MIO_EUR first). Units present on one side only are dropped with
    the reason; so is a zero denominator.

    References: the ratio of sums, not the sum (or mean) of ratios, is the intensity of the
    merged territory (Eurostat, NUTS - history, https://ec.europa.eu/eurostat/web/nuts/history, for
    why units are merged).
    """
    num = numerator.data if isinstance(numerator, Harmonised) else numerator
    den = denominator.data if isinstance(denominator, Harmonised) else denominator
    on = list(on)
    for side, df in (("numerator", num), ("denominator", den)):
        if df.duplicated(on).any():
            raise ValueError(f"harmonise_ratio: the {side} has several rows per {on}; filter it to "
                             "one series (e.g. one unit) first")
    both = num[on + ["label", "value"]].merge(den[on + ["label", "value"]], on=on, how="outer",
                                              suffixes=("_num", "_den"), indicator=True)
    clash = both[(both["_merge"] == "both") & (both["label_num"] != both["label_den"])]
    if not clash.empty:
        raise ValueError("harmonise_ratio: numerator and denominator come from different partitions "
                         f"(unit {clash['unit_id'].iloc[0]}: {clash['label_num'].iloc[0]!r} vs "
                         f"{clash['label_den'].iloc[0]!r})")
    ok = (both["_merge"] == "both") & (both["value_den"] != 0)
    data = both[ok].assign(label=both["label_num"], numerator=both["value_num"],
                           denominator=both["value_den"],
                           value=scale * both["value_num"] / both["value_den"])
    bad = both[~ok]
    why = np.where(bad["_merge"] == "left_only", "no denominator",
                   np.where(bad["_merge"] == "right_only", "no numerator", "denominator is zero"))
    dropped = bad[on].assign(label=bad["label_num"].fillna(bad["label_den"]), reason=why)
    return Harmonised(data[on + ["label", "numerator", "denominator", "value"]].reset_index(drop=True),
                      dropped.reset_index(drop=True))


# ------------------------------------------------------------------------------------------------
# Which regions cannot be compared, and refusing
# ------------------------------------------------------------------------------------------------
def comparability(inputs: Mapping[str, tuple[pd.DataFrame, int]], country: str, *, year=None,
                  geo: str = "geo", time: str = "time", value: str = "value",
                  partition: pd.DataFrame | None = None) -> pd.DataFrame:
    """Which regions of ``country`` can be compared across ``inputs``, and why the others cannot.

    Parameters
    ----------
    inputs : mapping name -> (tidy frame, NUTS version)
        E.g. ``{"tgs00042": (rd, 2021), "gdp": (gdp, 2024)}``; each frame filtered to one series.
    country : str
    year : int, optional
        Judge that year only; otherwise a unit counts as comparable when some year has it complete
        in every input.
    partition : DataFrame, optional
        From :func:`common_partition`; built from the inputs' versions when omitted.

    Returns
    -------
    DataFrame, one row per harmonised unit (and per code with no recorded boundary): ``unit_id``,
    ``label``, ``name``, ``kind``, ``exact``, ``status`` (``comparable``/``excluded``),
    ``years`` (the years the unit is complete in every input) and ``reason``.
    """
    part = partition if partition is not None else common_partition(
        {k: v for k, (_, v) in inputs.items()}, country)
    per_input = {}
    for name, (frame, version) in inputs.items():
        df = frame if year is None else frame[frame[time].astype(int) == int(year)]
        per_input[name] = harmonise(df[[geo, time, value]], version, part)
    units = _unit_summary(part)
    years = _complete_years(per_input, units["unit_id"], time)
    units["years"] = units["unit_id"].map(lambda u: " ".join(map(str, sorted(years.get(u, set())))))
    units["status"] = np.where(units["years"] != "", "comparable", "excluded")
    units["reason"] = [_exclusion_reason(u, per_input, time) if s == "excluded" else ""
                       for u, s in zip(units["unit_id"], units["status"])]
    extra = _unrecorded_rows(per_input)
    out = pd.concat([units, extra], ignore_index=True)
    out.attrs.update(country=part.attrs["country"], versions=part.attrs["versions"], year=year)
    return out[["unit_id", "label", "name", "kind", "exact", "status", "years", "reason"]]


def _unit_summary(part: pd.DataFrame) -> pd.DataFrame:
    latest = part[part["version"] == part.groupby("unit_id")["version"].transform("max")]
    names = latest.groupby("unit_id")["name"].agg(" + ".join)
    first = part.groupby("unit_id")[["label", "kind", "exact"]].first()
    return first.assign(name=names).reset_index()


def _complete_years(per_input: Mapping[str, Harmonised], unit_ids, time: str) -> dict[str, set]:
    sets = []
    for h in per_input.values():
        d = h.data
        sets.append(d.groupby("unit_id")[time].agg(lambda s: {int(x) for x in s}).to_dict())
    out = {}
    for u in unit_ids:
        common = None
        for s in sets:
            common = s.get(u, set()) if common is None else common & s.get(u, set())
        out[u] = common or set()
    return out


def _exclusion_reason(unit: str, per_input: Mapping[str, Harmonised], time: str) -> str:
    parts = []
    for name, h in per_input.items():
        d = h.dropped[h.dropped["unit_id"] == unit]
        if not d.empty:
            parts.append(f"{name}: {d['reason'].iloc[0]}"
                         + (f" ({', '.join(map(str, sorted(set(d[time]))))})" if time in d else ""))
        elif (h.data["unit_id"] == unit).sum() == 0:
            parts.append(f"{name}: no value for the unit")
    return "; ".join(parts) or "no year in which every input has the unit"


def _unrecorded_rows(per_input: Mapping[str, Harmonised]) -> pd.DataFrame:
    rows = {}
    for name, h in per_input.items():
        d = h.dropped[h.dropped["unit_id"] == ""]
        for code, reason in zip(d["label"], d["reason"]):
            rows.setdefault(code, f"{name}: {reason}")
    return pd.DataFrame({"unit_id": list(rows), "label": list(rows), "name": "", "kind": "unrecorded",
                         "exact": False, "status": "excluded", "years": "", "reason": list(rows.values())})


def check_comparable(report: pd.DataFrame, leader: str | None = None, *,
                     what: str = "the comparison") -> pd.DataFrame:
    """Raise :class:`NotComparableError` when the leader or a majority of regions is excluded.

    ``report`` comes from :func:`comparability`; ``leader`` is a region code (any version) or
    unit id, e.g. the region with the highest value in one input. Returns the comparable rows.
    The message names every excluded region with its reason.
    """
    excluded = report[report["status"] == "excluded"]
    listing = "; ".join(f"{r.label} ({r.name or 'no name'}): {r.reason}" for r in excluded.itertuples())
    if leader is not None:
        hit = report[(report["unit_id"] == leader) | report["label"].str.split(r"[ +|]+").map(
            lambda parts: leader in parts)]
        if hit.empty:
            raise NotComparableError(f"{what}: leader {leader!r} is not a region of the comparison")
        if (hit["status"] == "excluded").any():
            raise NotComparableError(f"{what} refused: the leading region {leader} cannot be made "
                                     f"comparable across NUTS versions. Excluded: {listing}")
    if 2 * len(excluded) > len(report):
        raise NotComparableError(f"{what} refused: {len(excluded)} of {len(report)} regions cannot "
                                 f"be made comparable across NUTS versions. Excluded: {listing}")
    return report[report["status"] == "comparable"].reset_index(drop=True)


# ------------------------------------------------------------------------------------------------
# Several regional inputs of one comparison (location quotients, maps)
# ------------------------------------------------------------------------------------------------
class AlignedInputs(NamedTuple):
    """Result of :func:`align_inputs`: each input's values by harmonised unit (comparable units
    only), the NUTS version each was read in, :func:`match_version`'s answer, the partition, the
    :func:`comparability` report and the codes left out as another version's."""

    values: dict
    versions: dict
    matches: dict
    partition: pd.DataFrame
    report: pd.DataFrame
    other_version: dict


def nuts2_parent(codes: Iterable[str]) -> list[str]:
    """The NUTS 2 parent of each NUTS 3 code: the code less its last character (NUTS codes are
    hierarchical by construction; Regulation (EC) No 1059/2003, Art. 2 and Annex I)."""
    out = []
    for c in codes:
        if len(str(c)) != 5:
            raise ValueError(f"nuts2_parent: {c!r} is not a NUTS 3 code (five characters)")
        out.append(str(c)[:4])
    return out


def _pick_versions(matches: Mapping[str, dict]) -> dict[str, int]:
    """One version per input: the newest shared by every input's candidates if there is one
    (then the partition is the identity), else each input's newest candidate."""
    cands = {n: [int(v) for v in m["versions"].split()] for n, m in matches.items()}
    common = set.intersection(*(set(c) for c in cands.values()))
    return {n: (max(common) if common else c[-1]) for n, c in cands.items()}


def align_inputs(inputs: Mapping[str, pd.Series], country: str, *, leader: str | None = None,
                 zero_fill: Iterable[str] = (), what: str = "the comparison",
                 time: int = 0) -> AlignedInputs:
    """Harmonise several additive NUTS 2 series of one country before they are compared.

    Parameters
    ----------
    inputs : mapping name -> Series
        Additive values (counts, population, enterprises, employment) indexed by NUTS 2 code.
    country : str
    leader : str, optional
        The region the comparison is about (e.g. the most clusters); refused if it is excluded.
    zero_fill : names of inputs whose regions without a row are true zeros (counts of clusters):
        they get 0 for every other code of their NUTS version.
    what : str
        Named in the refusal message.

    Returns
    -------
    AlignedInputs

    Raises
    ------
    NotComparableError
        An input has no recorded code, or the leader or a majority of units cannot be compared
        (:func:`check_comparable`, which names every excluded region and why).

    Notes
    -----
    Each input's version comes from its codes (:func:`match_version`), never from a label; the
    values are summed over the units of the coarsest common partition (:func:`common_partition`,
    :func:`harmonise`). Codes of another version than the one chosen (a series mixing versions)
    are left out and listed in ``other_version``.
    """
    country = country.upper()
    series = {n: pd.Series(s, dtype=float).dropna() for n, s in inputs.items()}
    matches = {n: match_version(s.index.astype(str), country) for n, s in series.items()}
    for n, m in matches.items():
        if m["match"] == "none":
            raise NotComparableError(f"{what}: {n} has no NUTS 2 code of {country} with a recorded "
                                     f"boundary (codes: {', '.join(map(str, series[n].index[:8]))})")
    versions = _pick_versions(matches)
    frames, other = {}, {}
    for n, s in series.items():
        own = set(version_codes(versions[n], country, boundary_only=True))
        if n in set(zero_fill):
            s = s.reindex(sorted(own | set(s.index)), fill_value=0.0)
        recorded = set().union(*(version_codes(v, country, boundary_only=True) for v in VERSIONS))
        foreign = sorted((set(s.index) & recorded) - own)
        other[n] = foreign
        s = s.drop(foreign)
        frames[n] = (pd.DataFrame({"geo": s.index.astype(str), "time": time, "value": s.to_numpy()}),
                     versions[n])
    part = common_partition(versions, country)
    report = comparability(frames, country, partition=part)
    ok = set(check_comparable(report, leader, what=what)["unit_id"])
    values = {}
    for n, (frame, v) in frames.items():
        d = harmonise(frame, v, part).data
        values[n] = d[d["unit_id"].isin(ok)].set_index("unit_id")["value"].rename(n)
    return AlignedInputs(values, versions, matches, part, report, other)


def describe_versions(aligned: AlignedInputs) -> dict[str, str]:
    """One line per input: which NUTS versions its codes fit, and the one it was read in."""
    out = {}
    for n, m in aligned.matches.items():
        text = (f"NUTS 2 codes fit NUTS {m['versions'].replace(' ', '/')} ({m['match']}); "
                f"read as NUTS {aligned.versions[n]}")
        if aligned.other_version.get(n):
            text += f"; codes of another version left out: {' '.join(aligned.other_version[n])}"
        if m["unrecorded_codes"]:
            text += f"; no recorded boundary: {m['unrecorded_codes']}"
        out[n] = text
    excluded = aligned.report[aligned.report["status"] == "excluded"]
    if len(excluded):
        out["excluded"] = "; ".join(f"{r.label}: {r.reason}" for r in excluded.itertuples())
    kinds = aligned.partition["kind"].isin(["recoded", "split/merge", "boundary change"])
    merged = aligned.partition.loc[kinds, "label"].unique()
    if len(merged):
        out["harmonised units"] = ", ".join(merged)
    return out


def check_map_join(codes: Iterable[str], map_codes: Iterable[str], map_version: int, country: str,
                   *, what: str = "the map") -> str:
    """Check that a NUTS 2 series can be drawn on geometries of ``map_version`` without losing
    regions, and say which versions meet.

    Returns the text for the figure's source line ("data: NUTS 2 codes of NUTS 2013/2016;
    geometries: NUTS 2016"). Raises :class:`NotComparableError` naming every code of the data
    that is not a region of the map (it would silently vanish from the map), with the versions
    the data's codes fit (:func:`match_version`), so the caller can harmonise or pick the
    geometries of the data's version.
    """
    codes, shown = sorted(set(map(str, codes))), set(map(str, map_codes))
    m = match_version(codes, country)
    fits = m["versions"].replace(" ", "/") or "no recorded version"
    lost = [c for c in codes if c not in shown]
    if lost:
        raise NotComparableError(
            f"{what} refused: {', '.join(lost)} of the data are not regions of the NUTS "
            f"{map_version} geometries and would be dropped silently; the data's codes fit NUTS "
            f"{fits} ({m['match']}); draw them on geometries of that version or harmonise first "
            "(clusterstats.nuts.harmonise)")
    return f"NUTS versions: data codes fit NUTS {fits} ({m['match']}), geometries NUTS {map_version}"
